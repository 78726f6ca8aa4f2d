"""`cstp show-pair`: draw a STOR pair on a real video, for eyes: both boxes on a frame, both time
windows on the video's timeline, and the two augmented clips as the network sees them."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.patches as patches
import matplotlib.pyplot as plt
import numpy as np

from cstp.data.check import probe
from cstp.sampling import geometry as geo
from cstp.sampling.datasets import ReaderSource
from cstp.sampling.sample import PairSampler
from cstp.specs.registry import ROTATIONS
from cstp.specs.sampling import SamplingSpec

COLOURS = ("gold", "deepskyblue")  # clip 1 yellow, clip 2 blue, as in the paper's Figure 1


def show_pair(video_path: Path, out: Path, spec: SamplingSpec, seed: int = 0) -> dict:
    """Sample one pair from `video_path`, save the figure to `out`, return what was drawn."""
    frames = probe(video_path).frames
    with ReaderSource(video_path, frames, spec.clip.short_side) as video:
        sample = PairSampler(spec)(video, np.random.default_rng(seed))
        one, two = sample.plan.clips
        middle = max(one.window.start, two.window.start) + min(one.window.last, two.window.last)
        still = video.read([middle // 2])[0].numpy()
    facts = _facts(spec, sample.plan)
    figure = plt.figure(figsize=(10, 6.5))
    grid = figure.add_gridspec(3, 8, height_ratios=[3, 0.6, 1.4])
    ax = figure.add_subplot(grid[0, :])
    ax.imshow(still)
    for clip, colour, name in zip(sample.plan.clips, COLOURS, ("clip 1", "clip 2"), strict=True):
        box = clip.box
        ax.add_patch(patches.Rectangle((box.x, box.y), box.w, box.h, fill=False, lw=2, ec=colour))
        ax.text(box.x + 2, box.y + 2, name, color=colour, va="top", fontsize=9)
    ax.set_title(facts["title"], fontsize=10)
    ax.axis("off")
    timeline = figure.add_subplot(grid[1, :])
    for row, (clip, colour) in enumerate(zip(sample.plan.clips, COLOURS, strict=True)):
        w = clip.window
        timeline.broken_barh([(w.start, w.span)], (row, 0.8), color=colour)
        timeline.plot(w.indices, [row + 0.4] * w.length, "k|", ms=6)
    timeline.set_xlim(0, frames)
    timeline.set_yticks([0.4, 1.4], ["clip 1", "clip 2"])
    timeline.set_xlabel(f"frame (video of {frames} frames)")
    for k, clip in enumerate(sample.clips):
        for j, t in enumerate((0, clip.shape[1] - 1)):
            cell = figure.add_subplot(grid[2, 4 * k + 2 * j : 4 * k + 2 * j + 2])
            cell.imshow(clip[:, t].permute(1, 2, 0).numpy())
            cell.set_title(f"clip {k + 1}, frame {t + 1}", fontsize=8)
            cell.axis("off")
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=100)
    plt.close(figure)
    return facts


def _facts(spec: SamplingSpec, plan) -> dict:
    one, two = plan.clips
    s = geo.spatial_overlap(one.box, two.box)
    t = geo.temporal_overlap(one.window, two.window)
    parts = [f"spatial overlap {s:.3f}", f"temporal overlap {t:.3f}"]
    if plan.spatial_index is not None:
        parts[0] += f" (label {spec.stor.spatial_candidates[plan.spatial_index]})"
    if plan.temporal_index is not None:
        parts[1] += f" (label {spec.stor.temporal_candidates[plan.temporal_index]})"
    parts.append(f"rate x{one.window.rate}")
    parts.append(f"rotations {ROTATIONS[one.rotation]}/{ROTATIONS[two.rotation]} deg")
    return {"title": ", ".join(parts), "spatial": s, "temporal": t, "rate": one.window.rate}
