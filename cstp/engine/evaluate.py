"""`cstp evaluate`: top-1 accuracy of a trained classifier on the test split, per clip and per video
(logits averaged over evenly spaced, centre-cropped clips covering each video)."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from cstp.data.dataset import TestClipsDataset, load_subset
from cstp.engine import checkpoint
from cstp.engine.downstream import VideoClassifier, predict
from cstp.engine.runtime import Runtime, configure
from cstp.engine.specs import DownstreamSpec, EvalSpec
from cstp.errors import CstpError
from cstp.models.backbones import build_backbone
from cstp.spec import from_dict, spec_hash, to_dict


def accuracies(logits: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """logits: videos x clips x classes; labels: videos. Clip-level and video-level top-1."""
    clip_hits = logits.argmax(-1) == labels[:, None]  # videos x clips
    video_hits = logits.mean(1).argmax(-1) == labels
    return {
        "top1_clip": float(clip_hits.float().mean()),
        "top1_video": float(video_hits.float().mean()),
    }


def evaluate(
    run_dir: Path, index: Path, out: Path, test: EvalSpec = EvalSpec(), runtime: Runtime = Runtime()
) -> dict:
    state = checkpoint.load(run_dir / "model.pt")
    if state is None:
        raise CstpError(f"{run_dir}: no model.pt; run cstp finetune first")
    spec = from_dict(DownstreamSpec, state["spec"])
    device = configure(runtime)
    model = VideoClassifier(
        build_backbone(spec.backbone.name, spec.backbone.width), state["classes"], spec
    )
    model.load_state_dict(state["model"])
    model.to(device)
    rows = load_subset(index, "test")  # short videos are padded, never dropped (docs L5)
    dataset = TestClipsDataset(rows, spec.sampling, test.clips, test.crop)
    started = time.time()
    logits, labels = predict(
        model, dataset, device, spec.precision, runtime.workers, test.batch_size
    )
    metrics = {
        "run": spec_hash(spec),
        "test": to_dict(test),
        "videos": len(rows),
        "clips_per_video": test.clips,
        **accuracies(logits, labels),
        "seconds": time.time() - started,
    }
    checkpoint.write_json(out, metrics)
    return metrics
