"""The `cstp` command line: one subcommand per job the workflow runs, each a thin library call."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from cstp import __version__
from cstp.errors import CstpError
from cstp.files import EXIT_WRITE_FAILED

# Each module registers its subcommands with `register(subparsers)`; imported lazily so that
# `cstp --help` does not pay for importing torch.
COMMAND_MODULES = [
    "cstp.commands.synth",
    "cstp.commands.data",
    "cstp.commands.cache",
    "cstp.commands.bench",
    "cstp.commands.sampling",
    "cstp.commands.pretrain",
    "cstp.commands.finetune",
    "cstp.commands.evaluate",
    "cstp.commands.features",
    "cstp.commands.code",
    "cstp.commands.plan",
    "cstp.commands.table",
    "cstp.commands.figure",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cstp", description="CSTP ablation-study harness: data, training and evaluation jobs."
    )
    parser.add_argument("--version", action="version", version=f"cstp {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # for the job logs' first line
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except CstpError as err:
        print(f"cstp {args.command}: error: {err}", file=sys.stderr)
        return err.exit_code
    # Before OSError, of which it is one: the reader went away (`cstp plan --list | head`).
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as err:
        if err.filename is None:
            raise
        print(f"cstp {args.command}: error: {err.filename}: {err.strerror}", file=sys.stderr)
        return EXIT_WRITE_FAILED  # the files' problem (space, permissions), not the input's
    except KeyboardInterrupt:
        print(f"cstp {args.command}: interrupted", file=sys.stderr)
        return 130
