"""The regenerated table as booktabs LaTeX laid out like the paper's, sized for one column of a
two-column page: the flag columns under their groups, then per dataset our accuracy beside the
paper's, numbers aligned on the decimal point (right-aligned columns, one decimal: no package
beyond booktabs, amssymb and graphicx), the spread over seeds in its own column at the table's
size, bold for every cell within noise of the column's best.

The caption goes above the table (IEEE, AAAI); a document that wants it below defines
\\cstpcaptionbelow before the table (\\def\\cstpcaptionbelow{}).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import groupby

import pandas as pd

from cstp.planning.plan import Plan
from cstp.reporting.latex_caption import caption, counts_of
from cstp.reporting.peers import peer_notes, peer_value
from cstp.reporting.summary import within_noise
from cstp.reporting.tables import CHECK, CROSS

__all__ = ["caption", "counts_of", "environment", "number", "standalone", "to_latex"]

PREAMBLE = ("booktabs", "amssymb", "graphicx")  # \toprule, \checkmark, \resizebox
SHORT_NAMES = {"ucf101": "UCF-101", "hmdb51": "HMDB-51", "kinetics400": "K-400"}
# What a dataset's columns may show (config: outputs.latex); the default fits one column.
SHOWN = {"ours": "Ours", "paper": "Paper", "probe": "Probe", "R@1": "R@1"}
DEFAULT_SHOW = ("ours", "paper")
_SPECIAL = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}"}


@dataclass
class Column:
    """One printed column: its group (first header row), name, cells, how many tabular columns
    it takes (2: mean and std) and its alignment (numbers: right, so decimal points align)."""

    group: str
    name: str
    cells: list[str]
    span: int = 1
    under: str = ""  # what the data is ("synthetic", "real"), in a header row of its own
    align: str = "c"

    @property
    def spec(self) -> str:
        return r"r@{\,}r" if self.span == 2 else self.align


def escape(text: str) -> str:
    return "".join(_SPECIAL.get(ch, ch) for ch in str(text))


def to_latex(
    plan: Plan,
    table: str,
    summary: pd.DataFrame,
    show: tuple[str, ...] = DEFAULT_SHOW,
    counts: dict[str, tuple[int, int]] | None = None,
) -> str:
    """The table environment: header rows with \\cmidrule under every group, one row per cell;
    `counts` (dataset key -> classes, test videos) goes into the caption."""
    spec = plan.study.tables[table]
    columns = [Column("", "Exp.", [escape(v) for v in summary["Exp."]], align="l")]
    for column in spec.columns:
        name = f"{column['group']}: {column['name']}" if column.get("group") else column["name"]
        cells = [flag(v) for v in summary[name]]
        columns.append(Column(column.get("group", ""), column["name"], cells))
    # Per dataset, ours beside the paper's; a header row under them says which data each is.
    for key in spec.datasets:
        dataset = plan.study.datasets[key]
        for what in show:
            cells, span = _numbers(summary, dataset.label, what)
            under = "" if not dataset.synth else "real" if what == "paper" else "synth."
            short = SHORT_NAMES.get(dataset.kind, key)
            columns.append(Column(short, SHOWN[what], cells, span, under, align="r"))
    body = [" & ".join(row) + r" \\" for row in zip(*(c.cells for c in columns), strict=True)]
    words = caption(plan, table, show, counts)
    if not spec.peers:
        return environment(columns, body, words, table)
    width = sum(c.span for c in columns)
    words += "".join(f" {escape(n)}" for n in peer_notes(plan, table))
    body = [
        block_label(width, "Ours, regenerated" + synthetic_words(plan, table)),
        *body,
        r"\midrule",
        block_label(width, "Other methods: the paper's numbers, not run here"),
        *peer_lines(plan, table, show, [c.span for c in columns]),
    ]
    # The peers' names widen the first column: tighter column gaps keep the scaling slight.
    return environment(columns, body, words, table, colsep=1.5)


def synthetic_words(plan: Plan, table: str) -> str:
    spec = plan.study.tables[table]
    return " (synthetic)" if any(plan.study.datasets[k].synth for k in spec.datasets) else ""


def block_label(width: int, words: str) -> str:
    """A row naming the block of rows below it (Table 6: ours, then the other methods)."""
    return f"\\multicolumn{{{width}}}{{@{{}}l}}{{\\textit{{{escape(words)}}}}} \\\\"


def peer_lines(plan: Plan, table: str, show: tuple[str, ...], spans: list[int]) -> list[str]:
    """The other methods' rows, below our cells: method name, flags, the paper's numbers only
    (the measured columns left empty; `spans`: the tabular columns of each printed column)."""
    spec = plan.study.tables[table]
    measured = spans[1 + len(spec.columns) :]
    lines = []
    for peer in spec.peers:
        cells = [escape(peer.get("short", peer["method"]))]
        cells += [flag(_flag(peer_value(peer, c["show"]))) for c in spec.columns]
        spans_left = iter(measured)
        for key in spec.datasets:
            paper = peer.get("paper", {}).get(key)
            for what in show:
                blank = " & ".join([""] * next(spans_left))
                cells.append(number(paper) if what == "paper" else blank)
        lines.append(" & ".join(cells) + r" \\")
    return lines


def _flag(value):
    return (CHECK if value else CROSS) if isinstance(value, bool) else value


def environment(columns, body: list[str], words: str, table: str, colsep: float = 2.0) -> str:
    """The table environment around `columns` (Column, or (group, name, values) tuples) and
    their body rows: set in a box, scaled to the column width only when it is wider, with its
    caption above (below with \\cstpcaptionbelow defined) and its label."""
    columns = [c if isinstance(c, Column) else Column(c[0], c[1], c[2]) for c in columns]
    title = f"\\caption{{{escape_caption(words)}}}\\label{{tab:cstp-{table}}}"
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        r"\footnotesize",
        f"\\setlength{{\\tabcolsep}}{{{colsep:g}pt}}",
        # A caption above gets a small gap before the top rule (article sets none).
        f"\\ifdefined\\cstpcaptionbelow\\else{title}\\smallskip\\fi",
        # Set the tabular in a box; only if it is wider than the column, scale it down to fit.
        r"\ifdefined\cstpbox\else\newsavebox\cstpbox\fi",
        # No padding outside the first and last columns (booktabs' rules end flush with the text).
        r"\sbox\cstpbox{\begin{tabular}{@{}" + "".join(c.spec for c in columns) + "@{}}",
        r"\toprule",
        *group_header(columns),
        " & ".join(_header(c, c.name) for c in columns) + r" \\",
        *under_header(columns),
        r"\midrule",
        *body,
        r"\bottomrule",
        r"\end{tabular}}",
        r"\ifdim\wd\cstpbox>\columnwidth",
        r"\typeout{cstp: table scaled to the column width (\the\wd\cstpbox\space to "
        r"\the\columnwidth)}",
        r"\resizebox{\columnwidth}{!}{\usebox\cstpbox}",
        r"\else\usebox\cstpbox\fi",
        f"\\ifdefined\\cstpcaptionbelow{title}\\fi",
        r"\end{table}",
    ]
    return "\n".join(lines) + "\n"


def _header(column: Column, text: str) -> str:
    if column.align != "r" and column.span == 1:
        return escape(text)
    return f"\\multicolumn{{{column.span}}}{{c}}{{{escape(text)}}}"


def under_header(columns: list[Column]) -> list[str]:
    """The header row that says which data each group's numbers are on ("synth. / real" under
    Ours and Paper: one cell per group, which keeps the columns narrow), if any is a stand-in."""
    if not any(c.under for c in columns):
        return []
    cells = []
    for group, members in groupby(columns, key=lambda c: c.group):
        members = list(members)
        words = list(dict.fromkeys(c.under for c in members if c.under))
        if not group or not words:
            cells.extend([""] * sum(c.span for c in members))
            continue
        width = sum(c.span for c in members)
        cells.append(f"\\multicolumn{{{width}}}{{c}}{{{escape('/'.join(words))}}}")
    return [" & ".join(cells) + r" \\"]


def group_header(columns: list[Column]) -> list[str]:
    """The first header row (groups as \\multicolumn) and a \\cmidrule under each group."""
    cells, rules, start = [], [], 1
    for group, members in groupby(columns, key=lambda c: c.group):
        width = sum(c.span for c in members)
        if group:
            cells.append(f"\\multicolumn{{{width}}}{{c}}{{{escape(group)}}}")
            rules.append(f"\\cmidrule(lr){{{start}-{start + width - 1}}}")
        else:
            cells.extend([""] * width)
        start += width
    if not rules:
        return []
    return [" & ".join(cells) + r" \\", " ".join(rules)]


def _numbers(summary: pd.DataFrame, label: str, what: str) -> tuple[list[str], int]:
    """One column of numbers and its span: with a spread over seeds, the mean and the std in two
    tabular columns, bold for every cell within noise of the best (summary.within_noise); with
    one seed none of ours in bold (the caption says so); the paper's best in bold, as printed."""
    mean_col = f"{label}: {'paper' if what == 'paper' else what}"
    means = pd.to_numeric(summary[mean_col], errors="coerce").reset_index(drop=True)
    stds = summary.get(f"{mean_col} std", pd.Series([None] * len(summary)))
    stds = pd.to_numeric(stds, errors="coerce").reset_index(drop=True)
    if what == "paper":
        best = means.max()
        return [number(m, bold=not math.isnan(best) and m == best) for m in means], 1
    if stds.isna().all() or means.isna().all():
        return [number(m) for m in means], 1
    close = set(within_noise(means.fillna(-math.inf), stds, pd.Series(means.index)) or ())
    cells = [
        f"{number(m, bold=str(i) in close)} & {spread(s)}"
        for i, (m, s) in enumerate(zip(means, stds, strict=True))
    ]
    return cells, 2


