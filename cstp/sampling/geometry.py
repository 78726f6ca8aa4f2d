"""Box and time-window arithmetic for cutting clips, with exact spatio-temporal overlap placement.

Everything here is integer geometry on a frame of W x H pixels and a video of N frames; no pixel
is touched, so the statistics of the STOR sampler can be checked in seconds (`cstp stor-stats`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Box:
    """A crop in frame (scene) coordinates: top-left corner (x, y), width w, height h, in pixels."""

    x: int
    y: int
    w: int
    h: int

    @property
    def area(self) -> int:
        return self.w * self.h


@dataclass(frozen=True)
class Window:
    """A clip in time: `length` frames at indices start, start + rate, ..., in source frames.

    Frame k stands for the source interval [start + k*rate, start + (k+1)*rate), so the clip covers
    `span = length * rate` source frames; temporal overlap is measured on these intervals.
    """

    start: int
    rate: int
    length: int

    @property
    def span(self) -> int:
        return self.length * self.rate

    @property
    def indices(self) -> list[int]:
        return [self.start + k * self.rate for k in range(self.length)]

    @property
    def last(self) -> int:
        return self.start + (self.length - 1) * self.rate


def spatial_overlap(a: Box, b: Box) -> float:
    """Intersection area over the area of `a` (the paper's sigma_o / sigma; the boxes are equal)."""
    ow = max(0, min(a.x + a.w, b.x + b.w) - max(a.x, b.x))
    oh = max(0, min(a.y + a.h, b.y + b.h) - max(a.y, b.y))
    return ow * oh / a.area


def temporal_overlap(a: Window, b: Window) -> float:
    """Shared source frames over the span of `a` (the paper's tau_o / tau; both spans are equal)."""
    shared = max(0, min(a.start + a.span, b.start + b.span) - max(a.start, b.start))
    return shared / a.span


def stochastic_round(value: float, rng: np.random.Generator) -> int:
    """Round down or up with the probabilities that make the expected result exactly `value`.

    Overlaps are ratios of small integers (a 16-frame clip has 17 possible temporal overlaps), so
    nearest rounding would bias every candidate the same way; this keeps the mean exact and every
    single sample within one pixel or one frame.
    """
    low = math.floor(value)
    return low + int(rng.random() < value - low)


def frames_needed(length: int, rate: int, offset: int = 0) -> int:
    """Frames a video must have for two clips `offset` source frames apart (offset 0: one clip)."""
    return offset + (length - 1) * rate + 1


def temporal_offset(rate_span: int, overlap: float) -> float:
    """Start-to-start distance, in source frames, that gives `overlap` between two equal spans."""
    return (1.0 - overlap) * rate_span


def sample_crop_size(
    rng: np.random.Generator,
    width: int,
    height: int,
    scale: tuple[float, float],
    ratio: tuple[float, float],
    fits: callable | None = None,
    tries: int = 10,
) -> tuple[int, int] | None:
    """Draw a multi-scale crop size: area fraction ~ U(scale), log aspect (w/h) ~ U(log ratio).

    Returns None when `tries` draws all fail to fit the frame (or the extra predicate `fits`), so
    the caller decides the fallback.
    """
    area = width * height
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    for _ in range(tries):
        target = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(log_lo, log_hi))
        w = round(math.sqrt(target * aspect))
        h = round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height and (fits is None or fits(w, h)):
            return w, h
    return None


def place_box(rng: np.random.Generator, width: int, height: int, w: int, h: int) -> Box:
    """A w x h box at a uniformly random position inside the frame."""
    return Box(int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1)), w, h)


def place_window(rng: np.random.Generator, num_frames: int, rate: int, length: int) -> Window:
    """A clip at a uniformly random start with all its frames inside the video."""
    latest = num_frames - frames_needed(length, rate)
    if latest < 0:
        raise ValueError(f"{num_frames} frames are too few for {length} frames at rate {rate}")
    return Window(int(rng.integers(0, latest + 1)), rate, length)


