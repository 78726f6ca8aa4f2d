"""`cstp stor-stats` and `cstp show-pair`: inspect the pair sampler without training."""

from __future__ import annotations

import argparse
from pathlib import Path

from cstp.commands import args as types
from cstp.errors import CstpError
from cstp.specs.sampling import PAPER_CANDIDATES


def register(sub: argparse._SubParsersAction) -> None:
    stats = sub.add_parser(
        "stor-stats",
        help="measure the STOR sampler's overlaps and label frequencies (no video needed)",
        description="Plan many clip pairs for a video of the given length and frame size, and "
        "print per candidate the target overlap, the measured spatial and temporal overlap "
        "(mean, min, max) and the label frequency.",
    )
    stats.add_argument("--frames", type=types.positive_int, required=True, help="video length")
    stats.add_argument("--size", type=types.size, required=True, help="frame size WxH")
    stats.add_argument(
        "--candidates",
        type=types.float_list,
        default=PAPER_CANDIDATES,
        help="overlap rates for both axes (default: the paper's 0.2,0.4,0.6,0.8,1.0)",
    )
    stats.add_argument("--spatial-candidates", type=types.float_list, help="override for space")
    stats.add_argument("--temporal-candidates", type=types.float_list, help="override for time")
    stats.add_argument(
        "--only", choices=("spatial", "temporal"), help="spatial-only or temporal-only STOR"
    )
    stats.add_argument("--clip-frames", type=types.positive_int, default=16)
    stats.add_argument(
        "--rates", type=types.int_list, default=(1, 2, 4, 8), help="playback rates drawn"
    )
    stats.add_argument("--crop-scale", choices=("conditional", "shared"), default="shared")
    stats.add_argument(
        "--spec",
        type=Path,
        help="a pretraining run's spec.json: measure exactly its sampling (the options above "
        "then only give the video: --frames, --size)",
    )
    stats.add_argument("--samples", type=types.positive_int, default=10000)
    stats.add_argument("--seed", type=int, default=0)
    stats.set_defaults(func=run_stor_stats)

    show = sub.add_parser(
        "show-pair",
        help="draw a STOR pair's boxes, time windows and clips on a video",
        description="Sample one pretraining pair (all pretext tasks on) from VIDEO and save a "
        "figure: both crop boxes on a frame, both clips' time windows, and the augmented clips.",
    )
    show.add_argument("video", type=Path, help="a video file")
    show.add_argument("--out", type=Path, required=True, help="image file to write (.png)")
    show.add_argument("--clip-frames", type=types.positive_int, default=16)
    show.add_argument("--size", type=types.positive_int, default=112, help="clip side")
    show.add_argument("--short-side", type=types.positive_int, help="resize frames first")
    show.add_argument("--seed", type=int, default=0)
    show.set_defaults(func=run_show_pair)


def run_stor_stats(args: argparse.Namespace) -> int:
    from cstp.sampling.stats import format_stats, stor_stats

    spec = _spec_sampling(args) if args.spec else _options_sampling(args)
    if args.frames < spec.clip.frames:
        clip = (
            f"{spec.clip.frames} frames ({args.spec})"
            if args.spec
            else (f"--clip-frames {spec.clip.frames}")
        )
        raise CstpError(f"--frames {args.frames}: shorter than one clip of {clip}")
    width, height = args.size
    print(
        f"STOR sampler: {args.frames}-frame video, {width}x{height} frames, "
        f"{spec.clip.frames}-frame clips, rates {list(spec.playback_rates)}, crop area "
        f"{spec.base.crop_scale[0]:g}-{spec.base.crop_scale[1]:g}, "
        f"crop scale {spec.stor.crop_scale}"
    )
    print(format_stats(stor_stats(spec, args.frames, width, height, args.samples, args.seed)))
    return 0


def _spec_sampling(args: argparse.Namespace):
    from cstp.commands.job import load_spec
    from cstp.specs.train import PretrainSpec

    return load_spec(PretrainSpec, args.spec).sampling


def _options_sampling(args: argparse.Namespace):
    from cstp.specs.base import from_dict
    from cstp.specs.sampling import SamplingSpec

    spatial = args.spatial_candidates or args.candidates
    temporal = args.temporal_candidates or args.candidates
    _check("--spatial-candidates" if args.spatial_candidates else "--candidates", spatial)
    _check("--temporal-candidates" if args.temporal_candidates else "--candidates", temporal)
    spec = from_dict(
        SamplingSpec,
        {
            "clip": {"frames": args.clip_frames},
            "playback_rates": list(args.rates),
            "pretext": ["playback_rate"]
            + ["stor_spatial"] * (args.only != "temporal")
            + ["stor_temporal"] * (args.only != "spatial"),
            "stor": {
                "spatial_candidates": list(spatial),
                "temporal_candidates": list(temporal),
                "crop_scale": args.crop_scale,
            },
        },
        where="stor-stats",
    )
    return spec


def run_show_pair(args: argparse.Namespace) -> int:
    from cstp.sampling.show import show_pair
    from cstp.specs.base import from_dict
    from cstp.specs.registry import PRETEXT_TASKS
    from cstp.specs.sampling import SamplingSpec

    spec = from_dict(
        SamplingSpec,
        {
            "clip": {
                "frames": args.clip_frames,
                "size": args.size,
                "short_side": args.short_side,
            },
            "pretext": list(PRETEXT_TASKS),
        },
    )
    facts = show_pair(args.video, args.out, spec, args.seed)
    print(f"{args.out}: {facts['title']}")
    return 0


def _check(option: str, values: tuple[float, ...]) -> None:
    from cstp.specs.sampling import check_candidates

    try:
        check_candidates(values, option)
    except ValueError as err:
        raise CstpError(str(err)) from None
