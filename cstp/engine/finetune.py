"""`cstp finetune` and `cstp linear`: supervised training of a classifier on a labelled dataset,
from a pretrained encoder or from scratch, with model selection on held-out training videos."""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from cstp import distributed as dist
from cstp.engine import checkpoint
from cstp.engine.encoder import build_encoder, predict, to_input
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
from cstp.models.heads import Classifier
from cstp.sampling.datasets import ClipDataset, TestClipsDataset, class_count, load_subset
from cstp.specs.base import spec_hash, to_dict
from cstp.specs.measure import EvalClips
from cstp.specs.train import FinetuneSpec

log = logging.getLogger(__name__)
TEST_CROP = EvalClips().crop  # validation clips are cut like test clips


class VideoClassifier(nn.Module):
    """Backbone + classification head; in linear mode the backbone is frozen, BN statistics too."""

    def __init__(self, backbone: nn.Module, classes: int, spec: FinetuneSpec):
        super().__init__()
        self.backbone = backbone
        self.head = Classifier(
            backbone.out_dim, classes, spec.classifier.dropout, spec.classifier.normalise
        )
        self.frozen = spec.protocol == "linear"
        if self.frozen:
            backbone.requires_grad_(False)

    def train(self, mode: bool = True) -> VideoClassifier:
        super().train(mode)
        if self.frozen:
            self.backbone.eval()  # running BN statistics stay those of the pretraining
        return self

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(clips))


def split_validation(rows: pd.DataFrame, fraction: float, seed: int) -> tuple[pd.DataFrame, ...]:
    """Hold out `fraction` of the training groups (UCF-101's gXX; else single videos) so that no
    group is on both sides; the test split is never looked at."""
    if fraction == 0:
        return rows, rows.iloc[:0]
    groups = rows["video"].map(video_group)
    names = np.array(sorted(groups.unique()))
    rng = np.random.default_rng([seed, 7])
    held = set(rng.choice(names, size=max(1, round(fraction * len(names))), replace=False))
    mask = groups.isin(held)
    return rows[~mask].reset_index(drop=True), rows[mask].reset_index(drop=True)


def video_group(video: str) -> str:
    match = re.search(r"v_(.+)_g(\d+)_c\d+", video)
    return f"{match.group(1)}_g{match.group(2)}" if match else video


def build_classifier(spec: FinetuneSpec, classes: int, encoder: Path | None) -> VideoClassifier:
    return VideoClassifier(build_encoder(spec.backbone, spec.pretrain, encoder), classes, spec)


def finetune(
    spec: FinetuneSpec,
    index: Path,
    run_dir: Path,
    encoder: Path | None = None,
    runtime: Runtime = Runtime(),
    hooks=(),
) -> dict:
    """Train, select, and write model.pt, metrics.csv and metrics.json into run_dir (resumable)."""
    device = configure(runtime)
    precision = precision_run(device, spec.precision)  # said before training, not after
    dist.init_from_environment(device)
    seed_everything(spec.seed)
    checkpoint.claim(run_dir, spec)
    rows = load_subset(index, "train", min_frames=spec.sampling.clip.frames)
    classes = class_count(index)
    train_rows, val_rows = split_validation(rows, spec.val_fraction, spec.seed)
    model = prepare_model(build_classifier(spec, classes, encoder), device, runtime, training=True)
    dataset = ClipDataset(train_rows, spec.sampling, spec.seed, runtime.cache)
    loader, batches = epoch_loader(dataset, spec.optim, spec.seed, runtime.workers, device)
    trained = dist.data_parallel(model, device)
    val = _Validation(model, val_rows, spec, device, runtime, run_dir)

    def step(batch):
        clips, labels = batch
        labels = labels.to(device, non_blocking=True)
        with autocast(device, spec.precision):
            logits = trained(to_input(clips, device))
            loss = nn.functional.cross_entropy(logits, labels)
        accuracy = (logits.argmax(1) == labels).float().mean()
        return loss, {"loss": loss.detach(), "acc_train": accuracy}, len(clips)

    started = time.time()
    optimizer = make_optimizer(model, spec.optim)
    validate = val.after_epoch if len(val_rows) else None
    args = (run_dir, trained, optimizer, spec.optim, loader, batches, step)
    rows_out = Trainer(*args, end_epoch=validate, hooks=hooks, code=runtime.code).fit()
    metrics = {
        "run": spec_hash(spec),
        "protocol": spec.protocol,
        "classes": classes,
        "videos": {"train": len(train_rows), "val": len(val_rows)},
        "selection": spec.selection,
        "selected_epoch": val.choose(rows_out, spec.selection),
        "final": rows_out[-1] if rows_out else {},
        "seconds": time.time() - started,
        "device": str(device),
        "peak_memory_gib": peak_memory_gib(device),
        "precision_run": precision,
    }
    if dist.rank() == 0:
        if spec.selection == "best_val":
            model.load_state_dict(checkpoint.load(val.best_path)["model"])
        _save_model(run_dir, model, classes, spec, metrics)
    return metrics


def _save_model(run_dir: Path, model: nn.Module, classes: int, spec: FinetuneSpec, metrics):
    state = {k: v.cpu() for k, v in model.state_dict().items()}
    record = {"model": state, "classes": classes, "spec": to_dict(spec), "run": spec_hash(spec)}
    checkpoint.save_atomic(record, run_dir / "model.pt", "model")
    checkpoint.write_json(run_dir / "metrics.json", metrics)


class _Validation:
    """Accuracy on the held-out training videos after each epoch; keeps the best weights."""

    def __init__(self, model, rows, spec: FinetuneSpec, device, runtime, run_dir: Path):
        self.model, self.spec, self.device, self.runtime = model, spec, device, runtime
        self.dataset = TestClipsDataset(
            rows, spec.sampling, spec.val_clips, TEST_CROP, runtime.cache
        )
        self.best_path = run_dir / "state" / "best.pt"
        self.best: float | None = None  # read from best.pt once, so a resumed run knows it

    def after_epoch(self, epoch: int) -> dict[str, float]:
        logits, labels = predict(
            self.model, self.dataset, self.device, self.spec.precision, self.runtime.workers
        )
        accuracy = float((logits.mean(1).argmax(1) == labels).float().mean())
        if self.best is None:
            saved = checkpoint.load(self.best_path)
            self.best = -1.0 if saved is None else saved["accuracy"]
        if dist.rank() == 0 and accuracy > self.best:
            self.best = accuracy
            state = {k: v.cpu() for k, v in self.model.state_dict().items()}
            checkpoint.save_atomic(
                {"model": state, "accuracy": accuracy, "epoch": epoch + 1}, self.best_path
            )
        return {"acc_val": accuracy}

    def choose(self, rows: list[dict], selection: str) -> int:
        if selection == "last" or not rows:
            return len(rows)
        return int(checkpoint.load(self.best_path)["epoch"])