def min_overlap_widths(w: int, h: int, width: int, height: int) -> tuple[int, int]:
    """Least overlap width and height of two w x h boxes that both fit in a width x height frame."""
    return max(2 * w - width, 1), max(2 * h - height, 1)


def stor_box_fits(w: int, h: int, width: int, height: int, overlap: float) -> bool:
    """Whether two w x h boxes overlapping by `overlap` of their area can both lie in the frame."""
    lo_w, lo_h = min_overlap_widths(w, h, width, height)
    return lo_w * lo_h <= overlap * w * h


def largest_stor_box(width: int, height: int, overlap: float) -> tuple[int, int]:
    """The largest frame-shaped box for which `overlap` is feasible (the fallback crop size).

    Two boxes of side fraction f overlap by at least (2 - 1/f)^2 of their area; solving for the
    overlap gives f = 1 / (2 - sqrt(overlap)). Pixel rounding can make that a pixel too large, and
    a tiny box cannot overlap by a small fraction at all (the intersection is at least one pixel),
    so shrink from there until it fits; raise ValueError if nothing does.
    """
    f = 1.0 / (2.0 - math.sqrt(overlap))
    for w in range(max(1, math.floor(width * f)), 0, -1):
        h = max(1, min(height, round(w * height / width)))
        if stor_box_fits(w, h, width, height, overlap):
            return w, h
    raise ValueError(f"a {width}x{height} frame is too small for a spatial overlap of {overlap}")


def stor_boxes(
    rng: np.random.Generator, width: int, height: int, w: int, h: int, overlap: float
) -> tuple[Box, Box]:
    """Two w x h boxes in the frame whose intersection is `overlap` of one box's area.

    The overlap factorises as (ow / w) * (oh / h) = overlap; the split between the two axes is
    log-uniform (ow / w = overlap^lam, lam ~ U) within what the frame allows, the second side is
    stochastically rounded so the mean overlap is exact, and the pair's bounding box is placed
    uniformly in the frame with a random order on each axis. Requires stor_box_fits(...).
    """
    lo_w, lo_h = min_overlap_widths(w, h, width, height)
    if overlap >= 1.0:
        ow, oh = w, h
    else:
        log_s = math.log(overlap)
        # Constraints ow >= lo_w and oh >= lo_h bound lam from above and below.
        lam_hi = min(1.0, math.log(lo_w / w) / log_s) if lo_w < w else 0.0
        lam_lo = max(0.0, 1.0 - math.log(lo_h / h) / log_s) if lo_h < h else 1.0
        lam = rng.uniform(min(lam_lo, lam_hi), max(lam_lo, lam_hi))
        ow = min(w, max(lo_w, stochastic_round(w * overlap**lam, rng)))
        oh = min(h, max(lo_h, stochastic_round(overlap * w * h / ow, rng)))
    dx, dy = w - ow, h - oh
    union = place_box(rng, width, height, w + dx, h + dy)
    first_left, first_top = rng.random() < 0.5, rng.random() < 0.5
    x1 = union.x if first_left else union.x + dx
    y1 = union.y if first_top else union.y + dy
    x2 = union.x + dx if first_left else union.x
    y2 = union.y + dy if first_top else union.y
    return Box(x1, y1, w, h), Box(x2, y2, w, h)


def stor_windows(
    rng: np.random.Generator, num_frames: int, rate: int, length: int, overlap: float
) -> tuple[Window, Window]:
    """Two clips of `length` frames at `rate` whose spans share `overlap` of a span.

    The offset is stochastically rounded (exact on average, within one frame always); the pair is
    placed uniformly in the video and either clip may come first. Requires the pair to fit.
    """
    offset = stochastic_round(temporal_offset(length * rate, overlap), rng)
    latest = num_frames - frames_needed(length, rate, offset)
    if latest < 0:
        raise ValueError(
            f"{num_frames} frames are too few for two {length}-frame clips at rate {rate} "
            f"overlapping {overlap}"
        )
    first = int(rng.integers(0, latest + 1))
    early, late = Window(first, rate, length), Window(first + offset, rate, length)
    return (early, late) if rng.random() < 0.5 else (late, early)
