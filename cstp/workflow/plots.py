"""Plots of a regenerated table: ours beside the paper's, per dataset (matplotlib, PNG).

`bars`: one group per cell (fine-tuning and probe accuracy, ours; the paper's number on its own
axis, since our datasets may be synthetic stand-ins with another scale). `line`: accuracy against
the first column's value (Table 4: the number of STOR candidates), ours and the paper's curve.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from cstp.workflow.plan import Plan


def plot(plan: Plan, table: str, summary: pd.DataFrame, out: Path) -> Path:
    spec = plan.study.tables[table]
    datasets = [plan.study.datasets[k] for k in spec.datasets]
    figure, axes = plt.subplots(
        len(datasets),
        1,
        figsize=(max(6.0, 0.55 * len(summary) + 3), 3.2 * len(datasets)),
        squeeze=False,
    )
    for ax, dataset in zip(axes[:, 0], datasets, strict=True):
        if spec.plot == "line":
            first = spec.columns[0]
            x = summary[
                f"{first['group']}: {first['name']}" if first.get("group") else first["name"]
            ]
            _line(ax, x.astype(float).to_numpy(), summary, dataset.label, first["name"])
        else:
            _bars(ax, summary, dataset.label)
        ax.set_title(dataset.label, fontsize=10)
    figure.suptitle(f"{table}: {spec.title}", fontsize=11)
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=110)
    plt.close(figure)
    return out


def _errors(summary: pd.DataFrame, column: str):
    std = summary.get(column)
    return None if std is None or std.isna().all() else std.fillna(0).to_numpy()


def _bars(ax, summary: pd.DataFrame, label: str) -> None:
    x = np.arange(len(summary))
    width = 0.27
    ours = summary[f"{label}: ours"].to_numpy(dtype=float)
    probe = summary[f"{label}: probe"].to_numpy(dtype=float)
    ax.bar(
        x - width, ours, width, yerr=_errors(summary, f"{label}: ours std"), label="ours: fine-tune"
    )
    ax.bar(x, probe, width, yerr=_errors(summary, f"{label}: probe std"), label="ours: probe")
    paper_ax = ax.twinx()
    paper = summary[f"{label}: paper"].to_numpy(dtype=float)
    paper_ax.bar(x + width, paper, width, color="0.6", label="paper (right axis)")
    ax.set_xticks(x, [f"Exp {e}" for e in summary["Exp."]], rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("ours: top-1 (%)")
    paper_ax.set_ylabel("paper: top-1 (%)")
    _set_limits(ax, np.concatenate([ours, probe]), from_zero=True)
    _set_limits(paper_ax, paper, from_zero=True)
    handles = ax.get_legend_handles_labels()[0] + paper_ax.get_legend_handles_labels()[0]
    ax.legend(handles=handles, fontsize=7, loc="upper left", ncols=3)


def _line(ax, x: np.ndarray, summary: pd.DataFrame, label: str, name: str) -> None:
    ours = summary[f"{label}: ours"].to_numpy(dtype=float)
    ax.errorbar(
        x, ours, yerr=_errors(summary, f"{label}: ours std"), marker="o", label="ours: fine-tune"
    )
    ax.plot(x, summary[f"{label}: probe"].to_numpy(dtype=float), marker="s", label="ours: probe")
    paper_ax = ax.twinx()
    paper_ax.plot(
        x, summary[f"{label}: paper"].to_numpy(dtype=float), "k--^", label="paper (right axis)"
    )
    ax.set_xlabel(name)
    ax.set_ylabel("ours: top-1 (%)")
    paper_ax.set_ylabel("paper: top-1 (%)")
    handles = ax.get_legend_handles_labels()[0] + paper_ax.get_legend_handles_labels()[0]
    ax.legend(handles=handles, fontsize=7, loc="lower right")


def _set_limits(ax, values: np.ndarray, from_zero: bool = False) -> None:
    # Bars start at zero (their length is the value); lines may zoom in on their range.
    finite = values[np.isfinite(values)]
    if finite.size:
        low, high = finite.min(), finite.max()
        pad = max(2.0, 0.15 * (high - low))
        bottom = 0.0 if from_zero else max(0.0, low - pad)
        ax.set_ylim(bottom, min(100.0, high + pad))
