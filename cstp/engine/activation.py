"""Where an encoder responds in a clip: the class-agnostic activation map of its last
convolutional stage (paper Figure 6; docs/interpretations.md, F2).

Every backbone ends in `avgpool`, a global average over the output of its last convolutional
stage; the map is that output averaged over channels (each position's share of the pooled
feature), then over its time steps, scaled to [0, 1] per clip and resized to the clip.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cstp.engine.encoder import to_input


@torch.no_grad()
def activation_maps(
    backbone: nn.Module, clips: torch.Tensor
) -> tuple[torch.Tensor, tuple[int, int]]:
    """N x S x S maps in [0, 1] for uint8 clips N x C x T x S x S (the backbone in eval mode), and
    the stage's spatial size (a stage of one position gives flat maps, all 0)."""
    captured: list[torch.Tensor] = []
    hook = backbone.avgpool.register_forward_hook(lambda _m, inputs, _o: captured.append(inputs[0]))
    was_training = backbone.training
    backbone.eval()
    try:
        backbone(to_input(clips, torch.device("cpu")))
    finally:
        hook.remove()
        backbone.train(was_training)
    stage = captured[0].float()  # N x C x T' x H' x W'
    maps = stage.mean(dim=(1, 2))  # N x H' x W'
    low = maps.flatten(1).min(1).values[:, None, None]
    high = maps.flatten(1).max(1).values[:, None, None]
    maps = (maps - low) / (high - low).clamp_min(1e-12)
    size = clips.shape[-2:]
    maps = F.interpolate(maps[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]
    return maps, tuple(stage.shape[-2:])
