"""The data side of a pretraining recipe: clip shape, base augmentation, and which of playback rate,
rotation and STOR are used as plain augmentation and which as pretext tasks (Table 1's columns)."""

from __future__ import annotations

from dataclasses import dataclass

from cstp.specs.base import field
from cstp.specs.registry import PRETEXT_TASKS

PAPER_CANDIDATES = (0.2, 0.4, 0.6, 0.8, 1.0)


@dataclass(frozen=True)
class ClipSpec:
    frames: int = field(16, "frames per clip (the paper: 16)", at_least=1)
    size: int = field(
        112, "side of the square clip fed to the network, pixels (the paper: 112)", at_least=1
    )
    short_side: int | None = field(
        None, "resize decoded frames to this short side before cropping", at_least=1
    )

    def __post_init__(self):
        if (
            self.frames < 1
            or self.size < 1
            or (self.short_side is not None and self.short_side < 1)
        ):
            raise ValueError(f"frames, size and short_side must be positive, got {self}")


@dataclass(frozen=True)
class ColorJitter:
    prob: float = field(0.8, "probability of colour jitter per clip", at_least=0, at_most=1)
    brightness: float = field(0.4, "brightness factor drawn from [1-b, 1+b]", at_least=0)
    contrast: float = field(0.4, "contrast factor drawn from [1-c, 1+c]", at_least=0)
    saturation: float = field(0.4, "saturation factor drawn from [1-s, 1+s]", at_least=0)
    hue: float = field(0.1, "hue shift drawn from [-h, h], at most 0.5", at_least=0, at_most=0.5)


@dataclass(frozen=True)
class BaseAugment:
    """The paper's base augmentation; every clip gets the same parameters on all its frames."""

    crop_scale: tuple[float, float] = field((0.2, 1.0), "multi-scale crop: area fraction range")
    crop_ratio: tuple[float, float] = field((3 / 4, 4 / 3), "multi-scale crop: aspect (w/h) range")
    random_crop: bool = field(True, "multi-scale random crop (off: the whole frame)")
    temporal_jitter: bool = field(True, "random clip start (off: the clip is centred in time)")
    color: ColorJitter = field(ColorJitter(), "colour jitter")
    grayscale_prob: float = field(0.2, "probability of turning a clip grey", at_least=0, at_most=1)
    blur_prob: float = field(0.5, "probability of Gaussian blur", at_least=0, at_most=1)
    blur_sigma: tuple[float, float] = field(
        (0.1, 2.0), "blur sigma range, pixels of the output", above=0
    )
    rotation_jitter: float = field(
        10.0, "small rotation drawn from [-deg, deg] (0: off)", at_least=0
    )
    flip_prob: float = field(0.5, "probability of a horizontal flip", at_least=0, at_most=1)
    apply_prob: float = field(
        1.0,
        "probability that a clip gets colour/grey/blur/jitter at all (official code: 0.3)",
        at_least=0,
        at_most=1,
    )

    def __post_init__(self):
        lo, hi = self.crop_scale
        if not 0 < lo <= hi <= 1:
            raise ValueError(f"crop_scale must satisfy 0 < min <= max <= 1, got {self.crop_scale}")
        if not 0 < self.crop_ratio[0] <= self.crop_ratio[1]:
            raise ValueError(f"crop_ratio must satisfy 0 < min <= max, got {self.crop_ratio}")


@dataclass(frozen=True)
class StorSpec:
    spatial_candidates: tuple[float, ...] = field(PAPER_CANDIDATES, "spatial overlap rates")
    temporal_candidates: tuple[float, ...] = field(PAPER_CANDIDATES, "temporal overlap rates")
    crop_scale: str = field(
        "shared",
        "shared: the crop-area range is capped so that every candidate fits, and the crop size "
        "says nothing about the label; conditional: sizes are drawn from the whole base range "
        "among those that fit the drawn rate (larger crops, but small rates get smaller crops)",
        choices=("conditional", "shared"),
    )

    def __post_init__(self):
        for name in ("spatial_candidates", "temporal_candidates"):
            check_candidates(getattr(self, name), name)


def stor_area_cap(overlap: float) -> float:
    """The largest area fraction of a frame-shaped box for which two such boxes in the frame can
    overlap by `overlap` of their area: side fraction 1 / (2 - sqrt(overlap)), squared."""
    return (1.0 / (2.0 - overlap**0.5)) ** 2


def check_candidates(candidates: tuple[float, ...], name: str = "candidates") -> None:
    """Overlap candidates: a non-empty list of distinct rates in (0, 1]."""
    if len(candidates) == 0:
        raise ValueError(f"{name} is empty; give at least one overlap rate in (0, 1]")
    for rate in candidates:
        if not 0 < rate <= 1:
            raise ValueError(f"{name}: {rate} is outside (0, 1]")
    if len(set(candidates)) != len(candidates):
        raise ValueError(f"{name}: {list(candidates)} has duplicates")


@dataclass(frozen=True)
class Transformations:
    """Table 1's two column groups for one transformation: used as augmentation, or predicted."""

    playback_rate: bool = field(False, "random playback rate")
    rotation: bool = field(False, "random 0/90/180/270 rotation")


@dataclass(frozen=True)
class SamplingSpec:
    """How a pretraining sample (two clips of one video and their labels) is made."""

    clip: ClipSpec = field(ClipSpec(), "clip shape")
    base: BaseAugment = field(BaseAugment(), "base augmentation")
    playback_rates: tuple[int, ...] = field((1, 2, 4, 8), "candidate playback rates", at_least=1)
    fixed_rate: int = field(1, "frame step when the playback rate is not randomised", at_least=1)
    augment: Transformations = field(Transformations(), "transformations used as augmentation")
    pretext: tuple[str, ...] = field(
        (), "pretext tasks predicted (cstp.specs.registry); each randomises its transformation"
    )
    stor: StorSpec = field(StorSpec(), "STOR candidates and crop policy")

    def __post_init__(self):
        if not self.playback_rates or any(r < 1 for r in self.playback_rates):
            raise ValueError(f"playback_rates must be positive integers, got {self.playback_rates}")
        if sorted(set(self.playback_rates)) != list(self.playback_rates):
            raise ValueError(f"playback_rates must be increasing, got {self.playback_rates}")
        unknown = [name for name in self.pretext if name not in PRETEXT_TASKS]
        if unknown:
            known = ", ".join(PRETEXT_TASKS)
            raise ValueError(f"pretext: {unknown[0]!r} is not a pretext task ({known})")
        # One spelling per set of tasks (the registry's order), so equal recipes hash equal.
        object.__setattr__(self, "pretext", tuple(n for n in PRETEXT_TASKS if n in self.pretext))

    @property
    def random_rate(self) -> bool:
        return self.augment.playback_rate or "playback_rate" in self.pretext

    @property
    def random_rotation(self) -> bool:
        return self.augment.rotation or "rotation" in self.pretext
