"""The positive control beside a table: the backbone trained on the pretraining set's labels, its
frozen features probed as every cell's, shown as a reference line (CSV row, plot line, summary),
never as a cell; planned only where the preset asks for it."""

import copy
import json
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from conftest import run_snakemake, workflow_copy
from test_engine import CPU, finetune_spec

from cstp.engine.encoder import build_encoder
from cstp.engine.finetune import finetune
from cstp.errors import CstpError
from cstp.planning.plan import RUNS, Plan
from cstp.reporting.control import NAME, control_lines, control_row, with_control
from cstp.reporting.tables import summarize
from cstp.specs.base import spec_hash

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "config.yaml").read_text())


def plan(epochs=3, seeds=(0, 1)) -> Plan:
    config = copy.deepcopy(CONFIG) | {"preset": "smoke", "seeds": list(seeds)}
    if epochs is not None:
        config["presets"]["smoke"]["control_epochs"] = epochs
    return Plan.from_config(config)


def test_the_control_is_one_training_per_seed_shared_by_every_table_and_probed_per_dataset():
    with_control, without = plan(), plan(epochs=None)
    controls = with_control.controls["table2"]
    assert [(c.seed, c.dataset.key) for c in controls] == [
        (0, "ucf101"),
        (0, "hmdb51"),
        (1, "ucf101"),
        (1, "hmdb51"),
    ]
    trained = with_control.run("finetune", controls[0].finetune).spec
    assert (trained.dataset, trained.pretrain) == ("synth-tiny-ucf101", None)
    assert trained.optim.epochs == 3
    assert with_control.controls["table1"][0].finetune == controls[0].finetune  # one job
    assert with_control.controls["table7"] == []  # retrieval: no reference line
    assert without.controls["table2"] == []
    counts, base = with_control.counts(["table2"]), without.counts(["table2"])
    assert (counts["finetune"] - base["finetune"], counts["features"] - base["features"]) == (2, 4)
    features = controls[0].features
    assert with_control.encoder_file("features", features) == (
        RUNS / "finetune" / controls[0].finetune / "model.pt"
    )
    assert RUNS / "features" / features / "probe.json" in with_control.table_inputs("table2")


def test_the_features_of_a_fine_tuned_model_are_its_backbone(synth_index, tmp_path):
    spec = finetune_spec(None, epochs=1, selection="last", val_fraction=0.0)
    finetune(spec, synth_index, tmp_path, None, CPU)
    model = torch.load(tmp_path / "model.pt", weights_only=False)
    backbone = build_encoder(spec.backbone, None, tmp_path / "model.pt", spec_hash(spec))
    for name, value in backbone.state_dict().items():
        assert torch.equal(value, model["model"][f"backbone.{name}"])
    with pytest.raises(CstpError, match="not the model of fine-tuning run 0123456789"):
        build_encoder(spec.backbone, None, tmp_path / "model.pt", "0123456789")


def test_the_control_is_a_row_of_the_csv_a_line_of_the_summary_not_a_cell(tmp_path):
    study = plan(seeds=(0, 1, 2))
    for i, control in enumerate(study.controls["table2"]):
        folder = tmp_path / RUNS / "features" / control.features
        folder.mkdir(parents=True)
        (folder / "probe.json").write_text(json.dumps({"probe_test": 0.5 + 0.01 * i}))
    row = control_row(study, "table2", tmp_path)
    ucf, hmdb = (study.study.datasets[k].label for k in ("ucf101", "hmdb51"))
    # ucf101 is every other control (i = 0, 2, 4): 50, 52, 54 -> 52.0 +- 2.0
    assert (row[f"{ucf}: probe"], row[f"{ucf}: probe std"]) == (52.0, 2.0)
    assert row[f"{hmdb}: probe"] == 53.0 and row["seeds"] == 3
    cells = summarize(study, "table2", _measured(study))
    printed = with_control(cells, row)
    assert len(printed) == len(cells) + 1 and printed.iloc[-1]["Exp."] == NAME
    assert printed.iloc[-1]["source"] == "control" and pd.isna(printed.iloc[-1][f"{ucf}: ours"])
    assert f"{ucf} 52.0 +- 2.0" in "\n".join(control_lines(study, "table2", row))
    assert with_control(cells, None) is cells


def _measured(study: Plan) -> pd.DataFrame:
    rows = [
        {
            "exp": e.cell.exp,
            "seed": e.seed,
            "dataset": e.dataset.key,
            "ours": 40.0 + e.seed,
            "probe": 30.0 + e.seed,
            "R@1": 10.0,
            "pretrain_run": e.pretrain or "",
            "finetune_run": e.finetune,
        }
        for e in study.tables["table2"]
    ]
    return pd.DataFrame(rows)


@pytest.mark.slow
def test_the_workflow_trains_and_probes_the_control_for_a_table(tmp_path):
    work = workflow_copy(tmp_path / "control")
    rows = {"rows": [{"exp": "spatial", "pretext": ["stor_spatial"], "paper": {"ucf101": 67.8}}]}
    run_snakemake(
        *("--cores", "1", "results/table5.csv", "--config", "preset=smoke"),
        'presets={"smoke": {"control_epochs": 1}}',
        "tables=" + json.dumps({"table5": rows}),
        cwd=work,
    )
    table = pd.read_csv(work / "results" / "table5.csv")
    assert list(table["Exp."]) == ["spatial", NAME] and list(table["source"]) == [
        "regenerated",
        "control",
    ]
    label = "UCF-101 (synthetic stand-in, tiny)"
    assert 0 <= table[f"{label}: probe"].iloc[1] <= 100
    assert "Positive control" in (work / "results" / "summary.md").read_text()
