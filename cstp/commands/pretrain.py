"""`cstp pretrain`: the self-supervised pretraining job of a cell."""

from __future__ import annotations

import argparse
from pathlib import Path

from cstp.commands import job


def register(sub: argparse._SubParsersAction) -> None:
    text = "self-supervised pretraining (contrastive + pretext tasks)"
    parser = sub.add_parser("pretrain", help=text, description=text)
    parser.add_argument("--spec", type=Path, required=True, help="spec.json (or YAML) of the run")
    parser.add_argument("--index", type=Path, required=True, help="index csv of the dataset")
    parser.add_argument("--out", type=Path, required=True, help="run folder")
    job.add_runtime_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cstp.engine.pretrain import pretrain
    from cstp.specs.train import PretrainSpec

    spec = job.load_spec(PretrainSpec, args.spec)
    job.check_index(args.index)
    job.start(args, "pretrain", spec)
    runtime = job.runtime(args)
    return job.trained("pretrain", lambda: pretrain(spec, args.index, args.out, runtime), args.out)
