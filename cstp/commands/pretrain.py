"""`cstp pretrain`: the self-supervised pretraining job of a cell."""

from __future__ import annotations

import argparse

from cstp.commands import job


def register(sub: argparse._SubParsersAction) -> None:
    text = "self-supervised pretraining (contrastive + pretext tasks)"
    parser = sub.add_parser("pretrain", help=text, description=text)
    job.add_job_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cstp.engine.pretrain import pretrain
    from cstp.specs.train import PretrainSpec

    spec = job.prepare(args, PretrainSpec, "pretrain")
    runtime = job.runtime(args, "pretrain")
    return job.trained("pretrain", lambda: pretrain(spec, args.index, args.out, runtime), args.out)
