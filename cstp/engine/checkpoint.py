"""Atomic checkpoints (temporary file, then rename): a kill never leaves half a file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch


def save_atomic(state: dict[str, Any], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    torch.save(state, tmp)
    os.replace(tmp, path)
    return path


def write_json(path: str | Path, data: dict) -> Path:
    """A metrics file, written atomically like a checkpoint."""
    import json

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)
    return path


def load(path: str | Path) -> dict[str, Any] | None:
    """The checkpoint at `path`, or None when there is none yet."""
    path = Path(path)
    if not path.exists():
        return None
    return torch.load(path, map_location="cpu", weights_only=False)


def claim(run_dir: Path, spec) -> None:
    """Record `spec` as run_dir/spec.yaml, or refuse a folder that holds another spec's run
    (resuming someone else's checkpoint would silently mix two experiments)."""
    import yaml

    from cstp.errors import CstpError
    from cstp.spec import to_dict

    run_dir = Path(run_dir)
    text = yaml.safe_dump(to_dict(spec), sort_keys=True)
    path = run_dir / "spec.yaml"
    if path.exists():
        if path.read_text() != text:
            raise CstpError(
                f"{run_dir}: holds a run of another spec (see its spec.yaml); give another --out"
            )
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".spec.yaml.tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)
