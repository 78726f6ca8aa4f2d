"""`cstp evaluate`: test-split accuracy of a fine-tuned classifier."""

from __future__ import annotations

import argparse
from pathlib import Path

from cstp.commands import job


def register(sub: argparse._SubParsersAction) -> None:
    text = "test-split accuracy of a trained classifier (clip and video level)"
    parser = sub.add_parser("evaluate", help=text, description=text)
    parser.add_argument("--model", type=Path, required=True, help="model.pt of the finetune run")
    job.add_job_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cstp.engine.evaluate import evaluate
    from cstp.specs.measure import EvaluateSpec

    spec = job.prepare(args, EvaluateSpec, "evaluate")
    metrics = evaluate(spec, args.model, args.index, args.out, job.runtime(args))
    job.record_code("evaluate", args.out)
    print(f"{args.out}: top-1 video {metrics['top1_video']:.4f}, clip {metrics['top1_clip']:.4f}")
    return 0
