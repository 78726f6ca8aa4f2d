"""The LaTeX tables fit one column of a two-column (AAAI-like) page: each accuracy table is
compiled with pdflatex, and an overfull box wider than 2 pt fails the test."""

import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

from cstp.planning.plan import Plan
from cstp.reporting.latex import number, standalone, to_latex
from cstp.reporting.tables import summarize

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
                "ours": value,
                "probe": value / 2,
                "R@1": 100 - value,
                "pretrain_run": entry.pretrain or "",
                "finetune_run": entry.finetune,
            }
        )
    return pd.DataFrame(rows)


def _plan(seeds=(0, 1, 2)):
    return Plan.from_config({**CONFIG, "preset": "smoke", "seeds": list(seeds)})


COUNTS = {"ucf101": (10, 118), "hmdb51": (8, 62)}
TABLES = ["table1", "table2", "table3", "table4", "table5", "table6", "table7"]


def latex_of(plan: Plan, table: str) -> str:
    from cstp.reporting import retrieval_table

    if plan.study.tables[table].measure == "retrieval":
        summary = retrieval_table.summarize(plan, table, retrieval_measured(plan, table))
        return retrieval_table.to_latex(plan, table, summary)
    return to_latex(plan, table, summarize(plan, table, measured(plan, table)), counts=COUNTS)


def compile_log(tex: str, page: str, where: Path) -> str:
    """pdflatex's log of `tex` on a page of class `page` (fails the test if it does not compile)."""
    (where / "t.tex").write_text(standalone(tex, page))
    result = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "t.tex"],
        cwd=where,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-2000:]
    return (where / "t.log").read_text(errors="replace")


@pytest.mark.parametrize("page", ["article", "aaai", "ieeetran"])
@pytest.mark.parametrize("table", TABLES)
def test_each_table_fits_one_column_of_three_two_column_classes(table, page, tmp_path):
    """One seed: nothing overfull and the table set at 90 % of its size or more, in a plain
    two-column article, an AAAI-like page and IEEEtran."""
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex is not installed (.ci/run installs it)")
    log = compile_log(latex_of(_plan((0,)), table), page, tmp_path)
    overfull = [float(w) for w in re.findall(r"Overfull \\hbox \(([\d.]+)pt too wide", log)]
    assert all(w <= 2.0 for w in overfull), f"{table} in {page}: overfull by {overfull} pt"
    assert scale(log) >= 0.9, f"{table} in {page}: scaled to {scale(log):.0%}"


@pytest.mark.parametrize("table", ["table2", "table6"])
def test_with_three_seeds_the_widest_tables_compile_without_overfull_boxes(table, tmp_path):
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex is not installed (.ci/run installs it)")
    log = compile_log(latex_of(_plan(), table), "aaai", tmp_path)
    assert "Overfull" not in log


def scale(log: str) -> float:
    """How much the table was scaled to fit the column (1.0: set at its own size)."""
    found = re.search(r"cstp: table scaled to the column width \(([\d.]+)pt to ([\d.]+)pt\)", log)
    return 1.0 if found is None else float(found[2]) / float(found[1])


def body_of(tex: str) -> str:
    return tex.split(r"\midrule")[1].split(r"\bottomrule")[0]


def test_headers_say_which_data_and_the_paper_best_is_bold():
    plan = _plan()
    tex = to_latex(plan, "table2", summarize(plan, "table2", measured(plan, "table2")))
    header = tex.split(r"\midrule")[0]
    assert r"\multicolumn{3}{c}{UCF-101}" in header  # ours (mean, std) and paper
    assert r"\multicolumn{3}{c}{Pretext Tasks}" in header and r"\cmidrule(lr){3-5}" in header
    assert r"\multicolumn{3}{c}{synth./real}" in header  # under Ours and Paper
    assert r"\textbf{85.6}" in body_of(tex) and r"\textbf{55.1}" in body_of(tex)  # Exp 16


