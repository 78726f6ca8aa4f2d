"""The regenerated table as booktabs LaTeX laid out like the paper's, sized for one column of a
two-column page: the flag columns under their groups, then per dataset (short names in the header,
what the data really is in the caption) our accuracy beside the paper's, best values in bold,
mean and standard deviation where there are several seeds.
"""

from __future__ import annotations

import math
from itertools import groupby

import pandas as pd

from cstp.workflow.plan import Plan
from cstp.workflow.tables import CHECK, CROSS, caption

PREAMBLE = ("booktabs", "amssymb", "graphicx")  # \toprule, \checkmark, \resizebox
SHORT_NAMES = {"ucf101": "UCF-101", "hmdb51": "HMDB-51", "kinetics400": "K-400"}
# What a dataset's columns may show (config: outputs.latex); the default fits one column.
SHOWN = {"ours": "Ours", "paper": "Paper", "probe": "Probe", "R@1": "R@1"}
DEFAULT_SHOW = ("ours", "paper")
_SPECIAL = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}"}


def escape(text: str) -> str:
    return "".join(_SPECIAL.get(ch, ch) for ch in str(text))


def to_latex(
    plan: Plan, table: str, summary: pd.DataFrame, show: tuple[str, ...] = DEFAULT_SHOW
) -> str:
    """The table environment: header rows with \\cmidrule under every group, one row per cell."""
    spec = plan.study.tables[table]
    columns = [("", "Exp.", [escape(v) for v in summary["Exp."]])]
    for column in spec.columns:
        name = f"{column['group']}: {column['name']}" if column.get("group") else column["name"]
        columns.append((column.get("group", ""), column["name"], [flag(v) for v in summary[name]]))
    for key in spec.datasets:
        label = plan.study.datasets[key].label
        for what in show:
            cells = _numbers(summary, label, what)
            columns.append(
                (SHORT_NAMES.get(plan.study.datasets[key].kind, key), SHOWN[what], cells)
            )
    body = [" & ".join(row) + r" \\" for row in zip(*(c[2] for c in columns), strict=True)]
    return environment(columns, body, caption(plan, table, show), table)


def environment(columns, body: list[str], words: str, table: str, colsep: float = 2.5) -> str:
    """The table environment around `columns` (group, name, values) and their body rows: set in a
    box, scaled to the column width only when it is wider, with its caption and label."""
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        r"\footnotesize",
        f"\\setlength{{\\tabcolsep}}{{{colsep:g}pt}}",
        # Set the tabular in a box; only if it is wider than the column, scale it down to fit.
        r"\ifdefined\cstpbox\else\newsavebox\cstpbox\fi",
        r"\sbox\cstpbox{\begin{tabular}{l" + "c" * (len(columns) - 1) + "}",
        r"\toprule",
        *group_header(columns),
        " & ".join(escape(c[1]) for c in columns) + r" \\",
        r"\midrule",
        *body,
        r"\bottomrule",
        r"\end{tabular}}",
        r"\ifdim\wd\cstpbox>\columnwidth",
        r"\typeout{cstp: table scaled to the column width}",
        r"\resizebox{\columnwidth}{!}{\usebox\cstpbox}",
        r"\else\usebox\cstpbox\fi",
        f"\\caption{{{escape_caption(words)}}}",
        f"\\label{{tab:cstp-{table}}}",
        r"\end{table}",
    ]
    return "\n".join(lines) + "\n"


def group_header(columns) -> list[str]:
    """The first header row (groups as \\multicolumn) and a \\cmidrule under each group."""
    cells, rules, start = [], [], 1
    for group, members in groupby(c[0] for c in columns):
        width = len(list(members))
        if group:
            cells.append(f"\\multicolumn{{{width}}}{{c}}{{{escape(group)}}}")
            rules.append(f"\\cmidrule(lr){{{start}-{start + width - 1}}}")
        else:
            cells.extend([""] * width)
        start += width
    if not rules:
        return []
    return [" & ".join(cells) + r" \\", " ".join(rules)]


def _numbers(summary: pd.DataFrame, label: str, what: str) -> list[str]:
    """One column of numbers, the best (highest mean) in bold, std as a small subscript."""
    mean_col = f"{label}: {'paper' if what == 'paper' else what}"
    means = pd.to_numeric(summary[mean_col], errors="coerce")
    stds = summary.get(f"{mean_col} std", pd.Series([None] * len(summary)))
    best = means.max()
    return [
        number(m, s, bold=not math.isnan(best) and m == best)
        for m, s in zip(means, stds, strict=True)
    ]


def number(mean, std=None, bold: bool = False) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "--"
    value = f"\\mathbf{{{mean:.1f}}}" if bold else f"{mean:.1f}"
    if std is None or (isinstance(std, float) and math.isnan(std)):
        return f"${value}$"
    return f"${value}{{\\scriptstyle\\pm{std:.1f}}}$"


def escape_caption(text: str) -> str:
    # The caption already holds LaTeX ($\pm$, \%); only the underscores of names need escaping.
    return text.replace("_", r"\_")


def flag(value) -> str:
    if value == CHECK:
        return r"\checkmark"
    if value == CROSS:
        return r"$\times$"
    return escape(value)


def standalone(body: str) -> str:
    """A two-column page around a table (an AAAI-like column width), for compiling it alone."""
    packages = "".join(f"\\usepackage{{{p}}}\n" for p in PREAMBLE)
    return (
        "\\documentclass[twocolumn,10pt]{article}\n\\usepackage[T1]{fontenc}\n"
        f"\\usepackage[utf8]{{inputenc}}\n{packages}"
        "\\usepackage[letterpaper,margin=0.75in,columnsep=0.33in]{geometry}\n"
        f"\\begin{{document}}\n{body}\n\\end{{document}}\n"
    )
