"""What is measured on frozen features: nearest-neighbour retrieval recall (`cstp retrieve`) and a
linear probe (`cstp probe`, a logistic regression). Imports torch only: the commands start fast."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from cstp.engine import checkpoint
from cstp.errors import CstpError
from cstp.specs.base import to_dict
from cstp.specs.measure import ProbeSpec, RetrievalSpec


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
    order = ranked(queries, gallery, center)[1]
    hits = gallery_labels[order] == query_labels[:, None]  # Q x G, ranked
    return {f"R@{k}": float(hits[:, :k].any(dim=1).float().mean()) for k in ks}


def ranked(
    queries: torch.Tensor, gallery: torch.Tensor, center: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosine similarity of every query to every gallery video, and the gallery positions of each
    query from nearest to farthest (Q x G each); `center` subtracts the gallery mean first."""
    if center:
        mean = gallery.mean(0, keepdim=True)
        queries, gallery = queries - mean, gallery - mean
    similarity = F.normalize(queries, dim=1) @ F.normalize(gallery, dim=1).T  # Q x G
    order = similarity.argsort(dim=1, descending=True)
    return similarity.gather(1, order), order


SCALINGS = ("standardise", "l2", "none")


def scale_features(
    train: torch.Tensor, test: torch.Tensor, scaling: str = "standardise"
) -> tuple[torch.Tensor, torch.Tensor]:
    """The probe's inputs. standardise: each feature to zero mean and unit variance over the
    training videos (the default); l2: each video's vector to unit length first, then standardised;
    none: the pooled features as the encoder gives them (docs/synthetic-world.md measures them)."""
    if scaling not in SCALINGS:
        raise CstpError(f"probe scaling {scaling!r}: expected one of {', '.join(SCALINGS)}")
    if scaling == "none":
        return train, test
    if scaling == "l2":
        train, test = F.normalize(train, dim=1), F.normalize(test, dim=1)
    mean, std = train.mean(0), train.std(0).clamp_min(1e-6)
    return (train - mean) / std, (test - mean) / std


def linear_probe(
    train: torch.Tensor,
    train_labels: torch.Tensor,
    test: torch.Tensor,
    test_labels: torch.Tensor,
    spec: ProbeSpec = ProbeSpec(),
    scaling: str = "standardise",
) -> dict[str, float]:
    """Multinomial logistic regression (full-batch L-BFGS) on features scaled by `scaling`."""
    x_train, x_test = scale_features(train, test, scaling)
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


def effective_rank(features: torch.Tensor) -> float:
    """exp of the entropy of the centred features' normalised squared singular values (Roy and
    Vetterli 2007): k for k equally strong independent directions, near 1 for a representation
    that has collapsed onto one direction. Written beside the probe's accuracy, it shows an
    encoder whose features hold a single cue (docs/synthetic-world.md, BYOL alone)."""
    centred = features.double() - features.double().mean(0)
    energy = torch.linalg.svdvals(centred).square()
    if float(energy.sum()) == 0.0:
        return 0.0
    p = energy / energy.sum()
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))


def load_features(path: Path) -> dict:
    data = checkpoint.load(path)
    if data is None:
        raise CstpError(f"{path}: no such features file; run cstp features first")
    return data


def retrieve(features: Path, out: Path, spec: RetrievalSpec = RetrievalSpec()) -> dict:
    data = load_features(features)
    train, test = data["train"], data["test"]
    metrics = retrieval_recall(
        test["features"],
        test["labels"],
        train["features"],
        train["labels"],
        ks=spec.ks,
        center=spec.center,
    )
    result = {
        "retrieval": to_dict(spec),
        "queries": len(test["labels"]),
        "gallery": len(train["labels"]),
    }
    checkpoint.write_json(out, result | metrics)
    return result | metrics


def probe(features: Path, out: Path, spec: ProbeSpec = ProbeSpec()) -> dict:
    data = load_features(features)
    train, test = data["train"], data["test"]
    metrics = linear_probe(
        train["features"], train["labels"], test["features"], test["labels"], spec
    )
    metrics["feature_rank"] = effective_rank(train["features"])
    checkpoint.write_json(out, {"probe": to_dict(spec)} | metrics)
    return metrics
