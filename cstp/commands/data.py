"""`cstp data scan`: check a dataset copy against its official split and write the index csv."""

from __future__ import annotations

import argparse
from pathlib import Path

from cstp.errors import CstpError

DATASETS = ("ucf101", "hmdb51", "kinetics400")


def register(sub) -> None:
    data = sub.add_parser("data", help="dataset copies: scan against the official splits")
    actions = data.add_subparsers(dest="action", metavar="ACTION", required=True)
    scan = actions.add_parser(
        "scan",
        help="index a dataset copy: which listed videos are present and readable",
        description="Match the videos an official split lists against the files under --root, "
        "check each found file (or, with --probe, decode it to count its frames), write the "
        "index csv and print a summary per subset. A partial copy is summarised, not an error.",
    )
    scan.add_argument("dataset", choices=DATASETS)
    scan.add_argument("--root", type=Path, required=True, help="folder holding the videos")
    scan.add_argument(
        "--splits",
        type=Path,
        required=True,
        help="ucfTrainTestlist/ or testTrainMulti_7030_splits/ folder; for kinetics400 the "
        "annotation csv or a folder holding train.csv, validate.csv, test.csv",
    )
    scan.add_argument("--split", type=int, choices=(1, 2, 3), help="official split (1)")
    scan.add_argument("--out", type=Path, help="index csv (DATASET_splitK_index.csv)")
    scan.add_argument(
        "--probe", action="store_true", help="decode every video: true frame counts, fps, size"
    )
    scan.set_defaults(func=run_scan)


def run_scan(args: argparse.Namespace) -> int:
    from cstp.data import scan as scanning

    if args.dataset == "kinetics400" and args.split is not None:
        raise CstpError("--split applies to ucf101 and hmdb51 (Kinetics-400 has one split)")
    split = args.split or 1
    default = f"{args.dataset}_index.csv" if args.dataset == "kinetics400" else None
    out = args.out or Path(default or f"{args.dataset}_split{split}_index.csv")
    index = scanning.scan(
        args.dataset, args.root, args.splits, split, probe_videos=args.probe, progress=args.probe
    )
    scanning.write_index(index, out)
    print(scanning.report(index, out))
    return 0
