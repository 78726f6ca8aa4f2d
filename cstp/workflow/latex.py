"""The regenerated table as booktabs LaTeX laid out like the paper's, sized for one column of a
two-column page: the flag columns under their groups, then per dataset (short names in the header,
what the data really is in the caption) our accuracy beside the paper's, best values in bold,
mean and standard deviation where there are several seeds.
"""

from __future__ import annotations

import math
from itertools import groupby

import pandas as pd

from cstp.workflow.peers import peer_notes, peer_value
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
    words = caption(plan, table, show)
    if not spec.peers:
        return environment(columns, body, words, table)
    body += [r"\midrule", *peer_lines(plan, table, show)]
    # The peers' names widen the first column: tighter column gaps keep the scaling slight.
    return environment(columns, body, words + peer_caption(plan, table), table, colsep=2.0)


def peer_lines(plan: Plan, table: str, show: tuple[str, ...]) -> list[str]:
    """The other methods' rows, below our cells: method name, flags, the paper's numbers only
    (the measured columns left empty)."""
    spec = plan.study.tables[table]
    lines = []
    for peer in spec.peers:
        cells = [escape(peer.get("short", peer["method"]))]
        cells += [flag(_flag(peer_value(peer, c["show"]))) for c in spec.columns]
        for key in spec.datasets:
            paper = peer.get("paper", {}).get(key)
            cells += [number(paper) if what == "paper" else "" for what in show]
        lines.append(" & ".join(cells) + r" \\")
    return lines


def _flag(value):
    return (CHECK if value else CROSS) if isinstance(value, bool) else value


def peer_caption(plan: Plan, table: str) -> str:
    """What the rows below the rule are, and the paper's notes on them."""
    notes = "".join(f" {escape(n)}" for n in peer_notes(plan, table))
    return (
        " Below the rule: other methods as the paper prints them, its numbers only (not run"
        f" here, and not among the bold).{notes}"
    )


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
        r"\typeout{cstp: table scaled to the column width (\the\wd\cstpbox\space to "
        r"\the\columnwidth)}",
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
