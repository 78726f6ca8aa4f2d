"""Data parallelism on CPU (gloo, two processes) gives the gradients of one process on the batch."""

import json
import os
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import yaml
from conftest import run_within

from cstp.models.backbones import build_backbone
from cstp.models.contrastive import build_scheme
from cstp.models.joint import JointModel
from cstp.specs.train import ContrastiveSpec, LossWeights

N, WORLD = 4, 2
CLASSES = {"rotation": 4, "stor_spatial": 5}
# The torchrun pretraining below takes 17 s on 2 busy cores (load 4-6): ten times that, and more.
DDP_SECONDS = 600


def _model(scheme: str) -> JointModel:
    torch.manual_seed(0)
    backbone = build_backbone("r2plus1d_10", 0.125)
    spec = ContrastiveSpec(scheme=scheme, proj_hidden=16, proj_dim=8, pred_hidden=16)
    model = JointModel(backbone, build_scheme(spec, backbone), CLASSES, LossWeights())
    # Per-process BatchNorm statistics differ from whole-batch ones (SyncBatchNorm needs a GPU),
    # so this test freezes them: it checks gradient averaging and the cross-process negatives.
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.eval()
    return model


def _batch():
    generator = torch.Generator().manual_seed(1)
    clips = torch.randn(N, 2, 3, 4, 16, 16, generator=generator)
    labels = {
        "rotation": torch.randint(0, 4, (N, 2), generator=generator),
        "stor_spatial": torch.randint(0, 5, (N,), generator=generator),
    }
    return clips, labels


def _gradients(model) -> dict[str, torch.Tensor]:
    return {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}


def _worker(rank: int, scheme: str, store: str, out: str) -> None:
    os.environ["WORLD_SIZE"] = str(WORLD)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=WORLD)
    torch.set_num_threads(1)
    model = _model(scheme)
    ddp = torch.nn.parallel.DistributedDataParallel(model, broadcast_buffers=False)
    clips, labels = _batch()
    rows = slice(rank * N // WORLD, (rank + 1) * N // WORLD)
    loss, _ = ddp(clips[rows], {k: v[rows] for k, v in labels.items()})
    loss.backward()
    if rank == 0:
        torch.save(_gradients(model), out)
    dist.destroy_process_group()


@pytest.mark.parametrize("scheme", ["simclr", "simsiam"])
def test_two_gloo_processes_match_one_process_on_the_whole_batch(scheme, tmp_path):
    torch.set_num_threads(1)
    model = _model(scheme)
    clips, labels = _batch()
    loss, _ = model(clips, labels)
    loss.backward()
    expected = _gradients(model)

    out = tmp_path / "grads.pt"
    mp.spawn(_worker, args=(scheme, str(tmp_path / "store"), str(out)), nprocs=WORLD, join=True)
    got = torch.load(out)
    assert got.keys() == expected.keys()
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], rtol=1e-4, atol=1e-6, msg=key)


@pytest.mark.slow
def test_cstp_pretrain_runs_under_torchrun(synth_index, tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "backbone": {"name": "r2plus1d_10", "width": 0.125},
                "sampling": {"clip": {"frames": 4, "size": 16}, "pretext": ["rotation"]},
                "contrastive": {"scheme": "simclr", "proj_hidden": 16, "proj_dim": 8},
                "optim": {"epochs": 1, "batch_size": 4, "warmup_epochs": 0},
                "processes": 2,
            }
        )
    )
    bin_dir = Path(sys.executable).parent
    command = [
        str(bin_dir / "torchrun"),
        "--nproc-per-node",
        "2",
        str(bin_dir / "cstp"),
        "pretrain",
        "--spec",
        str(spec),
        "--index",
        str(synth_index),
        "--out",
        str(tmp_path / "run"),
        "--device",
        "cpu",
        "--threads",
        "1",
    ]
    result = run_within(command, DDP_SECONDS)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["processes"] == 2 and (tmp_path / "run" / "encoder.pt").exists()


def test_a_spec_for_two_processes_is_refused_in_one(synth_index, tmp_path, capsys):
    from cstp.cli import main

    spec = tmp_path / "spec.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "backbone": {"name": "r2plus1d_10", "width": 0.125},
                "sampling": {"clip": {"frames": 4, "size": 16}, "pretext": ["rotation"]},
                "optim": {"epochs": 1, "batch_size": 4},
                "processes": 2,
            }
        )
    )
    args = ["pretrain", "--spec", str(spec), "--index", str(synth_index)]
    assert main([*args, "--out", str(tmp_path / "run"), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "trains with 2 process(es) but 1 were launched: run it as `torchrun" in err
    assert not (tmp_path / "run" / "state").exists()
