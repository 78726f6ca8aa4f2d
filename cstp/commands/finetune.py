"""`cstp finetune` and `cstp linear`: supervised training of a cell's classifier."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from cstp.commands import job


def register(sub: argparse._SubParsersAction) -> None:
    commands = {
        "finetune": "supervised training end to end (or as the spec's mode says)",
        "linear": "supervised training of a linear classifier on a frozen encoder",
    }
    for name, text in commands.items():
        parser = sub.add_parser(name, help=text, description=text)
        parser.add_argument("--spec", type=Path, required=True, help="spec.json (or YAML)")
        parser.add_argument("--index", type=Path, required=True, help="index csv of the dataset")
        parser.add_argument("--out", type=Path, required=True, help="run folder")
        parser.add_argument("--encoder", type=Path, help="encoder.pt of the pretraining run")
        job.add_runtime_options(parser)
        parser.set_defaults(func=run, mode="linear" if name == "linear" else None)


def run(args: argparse.Namespace) -> int:
    from cstp.engine.finetune import finetune
    from cstp.specs.train import FinetuneSpec

    spec = job.load_spec(FinetuneSpec, args.spec)
    if args.mode is not None:
        spec = dataclasses.replace(spec, mode=args.mode)
    job.check_index(args.index)
    job.start(args, "finetune", spec)
    runtime = job.runtime(args)
    return job.trained(
        "finetune", lambda: finetune(spec, args.index, args.out, args.encoder, runtime), args.out
    )
