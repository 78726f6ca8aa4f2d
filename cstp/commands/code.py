"""`cstp code`: the library modules each kind of job runs, and their fingerprint."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from cstp.errors import CstpError


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "code",
        help="which library modules a kind of job runs, and their fingerprint",
        description="Print the fingerprint of the code each kind of job runs (the modules its "
        "command imports, transitively, hashed without comments and docstrings); with --out, "
        "write one kind's as JSON (the workflow's code stamps).",
    )
    parser.add_argument("kinds", nargs="*", help="kinds of job (default: all)")
    parser.add_argument("--out", type=Path, help="write the fingerprint of one kind here")
    parser.add_argument("--expect", help="fail unless the digest is this (the stamp's name)")
    parser.add_argument("--root", type=Path, help="the cstp/ folder to read (default: installed)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cstp.files import write_text_atomic
    from cstp.planning.code import ENTRIES, ROOT, fingerprint

    kinds = args.kinds or list(ENTRIES)
    unknown = [k for k in kinds if k not in ENTRIES]
    if unknown:
        raise CstpError(f"{unknown[0]}: not a kind of job; kinds: {', '.join(ENTRIES)}")
    prints = {kind: fingerprint(kind, args.root or ROOT) for kind in kinds}
    if args.out:
        if len(kinds) != 1:
            raise CstpError("--out: give exactly one kind of job")
        found = prints[kinds[0]]
        if args.expect and found["digest"] != args.expect:
            raise CstpError(
                f"{kinds[0]}: the code changed while the workflow ran (digest {found['digest']}, "
                f"planned {args.expect}); run snakemake again"
            )
        write_text_atomic(args.out, json.dumps(found, indent=1, sort_keys=True) + "\n")
    for kind, found in prints.items():
        print(f"{kind:9} {found['digest']}  {len(found['modules'])} modules")
    return 0
