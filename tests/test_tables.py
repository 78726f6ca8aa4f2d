"""A table as the paper prints it: the flags each cell shows, and the summary of measured runs
(mean and standard deviation over seeds, the paper's number and the difference)."""

from pathlib import Path

import pandas as pd
import pytest
import yaml

from cstp.errors import CstpError
from cstp.workflow.cells import cells
from cstp.workflow.plan import Plan
from cstp.workflow.tables import summarize

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
                "finetune": ours,
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
    from cstp.workflow.plots import _tick

    columns = [{"group": "", "name": "Backbone"}, {"group": "", "name": "Dataset"}]
    columns += [{"group": "", "name": "Freeze"}]
    scratch = pd.Series({"Exp.": "2", "Backbone": "R(2+1)D-10", "Dataset": "-", "Freeze": "✗"})
    frozen = pd.Series({"Exp.": "1", "Backbone": "R3D-18", "Dataset": "K400", "Freeze": "✓"})
    assert _tick(scratch, columns) == "2: R(2+1)D-10"
    assert _tick(frozen, columns) == "1: R3D-18+K400+Freeze"
