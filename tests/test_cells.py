"""Cells compared in one table differ only in what their row says: the same crop distribution, one
clip rate for every downstream use, the same contrastive convention (tests/test_losses.py)."""

import copy
from pathlib import Path

import yaml

from cstp.sampling.stats import stor_stats
from cstp.workflow.plan import Plan

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
