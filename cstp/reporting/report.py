"""One table's outputs from its finished runs: CSV, LaTeX, plot, learning curves, HTML page and
summary sections. `write_table` is what `cstp table` calls; a table's `measure` picks the
`Measure` that collects and renders it, so no caller branches on the kind of table."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from cstp.files import write_text_atomic
from cstp.planning.plan import Plan
from cstp.reporting import latex, pages, plots, retrieval_table, summary, tables
from cstp.reporting.control import control_lines, control_row, with_control
from cstp.reporting.peers import with_peers


@dataclass(frozen=True)
class Measure:
    """How a kind of table is measured and rendered; every function takes (plan, table, ...)."""

    collect: Callable[[Plan, str, Path], pd.DataFrame]  # long format: a row per run measured
    summarize: Callable[[Plan, str, pd.DataFrame], pd.DataFrame]  # a row per cell
    latex: Callable[[Plan, str, pd.DataFrame, Path], tuple[str, str]]  # (tabular, caption)
    section: Callable[[Plan, str, pd.DataFrame], str]  # its summary.md section
    plot: Callable[..., Path]  # (plan, table, result, out, control row or None) -> out


def _accuracy_latex(plan: Plan, table: str, result: pd.DataFrame, root: Path) -> tuple[str, str]:
    counts = latex.counts_of(plan, table, root)
    show = plan.study.latex_show
    tex = latex.to_latex(plan, table, result, show, counts)
    return tex, latex.caption(plan, table, show, counts, bold=False)


def _retrieval_latex(plan: Plan, table: str, result: pd.DataFrame, root: Path) -> tuple[str, str]:
    return retrieval_table.to_latex(plan, table, result), retrieval_table.caption(plan, table)


MEASURES = {
    "accuracy": Measure(
        tables.collect, tables.summarize, _accuracy_latex, summary.table_section, plots.plot
    ),
    "retrieval": Measure(
        retrieval_table.collect,
        retrieval_table.summarize,
        _retrieval_latex,
        retrieval_table.section,
        retrieval_table.plot,
    ),
}


def write_table(plan: Plan, table: str, runs_root: Path, out_dir: Path) -> pd.DataFrame:
    """Write `out_dir/<table>.{csv,tex,png,html}`, its curves and summaries; the CSV's rows."""
    measure = MEASURES[plan.study.tables[table].measure]
    result = measure.summarize(plan, table, measure.collect(plan, table, runs_root))
    tex, words = measure.latex(plan, table, result, runs_root)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / table
    # The CSV and the page also hold the other methods' rows (the paper's numbers only) and the
    # positive control's; the rank correlations are about our cells.
    control = control_row(plan, table, runs_root)
    printed = with_control(with_peers(plan, table, result), control)
    printed.to_csv(stem.with_suffix(".csv"), index=False)
    write_text_atomic(stem.with_suffix(".tex"), tex)
    images = {
        "plot": measure.plot(plan, table, result, stem.with_suffix(".png"), control),
        "curves": pages.curves(plan, table, out_dir / f"{table}_curves.png", runs_root),
    }
    write_text_atomic(
        stem.with_suffix(".html"), pages.page(plan, table, printed, tex, images, words)
    )
    section = "\n".join(
        [measure.section(plan, table, result), *control_lines(plan, table, control)]
    )
    summary.write_summaries(section, out_dir, table)
    return printed
