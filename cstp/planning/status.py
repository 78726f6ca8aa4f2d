"""Whether each job of a plan is done, stale or missing, read from its run folder: its outputs,
and the fingerprint of the code it ran (code.json) against the code of today."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from cstp.files import folder_holder
from cstp.planning.code import changed, fingerprint
from cstp.planning.plan import OUTPUTS, RUNS, Plan, Run


@dataclass(frozen=True)
class State:
    word: str  # done, stale, missing or running
    why: str = ""


def job_states(plan: Plan, runs: dict[str, list[Run]], root: Path = Path(".")) -> dict:
    """(kind, id) -> State for every run in `runs`, parents before children."""
    prints = {kind: fingerprint(kind) for kind in runs}
    states: dict[tuple[str, str], State] = {}
    parent_kind = {"finetune": "pretrain", "features": "pretrain", "evaluate": "finetune"}
    for kind in ("pretrain", "finetune", "evaluate", "features"):
        for run in runs.get(kind, []):
            state = _own_state(run, root, prints[kind])
            above = parent_kind.get(kind, "")
            if kind == "features" and run.spec.trained is not None:  # the positive control
                above = "finetune"
            parent = states.get((above, run.parent or ""))
            if state.word == "done" and parent is not None and parent.word != "done":
                state = State("stale", f"its input run {run.parent} is {parent.word}")
            states[(kind, run.id)] = state
    return states


def _own_state(run: Run, root: Path, current: dict) -> State:
    folder = root / RUNS / run.kind / run.id
    holder = folder_holder(folder)  # a job at work holds its folder's lock (files.hold_folder)
    if holder is not None:
        since = f", since {holder['since']}" if "since" in holder else ""
        return State("running", f"pid {holder.get('pid', '?')} on {holder.get('host', '?')}{since}")
    if not all((folder / name).exists() for name in OUTPUTS[run.kind]):
        return State("missing")
    try:
        recorded = json.loads((folder / "code.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return State("stale", "no record of the code it ran (code.json)")
    modules = changed(recorded, current)
    if modules:
        shown = ", ".join(modules[:3]) + (
            f" and {len(modules) - 3} more" if len(modules) > 3 else ""
        )
        return State("stale", f"code changed: {shown}")
    return State("done")
