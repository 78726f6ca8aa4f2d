"""The backbone registry: every encoder the paper's tables name, built by name and width multiplier.

Each backbone maps a clip batch N x 3 x T x H x W to a pooled feature N x `out_dim`.
"""

import math
from collections.abc import Callable

from torch import nn

from cstp.errors import CstpError
from cstp.models.c3d import C3D
from cstp.models.resnets import r2plus1d_10, r2plus1d_18, r3d_18
from cstp.models.s3d import S3DG

BACKBONES: dict[str, Callable[..., nn.Module]] = {
    "c3d": C3D,
    "r2plus1d_10": r2plus1d_10,
    "r2plus1d_18": r2plus1d_18,
    "r3d_18": r3d_18,
    "s3d_g": S3DG,
}


def build_backbone(name: str, width: float = 1.0) -> nn.Module:
    """A freshly initialised backbone `name` with every channel count scaled by `width`.

    Raises CstpError for an unknown name or a width that is not a positive finite number.
    """
    if name not in BACKBONES:
        known = ", ".join(sorted(BACKBONES))
        raise CstpError(f"unknown backbone {name!r}; known backbones: {known}")
    is_number = isinstance(width, int | float) and not isinstance(width, bool)
    if not (is_number and math.isfinite(width) and width > 0):
        raise CstpError(f"backbone width must be a positive number, got {width!r}")
    return BACKBONES[name](width=float(width))
