"""Small things the Snakefile's rules need from the library: the cells a job serves as a message,
and the effective config as a file named by its content."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from cstp.files import write_text_atomic

STUDY_DIR = Path("runs/study")


class CellsOf:
    """The table cells a job serves ('table1 Exp 4 (seed 0), table2 Exp 1 (seed 0)'), for a rule's
    `message`. Deliberately not a str: Snakemake keeps only params it can represent (str, numbers,
    containers) in its params rerun trigger, so adding a table that shares a job re-runs nothing.
    """

    def __init__(self, text: str):
        self.text = text

    def __str__(self) -> str:
        return self.text


def study_file(config: dict[str, Any], root: Path = Path(".")) -> str:
    """Write the effective config to runs/study/<hash>.json (once) and return its path: the table
    jobs read it, and a changed config is a new file, so they rebuild."""
    text = json.dumps(config, sort_keys=True, indent=1) + "\n"
    digest = hashlib.sha256(text.encode()).hexdigest()[:10]
    path = STUDY_DIR / f"{digest}.json"
    if not (root / path).exists():
        write_text_atomic(root / path, text)
    return str(path)
