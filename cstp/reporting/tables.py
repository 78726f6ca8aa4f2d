"""Regenerated tables: each cell's measured accuracies beside the paper's, as CSV, LaTeX and a plot.

Accuracies are percentages (top-1 at video level after fine-tuning, as the paper prints; the
linear probe on frozen features; retrieval R@1), averaged over seeds with their standard deviation;
in a table averaged over splits, each seed's number is first the mean over its splits.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from cstp.errors import CstpError
from cstp.planning.plan import RUNS, Plan
from cstp.specs.registry import PRETEXT_TASKS

CHECK, CROSS = "✓", "✗"
# Measured columns of a table, per dataset, by the one name they keep from the run's file to the
# CSV column `<dataset label>: <name>`: video-level top-1 after fine-tuning ("ours", the paper's
# word beside its own number), the linear probe on frozen features, and retrieval recall at 1
# (test queries, train gallery).
METRICS = ("ours", "probe", "R@1")
# The pretext heads of a pretraining run (cstp.specs.registry: the name its metrics use, the
# column's name): the training accuracy of its last epoch beside the share of the commonest label
# (what always guessing that label scores: a head there has learnt nothing).


def collect(plan: Plan, table: str, root: Path = Path(".")) -> pd.DataFrame:
    """One row per cell, seed, dataset and split with every measured number (long format)."""
    rows = []
    for entry in plan.tables[table]:
        test = read_json(root / RUNS / "evaluate" / entry.evaluate / "metrics.json")
        probe = read_json(root / RUNS / "features" / entry.features / "probe.json")
        retrieval = read_json(root / RUNS / "features" / entry.features / "retrieval.json")
        rows.append(
            {
                "exp": entry.cell.exp,
                "seed": entry.seed,
                "dataset": entry.dataset.key,
                "split": entry.dataset.split,
                "ours": 100 * test["top1_video"],
                "ours_clip": 100 * test["top1_clip"],
                "probe": 100 * probe["probe_test"],
                "R@1": 100 * retrieval["R@1"],
                "pretrain_run": entry.pretrain or "",
                "finetune_run": entry.finetune,
                **pretext_accuracies(root, entry.pretrain),
            }
        )
    return pd.DataFrame(rows)


def pretext_accuracies(root: Path, pretrain: str | None) -> dict[str, float]:
    """A pretraining run's final pretext accuracies and their commonest-label shares, in percent
    ({} without pretraining; a task the run does not learn is left out)."""
    if not pretrain:
        return {}
    metrics = read_json(root / RUNS / "pretrain" / pretrain / "metrics.json")
    final, labels = metrics.get("final", {}), metrics.get("labels", {})
    found = {}
    for task in PRETEXT_TASKS:
        if f"acc_{task}" in final:
            found[f"pretext_{task}"] = 100 * final[f"acc_{task}"]
            counts = [int(n) for n in labels.get(task, {}).values()]
            if counts and sum(counts):
                found[f"chance_{task}"] = 100 * max(counts) / sum(counts)
    return found


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise CstpError(f"{path}: missing; run the workflow for this table first") from None


def scratch_exp(plan: Plan, table: str) -> str | None:
    """The Exp. every cell is paired with: the table's first cell without pretraining (Table 2:
    Exp 1), or None when every cell pretrains."""
    return next((c.exp for c in plan.cells[table] if not c.pretrains), None)


def paired_to_scratch(
    values: pd.DataFrame, scratch: pd.DataFrame, metric: str, name: str
) -> dict[str, float | None]:
    """`name - scratch` and its std: per seed, the cell's number minus the scratch cell's on the
    same seed, then mean and std over the seeds both have (seed noise shared by both cancels)."""
    if metric not in values or metric not in scratch:
        return {}
    differences = (per_seed(values, metric) - per_seed(scratch, metric)).dropna()
    if differences.empty:
        return {}
    return mean_and_std(differences, f"{name} - scratch")


def summarize(plan: Plan, table: str, measured: pd.DataFrame) -> pd.DataFrame:
    """The regenerated table: one row per cell, the paper's flags, ours beside the paper's, and
    each measure's paired difference to the scratch cell (`scratch_exp`)."""
    scratch = measured[measured["exp"] == scratch_exp(plan, table)]

    def dataset_columns(cell, key: str, label: str, values: pd.DataFrame) -> dict:
        row, paper = {}, cell.paper.get(key)
        for metric in METRICS:
            if metric in values:
                row |= mean_and_std(per_seed(values, metric), f"{label}: {metric}")
        for metric in ("ours", "probe"):
            base = scratch[scratch["dataset"] == key]
            row |= paired_to_scratch(values, base, metric, f"{label}: {metric}")
        row[f"{label}: paper"] = paper
        ours = per_seed(values, "ours").mean()
        row[f"{label}: ours - paper"] = None if paper is None else round(ours - paper, 1)
        row[f"{label}: run"] = ";".join(sorted(set(values["finetune_run"])))
        return row

    return cell_rows(plan, table, measured, dataset_columns, pretext_columns)


