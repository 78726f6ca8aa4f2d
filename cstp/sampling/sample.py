"""One pretraining sample for any experiment: two augmented clips of a video plus the labels of
whichever pretext tasks the recipe predicts, so the training loop never branches on tables."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch

from cstp.sampling.augment import ClipAugment, draw_augment, render_clip
from cstp.sampling.pairs import PairPlan, plan_pair
from cstp.specs.registry import PRETEXT_TASKS
from cstp.specs.sampling import SamplingSpec


class FrameSource(Protocol):
    """A decoded video: its length and frame size, and frames by index as (T, H, W, C) uint8."""

    @property
    def num_frames(self) -> int: ...

    @property
    def width(self) -> int: ...

    @property
    def height(self) -> int: ...

    def read(self, indices: list[int]) -> torch.Tensor: ...


def pretext_classes(spec: SamplingSpec) -> dict[str, int]:
    """Label name -> number of classes, for the pretext tasks this recipe predicts."""
    return {name: PRETEXT_TASKS[name].classes(spec) for name in spec.pretext}


@dataclass
class PairSample:
    clips: torch.Tensor  # 2 x C x T x S x S, uint8
    labels: dict[str, torch.Tensor]  # rotation: (2,), the others: ()
    plan: PairPlan
    augments: tuple[ClipAugment, ClipAugment]


class PairSampler:
    """Callable making a PairSample from a FrameSource and a numpy Generator."""

    def __init__(self, spec: SamplingSpec):
        self.spec = spec
        self.classes = pretext_classes(spec)

    def __call__(self, video: FrameSource, rng: np.random.Generator) -> PairSample:
        spec = self.spec
        plan = plan_pair(spec, rng, video.num_frames, video.width, video.height)
        augments = (draw_augment(spec.base, rng), draw_augment(spec.base, rng))
        wanted = sorted({i for clip in plan.clips for i in clip.window.indices})
        frames = video.read(wanted)
        position = {index: k for k, index in enumerate(wanted)}
        clips = []
        for clip, augment in zip(plan.clips, augments, strict=True):
            rows = torch.tensor([position[i] for i in clip.window.indices])
            clips.append(
                render_clip(frames[rows], clip.box, spec.clip.size, augment, clip.rotation)
            )
        return PairSample(torch.stack(clips), self.labels(plan), plan, augments)

    def labels(self, plan: PairPlan) -> dict[str, torch.Tensor]:
        return {name: torch.tensor(PRETEXT_TASKS[name].label(plan)) for name in self.classes}


@dataclass
class LabelHistogram:
    """Counts of every pretext label and fallback over many pairs (reported per dataset)."""

    counts: dict[str, Counter] = field(default_factory=dict)

    def add(self, plan: PairPlan) -> None:
        entries = {name: task.label(plan) for name, task in PRETEXT_TASKS.items()}
        entries["fallback"] = list(plan.fallback)
        for name, values in entries.items():
            for value in values if isinstance(values, list) else [values]:
                if value is not None:
                    self.counts.setdefault(name, Counter())[value] += 1

    def frequencies(self, name: str, classes: int) -> list[float]:
        counter = self.counts.get(name, Counter())
        total = sum(counter[k] for k in range(classes)) or 1
        return [counter[k] / total for k in range(classes)]

    def to_dict(self) -> dict[str, dict[str, int]]:
        return {name: {str(k): v for k, v in sorted(c.items())} for name, c in self.counts.items()}
