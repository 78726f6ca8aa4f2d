"""`cstp pretrain | finetune | linear | evaluate | features | retrieve | probe`: the jobs of a cell.

Each reads a spec file (YAML or JSON, the fields of the spec dataclass) and writes into one run
folder; rerunning the same command after a kill resumes from the last checkpoint.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import yaml

from cstp.commands import args as types
from cstp.errors import CstpError


def register(sub: argparse._SubParsersAction) -> None:
    commands = {
        "pretrain": ("self-supervised pretraining (contrastive + pretext tasks)", run_pretrain),
        "finetune": ("supervised training end to end (or as the spec's mode says)", run_finetune),
        "linear": ("supervised training of a linear classifier on a frozen encoder", run_linear),
    }
    for name, (text, func) in commands.items():
        parser = sub.add_parser(name, help=text, description=text)
        parser.add_argument("--spec", required=True, help="run spec: a YAML/JSON file, or JSON")
        parser.add_argument("--index", type=Path, required=True, help="index csv of the dataset")
        parser.add_argument("--out", type=Path, required=True, help="run folder")
        if name != "pretrain":
            parser.add_argument("--encoder", type=Path, help="encoder.pt of the pretraining run")
        _runtime_options(parser)
        parser.set_defaults(func=func)

    evaluate = sub.add_parser("evaluate", help="test-split accuracy of a trained classifier")
    evaluate.add_argument("--run", type=Path, required=True, help="run folder of finetune/linear")
    evaluate.add_argument("--index", type=Path, required=True)
    evaluate.add_argument("--out", type=Path, required=True, help="metrics json to write")
    evaluate.add_argument("--clips", type=types.positive_int, default=10, help="clips per video")
    evaluate.add_argument("--crop", type=float, default=0.875, help="centre crop of short side")
    _runtime_options(evaluate)
    evaluate.set_defaults(func=run_evaluate)

    features = sub.add_parser("features", help="video-level features of train and test videos")
    features.add_argument("--spec", required=True, help="feature spec: YAML/JSON file, or JSON")
    features.add_argument("--index", type=Path, required=True)
    features.add_argument("--out", type=Path, required=True, help="features file (.pt)")
    features.add_argument("--encoder", type=Path, help="encoder.pt (omit for random init)")
    features.add_argument("--probe-out", type=Path, help="also run `cstp probe` into this json")
    features.add_argument(
        "--retrieval-out", type=Path, help="also run `cstp retrieve` into this json"
    )
    features.add_argument("--center", action="store_true", help="retrieval: subtract the mean")
    _runtime_options(features)
    features.set_defaults(func=run_features)

    retrieve = sub.add_parser("retrieve", help="nearest-neighbour retrieval recall R@k")
    retrieve.add_argument("--features", type=Path, required=True)
    retrieve.add_argument("--out", type=Path, required=True, help="metrics json to write")
    retrieve.add_argument("--center", action="store_true", help="subtract the gallery mean")
    retrieve.set_defaults(func=run_retrieve)

    probe = sub.add_parser("probe", help="logistic regression on frozen features")
    probe.add_argument("--features", type=Path, required=True)
    probe.add_argument("--out", type=Path, required=True, help="metrics json to write")
    probe.add_argument("--weight-decay", type=float, default=1e-3)
    probe.set_defaults(func=run_probe)


def _runtime_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("runtime (not part of the experiment)")
    group.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda:0")
    group.add_argument("--threads", type=types.positive_int, help="torch threads (job's cores)")
    group.add_argument("--workers", type=int, default=0, help="data-loader processes (0)")
    group.add_argument("--compile", action="store_true", help="torch.compile the backbone")
    group.add_argument(
        "--no-channels-last", action="store_true", help="keep contiguous layout on CUDA"
    )


def _runtime(args: argparse.Namespace):
    from cstp.engine.runtime import Runtime

    return Runtime(
        device=args.device,
        threads=args.threads,
        workers=args.workers,
        channels_last=not args.no_channels_last,
        compile=args.compile,
    )


def load_spec(cls, source: str):
    """A spec dataclass from a YAML / JSON file, or from JSON text (what the workflow passes);
    errors name the file (or --spec) and the key."""
    from cstp.spec import from_dict

    if source.lstrip().startswith("{"):
        try:
            return from_dict(cls, json.loads(source), where="--spec")
        except json.JSONDecodeError as err:
            raise CstpError(f"--spec: not valid JSON ({err.msg} at character {err.pos})") from None
    path = Path(source)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise CstpError(f"{path}: no such spec file") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise CstpError(f"{path}:{where} not valid YAML/JSON") from None
    return from_dict(cls, data, where=str(path))


def _check_index(path: Path) -> None:
    if not path.is_file():
        raise CstpError(f"{path}: no such index file; write it with `cstp data scan ... --probe`")


def run_pretrain(args: argparse.Namespace) -> int:
    from cstp.engine.pretrain import pretrain
    from cstp.engine.specs import PretrainSpec

    spec = load_spec(PretrainSpec, args.spec)
    _check_index(args.index)
    return _trained(lambda: pretrain(spec, args.index, args.out, _runtime(args)), args.out)


def run_finetune(args: argparse.Namespace, mode: str | None = None) -> int:
    from cstp.engine.downstream import finetune
    from cstp.engine.specs import DownstreamSpec

    spec = load_spec(DownstreamSpec, args.spec)
    if mode is not None:
        spec = dataclasses.replace(spec, mode=mode)
    _check_index(args.index)
    return _trained(
        lambda: finetune(spec, args.index, args.out, args.encoder, _runtime(args)), args.out
    )


def run_linear(args: argparse.Namespace) -> int:
    return run_finetune(args, mode="linear")


def _trained(job, out: Path) -> int:
    from cstp.engine.trainer import Interrupted

    try:
        metrics = job()
    except Interrupted as stop:
        print(f"{out}: {stop}")
        return 128 + stop.signum
    print(json.dumps(metrics.get("final", {}), indent=1, sort_keys=True))
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    from cstp.engine.evaluate import evaluate
    from cstp.engine.specs import EvalSpec

    _check_index(args.index)
    test = EvalSpec(clips=args.clips, crop=args.crop)
    metrics = evaluate(args.run, args.index, args.out, test, _runtime(args))
    print(f"{args.out}: top-1 video {metrics['top1_video']:.4f}, clip {metrics['top1_clip']:.4f}")
    return 0


def run_features(args: argparse.Namespace) -> int:
    from cstp.engine.features import FeatureSpec, extract

    spec = load_spec(FeatureSpec, args.spec)
    _check_index(args.index)
    result = extract(spec, args.index, args.out, args.encoder, _runtime(args))
    sizes = {k: tuple(result[k]["features"].shape) for k in ("train", "test")}
    print(f"{args.out}: features {sizes}")
    # In the same process: the workflow saves two interpreter starts per features job.
    from cstp.engine.probe import probe, retrieve

    if args.probe_out:
        _report_probe(probe(args.out, args.probe_out))
    if args.retrieval_out:
        _report_retrieval(retrieve(args.out, args.retrieval_out, args.center))
    return 0


def run_retrieve(args: argparse.Namespace) -> int:
    from cstp.engine.probe import retrieve

    _report_retrieval(retrieve(args.features, args.out, args.center))
    return 0


def run_probe(args: argparse.Namespace) -> int:
    from cstp.engine.probe import probe
    from cstp.engine.specs import ProbeSpec

    _report_probe(probe(args.features, args.out, ProbeSpec(weight_decay=args.weight_decay)))
    return 0


def _report_probe(metrics: dict) -> None:
    print(f"linear probe: test accuracy {metrics['probe_test']:.4f}")


def _report_retrieval(metrics: dict) -> None:
    print("retrieval: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if k[:2] == "R@"))
