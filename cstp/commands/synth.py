"""`cstp synth`: generate the embedded synthetic UCF-101-, HMDB-51- and Kinetics-400-like
datasets."""

from __future__ import annotations

import argparse
import dataclasses
import os

from cstp.errors import CstpError

# Spec fields set by each option; --classes sets both datasets' class counts.
OPTION_FIELDS = {
    "seed": ("seed",),
    "classes": ("ucf_classes", "hmdb_classes"),
    "groups": ("groups",),
    "clips_per_group": ("clips_per_group",),
    "videos_per_class": ("videos_per_class",),
    "k400_videos_per_class": ("k400_videos_per_class",),
    "frames": ("frames",),
    "fps": ("fps",),
    "world": ("world",),
}


def register(sub) -> None:
    parser = sub.add_parser(
        "synth",
        help="generate the synthetic action datasets (UCF-101, HMDB-51, Kinetics-400 layouts)",
        description="Render procedurally generated, labelled action videos into the published "
        "UCF-101, HMDB-51 and Kinetics-400 layouts with their split files. Reruns skip finished "
        "videos.",
    )
    parser.add_argument(
        "--out", required=True, metavar="DIR", help="output folder (one subfolder per dataset)"
    )
    parser.add_argument(
        "--preset",
        default="default",
        metavar="NAME",
        help="default, plain (default in world 3), follow (world 4, 48 HMDB-like videos per "
        "class), drift (follow in world 5) or tiny (default: default)",
    )
    parser.add_argument(
        "--datasets",
        default="ucf101,hmdb51",
        metavar="LIST",
        help="comma-separated list of ucf101, hmdb51, kinetics400",
    )
    parser.add_argument("--seed", metavar="S", help="integer seed of the whole generation")
    parser.add_argument(
        "--classes", metavar="N", help="classes per dataset: 4, 8, 10, 12, 14 or 16"
    )
    parser.add_argument("--groups", metavar="G", help="UCF-101 groups per class")
    parser.add_argument("--clips-per-group", metavar="A,B", help="UCF-101 clips per group, MIN,MAX")
    parser.add_argument("--videos-per-class", metavar="N", help="HMDB-51 videos per class")
    parser.add_argument(
        "--k400-videos-per-class", metavar="N", help="Kinetics-400 training videos per class"
    )
    parser.add_argument("--frames", metavar="MIN,MAX", help="video length range in frames, MIN,MAX")
    parser.add_argument("--size", metavar="WxH", help="frame size WxH, e.g. 64x48")
    parser.add_argument("--fps", metavar="F", help="frames per second")
    parser.add_argument(
        "--world",
        metavar="V",
        help="world version: 2, a landscape; 3, a plain backdrop with no scene identity or up; "
        "4, world 3 with a camera that follows the actor; 5, world 4 with an actor whose colour "
        "and size drift (default: the preset's; docs/synthetic-world.md)",
    )
    parser.add_argument("--workers", metavar="N", help="processes (default: number of cores)")
    parser.add_argument(
        "--shared-scenes",
        action="store_true",
        help="clips of one group share scene and actor look, as in UCF-101 (default: per clip)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    parser.set_defaults(func=run)


def _int(option: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise CstpError(f"--{option} {text}: expected an integer") from None


def _pair(option: str, text: str, sep: str = ",") -> tuple[int, int]:
    parts = text.lower().split(sep)
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        form = "WxH, e.g. 64x48" if sep == "x" else "MIN,MAX, e.g. 3,5"
        raise CstpError(f"--{option} {text}: expected {form}")
    return int(parts[0]), int(parts[1])


def spec_from_args(args: argparse.Namespace):
    """The preset's spec with the options given on the command line replacing its values."""
    from cstp.data.synth import PRESETS

    if args.preset not in PRESETS:
        raise CstpError(f"--preset {args.preset}: expected one of {', '.join(PRESETS)}")
    changes: dict[str, object] = {}
    for option, fields in OPTION_FIELDS.items():
        text = getattr(args, option)
        if text is None:
            continue
        name = option.replace("_", "-")
        value = (
            _pair(name, text) if fields[0] in ("frames", "clips_per_group") else _int(name, text)
        )
        changes.update(dict.fromkeys(fields, value))
    if args.size is not None:
        changes["width"], changes["height"] = _pair("size", args.size, sep="x")
    if args.shared_scenes:
        changes["shared_scenes"] = True
    return dataclasses.replace(PRESETS[args.preset], **changes)


def run(args: argparse.Namespace) -> int:
    from cstp.data.generate import generate
    from cstp.data.synth import DATASETS

    spec = spec_from_args(args)
    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    unknown = [d for d in datasets if d not in DATASETS]
    if unknown or not datasets:
        raise CstpError(
            f"--datasets {args.datasets}: expected a comma-separated subset of {','.join(DATASETS)}"
        )
    workers = _int("workers", args.workers) if args.workers is not None else os.cpu_count() or 1
    if workers < 1:
        raise CstpError(f"--workers {workers}: expected a number of processes >= 1")
    summary = generate(args.out, spec, datasets, workers, progress=not args.no_progress)
    for dataset, s in summary.items():
        print(
            f"{dataset}: {s['videos']} videos ({s['generated']} written, "
            f"{s['videos'] - s['generated']} already there), {s['bytes'] / 1e6:.1f} MB, "
            f"{s['seconds']:.1f} s -> {s['root']}"
        )
    return 0
