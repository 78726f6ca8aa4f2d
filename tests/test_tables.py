"""A table as the paper prints it: the flags each cell shows, and the summary of measured runs
(mean and standard deviation over seeds, the paper's number and the difference)."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from cstp.errors import CstpError
from cstp.planning.cells import cells
from cstp.planning.plan import Plan
from cstp.reporting.summary import pretext_lines
from cstp.reporting.tables import collect, summarize

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "config.yaml").read_text())


def _cell(plan, table, exp):
    return next(c for c in cells(plan.study.tables[table]) if c.exp == str(exp))


def test_each_cell_shows_the_flags_its_row_prints():
    plan = Plan.from_config(CONFIG)
    t1e6 = _cell(plan, "table1", 6)
    shown = {p: t1e6.show(p) for p in ("augment.playback_rate", "augment.rotation")}
    shown |= {
        p: t1e6.show(p) for p in ("pretext.playback_rate", "pretext.rotation", "pretext.stor")
    }
    assert shown == {
        "augment.playback_rate": True,
        "augment.rotation": True,
        "pretext.playback_rate": True,
        "pretext.rotation": False,
        "pretext.stor": False,
    }
    t2e16 = _cell(plan, "table2", 16)
    assert t2e16.show("contrastive.used") and t2e16.show("contrastive") == "byol"
    assert not _cell(plan, "table2", 12).show("contrastive.used")
    assert t2e16.show("pretext.stor") and t2e16.show("pretext.stor_temporal")
    assert _cell(plan, "table4", 7).show("stor.candidates") == 7
    spatial = _cell(plan, "table5", "spatial")
    assert spatial.show("pretext.stor_spatial") and not spatial.show("pretext.stor_temporal")
    with pytest.raises(CstpError, match="'colour' is not one of"):
        t2e16.show("colour")


def test_the_summary_gives_mean_std_paper_and_difference_per_cell():
    plan = Plan.from_config({**CONFIG, "preset": "smoke", "seeds": [0, 1]})
    table = "table5"
    accuracy = {"baseline": (30.0, 40.0), "spatial": (50.0, 50.0), "temporal": (10.0, 20.0)}
    accuracy["both"] = (60.0, 90.0)
    rows = []
    for entry in plan.tables[table]:
        ours = accuracy[entry.cell.exp][entry.seed]
        rows.append(
            {
                "exp": entry.cell.exp,
                "seed": entry.seed,
                "dataset": entry.dataset.key,
                "ours": ours,
                "probe": ours / 2,
                "pretrain_run": entry.pretrain or "",
                "finetune_run": entry.finetune,
            }
        )
    summary = summarize(plan, table, pd.DataFrame(rows)).set_index("Exp.")
    label = plan.study.datasets["ucf101"].label
    assert summary.loc["both", f"{label}: ours"] == 75.0
    assert summary.loc["both", f"{label}: ours std"] == pytest.approx(21.2)  # |90 - 60| / sqrt 2
    assert summary.loc["spatial", f"{label}: ours std"] == 0.0
    assert summary.loc["both", f"{label}: probe"] == 37.5
    assert summary.loc["both", f"{label}: paper"] == 69.6
    assert summary.loc["both", f"{label}: ours - paper"] == pytest.approx(5.4)
    assert summary.loc["baseline", "pretrain run"] == "scratch"
    assert len(summary.loc["both", f"{label}: run"].split(";")) == 2  # one fine-tune per seed
    assert set(summary["seeds"]) == {2}
    assert list(summary["Overlap Rate Prediction: Spatial"]) == ["✗", "✓", "✗", "✓"]


def test_a_plot_tick_names_the_values_a_cell_has_and_skips_the_ones_it_has_not():
    from cstp.reporting.plots import _tick

    columns = [{"group": "", "name": "Backbone"}, {"group": "", "name": "Dataset"}]
    columns += [{"group": "", "name": "Freeze"}]
    scratch = pd.Series({"Exp.": "2", "Backbone": "R(2+1)D-10", "Dataset": "-", "Freeze": "✗"})
    frozen = pd.Series({"Exp.": "1", "Backbone": "R3D-18", "Dataset": "K400", "Freeze": "✓"})
    assert _tick(scratch, columns) == "2: R(2+1)D-10"
    assert _tick(frozen, columns) == "1: R3D-18+K400+Freeze"


def test_a_plot_tick_says_which_flags_are_augmentation_and_which_pretext_tasks():
    from cstp.reporting.plots import _tick

    plan = Plan.from_config({**CONFIG, "preset": "smoke", "seeds": [0]})
    for table, exp, words in (
        ("table1", "5", "5: aug Base+PB, pretext PB"),
        ("table1", "1", "1: aug Base, no pretext"),
        ("table3", "SimCLR-1", "SimCLR-1: no pretext"),
        ("table3", "SimCLR-2", "SimCLR-2: pretext PB"),
        ("table5", "both", "both: STOR Spatial+Temporal"),
        ("table5", "baseline", "baseline: no STOR"),
    ):
        spec = plan.study.tables[table]
        summary = summarize(plan, table, measured_rows(plan, table)).set_index("Exp.", drop=False)
        assert _tick(summary.loc[exp], spec.columns) == words


def test_bars_name_the_frozen_cell_and_put_the_paper_on_the_bar_it_compares_with():
    import matplotlib.pyplot as plt

    from cstp.reporting.plots import FROZEN, OURS, _bars, frozen_rows

    plan = Plan.from_config({**CONFIG, "preset": "smoke", "seeds": [0]})
    spec = plan.study.tables["table6"]
    summary = summarize(plan, "table6", measured_rows(plan, "table6"))
    label = plan.study.datasets["ucf101"].label
    frozen = frozen_rows(summary, spec.columns)
    assert list(np.flatnonzero(frozen)) == [0]  # Exp 1: R3D-18, K400, Freeze
    figure, ax = plt.subplots()
    _bars(ax, summary, label, list(summary["Exp."]), frozen)
    _, labels = ax.get_legend_handles_labels()
    assert FROZEN[0] in labels and OURS["ours"][0] in labels
    bars = {b.get_label(): b for b in ax.containers}
    assert [round(p.get_x() + p.get_width() / 2, 2) for p in bars[FROZEN[0]]] == [-0.19]
    diamonds = ax.get_lines()[0].get_xdata()
    assert list(np.round(diamonds[:3], 2)) == [-0.19, 0.81, 1.81]  # on the first bar, not between
    plt.close(figure)


def measured_rows(plan: Plan, table: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "exp": e.cell.exp,
            "seed": e.seed,
            "dataset": e.dataset.key,
            "split": e.dataset.split,
            "ours": 40.0 + i,
            "probe": 20.0,
            "pretrain_run": e.pretrain or "",
            "finetune_run": e.finetune,
        }
        for i, e in enumerate(plan.tables[table])
    )


def _write(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def test_each_pretrained_cell_shows_its_pretext_heads_against_the_commonest_label(tmp_path):
    plan = Plan.from_config({**CONFIG, "preset": "smoke", "seeds": [0, 1]})
    table = "table5"  # baseline (scratch), spatial, temporal, both: STOR heads only
    for entry in plan.tables[table]:
        runs = tmp_path / "runs"
        _write(
            runs / "evaluate" / entry.evaluate / "metrics.json",
            {"top1_video": 0.5, "top1_clip": 0.4},
        )
        _write(runs / "features" / entry.features / "probe.json", {"probe_test": 0.3})
        _write(runs / "features" / entry.features / "retrieval.json", {"R@1": 0.2})
        if entry.pretrain:
            heads = {"spatial": ["stor_spatial"], "temporal": ["stor_temporal"]}
            tasks = heads.get(entry.cell.exp, ["stor_spatial", "stor_temporal"])
            final = {f"acc_{task}": 0.4 + 0.2 * entry.seed for task in tasks}
            labels = {task: {"0": 30, "1": 10, "2": 10} for task in tasks}  # commonest: 60 %
            _write(
                runs / "pretrain" / entry.pretrain / "metrics.json",
                {"final": final, "labels": labels},
            )
    summary = summarize(plan, table, collect(plan, table, tmp_path)).set_index("Exp.")
    assert summary.loc["both", "pretext: STOR spatial"] == 50.0  # seeds 40 and 60
    assert summary.loc["both", "pretext: STOR temporal chance"] == 60.0
    assert summary.loc["spatial", "pretext: STOR spatial"] == 50.0
    assert pd.isna(summary.loc["spatial", "pretext: STOR temporal"])
    assert pd.isna(summary.loc["baseline", "pretext: STOR spatial"])
    assert "pretext: PB rate" not in summary  # no cell of table 5 predicts it
    lines = pretext_lines(summary.reset_index())
    assert "| Exp. | STOR spatial | STOR temporal |" in lines
    assert "| both | 50.0 (60.0): not learnt | 50.0 (60.0): not learnt |" in lines
    assert "| spatial | 50.0 (60.0): not learnt | - |" in lines
    assert not [line for line in lines if line.startswith("| baseline")]


@pytest.mark.parametrize(
    ("keep", "warning"),
    [
        (None, None),  # whole: no warning
        (-9, "cut short: 2 of 3 epochs, the last line ends mid-way"),  # a number cut in two
        (-1, "cut short: 2 of 3 epochs, the last line ends mid-way"),  # only its newline lost
        ("lines", "cut short: 2 of 3 epochs;"),  # cut at the end of a line
    ],
)
def test_a_truncated_pretraining_curve_is_named_in_a_warning(tmp_path, caplog, keep, warning):
    import logging

    from cstp.reporting.pages import read_curve

    text = "epoch,loss,acc_rotation\n1,2.5,0.25\n2,2.25,0.375\n3,2.125,0.4375\n"
    path = tmp_path / "metrics.csv"
    if keep == "lines":
        path.write_text("".join(text.splitlines(keepends=True)[:3]))
    else:
        path.write_text(text[:keep])
    with caplog.at_level(logging.WARNING):
        curve = read_curve(path, epochs=3)
    if warning is None:
        assert not caplog.text and curve["loss"].tolist() == [2.5, 2.25, 2.125]
    else:
        assert f"{path}: {warning}" in caplog.text
        assert curve["epoch"].tolist() == [1, 2] and curve["loss"].tolist() == [2.5, 2.25]
    path.write_text("epoch,lo")
    assert read_curve(path, epochs=3) is None and f"{path}: unreadable" in caplog.text


def _three_seeds(plan, probe) -> list[dict]:
    """Table 2 rows over seeds 0-2: fine-tune Exp 1 10/20/30 (and every cell not named), Exp 2
    30/10/40, Exp 16 25/30/50; the probe a function of (fine-tune, seed)."""
    finetune = {"1": (10.0, 20.0, 30.0), "2": (30.0, 10.0, 40.0), "16": (25.0, 30.0, 50.0)}
    rows = []
    for entry in plan.tables["table2"]:
        tuned = finetune.get(entry.cell.exp, finetune["1"])[entry.seed]
        rows.append(
            {
                "exp": entry.cell.exp,
                "seed": entry.seed,
                "dataset": entry.dataset.key,
                "ours": tuned,
                "probe": probe(tuned, entry.seed),
                "pretrain_run": entry.pretrain or "",
                "finetune_run": entry.finetune,
            }
        )
    return rows


def test_each_cell_is_paired_with_scratch_on_the_same_seed():
    """Per seed, cell minus Exp 1: Exp 16 (25, 30, 50) - (10, 20, 30) = 15, 10, 20 (mean 15.0,
    std 5.0: beyond noise); Exp 2 (30, 10, 40): 20, -10, 10 (6.7 +- 15.3: within)."""
    from cstp.reporting.summary import table_section

    plan, table = Plan.from_config({**CONFIG, "preset": "smoke", "seeds": [0, 1, 2]}), "table2"
    rows = _three_seeds(plan, lambda tuned, seed: tuned / 2)
    summary = summarize(plan, table, pd.DataFrame(rows))
    label = plan.study.datasets["hmdb51"].label
    by_exp = summary.set_index("Exp.")
    assert by_exp.loc["16", f"{label}: ours - scratch"] == 15.0
    assert by_exp.loc["16", f"{label}: ours - scratch std"] == 5.0
    assert by_exp.loc["16", f"{label}: probe - scratch"] == 7.5
    assert by_exp.loc["2", f"{label}: ours - scratch"] == pytest.approx(6.7)
    assert by_exp.loc["2", f"{label}: ours - scratch std"] == pytest.approx(15.3)
    assert by_exp.loc["1", f"{label}: ours - scratch"] == 0.0
    # Unpaired, Exp 16 (35.0 +- 13.2) is within noise of Exp 1 (20.0 +- 10.0).
    assert by_exp.loc["16", f"{label}: ours std"] == pytest.approx(13.2)
    section = table_section(plan, table, summary)
    assert "paired vs scratch (Exp 1): beyond noise" in section
    assert f"| {label} | fine-tune |" in section
    line = next(s for s in section.splitlines() if s.startswith(f"| {label} | fine-tune |"))
    assert line.endswith("| 16 (+15.0 +- 5.0) |")
    one_seed = summarize(plan, table, pd.DataFrame([r for r in rows if r["seed"] == 0]))
    assert "one seed: spread unknown |" in table_section(plan, table, one_seed)


def test_the_summary_leads_with_the_finding():
    """Best cell, whether the seeds separate the cells, scratch against the pretrained cells and
    the paired cells beyond noise, and a word per pretext head."""
    from cstp.reporting.summary import finding_lines, head_verdicts

    plan, table = Plan.from_config({**CONFIG, "preset": "smoke", "seeds": [0, 1, 2]}), "table2"
    rows = _three_seeds(plan, lambda tuned, seed: 20.0 + seed)
    summary = summarize(plan, table, pd.DataFrame(rows))
    label = plan.study.datasets["ucf101"].label
    lines = finding_lines(plan, table, summary, "1")
    tune = next(line for line in lines if line.startswith(f"- {label}, fine-tune: "))
    assert "highest Exp 16 (35.0 +- 13.2)" in tune
    assert "scratch (Exp 1) 20.0 against 20.0-35.0 for the pretrained cells" in tune
    assert "beyond noise, paired by seed: 16 (+15.0 +- 5.0)" in tune
    probe = next(line for line in lines if line.startswith(f"- {label}, linear probe: "))
    assert "all 16 cells are within noise of it: the seeds cannot separate them" in probe
    one_seed = summarize(plan, table, pd.DataFrame([r for r in rows if r["seed"] == 0]))
    assert "one seed cannot rank the cells" in "\n".join(finding_lines(plan, table, one_seed, "1"))
    heads = pd.DataFrame(
        {
            "Exp.": ["4", "16"],
            "pretext: rotation": [85.0, 30.0],
            "pretext: rotation chance": [26.0, 26.0],
        }
    )
    assert head_verdicts(heads) == "rotation learnt in 4, not in 16"
    assert head_verdicts(heads[1:]) == "rotation not learnt in 16"


def test_figure_labels_name_the_pretext_tasks_as_such():
    from cstp.reporting.figure_plots import cell_words

    plan = Plan.from_config({**CONFIG, "preset": "smoke", "seeds": [0]})
    table2 = {c.exp: c for c in cells(plan.study.tables["table2"])}
    assert cell_words(table2["16"]) == "Exp 16: BYOL, pretext PB+Rot+STOR"
    assert cell_words(table2["2"]) == "Exp 2: BYOL, no pretext"
    assert cell_words(table2["1"]) == "Exp 1: scratch"
