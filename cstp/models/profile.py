"""Parameter and FLOP counts of the backbones, measured without running real arithmetic."""

from collections.abc import Iterable

import pandas as pd
import torch
from torch.utils.flop_counter import FlopCounterMode

from cstp.models.backbones import build_backbone


def profile_backbone(name: str, width: float = 1.0, frames: int = 16, size: int = 112) -> dict:
    """Size and cost of backbone `name` on one 3 x frames x size x size clip.

    Returns backbone, width, frames, size, params (count), gflops (forward, per clip) and out_dim.
    FLOPs are counted by torch.utils.flop_counter.FlopCounterMode as 2 x multiply-accumulates of
    convolutions and matrix products; BN, ReLU, pooling and gating products are not counted.
    The model lives on the meta device, so even full-size counts take no memory and milliseconds.
    """
    meta = torch.device("meta")
    with meta:
        model = build_backbone(name, width).eval()
    clip = torch.empty(1, 3, frames, size, size, device=meta)  # N x C x T x H x W
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        features = model(clip)
    return {
        "backbone": name,
        "width": width,
        "frames": frames,
        "size": size,
        "params": sum(p.numel() for p in model.parameters()),
        "gflops": counter.get_total_flops() / 1e9,
        "out_dim": int(features.shape[1]),
    }


def profile_table(
    names: Iterable[str], width: float = 1.0, frames: int = 16, size: int = 112
) -> pd.DataFrame:
    """One profile_backbone row per name, in the given order."""
    return pd.DataFrame([profile_backbone(n, width, frames, size) for n in names])
