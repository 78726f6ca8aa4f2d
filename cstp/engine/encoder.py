"""The encoder as every job sees it: input normalisation, the one way to save and load a pretrained
backbone (checked against the spec that names it), and the one batched `predict` of test clips
used by validation, evaluation and features."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader

from cstp.engine import checkpoint
from cstp.engine.runtime import autocast
from cstp.errors import CstpError
from cstp.models.backbones import build_backbone
from cstp.specs.base import spec_hash, to_dict
from cstp.specs.train import BackboneSpec


def to_input(clips: torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint8 clips -> float in [-1, 1] on `device` (the official normalisation x / 255 * 2 - 1)."""
    return clips.to(device, non_blocking=True).float().div_(127.5).sub_(1.0)


def save_encoder(path: Path, backbone: nn.Module, spec) -> None:
    """encoder.pt of a pretraining run: the backbone's weights, its shape, the run's spec and id."""
    checkpoint.save_atomic(
        {
            "backbone": to_dict(spec.backbone),
            "state_dict": {k: v.cpu() for k, v in backbone.state_dict().items()},
            "pretrain": spec_hash(spec),
            "spec": to_dict(spec),
        },
        path,
        "encoder",
    )


def build_encoder(
    spec: BackboneSpec, pretrain: str | None, encoder: Path | None, trained: str | None = None
) -> nn.Module:
    """A backbone of shape `spec`: random (pretrain and trained null), the weights of pretraining
    run `pretrain` (its encoder.pt) or the backbone of fine-tuning run `trained` (its model.pt),
    read from `encoder`; refused when the file is of another run or shape."""
    backbone = build_backbone(spec.name, spec.width)
    run = pretrain or trained
    if run is None:
        if encoder is not None:
            raise CstpError("the spec starts from scratch (pretrain: null) but --encoder was given")
        return backbone
    if encoder is None:
        raise CstpError(f"the spec's encoder is run {run}'s: give --encoder")
    state = checkpoint.load(encoder)
    if state is None:
        raise CstpError(f"{encoder}: no such encoder file")
    if trained is not None:
        return _classifier_backbone(backbone, spec, state, trained, encoder)
    if state.get("pretrain") != pretrain:
        raise CstpError(
            f"{encoder}: encoder of pretraining run {state.get('pretrain')}, "
            f"but the spec names {pretrain}; delete it and run the workflow again, "
            f"which pretrains run {pretrain} anew"
        )
    if state["backbone"] != to_dict(spec):
        raise CstpError(f"{encoder}: backbone {state['backbone']}, spec {to_dict(spec)}")
    backbone.load_state_dict(state["state_dict"])
    return backbone


def _classifier_backbone(backbone, spec: BackboneSpec, state, trained: str, path: Path):
    """The backbone of a fine-tuned classifier (model.pt of run `trained`)."""
    if state.get("run") != trained or "model" not in state:
        raise CstpError(f"{path}: not the model of fine-tuning run {trained}")
    if state["spec"]["backbone"] != to_dict(spec):
        raise CstpError(f"{path}: backbone {state['spec']['backbone']}, spec {to_dict(spec)}")
    prefix = "backbone."
    weights = {k.removeprefix(prefix): v for k, v in state["model"].items() if k.startswith(prefix)}
    backbone.load_state_dict(weights)
    return backbone


@torch.no_grad()
def predict(model, dataset, device, precision: str, workers: int = 0, batch_size: int = 8):
    """Outputs of `model` for every clip of every video of a TestClipsDataset:
    (videos x clips x outputs, labels)."""
    was_training = model.training
    model.eval()
    loader = DataLoader(
        dataset, batch_size=batch_size, num_workers=workers, pin_memory=device.type == "cuda"
    )
    outputs, all_labels = [], []
    for clips, labels, _ in loader:
        b, n = clips.shape[:2]
        with autocast(device, precision):
            out = model(to_input(clips.flatten(0, 1), device))
        outputs.append(out.float().cpu().view(b, n, -1))
        all_labels.append(labels)
    model.train(was_training)
    return torch.cat(outputs), torch.cat(all_labels)
