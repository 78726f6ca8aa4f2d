"""Plots of a regenerated table (matplotlib, PNG), one panel per dataset, one scale per panel.

`bars`: per cell, our fine-tuning and probe accuracy as bars with error bars over seeds, and the
paper's number as a marker on our first bar, the one it compares with (its datasets may be the
real ones while ours are synthetic stand-ins: the same scale shows how far apart they are); a
frozen-encoder cell's first bar is hatched and named as that protocol. Ticks name each cell by
its flags, per group ("aug" for the augmentations, "pretext" for the pretext tasks).
`line`: accuracy against the first column's value (Table 4: the number of STOR candidates),
ours with error bars and the paper's curve.
"""

from __future__ import annotations

from itertools import groupby
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from cstp.planning.plan import Plan
from cstp.reporting.control import draw_control
from cstp.reporting.tables import CHECK, CROSS, flag_name

OURS = {"ours": ("fine-tune (ours)", "tab:blue"), "probe": ("linear probe (ours)", "tab:orange")}
# A cell whose "ours" is a linear classifier on the frozen encoder (Table 6's Freeze rows).
FROZEN = ("linear, frozen encoder (ours)", "tab:green")
PAPER = "paper (as printed; compare with the first bar)"


def plot(plan: Plan, table: str, summary: pd.DataFrame, out: Path, control=None) -> Path:
    spec = plan.study.tables[table]
    datasets = [plan.study.datasets[k] for k in spec.datasets]
    width = max(6.5, 0.5 * len(summary) + 2.5) if spec.plot == "bars" else 6.5
    figure, axes = plt.subplots(
        len(datasets), 1, figsize=(width, 3.3 * len(datasets) + 0.8), squeeze=False
    )
    for ax, dataset in zip(axes[:, 0], datasets, strict=True):
        if spec.plot == "line":
            first = spec.columns[0]
            x = summary[flag_name(first)].astype(float).to_numpy()
            _line(ax, x, summary, dataset.label)
            ax.set_xlabel(first["name"])
        else:
            _bars(
                ax,
                summary,
                dataset.label,
                [_tick(row, spec.columns) for _, row in summary.iterrows()],
                frozen_rows(summary, spec.columns),
            )
        draw_control(ax, control, dataset.label)
        ax.set_title(dataset.label, fontsize=10)
        ax.set_ylabel("top-1 (%)")
        ax.set_ylim(0, 100)
        ax.grid(axis="y", alpha=0.3)
    return finish(figure, axes, f"{table}: {spec.title}", out)


def finish(figure, axes, title: str, out: Path, legend_columns=3, legend_space=0.06) -> Path:
    """The first panel's legend below the panels, the title, and the PNG written to `out`."""
    handles, labels = axes[0, 0].get_legend_handles_labels()
    figure.legend(
        handles, labels, loc="lower center", ncols=legend_columns, fontsize=8, frameon=False
    )
    figure.suptitle(title, fontsize=11)
    figure.tight_layout(rect=(0, legend_space, 1, 1))
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=110)
    plt.close(figure)
    return out


# How a tick names a group of flag columns, so augmentation and pretext task are told apart.
GROUP_WORDS = {
    "Data Augmentation": "aug",
    "Pretext Tasks": "pretext",
    "Overlap Rate Prediction": "STOR",
}


def _tick(row: pd.Series, columns) -> str:
    """A cell as the table names it: its Exp., its ungrouped values, then per group the flags it
    ticks ('5: aug Base+PB, pretext PB'; 'SimCLR-1: no pretext')."""
    sections = []
    for group, members in groupby(columns, key=lambda c: c.get("group", "")):
        parts = []
        for column in members:
            value = row[flag_name(column)]
            if value == CHECK:
                parts.append(column["name"].replace(" Rate", "").rstrip("."))
            elif value not in (CROSS, "-"):  # a value (candidates, a dataset); "-": none
                parts.append(str(value))
        word = GROUP_WORDS.get(group, group.lower())
        if not group:
            sections += ["+".join(parts)] if parts else []
        else:
            sections.append(f"{word} {'+'.join(parts)}" if parts else f"no {word}")
    return f"{row['Exp.']}: {', '.join(sections) or 'none'}"


def frozen_rows(summary: pd.DataFrame, columns) -> np.ndarray:
    """Which cells train only a classifier on the frozen encoder (the paper's Freeze column)."""
    frozen = np.zeros(len(summary), dtype=bool)
    for column in columns:
        if column.get("show") == "protocol.linear":
            frozen |= (summary[flag_name(column)] == CHECK).to_numpy()
    return frozen


def _errors(summary: pd.DataFrame, column: str):
    std = summary.get(column)
    return None if std is None or std.isna().all() else std.fillna(0).to_numpy(dtype=float)


def _bars(ax, summary: pd.DataFrame, label: str, ticks: list[str], frozen=None) -> None:
    """Per cell our two bars; a frozen-encoder cell's first bar is that protocol's (hatched, its
    own legend entry), and the paper's mark sits on the bar it compares with (the first)."""
    x = np.arange(len(summary))
    frozen = np.zeros(len(summary), dtype=bool) if frozen is None else frozen
    width = 0.38
    for k, (metric, (name, colour)) in enumerate(OURS.items()):
        values = summary[f"{label}: {metric}"].to_numpy(dtype=float)
        errors = _errors(summary, f"{label}: {metric} std")
        kinds = [(~frozen, name, colour, None)]
        if metric == "ours" and frozen.any():
            kinds.append((frozen, FROZEN[0], FROZEN[1], "//"))
        for keep, words, fill, hatch in kinds:
            if not keep.any():
                continue
            ax.bar(
                (x + (k - 0.5) * width)[keep],
                values[keep],
                width,
                yerr=None if errors is None else errors[keep],
                label=words,
                color=fill,
                hatch=hatch,
                edgecolor="black",  # a value of 0 still shows, as a line at 0
                linewidth=0.5,
                capsize=2,
            )
    paper = summary[f"{label}: paper"].to_numpy(dtype=float)
    ax.plot(x - 0.5 * width, paper, "kD", markersize=5, linestyle="none", label=PAPER)
    ax.set_xticks(x, ticks, rotation=40, ha="right", fontsize=7)
    ax.set_xlim(-0.6, len(summary) - 0.4)


def _line(ax, x: np.ndarray, summary: pd.DataFrame, label: str) -> None:
    for metric, (name, colour) in OURS.items():
        values = summary[f"{label}: {metric}"].to_numpy(dtype=float)
        ax.errorbar(
            x,
            values,
            yerr=_errors(summary, f"{label}: {metric} std"),
            marker="o",
            capsize=3,
            color=colour,
            label=name,
        )
    paper = summary[f"{label}: paper"].to_numpy(dtype=float)
    ax.plot(x, paper, "k--D", markersize=5, label="paper (as printed)")
    ax.set_xticks(x)
