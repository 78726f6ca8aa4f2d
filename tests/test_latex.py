"""The LaTeX tables fit one column of a two-column (AAAI-like) page: each of the five tables is
compiled with pdflatex, and an overfull box wider than 2 pt fails the test."""

import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

from cstp.workflow.latex import _number, standalone, to_latex
from cstp.workflow.plan import Plan
from cstp.workflow.tables import summarize

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "config.yaml").read_text())


def measured(plan: Plan, table: str) -> pd.DataFrame:
    """Made-up measurements with a spread over seeds, as a finished run would give."""
    rows = []
    for i, entry in enumerate(plan.tables[table]):
        value = 20.0 + (7 * i) % 61 + entry.seed * 3.3
        rows.append(
            {
                "exp": entry.cell.exp,
                "seed": entry.seed,
                "dataset": entry.dataset.key,
                "finetune": value,
                "probe": value / 2,
                "r_at_1": 100 - value,
                "pretrain_run": entry.pretrain or "",
                "finetune_run": entry.finetune,
            }
        )
    return pd.DataFrame(rows)


def _plan(seeds=(0, 1, 2)):
    return Plan.from_config({**CONFIG, "preset": "smoke", "seeds": list(seeds)})


@pytest.mark.parametrize("seeds", [(0,), (0, 1, 2)], ids=["one seed", "three seeds"])
@pytest.mark.parametrize("table", ["table1", "table2", "table3", "table4", "table5"])
def test_each_table_fits_one_column_of_a_two_column_page(table, seeds, tmp_path):
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex is not installed (.ci/run installs it)")
    plan = _plan(seeds)
    tex = to_latex(plan, table, summarize(plan, table, measured(plan, table)))
    (tmp_path / "t.tex").write_text(standalone(tex))
    result = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "t.tex"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-2000:]
    log = (tmp_path / "t.log").read_text(errors="replace")
    overfull = [float(w) for w in re.findall(r"Overfull \\hbox \(([\d.]+)pt too wide", log)]
    assert all(w <= 2.0 for w in overfull), f"{table}: overfull by {overfull} pt"
    if len(seeds) == 1:  # one number per cell: the default layout fits at its own size
        assert "cstp: table scaled" not in log


def test_headers_are_short_groups_ruled_and_the_best_is_bold():
    plan = _plan()
    tex = to_latex(plan, "table2", summarize(plan, "table2", measured(plan, "table2")))
    header = tex.split(r"\midrule")[0]
    assert "synthetic" not in header and r"\multicolumn{2}{c}{UCF-101}" in header
    assert r"\multicolumn{3}{c}{Pretext Tasks}" in header and r"\cmidrule(lr){3-5}" in header
    body = tex.split(r"\midrule")[1].split(r"\bottomrule")[0]
    assert body.count(r"\mathbf") == 4  # one best per numeric column: 2 datasets x ours, paper
    assert r"\mathbf{85.6}" in body and r"\mathbf{55.1}" in body  # the paper's best: Exp 16
    assert "synthetic stand-in" in tex.split(r"\caption")[1]


def test_numbers_show_mean_and_spread():
    assert _number(71.13, 1.25) == r"$71.1{\scriptstyle\pm1.2}$"
    assert _number(71.1, None, bold=True) == r"$\mathbf{71.1}$"
    assert _number(float("nan")) == "--"