def spread(std) -> str:
    """The std cell, at the size of the mean beside it: $\\pm$3.5 (empty when unknown)."""
    if std is None or (isinstance(std, float) and math.isnan(std)):
        return ""
    return f"$\\pm${std:.1f}"


def number(mean, std=None, bold: bool = False) -> str:
    """A mean (bold if asked), with its std at the same size when given: one table cell."""
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "--"
    value = f"\\textbf{{{mean:.1f}}}" if bold else f"{mean:.1f}"
    if std is None or (isinstance(std, float) and math.isnan(std)):
        return value
    return f"{value}\\,{spread(std)}"


def escape_caption(text: str) -> str:
    # The caption already holds LaTeX ($\pm$, \%); only the underscores of names need escaping.
    return text.replace("_", r"\_")


def flag(value) -> str:
    if value == CHECK:
        return r"\checkmark"
    if value == CROSS:
        return r"$\times$"
    return escape(value)


CLASSES = {
    # A two-column article, an AAAI-like page (its 3.3 in column) and IEEEtran's conference page.
    "article": "\\documentclass[twocolumn,10pt]{article}\n",
    "aaai": "\\documentclass[twocolumn,10pt]{article}\n"
    "\\usepackage[letterpaper,margin=0.75in,columnsep=0.33in]{geometry}\n",
    "ieeetran": "\\documentclass[conference]{IEEEtran}\n",
}


def standalone(body: str, page: str = "aaai") -> str:
    """A two-column page of class `page` (CLASSES) around a table, for compiling it alone."""
    packages = "".join(f"\\usepackage{{{p}}}\n" for p in PREAMBLE)
    return (
        f"{CLASSES[page]}\\usepackage[T1]{{fontenc}}\n"
        f"\\usepackage[utf8]{{inputenc}}\n{packages}"
        f"\\begin{{document}}\n{body}\n\\end{{document}}\n"
    )
