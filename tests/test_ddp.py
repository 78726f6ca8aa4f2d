"""Data parallelism on CPU (gloo, two processes) gives the gradients of one process on the batch."""

import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from cstp.engine.specs import ContrastiveSpec, LossWeights
from cstp.models.backbones import build_backbone
from cstp.models.contrastive import build_scheme
from cstp.models.joint import JointModel

N, WORLD = 4, 2
CLASSES = {"rotation": 4, "stor_spatial": 5}


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
