"""`cstp pretrain`: self-supervised pretraining of an encoder with the joint CSTP objective."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import torch

from cstp import distributed as dist
from cstp.engine import checkpoint
from cstp.engine.encoder import save_encoder, to_input
from cstp.engine.runtime import (
    Runtime,
    autocast,
    configure,
    peak_memory_gib,
    precision_run,
    prepare_model,
    seed_everything,
)
from cstp.engine.trainer import Trainer, epoch_loader, make_optimizer
from cstp.errors import CstpError
from cstp.models.backbones import build_backbone
from cstp.models.contrastive import ContrastiveScheme, build_scheme
from cstp.models.joint import JointModel
from cstp.sampling.datasets import PairDataset, load_subset, resized_size
from cstp.sampling.pairs import plan_pair
from cstp.sampling.sample import LabelHistogram, pretext_classes
from cstp.specs.base import spec_hash
from cstp.specs.train import PretrainSpec

log = logging.getLogger(__name__)


def pretrain(
    spec: PretrainSpec, index: Path, run_dir: Path, runtime: Runtime = Runtime(), hooks=()
) -> dict:
    """Pretrain and write encoder.pt, metrics.csv and metrics.json into run_dir (resumable)."""
    if not spec.learns_anything:
        raise CstpError("pretrain: nothing to learn (no contrastive scheme, no pretext task)")
    device = configure(runtime)
    precision = precision_run(device, spec.precision)  # said before training, not after
    dist.init_from_environment(device)
    if dist.world_size() != spec.processes:
        raise CstpError(
            f"the spec trains with {spec.processes} process(es) but {dist.world_size()} were "
            f"launched: run it as `torchrun --nproc-per-node {spec.processes} -m cstp pretrain ...`"
        )
    seed_everything(spec.seed)
    checkpoint.claim(run_dir, spec)
    rows = load_subset(index, "train", min_frames=spec.sampling.clip.frames)
    dataset = PairDataset(rows, spec.sampling, spec.seed, runtime.cache)
    loader, batches = epoch_loader(dataset, spec.optim, spec.seed, runtime.workers, device)
    model, scheme, _ = build_model(spec)
    if spec.sync_batchnorm and dist.is_distributed():
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    model = prepare_model(model, device, runtime, training=True)
    optimizer = make_optimizer(model, spec.optim)
    trained = dist.data_parallel(model, device)

    def step(batch):
        clips, labels = batch
        labels = {k: v.to(device, non_blocking=True) for k, v in labels.items()}
        with autocast(device, spec.precision):
            loss, values = trained(to_input(clips, device), labels)
        return loss, values | {"loss": loss.detach()}, len(clips)

    after = scheme.update_target if scheme is not None else None
    started = time.time()
    args = (run_dir, trained, optimizer, spec.optim, loader, batches, step, after)
    rows_out = Trainer(*args, hooks=hooks, code=runtime.code).fit()
    metrics = {
        "run": spec_hash(spec),
        "kind": "pretrain",
        "videos": len(dataset),
        "epochs": spec.optim.epochs,
        "final": rows_out[-1] if rows_out else {},
        "labels": label_histogram(rows, spec),
        "seconds": time.time() - started,
        "device": str(device),
        "processes": dist.world_size(),
        "peak_memory_gib": peak_memory_gib(device),
        "precision_run": precision,
    }
    if dist.rank() == 0:
        save_encoder(run_dir / "encoder.pt", model.backbone, spec)
        checkpoint.write_json(run_dir / "metrics.json", metrics)
    return metrics


def build_model(spec: PretrainSpec) -> tuple[JointModel, ContrastiveScheme | None, dict]:
    """The cell's joint model (backbone, scheme, pretext heads), its scheme and its label sizes."""
    backbone = build_backbone(spec.backbone.name, spec.backbone.width)
    scheme = build_scheme(spec.contrastive, backbone)
    classes = pretext_classes(spec.sampling)
    return JointModel(backbone, scheme, classes, spec.loss), scheme, classes


def label_histogram(rows, spec: PretrainSpec, epochs: int = 1) -> dict:
    """Pretext labels and fallbacks of the first `epochs` epochs' pairs (exactly those trained on:
    the plan is the first draw of each sample's generator)."""
    histogram = LabelHistogram()
    short = spec.sampling.clip.short_side
    for epoch in range(epochs):
        for i, row in enumerate(rows.itertuples()):
            width, height = int(row.width), int(row.height)
            if short is not None:
                width, height = resized_size(width, height, short)
            rng = np.random.default_rng([spec.seed, epoch, i])
            histogram.add(plan_pair(spec.sampling, rng, int(row.frames), width, height))
    return histogram.to_dict()
