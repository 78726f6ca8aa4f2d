"""`cstp stor-stats`: the STOR sampler's measured overlaps and label frequencies, without video."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cstp.sampling import geometry as geo
from cstp.sampling.pairs import PairPlan, plan_pair
from cstp.sampling.sample import LabelHistogram
from cstp.specs.sampling import SamplingSpec


@dataclass
class StorStats:
    table: pd.DataFrame  # one row per candidate
    rates: pd.Series  # playback-rate label frequencies
    fallbacks: dict[str, int]
    crop_area: float  # mean area of clip 1's crop over all pairs, as a fraction of the frame
    samples: int
    plans_per_second: float


def stor_stats(
    spec: SamplingSpec, num_frames: int, width: int, height: int, samples: int, seed: int
) -> StorStats:
    """Plan `samples` pairs for a video of num_frames x width x height and measure them."""
    rng = np.random.default_rng(seed)
    histogram = LabelHistogram()
    spatial: dict[int, list[tuple[float, float]]] = {}
    temporal: dict[int, list[float]] = {}
    start = time.perf_counter()
    plans: list[PairPlan] = [
        plan_pair(spec, rng, num_frames, width, height) for _ in range(samples)
    ]
    elapsed = time.perf_counter() - start
    for plan in plans:
        histogram.add(plan)
        one, two = plan.clips
        if plan.spatial_index is not None:
            area = one.box.area / (width * height)
            spatial.setdefault(plan.spatial_index, []).append(
                (geo.spatial_overlap(one.box, two.box), area)
            )
        if plan.temporal_index is not None:
            temporal.setdefault(plan.temporal_index, []).append(
                geo.temporal_overlap(one.window, two.window)
            )
    rows = []
    stor = spec.stor
    for i in range(max(len(stor.spatial_candidates), len(stor.temporal_candidates))):
        row: dict[str, float | str] = {}
        if "stor_spatial" in spec.pretext and i < len(stor.spatial_candidates):
            values = np.array(spatial.get(i, [(np.nan, np.nan)]))
            freq = histogram.frequencies("stor_spatial", len(stor.spatial_candidates))[i]
            row |= _measured("spatial", stor.spatial_candidates[i], values[:, 0], freq)
            row["crop_area"] = float(np.mean(values[:, 1]))
        if "stor_temporal" in spec.pretext and i < len(stor.temporal_candidates):
            values = np.array(temporal.get(i, [np.nan]))
            freq = histogram.frequencies("stor_temporal", len(stor.temporal_candidates))[i]
            row |= _measured("temporal", stor.temporal_candidates[i], values, freq)
        rows.append(row)
    rates = pd.Series(
        histogram.frequencies("playback_rate", len(spec.playback_rates)),
        index=[f"x{r}" for r in spec.playback_rates],
        name="frequency",
    )
    fallbacks = dict(histogram.counts.get("fallback", {}))
    crop_area = float(np.mean([p.clips[0].box.area for p in plans])) / (width * height)
    return StorStats(pd.DataFrame(rows), rates, fallbacks, crop_area, samples, samples / elapsed)


def _measured(kind: str, target: float, values: np.ndarray, frequency: float) -> dict:
    return {
        f"{kind}_target": target,
        f"{kind}_mean": float(np.mean(values)),
        f"{kind}_min": float(np.min(values)),
        f"{kind}_max": float(np.max(values)),
        f"{kind}_freq": frequency,
    }


def format_stats(stats: StorStats) -> str:
    """The report `cstp stor-stats` prints."""
    lines = [
        stats.table.to_string(index=False, float_format=lambda v: f"{v:.4f}", na_rep="-"),
        "",
        f"expected label frequency: 1/{len(stats.table)} = {1 / max(len(stats.table), 1):.4f}",
    ]
    if stats.rates.sum() > 0:
        rates = ", ".join(f"{k} {v:.3f}" for k, v in stats.rates.items())
        lines.append(f"playback-rate label frequencies: {rates}")
    lines.append(f"mean crop area of clip 1 over all pairs: {stats.crop_area:.3f} of the frame")
    fallbacks = ", ".join(f"{k}: {v}" for k, v in sorted(stats.fallbacks.items())) or "none"
    lines.append(f"fallbacks (docs/interpretations.md): {fallbacks}")
    lines.append(f"{stats.samples} pairs planned at {stats.plans_per_second:,.0f} pairs/s")
    return "\n".join(lines)
