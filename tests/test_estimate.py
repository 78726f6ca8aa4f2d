"""`cstp plan --estimate`: device-hours of a target from measured rates, before submitting."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path

import pytest
import yaml

from cstp.cli import main
from cstp.errors import CstpError
from cstp.planning.estimate import (
    ANCHORS,
    BARE,
    EFFICIENCY,
    PUBLISHED,
    Rates,
    _name,
    estimate,
    job_weight,
)
from cstp.planning.plan import Plan

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "config.yaml").read_text())


def paper_plan() -> Plan:
    config = copy.deepcopy(CONFIG) | {"preset": "paper"}
    return Plan.from_config(config, check_paths=False)


def bench_file(path: Path, clips=100.0, step=30.0, end_to_end=None, clip="16x112x112") -> Path:
    bench = {
        "machine": {"gpu": "Test GPU"},
        "cell": {"backbone": "r2plus1d_10 x1.0", "clip": clip},
        "backbone_clips_per_s": clips,
        "step_samples_per_s": step,
        "efficiency": step * 8 / 3 / clips,
    }
    if end_to_end is not None:
        bench["end_to_end_samples_per_s"] = end_to_end
    path.write_text(json.dumps(bench))
    return path


def test_a_rate_is_clips_times_efficiency_times_the_loaders_share_scaled_by_voxels(tmp_path):
    rates = Rates.from_bench(bench_file(tmp_path / "b.json", 100.0, 30.0, end_to_end=15.0))
    assert rates.efficiency == pytest.approx(0.8) and rates.loader_share == pytest.approx(0.5)
    # 40 clips/s effective at the bench's shape; a clip of half the voxels runs twice as fast.
    assert rates.seconds(400, 16 * 112 * 112) == pytest.approx(10.0)
    assert rates.seconds(400, 8 * 112 * 112) == pytest.approx(5.0)


def test_paper_pretraining_hours_follow_epochs_videos_and_passes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no index here: the published counts are used
    plan = paper_plan()
    rates = Rates.from_bench(bench_file(tmp_path / "b.json"))
    result = estimate(plan, ["table3"], rates)
    runs = plan.runs_of(["table3"])["pretrain"]
    train, _ = PUBLISHED["ucf101"]
    passes = sum(run.spec.backbone_passes for run in runs)  # SimCLR/SimSiam 2, MoCo/BYOL 8/3
    effective = 100.0 * 0.8
    assert result["rows"]["pretrain"]["jobs"] == 16
    assert result["rows"]["pretrain"]["hours"] == pytest.approx(
        300 * train * passes / effective / 3600
    )
    assert "published split-1 counts of ucf101" in result["sizes"]


def test_wall_time_is_the_total_over_devices_or_the_longest_job(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plan, rates = paper_plan(), Rates.from_bench(bench_file(tmp_path / "b.json"))
    one = estimate(plan, ["table2"], rates, gpus=1)
    many = estimate(plan, ["table2"], rates, gpus=1000)
    assert one["wall_hours"] == pytest.approx(one["total_hours"])
    assert many["wall_hours"] == pytest.approx(many["longest_hours"])
    assert many["wall_hours"] < one["wall_hours"]


def test_without_a_bench_file_the_h100_anchor_is_used_and_named(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plan = paper_plan()
    result = estimate(plan, ["table2"], None)
    assert {r.clips_per_s for r in result["rates"]} == {BARE["r2plus1d_10"]}
    assert all("H100" in r.source for r in result["rates"])
    # BYOL cells (the target embeds both clips) at the symmetric step's measured efficiency, the
    # pretext-only cells at the asymmetric one.
    asymmetric, symmetric = EFFICIENCY["r2plus1d_10"]
    assert symmetric == pytest.approx(283 * (8 / 3) / 813) and asymmetric > symmetric
    train, _ = PUBLISHED["ucf101"]
    expected = 0.0
    for run in plan.runs_of(["table2"])["pretrain"]:
        passes = run.spec.backbone_passes
        efficiency = symmetric if passes > 2.5 else asymmetric
        expected += 300 * train * passes / (BARE["r2plus1d_10"] * efficiency)
    assert result["rows"]["pretrain"]["hours"] == pytest.approx(expected / 3600)


def test_every_backbone_is_priced_by_its_own_anchor(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plan = paper_plan()
    result = estimate(plan, ["table6"], None)
    backbones = {r.spec.backbone.name for r in plan.runs_of(["table6"])["pretrain"]}
    assert len(backbones) >= 3
    assert {r.backbone for r in result["rates"]} == {f"{b} x1.0" for b in backbones}
    for rates in result["rates"]:
        assert rates.clips_per_s == BARE[rates.backbone.split()[0]]
    assert ANCHORS[("c3d", 1.0, 16, 112, True)][0] == 880.0


def test_the_paper_presets_kinetics_pretraining_is_the_official_recipe():
    plan = paper_plan()
    runs = plan.runs_of(["table6"])["pretrain"]
    optims = {run.spec.dataset.split("-")[0]: run.spec.optim for run in runs}
    assert (optims["kinetics400"].batch_size, optims["kinetics400"].lr) == (128, 0.09)
    assert (optims["ucf101"].batch_size, optims["ucf101"].lr) == (60, 0.03)


def test_all_is_a_target(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    config = ["--config", str(ROOT / "config.yaml"), "--preset", "paper"]
    assert main(["plan", *config, "--estimate", "all"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("estimate: " + " + ".join(CONFIG["tables"]))


def test_an_index_on_disk_gives_the_video_counts(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plan = paper_plan()
    index = tmp_path / plan.study.datasets["ucf101"].index  # named by key and location
    index.parent.mkdir(parents=True)
    rows = ["subset,status"] + ["train,ok"] * 30 + ["train,unreadable"] * 5 + ["test,ok"] * 10
    index.write_text("\n".join(rows) + "\n")
    result = estimate(plan, ["table1"], Rates.from_bench(bench_file(tmp_path / "b.json")))
    runs = plan.runs_of(["table1"])["pretrain"]
    passes = sum(run.spec.backbone_passes * run.spec.optim.epochs for run in runs)
    assert result["rows"]["pretrain"]["hours"] == pytest.approx(30 * passes / 80.0 / 3600)


def test_a_synthetic_dataset_not_generated_yet_is_named(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plan = Plan.from_config(copy.deepcopy(CONFIG))
    spec = plan.runs_of(["table2"])["pretrain"][0].spec
    bench = Rates.from_bench(bench_file(tmp_path / "b.json"))
    bench = dataclasses.replace(bench, backbone=_name(spec.backbone))  # the default's
    with pytest.raises(CstpError, match="not generated yet; make it with `snakemake"):
        estimate(plan, ["table2"], bench)


def test_plan_estimate_prints_hours_rates_and_assumptions(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    config = ["--config", str(ROOT / "config.yaml"), "--preset", "paper"]
    assert main(["plan", *config, "--estimate", "--gpus", "4", "results/table2.csv"]) == 0
    out = capsys.readouterr().out
    assert "device-hours; wall time on 4 device(s)" in out and "anchor: one H100" in out
    assert "  r2plus1d_10 x1.0, symmetric step: 813.0 x 0.928 x 1.00, 8 job(s)" in out
    assert "epochs: pretraining [300], fine-tuning [100]" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--gpus", "0"], "--gpus 0: expected a number of devices >= 1"),
        (["--bench", "/nonexistent.json"], "--bench /nonexistent.json: not a `cstp bench step"),
    ],
)
def test_plan_estimate_refuses_bad_input_in_one_line(args, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    config = ["--config", str(ROOT / "config.yaml"), "--preset", "paper"]
    assert main(["plan", *config, "--estimate", *args, "table2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_no_anchor_for_a_cpu_preset_says_how_to_measure(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["plan", "--config", str(ROOT / "config.yaml"), "--estimate", "table2"]) == 2
    assert "cstp bench step --spec" in capsys.readouterr().err


def test_a_bench_of_a_backbone_no_job_uses_is_said(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    bench = json.loads(bench_file(tmp_path / "b.json").read_text())
    bench["cell"]["backbone"] = "r2plus1d_10 x0.25"
    (tmp_path / "b.json").write_text(json.dumps(bench))
    config = ["--config", str(ROOT / "config.yaml"), "--preset", "paper"]
    assert main(["plan", *config, "--estimate", "--bench", str(tmp_path / "b.json"), "table5"]) == 0
    out = capsys.readouterr().out
    assert "measured r2plus1d_10 x0.25, which no job here uses" in out and "anchor: one H100" in out


def test_job_weights_start_the_longest_pretraining_first(tmp_path, monkeypatch):
    # The workflow's job priorities: before the synthetic data exist each video counts once, and
    # every pretraining job (60 epochs of its passes) outweighs every other job of the table.
    monkeypatch.chdir(tmp_path)
    plan = Plan.from_config(copy.deepcopy(CONFIG))
    runs = plan.runs_of(["table2"])
    weights = {kind: [job_weight(plan, run) for run in runs[kind]] for kind in runs}
    spec = max(runs["pretrain"], key=lambda run: run.spec.backbone_passes).spec
    clip = spec.sampling.clip
    voxels = clip.frames * clip.size * clip.size
    assert max(weights["pretrain"]) == spec.optim.epochs * spec.backbone_passes * voxels
    others = weights["finetune"] + weights["evaluate"] + weights["features"]
    assert min(weights["pretrain"]) > max(others)
    # Two clips trained per sample, and BYOL's target encoder embeds both again without gradient.
    epochs = spec.optim.epochs
    assert sorted(set(weights["pretrain"])) == [epochs * 2 * voxels, epochs * (2 + 2 / 3) * voxels]


def test_job_weights_read_the_index_once_it_exists(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plan = Plan.from_config(copy.deepcopy(CONFIG))
    run = plan.runs_of(["table2"])["pretrain"][0]
    before = job_weight(plan, run)
    run.dataset.index.parent.mkdir(parents=True)
    run.dataset.index.write_text("subset,status\n" + "train,ok\n" * 30 + "test,ok\n" * 10)
    assert job_weight(plan, run) == 30 * before
