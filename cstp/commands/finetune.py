"""`cstp finetune` and `cstp linear`: supervised training of a cell's classifier."""

from __future__ import annotations

import argparse
import dataclasses

from cstp.commands import job


def register(sub: argparse._SubParsersAction) -> None:
    commands = {
        "finetune": "supervised training end to end (or as the spec's mode says)",
        "linear": "supervised training of a linear classifier on a frozen encoder",
    }
    for name, text in commands.items():
        parser = sub.add_parser(name, help=text, description=text)
        job.add_job_arguments(parser, encoder=True)
        parser.set_defaults(func=run, protocol="linear" if name == "linear" else None)


def run(args: argparse.Namespace) -> int:
    from cstp.engine.finetune import finetune
    from cstp.specs.train import FinetuneSpec

    spec = job.load_spec(FinetuneSpec, args.spec)
    if args.protocol is not None:  # cstp linear: the spec's run, with a frozen encoder
        spec = dataclasses.replace(spec, protocol=args.protocol)
    job.check_index(args.index)
    job.start(args, "finetune", spec)
    runtime = job.runtime(args, "finetune")
    return job.trained(
        "finetune", lambda: finetune(spec, args.index, args.out, args.encoder, runtime), args.out
    )
