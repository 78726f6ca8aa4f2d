"""`cstp bench SUBJECT`: throughput of one pipeline part (decode, sample, models), or of a cell's
whole pretraining step against its ceiling (step)."""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from cstp.commands import args as types
from cstp.errors import CstpError
from cstp.specs.registry import PRETEXT_TASKS, scheme_names


def register(sub) -> None:
    bench = sub.add_parser(
        "bench",
        help="measure throughput of a pipeline part on a fixed number of threads",
        description="Measure throughput of one part of the pipeline. Runs on one thread by "
        "default so that numbers are comparable across machines.",
    )
    subjects = bench.add_subparsers(dest="subject", metavar="SUBJECT", required=True)
    _register_data(subjects)
    _register_models(subjects)


def _register_data(subjects) -> None:
    decode = subjects.add_parser(
        "decode",
        help="video decoding: full decode and random clip reads",
        description="Full sequential decode (frames/s) and random clip reads through the clip "
        "reader (clips/s), with and without a short-side resize.",
    )
    _video_options(decode)
    count = types.positive_int
    decode.add_argument("--clip-frames", type=count, default=16, help="frames per clip (16)")
    decode.add_argument("--rate", type=count, default=1, help="frames between clip frames (1)")
    decode.add_argument("--clips", type=count, default=200, help="random clips to read (200)")
    decode.add_argument("--short-side", type=count, default=128, help="resize target (128)")
    decode.add_argument("--threads", type=count, default=1, help="torch and FFmpeg threads (1)")
    decode.add_argument(
        "--min-seconds", type=float, default=1.0, help="repeat full decodes for this long (1)"
    )
    decode.add_argument("--cache", type=Path, help="frame cache of the videos: read them too")
    decode.set_defaults(func=run_decode)

    sample = subjects.add_parser(
        "sample",
        help="pretraining pairs: planning, decoding and augmentation",
        description="Pairs per second of the full CSTP sampler (playback rate, rotation and "
        "STOR labels, base augmentation) on the given videos: planning alone, then decoding "
        "and augmenting both clips.",
    )
    _video_options(sample)
    sample.add_argument("--clip-frames", type=count, default=16, help="frames per clip (16)")
    sample.add_argument("--size", type=count, default=112, help="clip side in pixels (112)")
    sample.add_argument("--short-side", type=count, default=128, help="frames resized to (128)")
    sample.add_argument("--samples", type=count, default=100, help="pairs to make (100)")
    sample.add_argument("--threads", type=count, default=1, help="torch threads (1)")
    sample.set_defaults(func=run_sample)


def _register_models(subjects) -> None:
    models = subjects.add_parser(
        "models",
        help="parameters and forward GFLOPs per clip of every backbone",
        description="Parameters and forward FLOPs (2 x multiply-accumulates, counted by "
        "torch.utils.flop_counter on the meta device) of every backbone for one clip.",
    )
    models.add_argument("--width", type=float, default=1.0, help="channel multiplier (1)")
    models.add_argument("--frames", type=int, default=16, help="clip length (16)")
    models.add_argument("--size", type=int, default=112, help="clip side (112)")
    models.set_defaults(func=run_models)

    _register_step(subjects)


def _register_step(subjects) -> None:
    step = subjects.add_parser(
        "step",
        help="a pretraining cell's step against its backbone's ceiling, data and end to end",
        description="Measure in one run: (a) the bare backbone training step (clips/s, the "
        "ceiling), (b) the cell's full CSTP step (samples/s), (c) efficiency = (b) x backbone "
        "passes per sample / (a), and with --index (d) the data pipeline alone and (e) loader + "
        "step together (samples/s), and peak memory. The cell is a pretraining spec "
        "(runs/pretrain/<id>/spec.json) or the options below.",
    )
    count = types.positive_int
    step.add_argument("--spec", type=Path, help="pretraining spec.json of the cell to measure")
    step.add_argument("--backbone", help="backbone (without --spec: r2plus1d_10)")
    step.add_argument("--width", type=float, help="channel multiplier (without --spec: 0.25)")
    step.add_argument("--frames", type=count, help="frames per clip (without --spec: 8)")
    step.add_argument("--size", type=count, help="clip side (without --spec: 32)")
    step.add_argument("--scheme", choices=scheme_names())
    step.add_argument("--pretext", help="comma-separated pretext tasks (without --spec: all four)")
    step.add_argument("--batch", type=count, help="pairs per step (the spec's batch size)")
    step.add_argument("--precision", choices=("fp32", "bf16"), help="numeric mode (the spec's)")
    step.add_argument("--device", default="auto", help="auto, cpu or cuda[:N] (auto)")
    step.add_argument("--threads", type=count, default=1, help="torch threads (1)")
    step.add_argument(
        "--compile",
        action="store_const",
        const="on",
        default="off",
        help="torch.compile the backbone",
    )
    step.add_argument("--index", type=Path, help="scanned index: also measure (d) and (e)")
    step.add_argument("--workers", type=int, default=0, help="data-loader processes (0)")
    step.add_argument("--cache", type=Path, help="frame cache of --index: (d) from it as well")
    step.add_argument("--steps", type=count, default=5, help="steps per timed group (5)")
    step.add_argument("--warmup", type=int, default=2, help="untimed steps first (2)")
    step.add_argument("--repeats", type=count, default=3, help="timed groups; median (3)")
    step.add_argument("--out", type=Path, help="also write the figures to this JSON file")
    step.set_defaults(func=run_step)


