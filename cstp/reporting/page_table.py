"""The table of a report page (results/<table>.html) as a reader scans it: mean ± std in one
cell, two header rows (dataset, then what the number is, saying which data it is on), and the
long columns (run ids, pretext heads, seeds) folded into a second table below the first, so the
first fits a 1,400 px page."""

from __future__ import annotations

import pandas as pd

from cstp.planning.plan import RUNS, Plan

# What the second header row calls a per-dataset column, on synthetic stand-ins and on real data.
SYNTHETIC_WORDS = {
    "ours": "ours (synthetic)",
    "paper": "paper (real)",
    "ours - paper": "ours − paper (synthetic − real)",
}
# Folded into the second table: run ids and the like, and two measures a reader looks up rather
# than scans (ours minus the paper's number, which on stand-ins subtracts real from synthetic, and
# retrieval recall at 1), so that the paired differences to scratch fit the first.
FOLDED = ("run", "seeds", "splits", "pretrain run", "reference", "ours - paper", "R@1")
STYLES = [
    {"selector": "", "props": "border-collapse: collapse; font: 13px/1.35 system-ui, sans-serif;"},
    {"selector": "th", "props": "background: #eef1f5; padding: 4px 8px; text-align: center;"},
    {"selector": "th.col_heading.level1", "props": "max-width: 110px; white-space: normal;"},
    {"selector": "th.col_heading.level0", "props": "border-bottom: 1px solid #999;"},
    {"selector": "td", "props": "padding: 3px 8px; border-bottom: 1px solid #e3e3e3;"},
    {"selector": "td", "props": "white-space: nowrap; text-align: right;"},
    {"selector": "tbody tr:nth-child(even)", "props": "background: #fafafa;"},
    {"selector": "tbody tr:hover", "props": "background: #fff6d8;"},
]


def header(plan: Plan, table: str, column: str) -> tuple[str, str] | None:
    """The two header rows of `column`, or None for a column that is folded away (or a std,
    which joins its mean's cell)."""
    if column.endswith(" std") or column == "ours_clip":
        return None
    labels = {d.label: d for d in plan.study.datasets.values()}
    top, _, name = column.rpartition(": ")
    if column in FOLDED or name in FOLDED or name.endswith(" run") or top == "pretext":
        return None
    if top in labels:
        synthetic = labels[top].synth is not None
        return top, SYNTHETIC_WORDS.get(name, name) if synthetic else name
    return top, name


def shown(plan: Plan, table: str, summary: pd.DataFrame) -> pd.DataFrame:
    """The first table: one cell per number, 'mean ± std' where there is a spread, columns
    under a two-row header."""
    out = {}
    for column in summary.columns:
        names = header(plan, table, column)
        if names is None:
            continue
        values = summary[column]
        spread = summary.get(f"{column} std")
        if spread is not None and pd.api.types.is_numeric_dtype(values):
            values = [_mean_std(m, s) for m, s in zip(values, spread, strict=True)]
        elif pd.api.types.is_float_dtype(values):
            values = [_mean_std(m, None) for m in values]
        out[names] = list(values)
    frame = pd.DataFrame(out)
    frame.columns = pd.MultiIndex.from_tuples(out.keys())
    return frame


def folded(plan: Plan, table: str, summary: pd.DataFrame) -> pd.DataFrame:
    """The second table: per cell its seeds, splits, run ids (linked) and pretext heads."""
    keep = ["Exp."] + [
        c
        for c in summary.columns
        if c != "Exp." and header(plan, table, c) is None and not c.endswith(" std")
    ]
    frame = summary[keep].copy()
    for column in [c for c in keep if c.endswith(": run")]:
        frame[column] = [_links(v) if isinstance(v, str) else "" for v in frame[column]]
    return frame


def _mean_std(mean, std) -> str:
    if mean is None or pd.isna(mean):
        return ""
    if std is None or pd.isna(std):
        return f"{mean:.1f}"
    return f"{mean:.1f} ± {std:.1f}"


def _links(runs: str) -> str:
    """Fine-tuning run ids as links to their metrics (relative to results/)."""
    return " ".join(
        f'<a href="../{RUNS}/finetune/{run}/metrics.json">{run}</a>'
        for run in runs.split(";")
        if run
    )


def styled_html(frame: pd.DataFrame) -> str:
    """`frame` as a styled HTML table (pandas Styler): no index, compact, numbers right-aligned."""
    styler = frame.style.hide(axis="index").format(precision=1, na_rep="")
    return styler.set_table_styles(STYLES).to_html()
