"""The LaTeX tables fit one column of a two-column (AAAI-like) page: each accuracy table is
compiled with pdflatex, and an overfull box wider than 2 pt fails the test."""

import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

from cstp.workflow.latex import number, standalone, to_latex
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
@pytest.mark.parametrize("table", ["table1", "table2", "table3", "table4", "table5", "table6"])
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
        assert scale(log) == 1.0 if table != "table6" else scale(log) >= 0.9


def scale(log: str) -> float:
    """How much the table was scaled to fit the column (1.0: set at its own size)."""
    found = re.search(r"cstp: table scaled to the column width \(([\d.]+)pt to ([\d.]+)pt\)", log)
    return 1.0 if found is None else float(found[2]) / float(found[1])


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
    assert number(71.13, 1.25) == r"$71.1{\scriptstyle\pm1.2}$"
    assert number(71.1, None, bold=True) == r"$\mathbf{71.1}$"
    assert number(float("nan")) == "--"


def retrieval_measured(plan: Plan, table: str) -> pd.DataFrame:
    """Made-up recalls, rising with k, with a spread over seeds."""
    rows, cells = [], {}
    for entry in plan.tables[table]:
        position = cells.setdefault((entry.cell.exp, entry.dataset.key), len(cells))
        base = 10.0 + 5 * position + 2.5 * entry.seed
        rows.append(
            {"exp": entry.cell.exp, "seed": entry.seed, "dataset": entry.dataset.key}
            | {f"R@{k}": min(100.0, base * (1 + k / 10)) for k in (1, 5, 10, 20, 50)}
            | {"pretrain_run": entry.pretrain, "features_run": entry.features}
        )
    return pd.DataFrame(rows)


@pytest.mark.parametrize("seeds", [(0,), (0, 1, 2)], ids=["one seed", "three seeds"])
def test_the_retrieval_table_fits_and_shows_ours_above_the_paper(seeds, tmp_path):
    from cstp.workflow import retrieval_table

    plan = _plan(seeds)
    summary = retrieval_table.summarize(plan, "table7", retrieval_measured(plan, "table7"))
    assert list(summary["Exp."]) == ["CSTP", "CSTP-C3D"]
    assert list(summary["Backbone"]) == ["R(2+1)D-10", "C3D"]
    label = plan.study.datasets["hmdb51"].label
    assert list(summary[f"{label}: paper R@5"]) == [48.4, 46.6]
    assert summary[f"{label}: paper R@20"].isna().all()  # the paper prints R@1, 5, 10
    if len(seeds) == 3:  # seeds add 2.5 each: mean +2.5, std 2.5 x (1 + k / 10)
        assert summary[f"{label}: R@10 std"].tolist() == [5.0, 5.0]
    tex = retrieval_table.to_latex(plan, "table7", summary)
    body = tex.split(r"\midrule")[1].split(r"\bottomrule")[0]
    assert body.count("CSTP") == 2 and body.count(r"\quad paper") == 2
    assert "R@1 & R@5 & R@10" in tex and "R@20" not in tex.split(r"\caption")[0]
    if shutil.which("pdflatex") is None:
        return
    (tmp_path / "t.tex").write_text(standalone(tex))
    subprocess.run(["pdflatex", "-interaction=nonstopmode", "t.tex"], cwd=tmp_path, check=True,
                   capture_output=True)  # fmt: skip
    log = (tmp_path / "t.log").read_text(errors="replace")
    assert "Overfull" not in log
    if len(seeds) == 1:
        assert "cstp: table scaled" not in log


def test_a_paper_value_of_the_wrong_shape_is_one_clear_line():
    from cstp.errors import CstpError

    table7 = CONFIG["tables"]["table7"]
    rows = [{**table7["rows"][0], "paper": {"ucf101": 51.3}}]
    with pytest.raises(CstpError, match=r"tables.table7.rows\[CSTP\].paper.ucf101: expected"):
        Plan.from_config({**CONFIG, "tables": {"table7": {**table7, "rows": rows}}})
    table5 = CONFIG["tables"]["table5"]
    rows = [{**table5["rows"][0], "paper": {"ucf101": {"R@1": 1.0}}}]
    with pytest.raises(CstpError, match="expected the paper's accuracy, a number"):
        Plan.from_config({**CONFIG, "tables": {"table5": {**table5, "rows": rows}}})
