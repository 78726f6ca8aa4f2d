"""`cstp features`: frozen video-level features of a dataset's train and test videos."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from cstp.data.dataset import TestClipsDataset, load_subset
from cstp.engine import checkpoint
from cstp.engine.downstream import predict
from cstp.engine.pretrain import load_encoder
from cstp.engine.runtime import Runtime, configure, seed_everything
from cstp.engine.specs import FeatureSpec
from cstp.errors import CstpError
from cstp.models.backbones import build_backbone
from cstp.sampling.recipe import SamplingSpec
from cstp.spec import to_dict


@torch.no_grad()
def extract(
    spec: FeatureSpec, index: Path, out: Path, encoder: Path | None, runtime: Runtime = Runtime()
) -> dict:
    """Features of every train and test video (backbone output averaged over clips) -> out."""
    device = configure(runtime)
    seed_everything(spec.seed)
    backbone = build_backbone(spec.backbone.name, spec.backbone.width)
    if spec.pretrain is not None:
        state = load_encoder(encoder, spec.pretrain) if encoder else None
        if state is None:
            raise CstpError(f"the spec reads pretraining run {spec.pretrain}: give --encoder")
        backbone.load_state_dict(state["state_dict"])
    backbone.eval().to(device)
    sampling = SamplingSpec(clip=spec.clip)
    started, result = time.time(), {"spec": to_dict(spec)}
    for subset in ("train", "test"):
        rows = load_subset(index, subset)
        dataset = TestClipsDataset(rows, sampling, spec.clips, spec.crop)
        per_clip, _ = predict(backbone, dataset, device, spec.precision, runtime.workers)
        result[subset] = {
            "features": per_clip.mean(1),  # videos x D
            "labels": torch.tensor(rows["label"].to_numpy()),
            "videos": rows["video"].tolist(),
        }
    result["seconds"] = time.time() - started
    checkpoint.save_atomic(result, out)
    return result
