"""Pixel side of clip sampling: cut a planned box out of decoded frames and apply the augmentation.

Parameters are drawn once per clip from a numpy Generator (so a sample is a pure function of its
seed) and applied with torchvision.transforms.v2 functional ops to every frame of the clip alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torchvision.transforms.v2.functional as F
from torchvision.transforms import InterpolationMode

from cstp.sampling.geometry import Box
from cstp.specs.sampling import BaseAugment

_COLOR_OPS = ("brightness", "contrast", "saturation", "hue")


@dataclass(frozen=True)
class ClipAugment:
    """The drawn augmentation of one clip (what was done, for the record and for tests)."""

    flip: bool = False
    jitter_angle: float = 0.0
    color: tuple[tuple[str, float], ...] = ()  # (op, factor) in the order applied
    grayscale: bool = False
    blur_sigma: float | None = None


def draw_augment(base: BaseAugment, rng: np.random.Generator) -> ClipAugment:
    """Draw one clip's augmentation. With probability 1 - apply_prob only the flip is kept."""
    flip = bool(rng.random() < base.flip_prob)
    if rng.random() >= base.apply_prob:
        return ClipAugment(flip=flip)
    angle = float(rng.uniform(-base.rotation_jitter, base.rotation_jitter))
    color: list[tuple[str, float]] = []
    if rng.random() < base.color.prob:
        for op in rng.permutation(_COLOR_OPS):
            strength = getattr(base.color, op)
            if strength <= 0:
                continue
            value = rng.uniform(-strength, strength)
            color.append((str(op), float(value if op == "hue" else 1.0 + value)))
    grayscale = bool(rng.random() < base.grayscale_prob)
    sigma = float(rng.uniform(*base.blur_sigma)) if rng.random() < base.blur_prob else None
    return ClipAugment(flip, angle, tuple(color), grayscale, sigma)


def render_clip(
    frames: torch.Tensor, box: Box, size: int, augment: ClipAugment, quarter_turns: int = 0
) -> torch.Tensor:
    """Crop `box` from frames (T, H, W, C) uint8, resize to size x size, augment, rotate.

    Returns (C, T, size, size) uint8. Order: crop+resize, flip, rotation jitter, colour, grey, blur,
    then the 0/90/180/270 rotation, so the box (and hence the overlap label) is in scene
    coordinates whatever rotation the clip gets.
    """
    clip = frames.permute(0, 3, 1, 2)  # T, C, H, W
    clip = F.resized_crop(clip, box.y, box.x, box.h, box.w, [size, size], antialias=True)
    if augment.flip:
        clip = F.horizontal_flip(clip)
    if augment.jitter_angle:
        clip = _rotate_without_corners(clip, augment.jitter_angle)
    for op, factor in augment.color:
        clip = getattr(F, f"adjust_{op}")(clip, factor)
    if augment.grayscale:
        clip = F.rgb_to_grayscale(clip, num_output_channels=3)
    if augment.blur_sigma is not None:
        clip = F.gaussian_blur(
            clip, [_blur_kernel(augment.blur_sigma, size)] * 2, augment.blur_sigma
        )
    if quarter_turns:
        clip = torch.rot90(clip, quarter_turns, dims=(-2, -1))
    return clip.permute(1, 0, 2, 3).contiguous()


def _rotate_without_corners(clip: torch.Tensor, angle: float) -> torch.Tensor:
    # Zoom in just enough that the rotated square still fills the frame: no black corners, whose
    # size would otherwise give the jitter angle away.
    rad = math.radians(abs(angle))
    zoom = math.cos(rad) + math.sin(rad)
    return F.affine(
        clip,
        angle=angle,
        translate=[0.0, 0.0],
        scale=zoom,
        shear=[0.0, 0.0],
        interpolation=InterpolationMode.BILINEAR,
    )


def _blur_kernel(sigma: float, size: int) -> int:
    kernel = 2 * math.ceil(3 * sigma) + 1
    largest_odd = size if size % 2 else size - 1
    return max(3, min(kernel, largest_odd))
