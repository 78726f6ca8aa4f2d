"""Torch datasets over a scanned index: pretraining pairs, supervised training clips, test clips.

Every random choice of item i in epoch e comes from a numpy Generator seeded with (seed, e, i), so a
sample does not depend on worker count or on where a resumed run restarts; `EpochBatches` yields
the (epoch, index) pairs in a per-epoch order drawn from (seed, e).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset, Sampler

from cstp.data.cache import FrameCache
from cstp.data.scan import read_index
from cstp.data.video import VideoReader
from cstp.errors import CstpError
from cstp.sampling.augment import ClipAugment, draw_augment, render_clip
from cstp.sampling.pairs import eval_clips, plan_clip
from cstp.sampling.sample import PairSampler
from cstp.specs.sampling import SamplingSpec

log = logging.getLogger(__name__)


def class_count(index: str | Path) -> int:
    """Classes of a dataset: from every listed video of its index (train, test and unused, usable
    or not), so a class whose training videos are all unreadable still gets its output."""
    return int(read_index(index)["label"].max()) + 1


def load_subset(index: str | Path, subset: str, min_frames: int = 1) -> pd.DataFrame:
    """The usable videos of one subset of a scanned index, with their true frame counts."""
    table = read_index(index)
    if "frames" not in table.columns or table["frames"].isna().all():
        raise CstpError(f"{index}: no frame counts; scan the dataset with --probe")
    rows = table[(table["subset"] == subset) & (table["status"] == "ok")].copy()
    short = rows["frames"] < min_frames
    if short.any():
        names = [f"{row.video} ({row.frames})" for row in rows[short].itertuples()]
        more = f" and {len(names) - 5} more" if len(names) > 5 else ""
        log.warning(
            "%s: %d %s videos are shorter than %d frames and are left out: %s%s",
            index,
            len(names),
            subset,
            min_frames,
            ", ".join(names[:5]),
            more,
        )
        rows = rows[~short]
    if rows.empty:
        raise CstpError(f"{index}: no readable '{subset}' videos (of {len(table)} rows)")
    return rows.reset_index(drop=True)


class ReaderSource:
    """A VideoReader seen through an optional short-side resize (what the samplers read)."""

    def __init__(self, path: str | Path, num_frames: int, short_side: int | None = None):
        self.reader = VideoReader(path, num_frames=num_frames)
        self.short_side = short_side
        w, h = self.reader.width, self.reader.height
        self.width, self.height = (w, h) if short_side is None else resized_size(w, h, short_side)

    def __enter__(self) -> ReaderSource:
        return self

    def __exit__(self, *exc) -> None:
        self.reader.close()

    @property
    def num_frames(self) -> int:
        return self.reader.num_frames

    def read(self, indices: list[int]) -> torch.Tensor:
        last = self.num_frames - 1
        return self.reader.read([min(i, last) for i in indices], short_side=self.short_side)


def resized_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """Frame size after a short-side resize, rounded as torchvision's resize to one size."""
    if width <= height:
        return short_side, int(short_side * height / width)
    return int(short_side * width / height), short_side


def open_cache(root: str | Path | None, spec: SamplingSpec) -> FrameCache | None:
    """The frame cache at `root` for clips of `spec` (None: no cache); it must hold frames at the
    short side the spec reads."""
    if root is None:
        return None
    cache = FrameCache(root)
    if cache.short_side != spec.clip.short_side:
        raise CstpError(
            f"--cache {root}: holds frames at short side {cache.short_side}, but this job reads "
            f"them at {spec.clip.short_side}; build a cache with --short-side "
            f"{spec.clip.short_side or 'none'}"
        )
    return cache


