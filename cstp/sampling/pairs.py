"""Planning a pretraining pair: where clip 1 and clip 2 are cut and which labels they carry.

The STOR sampler draws its labels first (uniformly over the candidates) and then places the clips to
match them exactly, instead of placing clip 1 and rejecting clip 2 positions that leave the frame
(the official code's method, which skews labels towards 1.0). What a video too short or a frame
too small does to a candidate is a documented fallback, counted in `PairPlan.fallback`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cstp.sampling import geometry as geo
from cstp.specs.sampling import SamplingSpec


class VideoTooShort(ValueError):
    """A video has fewer frames than one clip needs at the smallest rate."""


@dataclass(frozen=True)
class ClipPlan:
    box: geo.Box
    window: geo.Window
    rotation: int  # index into recipe.ROTATIONS: quarter turns


@dataclass(frozen=True)
class PairPlan:
    clips: tuple[ClipPlan, ClipPlan]
    rate_index: int | None  # index into playback_rates; None when the rate is fixed
    spatial_index: int | None  # index into stor.spatial_candidates; None without spatial STOR
    temporal_index: int | None  # index into stor.temporal_candidates; None without temporal STOR
    fallback: tuple[str, ...] = ()  # documented fallbacks this pair needed (see docs)


def allowed_rates(spec: SamplingSpec, num_frames: int) -> list[int]:
    """Indices of the playback rates a video of `num_frames` admits for this recipe.

    With temporal STOR a rate is allowed only if every temporal candidate fits at it, so the overlap
    label stays uniform whatever rate is drawn; the rate label is uniform over the allowed rates.
    """
    frames, t_min = spec.clip.frames, min(spec.stor.temporal_candidates)
    allowed = []
    for index, rate in enumerate(spec.playback_rates):
        offset = 0
        if "stor_temporal" in spec.pretext:
            offset = math.ceil(geo.temporal_offset(frames * rate, t_min))
        if geo.frames_needed(frames, rate, offset) <= num_frames:
            allowed.append(index)
    return allowed


def plan_pair(
    spec: SamplingSpec, rng: np.random.Generator, num_frames: int, width: int, height: int
) -> PairPlan:
    """Draw every random choice of one pretraining pair (no pixels are read)."""
    fallback: list[str] = []
    rate_index, rate = _draw_rate(spec, rng, num_frames, fallback)
    temporal_index, windows = _draw_windows(spec, rng, num_frames, rate, fallback)
    spatial_index, boxes = _draw_boxes(spec, rng, width, height, fallback)
    rotations = [int(rng.integers(0, 4)) if spec.random_rotation else 0 for _ in range(2)]
    clips = tuple(ClipPlan(b, w, r) for b, w, r in zip(boxes, windows, rotations, strict=True))
    return PairPlan(clips, rate_index, spatial_index, temporal_index, tuple(fallback))


def plan_clip(
    spec: SamplingSpec, rng: np.random.Generator, num_frames: int, width: int, height: int
) -> ClipPlan:
    """Draw one clip for supervised training: random rate / rotation if the recipe asks for them."""
    _, rate = _draw_rate(spec, rng, num_frames, [])
    window = _single_window(spec, rng, num_frames, rate)
    box = _single_box(spec, rng, width, height)
    return ClipPlan(box, window, int(rng.integers(0, 4)) if spec.random_rotation else 0)


def eval_clips(
    spec: SamplingSpec, num_frames: int, width: int, height: int, count: int, crop: float
) -> list[ClipPlan]:
    """`count` clips at the fixed rate with evenly spaced starts covering the video, each a centred
    square of side `crop` x the short side (resize-then-centre-crop, e.g. 112 of 128 = 0.875)."""
    rate = spec.fixed_rate
    if geo.frames_needed(spec.clip.frames, rate) > num_frames:
        rate = 1
    latest = max(0, num_frames - geo.frames_needed(spec.clip.frames, rate))
    # Exactly `count` clips (repeats in short videos), so test videos batch together.
    starts = [round(v) for v in np.linspace(0, latest, count)]
    side = max(1, round(min(width, height) * crop))
    box = geo.Box((width - side) // 2, (height - side) // 2, side, side)
    return [ClipPlan(box, geo.Window(s, rate, spec.clip.frames), 0) for s in starts]


def _draw_rate(spec, rng, num_frames, fallback) -> tuple[int | None, int]:
    if geo.frames_needed(spec.clip.frames, min(*spec.playback_rates, spec.fixed_rate)) > (
        num_frames
    ):
        raise VideoTooShort(
            f"{num_frames} frames is shorter than one {spec.clip.frames}-frame clip"
        )
    if not spec.random_rate:
        return None, spec.fixed_rate
    allowed = allowed_rates(spec, num_frames)
    if not allowed:
        # Too short for the smallest rate at the smallest temporal candidate: keep the smallest
        # rate and let _draw_windows restrict the temporal candidates.
        allowed = [0]
        fallback.append("short-video")
    index = allowed[int(rng.integers(0, len(allowed)))]
    return index, spec.playback_rates[index]


def _draw_windows(spec, rng, num_frames, rate, fallback):
    frames = spec.clip.frames
    if "stor_temporal" not in spec.pretext:
        return None, [_single_window(spec, rng, num_frames, rate) for _ in range(2)]
    candidates = spec.stor.temporal_candidates
    feasible = [
        i
        for i, t in enumerate(candidates)
        if geo.frames_needed(frames, rate, math.ceil(geo.temporal_offset(frames * rate, t)))
        <= num_frames
    ]
    if len(feasible) < len(candidates) and "short-video" not in fallback:
        fallback.append("short-video")
    if not feasible:  # not even full overlap fits: the clip itself is too long
        raise VideoTooShort(f"{num_frames} frames is shorter than one {frames}-frame clip")
    index = feasible[int(rng.integers(0, len(feasible)))]
    return index, list(geo.stor_windows(rng, num_frames, rate, frames, candidates[index]))


def _single_window(spec, rng, num_frames, rate) -> geo.Window:
    if spec.base.temporal_jitter:
        return geo.place_window(rng, num_frames, rate, spec.clip.frames)
    start = (num_frames - geo.frames_needed(spec.clip.frames, rate)) // 2
    return geo.Window(start, rate, spec.clip.frames)


def _draw_boxes(spec, rng, width, height, fallback):
    if "stor_spatial" not in spec.pretext:
        return None, [_single_box(spec, rng, width, height) for _ in range(2)]
    candidates = spec.stor.spatial_candidates
    index = int(rng.integers(0, len(candidates)))
    overlap = candidates[index]
    size = None
    if spec.base.random_crop:
        scale = _stor_scale(spec, width, height)
        fits = lambda w, h: geo.stor_box_fits(w, h, width, height, overlap)  # noqa: E731
        size = geo.sample_crop_size(rng, width, height, scale, spec.base.crop_ratio, fits)
    if size is None:
        size = geo.largest_stor_box(width, height, overlap)
        fallback.append("crop-size")
    return index, list(geo.stor_boxes(rng, width, height, *size, overlap))


def _stor_scale(spec, width, height) -> tuple[float, float]:
    lo, hi = spec.base.crop_scale
    if spec.stor.crop_scale == "shared":
        # Largest frame-shaped box that admits the smallest candidate, as an area fraction.
        w, h = geo.largest_stor_box(width, height, min(spec.stor.spatial_candidates))
        cap = w * h / (width * height)
        lo, hi = min(lo, cap), min(hi, cap)
    return lo, hi


def _single_box(spec, rng, width, height) -> geo.Box:
    if not spec.base.random_crop:
        return geo.Box(0, 0, width, height)
    size = geo.sample_crop_size(rng, width, height, spec.base.crop_scale, spec.base.crop_ratio)
    if size is None:  # as torchvision's RandomResizedCrop: fall back to the whole frame
        size = (width, height)
    return geo.place_box(rng, width, height, *size)
