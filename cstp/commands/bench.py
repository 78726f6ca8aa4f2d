"""`cstp bench SUBJECT`: throughput of one pipeline part: decode, sample, models, train."""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from cstp.commands import args as types
from cstp.errors import CstpError


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

    train = subjects.add_parser(
        "train",
        help="CSTP training steps per second on random clips, per numeric mode",
        description="Time full training steps (backbone on both clips, contrastive scheme, all "
        "four pretext heads, SGD, momentum update) on random clips. On CUDA also bf16, "
        "channels_last_3d and torch.compile modes; on CPU only fp32.",
    )
    train.add_argument("--backbone", default="r2plus1d_10")
    train.add_argument("--width", type=float, default=0.25)
    train.add_argument("--frames", type=int, default=8)
    train.add_argument("--size", type=int, default=32)
    train.add_argument("--batch", type=int, default=16)
    train.add_argument(
        "--scheme", default="byol", choices=("none", "simclr", "moco", "byol", "simsiam")
    )
    train.add_argument("--steps", type=int, default=10)
    train.add_argument("--warmup", type=int, default=3)
    train.add_argument("--threads", type=int, default=1)
    train.add_argument("--device", default="auto")
    train.add_argument("--modes", default="fp32,bf16,bf16-cl,bf16-cl-compile")
    train.set_defaults(func=run_train)


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
    table = measure_decode(videos, setup)
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
            "pretext": {
                k: True for k in ("playback_rate", "rotation", "stor_spatial", "stor_temporal")
            },
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


def run_train(args: argparse.Namespace) -> int:
    from cstp.bench import TRAIN_MODES, TrainSetup, cpu_name, measure_train

    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = [m for m in modes if m not in TRAIN_MODES]
    if unknown or not modes:
        raise CstpError(f"--modes {args.modes}: expected some of {', '.join(TRAIN_MODES)}")
    setup = TrainSetup(
        args.backbone,
        args.width,
        args.frames,
        args.size,
        args.batch,
        args.scheme,
        args.steps,
        args.warmup,
        args.threads,
        args.device,
    )
    table = measure_train(setup, modes)
    where = "CPU: " + cpu_name() if table.empty or "cuda" not in str(args.device) else ""
    print(
        f"train: {args.backbone} x{args.width}, batch {args.batch} pairs of "
        f"3x{args.frames}x{args.size}x{args.size}, {args.scheme}, {args.threads} thread(s) {where}"
    )
    print(table.to_string(index=False))
    return 0


def _videos_from_index(index: Path, max_videos: int, seed: int) -> list[Path]:
    from cstp.data.scan import read_index

    table = read_index(index)
    paths = [Path(p) for p in table.loc[table["status"] == "ok", "path"]]
    if not paths:
        raise CstpError(f"{index}: no video with status ok")
    return sorted(random.Random(seed).sample(paths, min(max_videos, len(paths))))
