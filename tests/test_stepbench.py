"""`cstp bench step`: the cell's step against its backbone's ceiling, data and end to end."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from cstp.cli import main
from cstp.engine.runtime import Runtime
from cstp.engine.stepbench import StepBench, measure_step
from cstp.specs.base import from_dict
from cstp.specs.train import PretrainSpec

PRETEXTS = ("playback_rate", "rotation", "stor_spatial", "stor_temporal")
TINY = ["--width", "0.125", "--frames", "4", "--size", "16", "--batch", "4"]
QUICK = ["--steps", "1", "--warmup", "0", "--repeats", "1"]


def tiny_spec(**contrastive) -> PretrainSpec:
    pretext = list(PRETEXTS)
    return from_dict(
        PretrainSpec,
        {
            "backbone": {"width": 0.125},
            "sampling": {
                "clip": {"frames": 4, "size": 16},
                "playback_rates": [1, 2],
                "pretext": pretext,
            },
            "contrastive": {"scheme": "byol", "proj_hidden": 16, "proj_dim": 8} | contrastive,
            "optim": {"batch_size": 4},
        },
    )


@pytest.mark.parametrize(
    ("scheme", "symmetric", "passes"),
    [
        ("byol", True, 2 + 2 / 3),
        ("byol", False, 2 + 1 / 3),
        ("moco", False, 2 + 1 / 3),
        ("simclr", True, 2.0),
        ("simsiam", True, 2.0),
        ("none", True, 2.0),
    ],
)
def test_backbone_passes_count_a_target_clip_as_a_third(scheme, symmetric, passes):
    spec = tiny_spec(scheme=scheme, symmetric=symmetric)
    assert spec.backbone_passes == pytest.approx(passes)


def test_measure_step_relates_the_step_to_its_ceiling(synth_index):
    spec = tiny_spec()
    setup = StepBench(steps=1, warmup=1, repeats=2)
    result = measure_step(spec, Runtime(device="cpu", threads=1), setup, synth_index)
    for key in ("backbone_clips_per_s", "step_samples_per_s", "data_samples_per_s"):
        assert result[key] > 0
    assert result["end_to_end_samples_per_s"] > 0
    assert result["efficiency"] == pytest.approx(
        result["step_samples_per_s"] * 8 / 3 / result["backbone_clips_per_s"]
    )
    assert result["cell"]["pretext"] == [
        "playback_rate",
        "rotation",
        "stor_spatial",
        "stor_temporal",
    ]
    assert result["machine"]["device"] == "cpu"
    peaks = result["peak_memory_gib"]
    assert list(peaks) == ["backbone", "step", "data", "end_to_end"] and min(peaks.values()) > 0
    assert result["precision_run"] == "fp32" and result["compiled"] is False


def test_a_bf16_cell_runs_fp32_on_the_cpu_and_says_so(capsys):
    args = ["bench", "step", *TINY, *QUICK, "--precision", "bf16", "--pretext", "rotation"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "bf16 (ran fp32, eager)" in printed
    assert "peak memory, backbone" in printed and "peak memory, step" in printed


def test_the_cpu_peak_counter_resets_between_phases():
    from cstp.engine.stepbench import _peak_memory, _reset_peak

    cpu = torch.device("cpu")
    big = torch.ones(64 * 2**20)  # 256 MiB, touched
    big += 1
    del big
    before = _peak_memory(cpu)
    _reset_peak(cpu)
    assert _peak_memory(cpu) < before - 0.2


def test_each_phase_resets_the_peak_counter(monkeypatch):
    from cstp.engine import stepbench

    resets = []
    monkeypatch.setattr(stepbench, "_reset_peak", lambda device: resets.append(device.type))
    measure_step(tiny_spec(), Runtime(device="cpu", threads=1), StepBench(1, 0, 1))
    assert resets == ["cpu", "cpu"]  # before (a) and before (b)


def test_without_videos_only_the_model_side_is_measured():
    result = measure_step(tiny_spec(), Runtime(device="cpu", threads=1), StepBench(1, 0, 1))
    assert "data_samples_per_s" not in result and "end_to_end_samples_per_s" not in result


def test_bench_step_prints_the_table_and_writes_json(tmp_path, capsys):
    out = tmp_path / "step.json"
    args = ["bench", "step", *TINY, *QUICK, "--scheme", "simclr", "--pretext", "rotation"]
    assert main([*args, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "(a) backbone training step" in printed and "(c) efficiency" in printed
    assert "(d) data pipeline" not in printed
    result = json.loads(out.read_text())
    assert result["cell"]["scheme"] == "simclr" and result["cell"]["pretext"] == ["rotation"]
    assert result["passes_per_sample"] == 2.0


def test_bench_step_reads_a_runs_spec(tmp_path, capsys):
    path = tmp_path / "spec.json"
    from cstp.specs.base import spec_json

    path.write_text(spec_json(tiny_spec(symmetric=False)))
    assert main(["bench", "step", "--spec", str(path), *QUICK, "--out", str(tmp_path / "o")]) == 0
    result = json.loads((tmp_path / "o").read_text())
    assert result["cell"]["symmetric"] is False and result["passes_per_sample"] == 2 + 1 / 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--pretext", "rotation,jigsaw"], "--pretext rotation,jigsaw: expected some of"),
        (["--spec", "/nonexistent/spec.json"], "--spec /nonexistent/spec.json: cannot read"),
        (["--index", "/nonexistent.csv"], "--index /nonexistent.csv: no such index file"),
    ],
)
def test_bench_step_refuses_bad_input_in_one_line(args, message, capsys):
    assert main(["bench", "step", *TINY, *QUICK, *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_bench_step_on_cuda_in_bf16():
    spec = dataclasses.replace(tiny_spec(), precision="bf16")
    result = measure_step(spec, Runtime(device="cuda"), StepBench(1, 1, 1))
    assert result["cell"]["precision"] == "bf16"
    assert result["precision_run"] == "bf16"
    assert result["machine"]["gpu"] and min(result["peak_memory_gib"].values()) > 0
