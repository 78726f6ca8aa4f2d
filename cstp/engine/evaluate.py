"""`cstp evaluate`: top-1 accuracy of a trained classifier on the test split, per clip and per video
(logits averaged over evenly spaced, centre-cropped clips covering each video)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from cstp.engine import checkpoint
from cstp.engine.encoder import predict
from cstp.engine.finetune import VideoClassifier
from cstp.engine.runtime import Runtime, configure, prepare_model
from cstp.errors import CstpError
from cstp.models.backbones import build_backbone
from cstp.sampling.datasets import TestClipsDataset, load_subset
from cstp.specs.base import from_dict, spec_hash
from cstp.specs.measure import EvaluateSpec
from cstp.specs.train import FinetuneSpec


def accuracies(logits: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """logits: videos x clips x classes; labels: videos. Clip-level and video-level top-1."""
    clip_hits = logits.argmax(-1) == labels[:, None]  # videos x clips
    video_hits = logits.mean(1).argmax(-1) == labels
    return {
        "top1_clip": float(clip_hits.float().mean()),
        "top1_video": float(video_hits.float().mean()),
    }


def finetune_spec(path: Path, run: str) -> FinetuneSpec:
    """The spec of fine-tuning run `run`, from its run folder's spec.json (its one record)."""
    try:
        trained = from_dict(FinetuneSpec, json.loads(path.read_text()), str(path))
    except (OSError, json.JSONDecodeError) as err:
        raise CstpError(f"{path}: cannot read the fine-tuning run's spec ({err})") from None
    if spec_hash(trained) != run:
        raise CstpError(f"{path}: the spec of run {spec_hash(trained)}, not of {run}")
    return trained


def evaluate(
    spec: EvaluateSpec, model_path: Path, index: Path, run_dir: Path, runtime: Runtime = Runtime()
) -> dict:
    """Test the classifier of fine-tuning run `spec.finetune` (its model.pt) -> metrics.json."""
    state = checkpoint.load(model_path)
    if state is None:
        raise CstpError(f"{model_path}: no such model file; run cstp finetune first")
    if state.get("run") != spec.finetune:
        raise CstpError(
            f"{model_path}: model of fine-tuning run {state.get('run')}, "
            f"but the spec names {spec.finetune}; delete it and run the workflow again, "
            f"which fine-tunes run {spec.finetune} anew"
        )
    checkpoint.claim(run_dir, spec)
    trained = finetune_spec(model_path.parent / "spec.json", spec.finetune)
    device = configure(runtime)
    backbone = build_backbone(trained.backbone.name, trained.backbone.width)
    model = VideoClassifier(backbone, state["classes"], trained)
    model.load_state_dict(state["model"])
    model = prepare_model(model, device, runtime)
    rows = load_subset(index, "test")  # short videos are padded, never dropped (docs L5)
    test = spec.test
    dataset = TestClipsDataset(rows, trained.sampling, test.clips, test.crop, runtime.cache)
    started = time.time()
    logits, labels = predict(
        model, dataset, device, trained.precision, runtime.workers, test.batch_size
    )
    metrics = {
        "run": spec_hash(spec),
        "finetune": spec.finetune,
        "videos": len(rows),
        "clips_per_video": test.clips,
        **accuracies(logits, labels),
        "seconds": time.time() - started,
    }
    checkpoint.write_json(run_dir / "metrics.json", metrics)
    return metrics