def test_bold_marks_every_cell_within_noise_of_the_best_and_none_with_one_seed():
    plan = _plan()
    summary = summarize(plan, "table2", measured(plan, "table2"))
    label = plan.study.datasets["ucf101"].label
    summary[f"{label}: ours"] = [48.1, 47.8, 30.0] + [10.0] * (len(summary) - 3)
    summary[f"{label}: ours std"] = [3.5, 3.9, 1.0] + [0.5] * (len(summary) - 3)
    rows = body_of(to_latex(plan, "table2", summary)).strip().splitlines()
    assert r"\textbf{48.1} & $\pm$3.5" in rows[0] and r"\textbf{47.8} & $\pm$3.9" in rows[1]
    assert r"\textbf{30.0}" not in rows[2] and "30.0 & $\\pm$1.0" in rows[2]
    one = _plan((0,))
    tex = to_latex(one, "table2", summarize(one, "table2", measured(one, "table2")))
    ours = [row.split(" & ")[5] for row in body_of(tex).strip().splitlines()]
    assert not any("textbf" in cell for cell in ours)  # the paper's best only
    assert "one seed cannot rank cells" in tex.split(r"\caption")[1]


def test_numbers_are_right_aligned_with_their_std_at_the_same_size():
    plan = _plan()
    tex = to_latex(plan, "table2", summarize(plan, "table2", measured(plan, "table2")))
    assert r"\begin{tabular}{@{}lccccr@{\,}rrr@{\,}rr@{}}" in tex
    assert "scriptstyle" not in tex
    assert number(71.13, 1.25) == r"71.1\,$\pm$1.2"
    assert number(71.1, None, bold=True) == r"\textbf{71.1}"
    assert number(float("nan")) == "--"


def test_the_caption_gives_classes_test_videos_chance_seeds_and_the_paper_names():
    plan = _plan((0,))
    summary = summarize(plan, "table2", measured(plan, "table2"))
    tex = to_latex(plan, "table2", summary, counts=COUNTS)
    words = tex.split(r"\caption{")[1].split(r"\label")[0]
    assert "one seed" in words
    assert "synthetic UCF-101: 10 classes, 118 test videos, chance 10.0" in words
    assert "HMDB-51: 8, 62, 12.5" in words and "R(2+1)D-10" in words
    assert "$\\times$" in words and "r2plus1d" not in words and "8x" not in words
    assert words.count("Ours") == 1 and tex.index(r"\caption") < tex.index(r"\begin{tabular}")
    from cstp.reporting.latex import caption

    assert "bold" not in caption(plan, "table2", counts=COUNTS, bold=False)  # the HTML page


def test_the_caption_goes_below_when_the_document_asks(tmp_path):
    if shutil.which("pdflatex") is None or shutil.which("pdftotext") is None:
        pytest.skip("pdflatex or pdftotext is not installed (.ci/run installs them)")
    plan = _plan((0,))
    tex = to_latex(plan, "table1", summarize(plan, "table1", measured(plan, "table1")))
    for page, below in (("ieeetran", ""), ("article", "\\def\\cstpcaptionbelow{}\n")):
        compile_log(below + tex, page, tmp_path)
        text = subprocess.run(["pdftotext", "t.pdf", "-"], cwd=tmp_path, capture_output=True,
                              text=True).stdout  # fmt: skip
        label = "TABLE I" if page == "ieeetran" else "Table 1"
        assert (text.index(label) < text.index("Exp.")) == (not below), page


def test_table6_labels_our_block_and_the_other_methods():
    plan = _plan((0,))
    tex = to_latex(plan, "table6", summarize(plan, "table6", measured(plan, "table6")))
    body = tex.split(r"\midrule")[1] + tex.split(r"\midrule")[2]
    assert r"\textit{Ours, regenerated (synthetic)}" in body.splitlines()[1]
    assert r"\textit{Other methods: the paper's numbers, not run here}" in tex


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
    from cstp.reporting import retrieval_table

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


def test_the_caption_counts_classes_and_test_videos_from_the_index(tmp_path):
    from cstp.reporting.latex import counts_of

    plan = _plan((0,))
    for key, (classes, tests) in {"ucf101": (3, 5), "hmdb51": (2, 4)}.items():
        path = tmp_path / plan.study.datasets[key].index
        path.parent.mkdir(parents=True, exist_ok=True)
        rows = [
            {"path": f"v{i}.avi", "video": f"v{i}", "label": i % classes, "class_name": "c",
             "subset": "test" if i < tests else "train", "status": "ok", "reason": ""}
            for i in range(10)
        ] + [{"path": "bad.avi", "video": "bad", "label": 9, "class_name": "c", "subset": "test",
              "status": "unreadable", "reason": "x"}]  # fmt: skip
        pd.DataFrame(rows).to_csv(path, index=False)
    assert counts_of(plan, "table2", tmp_path) == {"ucf101": (3, 5), "hmdb51": (2, 4)}
