"""The positive control beside a table (preset `control_epochs`): the backbone trained on the
pretraining set's labels, its frozen features probed with the cells' protocol. It says what a
representation that has learnt the classes scores on this data: a reference line, never a cell."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from cstp.planning.plan import RUNS, Plan
from cstp.reporting.tables import mean_and_std, read_json

NAME = "control (trained on the labels)"
SOURCE = "control"


def control_row(plan: Plan, table: str, root: Path = Path(".")) -> dict | None:
    """The control's probe per dataset of the table (mean and std over seeds), as a CSV row;
    None when the preset has no control."""
    controls = plan.controls[table]
    if not controls:
        return None
    row: dict = {"Exp.": NAME}
    for key in plan.study.tables[table].datasets:
        label = plan.study.datasets[key].label
        scores = [
            100 * read_json(root / RUNS / "features" / c.features / "probe.json")["probe_test"]
            for c in controls
            if c.dataset.key == key
        ]
        row |= mean_and_std(pd.Series(scores, dtype=float), f"{label}: probe")
    row["seeds"] = len({c.seed for c in controls})
    return row | {"source": SOURCE, "reference": f"{plan.study.pretrain_on.key} labels"}


def with_control(printed: pd.DataFrame, row: dict | None) -> pd.DataFrame:
    """The table's CSV rows with the control's row last (columns it has no value for empty)."""
    if row is None:
        return printed
    if "source" not in printed:
        printed = printed.assign(source="regenerated", reference="")
    table = pd.concat([printed, pd.DataFrame([row])], ignore_index=True)[list(printed.columns)]
    return table.astype({"seeds": "Int64"})


def control_lines(plan: Plan, table: str, row: dict | None) -> list[str]:
    """The summary's words on the control: its probe per dataset."""
    if row is None:
        return []
    scores = []
    for key in plan.study.tables[table].datasets:
        label = plan.study.datasets[key].label
        mean, std = row[f"{label}: probe"], row[f"{label}: probe std"]
        scores.append(f"{label} {mean:.1f}" + ("" if std is None else f" +- {std:.1f}"))
    return [
        "",
        "Positive control (the preset's backbone trained on the pretraining set's labels, its "
        "linear probe as every cell's): " + "; ".join(scores) + ".",
    ]


def draw_control(ax, row: dict | None, label: str) -> None:
    """The control's probe as a dashed line across a table's panel."""
    if row is not None and pd.notna(row.get(f"{label}: probe")):
        ax.axhline(
            row[f"{label}: probe"],
            color="tab:orange",
            linestyle="--",
            linewidth=1,
            label=f"linear probe, {NAME}",
        )
