"""Throughput measurements behind `cstp bench`, run on a fixed number of threads (one by default)
so that numbers from different machines can be compared."""

from __future__ import annotations

import platform
import random
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from cstp.data.video import VideoReader, decode_all


@dataclass(frozen=True)
class DecodeSetup:
    """What `measure_decode` times: `clips` random clips of `clip_frames` frames, `rate` frames
    apart, each read through a fresh VideoReader (as a data loader would), once at full size and
    once resized to `short_side`; plus full sequential decodes of every video, repeated for at
    least `min_seconds`."""

    clip_frames: int = 16
    rate: int = 1
    clips: int = 200
    short_side: int = 128
    threads: int = 1
    seed: int = 0
    min_seconds: float = 1.0


def cpu_name() -> str:
    """The CPU model, to print beside numbers that depend on it."""
    try:
        with open("/proc/cpuinfo") as file:
            for line in file:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def measure_decode(videos: list[Path], setup: DecodeSetup, cache=None) -> pd.DataFrame:
    """One row per measurement: full decode, clip reads, clip reads with resize, and with a
    `cache` (a FrameCache holding the videos) the same clips read from it.

    Columns: measure, clips, frames, seconds, clips_per_s, frames_per_s. Frames are decoded and
    converted to RGB uint8 in every measurement (that is what a loader pays for).
    """
    if not videos:
        raise ValueError("no videos to measure")
    torch.set_num_threads(setup.threads)
    counts: dict[Path, int] = {}
    full_frames, start = 0, time.perf_counter()
    while not counts or time.perf_counter() - start < setup.min_seconds:
        for path in videos:
            counts[path] = len(decode_all(path, threads=setup.threads))
            full_frames += counts[path]
    rows = [_row("full sequential decode", 0, full_frames, time.perf_counter() - start)]
    plan = _plan_clips(videos, counts, setup)
    for short_side in (None, setup.short_side):
        seconds = _time_clips(plan, counts, short_side, setup.threads)
        name = f"random {setup.clip_frames}-frame clips, rate {setup.rate}"
        if short_side is not None:
            name += f", short side {short_side}"
        rows.append(_row(name, len(plan), len(plan) * setup.clip_frames, seconds))
    if cache is not None:
        seconds = _time_cached_clips(plan, counts, cache)
        name = f"the same clips from the frame cache (short side {cache.short_side})"
        rows.append(_row(name, len(plan), len(plan) * setup.clip_frames, seconds))
    return pd.DataFrame(rows)


def _time_cached_clips(plan, counts, cache) -> float:
    start = time.perf_counter()
    for path, indices in plan:
        source = cache.source(str(path), counts[path])
        if source is None:
            raise ValueError(f"{path}: not in the frame cache {cache.root} (or changed)")
        with source as video:
            video.read(indices)
    return time.perf_counter() - start


def _plan_clips(
    videos: list[Path], counts: dict[Path, int], setup: DecodeSetup
) -> list[tuple[Path, list[int]]]:
    """Random (video, frame indices) pairs, drawn before timing so both clip runs read the same."""
    rng = random.Random(setup.seed)
    span = (setup.clip_frames - 1) * setup.rate + 1
    plan = []
    for _ in range(setup.clips):
        path = rng.choice(videos)
        last = counts[path] - 1
        first = rng.randrange(max(1, last + 2 - span))
        # a video shorter than a clip repeats its last frame, as the reader does past the end
        plan.append((path, [min(first + k * setup.rate, last) for k in range(setup.clip_frames)]))
    return plan


def _time_clips(plan, counts, short_side, threads) -> float:
    start = time.perf_counter()
    for path, indices in plan:
        with VideoReader(path, num_frames=counts[path], threads=threads) as reader:
            reader.read(indices, short_side=short_side)
    return time.perf_counter() - start


def _row(measure: str, clips: int, frames: int, seconds: float) -> dict:
    return {
        "measure": measure,
        "clips": clips,
        "frames": frames,
        "seconds": round(seconds, 3),
        "clips_per_s": round(clips / seconds, 1) if clips else float("nan"),
        "frames_per_s": round(frames / seconds, 1),
    }


def measure_pairs(videos: list[Path], spec, samples: int, threads: int = 1, seed: int = 0):
    """Pretraining pairs per second: planning alone, then decode + augment (what a loader does).

    Each pair opens a fresh reader, as a data-loader worker would. Returns one row per measure.
    """
    import numpy as np

    from cstp.data.check import probe
    from cstp.sampling.datasets import ReaderSource
    from cstp.sampling.pairs import plan_pair
    from cstp.sampling.sample import PairSampler

    torch.set_num_threads(threads)
    frames = {path: probe(path).frames for path in videos}
    rng = np.random.default_rng(seed)
    order = [videos[i] for i in rng.integers(0, len(videos), samples)]
    sampler = PairSampler(spec)
    rows = []
    start = time.perf_counter()
    with ReaderSource(order[0], frames[order[0]], spec.clip.short_side) as first:
        size = (first.width, first.height)
    for path in order:
        plan_pair(spec, rng, frames[path], *size)
    rows.append(_rate_row("plan only", samples, time.perf_counter() - start))
    start = time.perf_counter()
    for path in order:
        with ReaderSource(path, frames[path], spec.clip.short_side) as video:
            sampler(video, rng)
    rows.append(_rate_row("decode + augment", samples, time.perf_counter() - start))
    return pd.DataFrame(rows)


def _rate_row(measure: str, samples: int, seconds: float) -> dict:
    return {
        "measure": measure,
        "pairs": samples,
        "seconds": round(seconds, 3),
        "pairs_per_s": round(samples / seconds, 1),
    }