def _video_options(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--index", type=Path, help="index csv written by `cstp data scan`")
    source.add_argument("--video", type=Path, nargs="+", help="video files")
    parser.add_argument(
        "--max-videos", type=types.positive_int, default=20, help="videos drawn from --index (20)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for videos and clips (0)")


def _videos(args: argparse.Namespace) -> list[Path]:
    videos = args.video or _videos_from_index(args.index, args.max_videos, args.seed)
    for path in videos:
        if not path.is_file():
            raise CstpError(f"{path}: no such video file")
    return videos


def run_decode(args: argparse.Namespace) -> int:
    from cstp.bench import DecodeSetup, cpu_name, measure_decode

    videos = _videos(args)
    setup = DecodeSetup(
        clip_frames=args.clip_frames,
        rate=args.rate,
        clips=args.clips,
        short_side=args.short_side,
        threads=args.threads,
        seed=args.seed,
        min_seconds=args.min_seconds,
    )
    cache = None
    if args.cache is not None:
        from cstp.data.cache import FrameCache

        cache = FrameCache(args.cache)
    try:
        table = measure_decode(videos, setup, cache)
    except ValueError as err:
        raise CstpError(f"--cache {args.cache}: {err}") from err
    print(f"decode: {len(videos)} video(s), {setup.threads} thread(s), CPU: {cpu_name()}")
    print(table.to_string(index=False))
    return 0


def run_sample(args: argparse.Namespace) -> int:
    from cstp.bench import cpu_name, measure_pairs
    from cstp.specs.base import from_dict
    from cstp.specs.sampling import SamplingSpec

    videos = _videos(args)
    spec = from_dict(
        SamplingSpec,
        {
            "clip": {"frames": args.clip_frames, "size": args.size, "short_side": args.short_side},
            "augment": {"playback_rate": True, "rotation": True},
            "pretext": list(PRETEXT_TASKS),
        },
    )
    table = measure_pairs(videos, spec, args.samples, args.threads, args.seed)
    print(
        f"sample: {len(videos)} video(s), {args.clip_frames}x{args.size}x{args.size} clips from "
        f"short side {args.short_side}, {args.threads} thread(s), CPU: {cpu_name()}"
    )
    print(table.to_string(index=False))
    return 0


def run_models(args: argparse.Namespace) -> int:
    from cstp.models.backbones import BACKBONES
    from cstp.models.profile import profile_table

    table = profile_table(BACKBONES, args.width, args.frames, args.size)
    table["params_m"] = (table.pop("params") / 1e6).round(2)
    table["gflops"] = table["gflops"].round(2)
    print(f"models: width {args.width}, one clip of 3x{args.frames}x{args.size}x{args.size}")
    print(table.to_string(index=False))
    return 0


def run_step(args: argparse.Namespace) -> int:
    import json

    from cstp.engine.runtime import Runtime
    from cstp.engine.stepbench import StepBench, measure_step
    from cstp.files import write_text_atomic

    spec = _step_spec(args)
    if args.index is not None and not args.index.is_file():
        raise CstpError(f"--index {args.index}: no such index file (write one with cstp data scan)")
    try:
        setup = StepBench(args.steps, args.warmup, args.repeats, args.workers)
    except ValueError as err:
        raise CstpError(f"cstp bench step: {err}") from err
    runtime = Runtime(
        device=args.device, threads=args.threads, compile=args.compile, cache=args.cache
    )
    result = measure_step(spec, runtime, setup, args.index)
    print(step_report(result))
    if args.out is not None:
        write_text_atomic(args.out, json.dumps(result, indent=1) + "\n")
    return 0


def _step_spec(args: argparse.Namespace):
    from cstp.specs.base import from_dict, to_dict
    from cstp.specs.train import PretrainSpec

    if args.spec is not None:
        data = to_dict(_load_pretrain_spec(args.spec))
    else:
        data = {
            "backbone": {"name": "r2plus1d_10", "width": 0.25},
            "sampling": {"clip": {"frames": 8, "size": 32}, "augment": {}, "pretext": []},
            "contrastive": {"scheme": "byol"},
            "optim": {"batch_size": 16},
        }
        data["sampling"]["pretext"] = list(PRETEXT_TASKS)
    tasks = None if args.pretext is None else [t.strip() for t in args.pretext.split(",")]
    if tasks is not None and not set(tasks) <= set(PRETEXT_TASKS):
        known = ", ".join(PRETEXT_TASKS)
        raise CstpError(f"--pretext {args.pretext}: expected some of {known}")
    if tasks is not None:
        data["sampling"]["pretext"] = tasks
    options = {
        ("backbone", "name"): args.backbone,
        ("backbone", "width"): args.width,
        ("contrastive", "scheme"): args.scheme,
        ("optim", "batch_size"): args.batch,
        ("precision",): args.precision,
    }
    for keys, value in options.items():
        if value is not None:
            _set(data, keys, value)
    for key, value in (("frames", args.frames), ("size", args.size)):
        if value is not None:
            data["sampling"]["clip"][key] = value
    return from_dict(PretrainSpec, data, "cstp bench step")


def _set(data: dict, keys: tuple[str, ...], value) -> None:
    for key in keys[:-1]:
        data = data.setdefault(key, {})
    data[keys[-1]] = value


def _load_pretrain_spec(path: Path):
    import json

    from cstp.specs.base import from_dict
    from cstp.specs.train import PretrainSpec

    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise CstpError(f"--spec {path}: cannot read a pretraining spec ({err})") from err
    return from_dict(PretrainSpec, data, str(path))


def step_report(result: dict) -> str:
    """The figures of `cstp bench step` as a small table, with the machine and the cell."""
    cell, info = result["cell"], result["machine"]
    where = info.get("gpu") or f"CPU {info['cpu']}, {info['threads']} thread(s)"
    lines = [
        f"step: {cell['backbone']}, {cell['scheme']}, pretext {'+'.join(cell['pretext']) or '-'}, "
        f"batch {cell['batch']} pairs of {cell['clip']}, {cell['precision']} (ran "
        f"{result['precision_run']}{', compiled' if result['compiled'] else ', eager'})",
        f"machine: {where}; torch {info['torch']}, CUDA {info.get('cuda', '-')}",
    ]
    rows = [
        ("(a) backbone training step", result["backbone_clips_per_s"], "clips/s (ceiling)"),
        ("(b) CSTP step", result["step_samples_per_s"], "samples/s"),
        (
            "(c) efficiency",
            result["efficiency"],
            f"(b) x {result['passes_per_sample']:.2f} passes / (a)",
        ),
    ]
    if "data_samples_per_s" in result:
        workers = f"{result['workers']} loader worker(s)"
        rows.append(("(d) data pipeline", result["data_samples_per_s"], f"samples/s, {workers}"))
        if "cached_data_samples_per_s" in result:
            cached = result["cached_data_samples_per_s"]
            rows.append(("(d) data from the cache", cached, f"samples/s, {workers}"))
        rows.append(("(e) end to end", result["end_to_end_samples_per_s"], "samples/s"))
    for phase, gib in result["peak_memory_gib"].items():
        rows.append((f"peak memory, {phase.replace('_', ' ')}", gib, "GiB"))
    lines += [f"{name:28} {value:>10.4g}  {unit}" for name, value, unit in rows]
    return "\n".join(lines)


def _videos_from_index(index: Path, max_videos: int, seed: int) -> list[Path]:
    from cstp.data.scan import read_index

    table = read_index(index)
    paths = [Path(p) for p in table.loc[table["status"] == "ok", "path"]]
    if not paths:
        raise CstpError(f"{index}: no video with status ok")
    return sorted(random.Random(seed).sample(paths, min(max_videos, len(paths))))