class _IndexedVideos(Dataset):
    def __init__(self, rows: pd.DataFrame, spec: SamplingSpec, seed: int, cache=None):
        self.paths = rows["path"].tolist()
        self.frames = [int(f) for f in rows["frames"]]
        self.labels = [int(v) for v in rows["label"]]
        self.spec = spec
        self.seed = seed
        self.cache = open_cache(cache, spec)

    def __len__(self) -> int:
        return len(self.paths)

    def source(self, index: int):
        """The video's frames: from the frame cache when it holds them, else decoded."""
        if self.cache is not None:
            cached = self.cache.source(self.paths[index], self.frames[index])
            if cached is not None:
                return cached
        return ReaderSource(self.paths[index], self.frames[index], self.spec.clip.short_side)

    def rng(self, epoch: int, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, epoch, index])


class PairDataset(_IndexedVideos):
    """Pretraining: item (epoch, i) is (clips 2 x C x T x S x S uint8, pretext labels)."""

    def __init__(self, rows: pd.DataFrame, spec: SamplingSpec, seed: int, cache=None):
        super().__init__(rows, spec, seed, cache)
        self.sampler = PairSampler(spec)

    def __getitem__(self, item: tuple[int, int]):
        epoch, index = item
        with self.source(index) as video:
            sample = self.sampler(video, self.rng(epoch, index))
        return sample.clips, sample.labels


class ClipDataset(_IndexedVideos):
    """Supervised training: item (epoch, i) is (one augmented clip C x T x S x S uint8, label)."""

    def __getitem__(self, item: tuple[int, int]):
        epoch, index = item
        rng = self.rng(epoch, index)
        with self.source(index) as video:
            plan = plan_clip(self.spec, rng, video.num_frames, video.width, video.height)
            frames = video.read(plan.window.indices)
        augment = draw_augment(self.spec.base, rng)
        clip = render_clip(frames, plan.box, self.spec.clip.size, augment, plan.rotation)
        return clip, self.labels[index]


class TestClipsDataset(_IndexedVideos):
    """Testing: item i is (all test clips of video i, n x C x T x S x S uint8, label, i)."""

    def __init__(self, rows, spec: SamplingSpec, clips: int, crop: float, cache=None):
        super().__init__(rows, spec, seed=0, cache=cache)
        self.clips, self.crop = clips, crop

    def __getitem__(self, index: int):
        with self.source(index) as video:
            plans = eval_clips(
                self.spec, video.num_frames, video.width, video.height, self.clips, self.crop
            )
            wanted = sorted({i for p in plans for i in p.window.indices})
            frames = video.read(wanted)
        position = {i: k for k, i in enumerate(wanted)}
        clips = [
            render_clip(
                frames[[position[i] for i in p.window.indices]],
                p.box,
                self.spec.clip.size,
                ClipAugment(),
            )
            for p in plans
        ]
        return torch.stack(clips), self.labels[index], index


class EpochBatches(Sampler):
    """Batches of (epoch, index) in an order drawn from (seed, epoch), sharded over ranks.

    `start(epoch, batch)` makes the next iteration begin there (resuming a run mid-epoch).
    """

    def __init__(
        self,
        size: int,
        batch_size: int,
        seed: int,
        rank: int = 0,
        world: int = 1,
        drop_last: bool = True,
    ):
        if batch_size % world:
            raise CstpError(f"batch size {batch_size} is not divisible by {world} processes")
        self.size, self.batch_size, self.seed = size, batch_size, seed
        self.rank, self.world, self.drop_last = rank, world, drop_last
        self.epoch, self.first_batch = 0, 0

    def start(self, epoch: int, batch: int = 0) -> None:
        self.epoch, self.first_batch = epoch, batch

    def batches_per_epoch(self) -> int:
        full, rest = divmod(self.size, self.batch_size)
        return full + (0 if self.drop_last or rest == 0 else 1)

    def __len__(self) -> int:
        return self.batches_per_epoch() - self.first_batch

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        order = np.random.default_rng([self.seed, self.epoch]).permutation(self.size)
        local = self.batch_size // self.world
        for b in range(self.first_batch, self.batches_per_epoch()):
            batch = order[b * self.batch_size : (b + 1) * self.batch_size]
            mine = batch[self.rank * local : (self.rank + 1) * local]
            yield [(self.epoch, int(i)) for i in mine]
