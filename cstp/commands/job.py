"""What every job command shares: reading its spec file, the runtime options (how a job runs, never
what it computes), the log header, and the record of the code that ran."""

from __future__ import annotations

import argparse
import functools
import json
import os
import shlex
from pathlib import Path

import yaml

from cstp.commands import args as types
from cstp.errors import CstpError


def add_job_arguments(parser: argparse.ArgumentParser, encoder: bool = False) -> None:
    """--spec, --index and --out (and --encoder) of a job command, then the runtime options."""
    parser.add_argument("--spec", type=Path, required=True, help="spec.json (or YAML) of the run")
    parser.add_argument("--index", type=Path, required=True, help="index csv of the dataset")
    parser.add_argument("--out", type=Path, required=True, help="run folder")
    if encoder:
        parser.add_argument("--encoder", type=Path, help="encoder.pt of the pretraining run")
    add_runtime_options(parser)


def prepare(args: argparse.Namespace, cls, kind: str):
    """The job's spec from --spec, its index checked, and the log header written."""
    spec = load_spec(cls, args.spec)
    check_index(args.index)
    start(args, kind, spec)
    return spec


def add_runtime_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("runtime (not part of the experiment)")
    group.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda:0")
    group.add_argument("--threads", type=types.positive_int, help="torch threads (job's cores)")
    group.add_argument("--workers", type=int, default=0, help="data-loader processes (0)")
    group.add_argument(
        "--compile",
        nargs="?",
        const="on",
        default="off",
        choices=("off", "on", "cuda"),
        help="torch.compile the backbone: on (--compile alone), off, or cuda (on a GPU only)",
    )
    group.add_argument(
        "--no-channels-last",
        action="store_true",
        help="keep the contiguous layout (training, and CUDA inference, use channels_last_3d)",
    )
    group.add_argument(
        "--deterministic",
        action="store_true",
        help="deterministic kernels only (CUDA: slower; a rerun or a resume is bit-equal)",
    )
    group.add_argument(
        "--cache", type=Path, help="frame cache of the dataset (cstp cache): read, not decode"
    )


def runtime(args: argparse.Namespace, kind: str | None = None):
    """The job's runtime; a training job (`kind`) also carries the digest of its code, so that a
    checkpoint written by other code is not resumed (docs/workflow.md, "What a code change
    re-runs")."""
    from cstp.engine.runtime import Runtime

    return Runtime(
        device=args.device,
        threads=args.threads,
        workers=args.workers,
        channels_last=not args.no_channels_last,
        compile=args.compile,
        cache=args.cache,
        deterministic=args.deterministic,
        code=code_of(kind)["digest"] if kind else None,
    )


def load_spec(cls, source: str | Path):
    """A spec dataclass from a JSON / YAML file; errors name the file and the key."""
    from cstp.specs.base import from_dict

    path = Path(source)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise CstpError(f"{path}: no such spec file") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except json.JSONDecodeError as err:
        raise CstpError(f"{path}: not valid JSON ({err.msg}, line {err.lineno})") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise CstpError(f"{path}:{where} not valid YAML") from None
    return from_dict(cls, data, where=str(path))


def start(args: argparse.Namespace, kind: str, spec) -> None:
    """The first lines of a job's log: the exact command line, then the spec it runs."""
    from cstp.specs.base import spec_hash, spec_json

    if os.environ.get("RANK", "0") != "0":
        return  # under torchrun, the first process writes the header for all
    world = os.environ.get("WORLD_SIZE", "1")
    launch = ["torchrun", "--nproc-per-node", world, "-m", "cstp"] if world != "1" else ["cstp"]
    print("$ " + shlex.join([*launch, *args.argv]), flush=True)
    print(f"{kind} {spec_hash(spec)}, spec:\n{spec_json(spec)}", end="", flush=True)


def check_index(path: Path) -> None:
    if not path.is_file():
        raise CstpError(f"{path}: no such index file; write it with `cstp data scan ... --probe`")


@functools.cache
def code_of(kind: str) -> dict:
    """The fingerprint of the library code a job of `kind` runs, once per process: a training
    job's checkpoints and its code.json record the same one."""
    from cstp.planning.code import fingerprint

    return fingerprint(kind)


def record_code(kind: str, run_dir: Path) -> None:
    """run_dir/code.json: the fingerprint of the library code this job ran (`cstp plan --list`
    compares it with the code of today to call a finished job stale)."""
    from cstp.files import write_text_atomic

    text = json.dumps(code_of(kind), indent=1, sort_keys=True) + "\n"
    write_text_atomic(Path(run_dir) / "code.json", text, "code record")


def trained(kind: str, job, out: Path) -> int:
    """Run a training job; a stop request (SIGTERM, SIGUSR1) exits with 128 + signal after the
    checkpoint, so the same command resumes."""
    from cstp.engine.trainer import Interrupted

    try:
        metrics = job()
    except Interrupted as stop:
        print(f"{out}: {stop}")
        return 128 + stop.signum
    record_code(kind, out)
    print(json.dumps(metrics.get("final", {}), indent=1, sort_keys=True))
    return 0
