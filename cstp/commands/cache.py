"""`cstp cache`: decode every usable video of an index once into a frame cache that jobs read."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from cstp.errors import CstpError


def register(sub) -> None:
    parser = sub.add_parser(
        "cache",
        help="decode an index's videos once into a frame cache (jobs read it with --cache)",
        description="Decode every usable video of INDEX at the short side the jobs read into one "
        "uint8 array per video under OUT, with a manifest of each source's size, time and "
        "SHA-256 and of each array's size and digest. Reruns redo only new or changed videos "
        "and damaged arrays. Jobs given --cache OUT read frames from it instead of decoding; "
        "their results are the same.",
    )
    parser.add_argument("--index", type=Path, help="index csv (cstp data scan)")
    parser.add_argument("--out", type=Path, required=True, help="cache folder")
    parser.add_argument(
        "--short-side",
        type=_short_side,
        default=None,
        help="resize frames to this short side, as the jobs' clip.short_side (default: none)",
    )
    parser.add_argument("--workers", type=int, help="decoding processes (default: all cores)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--verify",
        action="store_true",
        help="check every array of OUT (size and digest), list the damaged ones and exit 1 if "
        "any; changes nothing (a run without --verify rebuilds them)",
    )
    parser.set_defaults(func=run_cache)


def _short_side(text: str) -> int | None:
    if text.lower() == "none":
        return None
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a number of pixels >= 1 or none")
    return int(text)


def run_cache(args: argparse.Namespace) -> int:
    from cstp.data.cache import build_cache

    if args.verify:
        return _verify(args.out)
    if args.index is None:
        raise CstpError("--index: give the index csv to cache (or --verify to check a cache)")
    if not args.index.is_file():
        raise CstpError(f"--index {args.index}: no such index file (write one with cstp data scan)")
    workers = args.workers if args.workers is not None else len(os.sched_getaffinity(0))
    if workers < 1:
        raise CstpError(f"--workers {workers}: expected a number of processes >= 1")
    result = build_cache(args.index, args.out, args.short_side, workers, not args.no_progress)
    gib = result["bytes"] / 2**30
    print(
        f"cache {args.out}: {result['videos']} videos ({result['decoded']} decoded now), "
        f"{gib:.2f} GiB, {result['seconds']:.1f} s"
    )
    for path, reason in result["failed"].items():
        print(f"  not cached: {path}: {reason}")
    return 0


def _verify(out: Path) -> int:
    from cstp.data.cache import verify_cache

    damaged = verify_cache(out)
    for path, damage in damaged.items():
        print(f"  damaged: {path}: {damage}")
    print(
        f"cache {out}: {len(damaged)} damaged arrays"
        + ("; cstp cache rebuilds them" * bool(damaged))
    )
    return 1 if damaged else 0
