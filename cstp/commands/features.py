"""`cstp features` (frozen features with their probe and retrieval, the workflow's job), and the
two measurements alone on a features file: `cstp probe` and `cstp retrieve`."""

from __future__ import annotations

import argparse
from pathlib import Path

from cstp.commands import job


def register(sub: argparse._SubParsersAction) -> None:
    text = "video-level features of train and test videos, their linear probe and retrieval"
    features = sub.add_parser("features", help=text, description=text)
    job.add_job_arguments(features, encoder=True)
    features.set_defaults(func=run_features)

    retrieve = sub.add_parser("retrieve", help="nearest-neighbour retrieval recall R@k")
    retrieve.add_argument("--features", type=Path, required=True, help="features.pt")
    retrieve.add_argument("--out", type=Path, required=True, help="metrics json to write")
    retrieve.add_argument("--center", action="store_true", help="subtract the gallery mean")
    retrieve.set_defaults(func=run_retrieve)

    probe = sub.add_parser("probe", help="logistic regression on frozen features")
    probe.add_argument("--features", type=Path, required=True, help="features.pt")
    probe.add_argument("--out", type=Path, required=True, help="metrics json to write")
    probe.add_argument("--weight-decay", type=float, default=1e-3, help="L2 penalty")
    probe.set_defaults(func=run_probe)


def run_features(args: argparse.Namespace) -> int:
    from cstp.engine.features import measure
    from cstp.specs.measure import FeatureSpec

    spec = job.prepare(args, FeatureSpec, "features")
    result = measure(spec, args.index, args.out, args.encoder, job.runtime(args))
    job.record_code("features", args.out)
    _report_probe(result["probe"])
    _report_retrieval(result["retrieval"])
    return 0


def run_retrieve(args: argparse.Namespace) -> int:
    from cstp.engine.probe import retrieve
    from cstp.specs.measure import RetrievalSpec

    _report_retrieval(retrieve(args.features, args.out, RetrievalSpec(center=args.center)))
    return 0


def run_probe(args: argparse.Namespace) -> int:
    from cstp.engine.probe import probe
    from cstp.specs.measure import ProbeSpec

    _report_probe(probe(args.features, args.out, ProbeSpec(weight_decay=args.weight_decay)))
    return 0


def _report_probe(metrics: dict) -> None:
    print(
        f"linear probe: test accuracy {metrics['probe_test']:.4f}; "
        f"effective rank of the training features {metrics['feature_rank']:.1f}"
    )


def _report_retrieval(metrics: dict) -> None:
    print("retrieval: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if k[:2] == "R@"))
