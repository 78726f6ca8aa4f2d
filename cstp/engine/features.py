"""Frozen video-level features, and what is measured on them: nearest-neighbour retrieval recall
(`cstp retrieve`) and a linear probe (`cstp probe`, a logistic regression on the features)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from cstp.data.dataset import TestClipsDataset, load_subset
from cstp.engine import checkpoint
from cstp.engine.pretrain import load_encoder, to_input, write_json
from cstp.engine.runtime import Runtime, autocast, configure, seed_everything
from cstp.engine.specs import BackboneSpec
from cstp.errors import CstpError
from cstp.models.backbones import build_backbone
from cstp.sampling.recipe import ClipSpec, SamplingSpec
from cstp.spec import field, to_dict


@dataclass(frozen=True)
class FeatureSpec:
    pretrain: str | None = field(None, "hash of the pretraining run; null: random init (scratch)")
    backbone: BackboneSpec = field(BackboneSpec(), "encoder")
    clip: ClipSpec = field(ClipSpec(), "clip shape (as in pretraining)")
    clips: int = field(10, "evenly spaced clips per video, features averaged")
    crop: float = field(0.875, "centre crop as a fraction of the short side")
    seed: int = field(0, "seed of the random initialisation when pretrain is null")
    precision: str = field("fp32", "fp32 or bf16 (CUDA)", choices=("fp32", "bf16"))


@dataclass(frozen=True)
class ProbeSpec:
    weight_decay: float = field(1e-3, "L2 penalty of the logistic regression")
    max_iter: int = field(300, "L-BFGS iterations")


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
        loader = torch.utils.data.DataLoader(dataset, batch_size=8, num_workers=runtime.workers)
        features = []
        for clips, _, _ in loader:
            b, n = clips.shape[:2]
            with autocast(device, spec.precision):
                h = backbone(to_input(clips.flatten(0, 1), device))
            features.append(h.float().cpu().view(b, n, -1).mean(1))  # videos x D
        result[subset] = {
            "features": torch.cat(features),
            "labels": torch.tensor(rows["label"].to_numpy()),
            "videos": rows["video"].tolist(),
        }
    result["seconds"] = time.time() - started
    checkpoint.save_atomic(result, out)
    return result


def retrieval_recall(
    queries: torch.Tensor,
    query_labels: torch.Tensor,
    gallery: torch.Tensor,
    gallery_labels: torch.Tensor,
    ks: tuple[int, ...] = (1, 5, 10, 20, 50),
    center: bool = False,
) -> dict[str, float]:
    """R@k: share of queries with a same-class video among their k nearest gallery videos (cosine).

    `center` subtracts the gallery mean before normalising (CoCLR does, VCOP and RSPNet do not;
    recorded with every result because the numbers are not comparable otherwise).
    """
    if center:
        mean = gallery.mean(0, keepdim=True)
        queries, gallery = queries - mean, gallery - mean
    similarity = F.normalize(queries, dim=1) @ F.normalize(gallery, dim=1).T  # Q x G
    order = similarity.argsort(dim=1, descending=True)
    hits = gallery_labels[order] == query_labels[:, None]  # Q x G, ranked
    return {f"R@{k}": float(hits[:, :k].any(dim=1).float().mean()) for k in ks}


def linear_probe(
    train: torch.Tensor,
    train_labels: torch.Tensor,
    test: torch.Tensor,
    test_labels: torch.Tensor,
    spec: ProbeSpec = ProbeSpec(),
) -> dict[str, float]:
    """Multinomial logistic regression on standardised features (full-batch L-BFGS)."""
    mean, std = train.mean(0), train.std(0).clamp_min(1e-6)
    x_train, x_test = (train - mean) / std, (test - mean) / std
    classes = int(max(train_labels.max(), test_labels.max())) + 1
    linear = torch.nn.Linear(x_train.shape[1], classes, dtype=torch.float64)
    torch.nn.init.zeros_(linear.weight)
    torch.nn.init.zeros_(linear.bias)
    optimizer = torch.optim.LBFGS(
        linear.parameters(), max_iter=spec.max_iter, line_search_fn="strong_wolfe"
    )
    x_train, x_test = x_train.double(), x_test.double()

    def closure():
        optimizer.zero_grad()
        loss = F.cross_entropy(linear(x_train), train_labels)
        loss = loss + spec.weight_decay * linear.weight.square().sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        train_acc = (linear(x_train).argmax(1) == train_labels).double().mean()
        test_acc = (linear(x_test).argmax(1) == test_labels).double().mean()
    return {"probe_train": float(train_acc), "probe_test": float(test_acc)}


def load_features(path: Path) -> dict:
    data = checkpoint.load(path)
    if data is None:
        raise CstpError(f"{path}: no such features file; run cstp features first")
    return data


def retrieve(features: Path, out: Path, center: bool = False) -> dict:
    data = load_features(features)
    train, test = data["train"], data["test"]
    metrics = retrieval_recall(
        test["features"], test["labels"], train["features"], train["labels"], center=center
    )
    result = {"center": center, "queries": len(test["labels"]), "gallery": len(train["labels"])}
    write_json(out, result | metrics)
    return result | metrics


def probe(features: Path, out: Path, spec: ProbeSpec = ProbeSpec()) -> dict:
    data = load_features(features)
    train, test = data["train"], data["test"]
    metrics = linear_probe(
        train["features"], train["labels"], test["features"], test["labels"], spec
    )
    write_json(out, {"probe": to_dict(spec)} | metrics)
    return metrics
