"""The regenerated table as booktabs LaTeX laid out like the paper's: flags as check marks and
crosses under the paper's column groups, then per dataset ours, the probe and the paper's number.
"""

from __future__ import annotations

import math

import pandas as pd

from cstp.workflow.plan import Plan
from cstp.workflow.tables import CHECK, CROSS, caption

PREAMBLE = ("booktabs", "amssymb")  # \toprule, \checkmark
_SPECIAL = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}"}


def escape(text: str) -> str:
    return "".join(_SPECIAL.get(ch, ch) for ch in str(text))


def to_latex(plan: Plan, table: str, summary: pd.DataFrame) -> str:
    spec = plan.study.tables[table]
    columns: dict[tuple[str, str], list[str]] = {("", "Exp."): [escape(v) for v in summary["Exp."]]}
    for column in spec.columns:
        name = f"{column['group']}: {column['name']}" if column.get("group") else column["name"]
        values = [_flag(v) for v in summary[name]]
        columns[(escape(column.get("group", "")), escape(column["name"]))] = values
    for key in spec.datasets:
        label = plan.study.datasets[key].label
        head = escape(label)
        columns[(head, "Ours")] = [
            _number(m, s)
            for m, s in zip(summary[f"{label}: ours"], summary[f"{label}: ours std"], strict=True)
        ]
        columns[(head, "Probe")] = [
            _number(m, s)
            for m, s in zip(summary[f"{label}: probe"], summary[f"{label}: probe std"], strict=True)
        ]
        columns[(head, "Paper")] = [_number(v) for v in summary[f"{label}: paper"]]
    frame = pd.DataFrame(columns)
    frame.columns = pd.MultiIndex.from_tuples(frame.columns)
    return frame.style.hide(axis="index").to_latex(
        environment="table",
        position_float="centering",
        hrules=True,
        multicol_align="c",
        column_format="l" + "c" * (frame.shape[1] - 1),
        caption=escape_caption(caption(plan, table)),
        label=f"tab:cstp-{table}",
    )


def escape_caption(text: str) -> str:
    # The caption already holds LaTeX ($\pm$, \%); only the underscores of names need escaping.
    return text.replace("_", r"\_")


def _flag(value) -> str:
    if value == CHECK:
        return r"\checkmark"
    if value == CROSS:
        return r"$\times$"
    return escape(value)


def _number(mean, std=None) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "--"
    if std is None or (isinstance(std, float) and math.isnan(std)):
        return f"{mean:.1f}"
    return f"{mean:.1f} $\\pm$ {std:.1f}"


def standalone(body: str) -> str:
    """A minimal document around a table, for compiling it alone."""
    packages = "".join(f"\\usepackage{{{p}}}\n" for p in PREAMBLE)
    return (
        "\\documentclass{article}\n\\usepackage[T1]{fontenc}\n\\usepackage[utf8]{inputenc}\n"
        f"{packages}\\usepackage[margin=1cm,landscape]{{geometry}}\n"
        f"\\begin{{document}}\n{body}\n\\end{{document}}\n"
    )
