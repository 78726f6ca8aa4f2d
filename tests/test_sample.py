"""Pretraining samples: Table 1's augmentation-only vs pretext use, Table 5's partial STOR."""

import numpy as np
import torch

from cstp.sampling.sample import LabelHistogram, PairSampler, pretext_classes
from cstp.specs.sampling import ClipSpec, SamplingSpec, Transformations


class ArrayVideo:
    """A video already decoded in memory, (T, H, W, C) uint8: a frame source without a file."""

    def __init__(self, frames: torch.Tensor):
        if frames.ndim != 4 or frames.dtype != torch.uint8:
            raise ValueError(
                f"frames must be uint8 (T, H, W, C), got {frames.dtype} {frames.shape}"
            )
        self.frames = frames

    @property
    def num_frames(self) -> int:
        return self.frames.shape[0]

    @property
    def height(self) -> int:
        return self.frames.shape[1]

    @property
    def width(self) -> int:
        return self.frames.shape[2]

    def read(self, indices: list[int]) -> torch.Tensor:
        return self.frames[torch.as_tensor(indices, dtype=torch.long)]


def _video(frames=120, height=48, width=64) -> ArrayVideo:
    # Every pixel of frame t has value t in the blue channel: clips reveal which frames they hold.
    data = torch.zeros(frames, height, width, 3, dtype=torch.uint8)
    data[..., 2] = torch.arange(frames, dtype=torch.uint8)[:, None, None]
    data[..., 0] = torch.arange(width, dtype=torch.uint8)[None, None, :]
    return ArrayVideo(data)


CLIP = ClipSpec(frames=8, size=32)


def _sample(spec, seed=0):
    return PairSampler(spec)(_video(), np.random.default_rng(seed))


def test_clips_have_the_asked_shape_and_dtype():
    sample = _sample(SamplingSpec(clip=CLIP))
    assert sample.clips.shape == (2, 3, 8, 32, 32)
    assert sample.clips.dtype == torch.uint8


def test_clips_hold_the_frames_of_their_planned_windows():
    from cstp.specs.sampling import BaseAugment

    spec = SamplingSpec(
        clip=CLIP,
        base=BaseAugment(apply_prob=0.0, flip_prob=0.0),
        pretext=("playback_rate", "stor_temporal"),
    )
    for seed in range(10):
        sample = _sample(spec, seed)
        for clip, planned in zip(sample.clips, sample.plan.clips, strict=True):
            assert clip[2, :, 0, 0].tolist() == planned.window.indices


def test_augmentation_only_randomises_without_labels():
    spec = SamplingSpec(clip=CLIP, augment=Transformations(playback_rate=True, rotation=True))
    samples = [_sample(spec, seed) for seed in range(40)]
    assert all(s.labels == {} for s in samples)
    assert len({c.rotation for s in samples for c in s.plan.clips}) == 4
    assert len({s.plan.clips[0].window.rate for s in samples}) > 1


def test_pretext_use_predicts_the_applied_transformation():
    spec = SamplingSpec(clip=CLIP, pretext=("playback_rate", "rotation"))
    for seed in range(20):
        sample = _sample(spec, seed)
        assert sample.labels["rotation"].tolist() == [c.rotation for c in sample.plan.clips]
        rate = spec.playback_rates[int(sample.labels["playback_rate"])]
        assert all(c.window.rate == rate for c in sample.plan.clips)
    assert pretext_classes(spec) == {"playback_rate": 4, "rotation": 4}


def test_table5_partial_stor_labels_only_its_axis():
    spatial = SamplingSpec(clip=CLIP, pretext=("stor_spatial",))
    temporal = SamplingSpec(clip=CLIP, pretext=("stor_temporal",))
    assert set(_sample(spatial).labels) == {"stor_spatial"}
    assert set(_sample(temporal).labels) == {"stor_temporal"}
    assert pretext_classes(spatial) == {"stor_spatial": 5}


def test_same_seed_same_sample():
    spec = SamplingSpec(clip=CLIP, pretext=("playback_rate", "rotation", "stor_spatial"))
    a, b, c = _sample(spec, 3), _sample(spec, 3), _sample(spec, 4)
    assert torch.equal(a.clips, b.clips) and a.labels.keys() == b.labels.keys()
    assert all(torch.equal(a.labels[k], b.labels[k]) for k in a.labels)
    assert not torch.equal(a.clips, c.clips)


def test_label_histogram_counts_labels_and_fallbacks():
    spec = SamplingSpec(clip=CLIP, pretext=("stor_temporal",))
    histogram = LabelHistogram()
    rng = np.random.default_rng(0)
    short = ArrayVideo(torch.zeros(12, 48, 64, 3, dtype=torch.uint8))  # 4 frames of offset room
    for _ in range(50):
        histogram.add(PairSampler(spec)(short, rng).plan)
    counts = histogram.to_dict()
    assert counts["fallback"] == {"short-video": 50}
    assert set(counts["stor_temporal"]) <= {"2", "3", "4"}  # t >= 0.5 fits 4 frames of offset
    assert sum(counts["stor_temporal"].values()) == 50
