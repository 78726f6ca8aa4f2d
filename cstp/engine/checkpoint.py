"""Checkpoints and metrics files, written atomically (`cstp.files`): a kill never leaves half a
file; and the claim of a run folder by the spec whose run it holds."""

from __future__ import annotations

import json
import logging
import os
import socket
from pathlib import Path
from typing import Any

import torch

from cstp import distributed as dist
from cstp.errors import CstpError
from cstp.files import hold_folder, write_atomic, write_text_atomic
from cstp.specs.base import spec_json

log = logging.getLogger(__name__)


def save_atomic(state: dict[str, Any], path: str | Path, what: str = "checkpoint") -> Path:
    return write_atomic(path, lambda tmp: _save(state, tmp), what)


def _save(state: dict[str, Any], tmp: Path) -> None:
    # Through a Python file, so that a full disk surfaces as the OSError behind torch's error
    # (given a path, torch's own writer reports only "iostream error").
    with open(tmp, "wb") as handle:
        torch.save(state, handle)


def write_json(path: str | Path, data: dict) -> Path:
    """A metrics file, written atomically like a checkpoint."""
    return write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n", "metrics")


HISTORY = "history.log"
_history: dict[str, Any] = {}  # the run this process logs to: {"path": ..., "handler": ...}


def _keep_history(run_dir: Path) -> None:
    """Append this process's log lines to run_dir/history.log: every attempt at a run (a resumed,
    retried or requeued job) adds to it, where Snakemake and Slurm replace their logs. A process
    logs to the last run it claimed."""
    path = (run_dir / HISTORY).resolve()
    if _history.get("path") == path:
        return
    root = logging.getLogger()
    if "handler" in _history:
        root.removeHandler(_history["handler"])
        _history["handler"].close()
    handler = logging.FileHandler(path, mode="a")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO)
    root.addHandler(handler)
    _history.update(path=path, handler=handler)
    log.info("%s: pid %d on %s", run_dir, os.getpid(), socket.gethostname())


class DamagedCheckpoint(CstpError):
    """A checkpoint file that exists but cannot be read (truncated, empty, not a checkpoint)."""


def load(path: str | Path) -> dict[str, Any] | None:
    """The checkpoint at `path`, or None when there is none yet; DamagedCheckpoint naming the file
    when it cannot be read."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # torch raises EOFError, RuntimeError, UnpicklingError, ...
        reason = str(err).splitlines()[0][:120] if str(err) else type(err).__name__
        raise DamagedCheckpoint(f"{path}: not a readable checkpoint ({reason})") from None


def claim(run_dir: Path, spec) -> None:
    """Take the run folder's lock (two processes never train one folder; under torchrun the first
    process holds it for all) and record `spec` as run_dir/spec.json, or refuse a folder that
    holds another spec's run (resuming someone else's checkpoint would mix two experiments)."""
    if dist.rank() == 0:
        hold_folder(run_dir)
        _keep_history(Path(run_dir))
    path = Path(run_dir) / "spec.json"
    text = spec_json(spec)
    if path.exists():
        try:
            same = json.loads(path.read_text()) == json.loads(text)
        except json.JSONDecodeError:
            same = False
        if not same:
            raise CstpError(
                f"{run_dir}: holds a run of another spec (see its spec.json); give another --out"
            )
        return
    write_text_atomic(path, text, "run spec")