def cell_rows(plan: Plan, table: str, measured: pd.DataFrame, dataset_columns, extra=None):
    """One row per cell of any table: its flags, `dataset_columns(cell, key, label, values)`
    per dataset, `extra(mine, measured)`, then its seeds, splits and pretraining runs."""
    spec = plan.study.tables[table]
    rows = []
    for cell in plan.cells[table]:
        row = flag_row(cell, spec.columns)
        mine = measured[measured["exp"] == cell.exp]
        for key in spec.datasets:
            values = mine[mine["dataset"] == key]
            row |= dataset_columns(cell, key, plan.study.datasets[key].label, values)
        row |= extra(mine, measured) if extra else {}
        row["seeds"] = int(mine["seed"].nunique())
        row["splits"] = splits_of(mine)
        row["pretrain run"] = ";".join(sorted(set(mine["pretrain_run"]) - {""})) or "scratch"
        rows.append(row)
    return pd.DataFrame(rows)


def pretext_columns(mine: pd.DataFrame, measured: pd.DataFrame) -> dict[str, float | None]:
    """`pretext: <task>` (mean over seeds) and `pretext: <task> chance` for every pretext task
    of the table; empty for a cell without that head."""
    columns: dict[str, float | None] = {}
    for task, name in ((t.name, t.column) for t in PRETEXT_TASKS.values()):
        if f"pretext_{task}" not in measured or measured[f"pretext_{task}"].isna().all():
            continue
        for key, label in ((f"pretext_{task}", name), (f"chance_{task}", f"{name} chance")):
            values = per_seed(mine, key).dropna() if key in mine else pd.Series(dtype=float)
            columns[f"pretext: {label}"] = round(values.mean(), 1) if len(values) else None
    return columns


def per_seed(values: pd.DataFrame, metric: str) -> pd.Series:
    """One number per seed: the mean over the splits it was run on (the number itself when
    there is one split), so the spread over seeds is not mistaken for a spread over splits."""
    return values.groupby("seed")[metric].mean()


def splits_of(values: pd.DataFrame) -> str:
    """The splits behind a cell's numbers, e.g. '1' or '1;2;3'."""
    if "split" not in values:
        return ""
    return ";".join(str(s) for s in sorted(set(values["split"])))


def mean_and_std(numbers: pd.Series, name: str) -> dict[str, float | None]:
    """`name` and `name std` over seeds, to one decimal (no std with one seed)."""
    spread = round(numbers.std(ddof=1), 1) if len(numbers) > 1 else None
    return {name: round(numbers.mean(), 1), f"{name} std": spread}


def flag_row(cell, columns) -> dict[str, object]:
    """A cell's Exp. and its flag columns as printed (a tick, a cross or a value)."""
    row: dict[str, object] = {"Exp.": cell.exp}
    for column in columns:
        value = cell.show(column["show"])
        row[flag_name(column)] = (CHECK if value else CROSS) if isinstance(value, bool) else value
    return row


def flag_name(column: dict) -> str:
    return f"{column['group']}: {column['name']}" if column.get("group") else column["name"]


SHOWN_WORDS = {
    "ours": "ours: video-level top-1 (\\%) after fine-tuning",
    "paper": "paper: as printed",
    "probe": "probe: logistic regression on frozen features",
    "R@1": "R@1: retrieval recall at 1",
}


def caption(plan: Plan, table: str, show=("ours", "paper", "probe", "R@1")) -> str:
    """What was run, in words: the preset and its budget, the seeds, what each dataset really is."""
    spec = plan.study.tables[table]
    study = plan.study
    labels = ", ".join(study.datasets[k].label for k in spec.datasets)
    seeds = len(study.seeds)
    spread = f"mean $\\pm$ std over {seeds} seeds" if seeds > 1 else "one seed"
    preset = study.preset
    rows = plan.cells[table]
    backbone = "the rows' backbones" if any(c.backbone for c in rows) else preset.backbone.name
    budget = (
        f"{backbone} at width {preset.backbone.width:g}, "
        f"{preset.clip.frames}x{preset.clip.size}x{preset.clip.size} clips, "
        f"{preset.pretrain.optim.epochs} pretraining and {preset.finetune.optim.epochs} "
        "fine-tuning epochs"
    )
    pretrained = {c.pretrain_on for c in rows if c.pretrain_on and c.pretrains}
    if pretrained:
        labels += "; pretrained on " + ", ".join(
            study.datasets[k].label for k in sorted(pretrained)
        )
    synthetic = any(study.datasets[k].synth for k in spec.datasets)
    note = (
        " The datasets are synthetic stand-ins generated by cstp synth, not the real ones; only"
        " the paper's numbers are on UCF-101 / HMDB-51."
        if synthetic
        else ""
    )
    shown = "; ".join(SHOWN_WORDS[s] for s in show)
    return (
        f"{spec.title} (regenerated: preset {study.preset_name}, {budget}). {shown[0].upper()}"
        f"{shown[1:]}. Ours: {spread}, {split_words(plan, table)}; the best per column in bold. "
        f"Datasets: {labels}.{note}"
    )


def split_words(plan: Plan, table: str) -> str:
    """Which official splits a table's numbers are on, in words."""
    spec, study = plan.study.tables[table], plan.study
    if spec.splits and len(spec.splits) > 1:
        *first, last = map(str, spec.splits)
        return f"each the mean over splits {', '.join(first)} and {last}"
    splits = sorted({entry.dataset.split for entry in plan.tables[table]})
    if not splits:  # a table without cells
        splits = sorted({study.datasets[k].split for k in spec.datasets})
    return f"split{'s' if len(splits) > 1 else ''} {', '.join(map(str, splits))}"
