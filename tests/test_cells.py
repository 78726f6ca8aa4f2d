"""Cells compared in one table differ only in what their row says: the same crop distribution, one
clip rate for every downstream use, the same contrastive convention (tests/test_losses.py)."""

import copy
from pathlib import Path

import yaml

from cstp.planning.plan import Plan
from cstp.sampling.stats import stor_stats

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "config.yaml").read_text())


def _crop_areas(plan: Plan, table: str) -> list[float]:
    ids = dict.fromkeys(e.pretrain for e in plan.tables[table] if e.pretrain)
    specs = [plan.run("pretrain", i).spec.sampling for i in ids]
    return [stor_stats(s, 150, 320, 240, 2000, 0).crop_area for s in specs]


def test_every_pretraining_cell_of_a_table_crops_alike():
    plan = Plan.from_config(CONFIG)
    for table in ("table1", "table2", "table4", "table5"):
        areas = _crop_areas(plan, table)
        assert max(areas) - min(areas) < 0.01, (table, areas)


def test_without_the_study_cap_table_4_measures_zoom_too():
    config = copy.deepcopy(CONFIG)
    config["presets"]["default"]["pretrain"]["crop_cap"] = "none"
    areas = _crop_areas(Plan.from_config(config), "table4")
    assert max(areas) - min(areas) > 0.05  # 2 candidates: large crops; 7: small ones


def test_one_clip_rate_for_every_downstream_use_and_presets_agree():
    for preset, data in CONFIG["presets"].items():
        pretrain = data.get("pretrain", {}).get("fixed_rate", 1)
        assert pretrain == data.get("finetune", {}).get("fixed_rate", 1), preset
    plan = Plan.from_config({**CONFIG, "preset": "smoke"})
    for entries in plan.tables.values():
        for entry in entries:
            features = plan.run("features", entry.features).spec
            if entry.finetune is None:  # a retrieval table: frozen features only
                assert features.fixed_rate == plan.study.preset.finetune.fixed_rate
                continue
            finetune = plan.run("finetune", entry.finetune).spec
            assert features.fixed_rate == finetune.sampling.fixed_rate


def test_a_scratch_cell_trains_with_the_base_augmentation_its_row_ticks():
    plan = Plan.from_config(CONFIG)
    base = plan.study.preset.pretrain.base
    for entry in plan.tables["table1"]:
        spec = plan.run("finetune", entry.finetune).spec
        if not entry.cell.pretrains:
            assert spec.sampling.base == base, entry.cell.exp
        else:
            assert spec.sampling.base == plan.study.preset.finetune.base, entry.cell.exp
    other = Plan.from_config({**CONFIG, "interpretation": {"scratch_base": "finetune"}})
    scratch = next(e for e in other.tables["table1"] if not e.cell.pretrains)
    assert other.run("finetune", scratch.finetune).spec.sampling.base != base


# A table of the shape of the paper's Table 6: rows that differ in backbone, in the dataset they
# pretrain on and in the protocol (end to end, or the frozen encoder the paper calls "Freeze").
ROWS_TABLE = {
    "title": "backbones, pretraining data, protocol",
    "datasets": ["ucf101"],
    "defaults": {"contrastive": "byol", "pretext": ["playback_rate"]},
    "columns": [
        {"name": "Backbone", "show": "backbone"},
        {"name": "Dataset", "show": "pretrain_on"},
        {"name": "Freeze", "show": "protocol.linear"},
    ],
    "rows": [
        {"exp": "a"},
        {"exp": "b", "pretrain_on": "hmdb51"},
        {"exp": "c", "protocol": "linear"},
        {"exp": "d", "backbone": "c3d", "pretrain_on": "hmdb51", "protocol": "linear"},
    ],
}


def _rows_plan(table=ROWS_TABLE) -> Plan:
    return Plan.from_config({**CONFIG, "preset": "smoke", "tables": {"table9": table}})


def test_a_row_names_its_backbone_pretraining_data_and_protocol():
    plan = _rows_plan()
    runs = {e.cell.exp: e for e in plan.tables["table9"]}
    pretrain = {exp: plan.run("pretrain", e.pretrain) for exp, e in runs.items()}
    finetune = {exp: plan.run("finetune", e.finetune).spec for exp, e in runs.items()}
    hmdb, ucf = plan.study.datasets["hmdb51"], plan.study.datasets["ucf101"]
    assert pretrain["a"].dataset == ucf and pretrain["b"].dataset == hmdb  # its index is read
    assert pretrain["b"].spec.dataset == hmdb.name and pretrain["d"].spec.backbone.name == "c3d"
    assert runs["a"].pretrain == runs["c"].pretrain  # the protocol changes fine-tuning only
    assert (finetune["a"].protocol, finetune["c"].protocol, finetune["d"].protocol) == (
        "finetune",
        "linear",
        "linear",
    )
    assert finetune["c"].pretrain == runs["a"].pretrain and finetune["c"] != finetune["a"]
    assert finetune["b"].dataset == finetune["a"].dataset == ucf.name  # fine-tuned on UCF
    shown = [(c.show("pretrain_on"), c.show("protocol.linear")) for c in _cells(plan)]
    assert shown == [("preset's", False), ("HMDB-51", False), ("preset's", True), ("HMDB-51", True)]


def _cells(plan: Plan):
    from cstp.planning.cells import cells

    return cells(plan.study.tables["table9"])


def test_a_row_pretraining_on_a_dataset_the_preset_lacks_is_one_clear_line():
    import pytest

    from cstp.errors import CstpError

    table = {**ROWS_TABLE, "rows": [{"exp": "a", "pretrain_on": "youtube8m"}]}
    with pytest.raises(CstpError, match="a row pretrains on 'youtube8m', which is not a dataset"):
        _rows_plan(table)
