"""`cstp features`: frozen video-level features of a dataset's train and test videos, and what is
measured on them (linear probe, retrieval), into one run folder."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from cstp.engine import checkpoint
from cstp.engine.encoder import build_encoder, predict
from cstp.engine.probe import probe, retrieve
from cstp.engine.runtime import Runtime, configure, prepare_model, seed_everything
from cstp.sampling.datasets import TestClipsDataset, load_subset
from cstp.specs.base import to_dict
from cstp.specs.measure import FeatureSpec
from cstp.specs.sampling import SamplingSpec


@torch.no_grad()
def extract(
    spec: FeatureSpec, index: Path, out: Path, encoder: Path | None, runtime: Runtime = Runtime()
) -> dict:
    """Features of every train and test video (backbone output averaged over clips) -> out."""
    device = configure(runtime)
    seed_everything(spec.seed)
    backbone = build_encoder(spec.backbone, spec.pretrain, encoder, spec.trained)
    backbone = prepare_model(backbone.eval(), device, runtime)
    sampling = SamplingSpec(clip=spec.clip, fixed_rate=spec.fixed_rate)
    views = spec.views
    started, result = time.time(), {"spec": to_dict(spec)}
    for subset in ("train", "test"):
        rows = load_subset(index, subset)
        dataset = TestClipsDataset(rows, sampling, views.clips, views.crop, runtime.cache)
        per_clip, _ = predict(
            backbone, dataset, device, spec.precision, runtime.workers, views.batch_size
        )
        result[subset] = {
            "features": per_clip.mean(1),  # videos x D
            "labels": torch.tensor(rows["label"].to_numpy()),
            "videos": rows["video"].tolist(),
        }
    result["seconds"] = time.time() - started
    checkpoint.save_atomic(result, out, "features")
    return result


def measure(
    spec: FeatureSpec, index: Path, run_dir: Path, encoder: Path | None, runtime: Runtime
) -> dict:
    """The features job: features.pt, then probe.json and retrieval.json beside it."""
    checkpoint.claim(run_dir, spec)
    extract(spec, index, run_dir / "features.pt", encoder, runtime)
    return {
        "probe": probe(run_dir / "features.pt", run_dir / "probe.json", spec.probe),
        "retrieval": retrieve(run_dir / "features.pt", run_dir / "retrieval.json", spec.retrieval),
    }
