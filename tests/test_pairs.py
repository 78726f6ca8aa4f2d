"""The pair planner: unbiased labels for any candidate list, documented fallbacks, exact overlap."""

import numpy as np
import pytest

from cstp.sampling import geometry as geo
from cstp.sampling.pairs import VideoTooShort, allowed_rates, plan_pair
from cstp.specs.base import from_dict
from cstp.specs.sampling import SamplingSpec, StorSpec, Transformations

# Upper 0.1% points of the chi-square distribution, by degrees of freedom.
CHI2_999 = {1: 10.83, 2: 13.82, 3: 16.27, 4: 18.47, 5: 20.52, 6: 22.46}
TABLE4_LISTS = [
    (0.5, 1.0),
    (0.33, 0.66, 0.99),
    (0.25, 0.5, 0.75, 1.0),
    (0.2, 0.4, 0.6, 0.8, 1.0),
    (0.166, 0.332, 0.498, 0.664, 0.83, 1.0),
    (0.143, 0.286, 0.429, 0.572, 0.715, 0.858, 1.0),
]
FULL = ("playback_rate", "rotation", "stor_spatial", "stor_temporal")


def _chi2(counts: np.ndarray) -> float:
    expected = counts.sum() / len(counts)
    return float(((counts - expected) ** 2 / expected).sum())


def _plans(spec, n, frames=300, width=320, height=240, seed=0):
    rng = np.random.default_rng(seed)
    return [plan_pair(spec, rng, frames, width, height) for _ in range(n)]


@pytest.mark.parametrize("candidates", TABLE4_LISTS, ids=lambda c: f"{len(c)}-candidates")
def test_every_table4_list_gives_uniform_labels_and_exact_overlaps(candidates):
    spec = SamplingSpec(pretext=FULL, stor=StorSpec(candidates, candidates))
    plans = _plans(spec, 3000)
    for name in ("spatial_index", "temporal_index"):
        counts = np.bincount([getattr(p, name) for p in plans], minlength=len(candidates))
        assert _chi2(counts) < CHI2_999[len(candidates) - 1], (name, counts)
    for plan in plans:
        one, two = plan.clips
        target_s = candidates[plan.spatial_index]
        target_t = candidates[plan.temporal_index]
        assert abs(geo.spatial_overlap(one.box, two.box) - target_s) <= 1 / min(
            one.box.w, one.box.h
        )
        assert abs(geo.temporal_overlap(one.window, two.window) - target_t) <= 1 / one.window.span
        assert one.window.rate == two.window.rate
        assert (one.box.w, one.box.h) == (two.box.w, two.box.h)
    assert all(not p.fallback for p in plans)


def test_rotation_and_rate_labels_are_uniform():
    plans = _plans(SamplingSpec(pretext=FULL), 4000)
    rotations = np.bincount([c.rotation for p in plans for c in p.clips], minlength=4)
    rates = np.bincount([p.rate_index for p in plans], minlength=4)
    assert _chi2(rotations) < CHI2_999[3]
    assert _chi2(rates) < CHI2_999[3]


def test_mean_overlap_is_exact_for_the_paper_candidates():
    spec = SamplingSpec(pretext=FULL)
    plans = _plans(spec, 5000, frames=150)
    for index, target in enumerate(spec.stor.spatial_candidates):
        chosen = [p for p in plans if p.spatial_index == index]
        measured = [geo.spatial_overlap(p.clips[0].box, p.clips[1].box) for p in chosen]
        assert abs(np.mean(measured) - target) < 0.01
    for index, target in enumerate(spec.stor.temporal_candidates):
        chosen = [p for p in plans if p.temporal_index == index]
        measured = [geo.temporal_overlap(p.clips[0].window, p.clips[1].window) for p in chosen]
        assert abs(np.mean(measured) - target) < 0.01


def test_rates_that_cannot_fit_every_temporal_candidate_are_not_drawn():
    spec = SamplingSpec(pretext=FULL)
    # Rate 8 with t = 0.2 needs 103 (offset) + 121 frames; rate 4 needs 52 + 61 = 113.
    assert allowed_rates(spec, 150) == [0, 1, 2]
    assert allowed_rates(spec, 224) == [0, 1, 2, 3]
    without_stor = SamplingSpec(pretext=("playback_rate",))
    assert allowed_rates(without_stor, 150) == [0, 1, 2, 3]
    assert allowed_rates(without_stor, 120) == [0, 1, 2]


def test_short_video_restricts_temporal_candidates_and_says_so():
    spec = SamplingSpec(pretext=FULL)
    plans = _plans(spec, 400, frames=20)
    # 20 frames leave 4 frames of offset for a 16-frame clip: only t >= 0.75 fits.
    assert {p.temporal_index for p in plans} == {3, 4}
    assert all("short-video" in p.fallback for p in plans)
    assert all(p.rate_index == 0 for p in plans)


def test_video_shorter_than_a_clip_is_refused():
    with pytest.raises(VideoTooShort, match="12 frames is shorter than one 16-frame clip"):
        plan_pair(SamplingSpec(pretext=FULL), np.random.default_rng(0), 12, 320, 240)


def test_shared_crop_scale_makes_crop_size_independent_of_the_label():
    def mean_area_by_label(policy):
        spec = SamplingSpec(pretext=("stor_spatial",), stor=StorSpec(crop_scale=policy))
        plans = _plans(spec, 3000)
        return [
            np.mean([p.clips[0].box.area for p in plans if p.spatial_index == i]) / (320 * 240)
            for i in range(5)
        ]

    shared, conditional = mean_area_by_label("shared"), mean_area_by_label("conditional")
    assert max(shared) - min(shared) < 0.02
    assert conditional[-1] - conditional[0] > 0.1  # the cue that "shared" removes


def test_table5_partial_stor_places_only_its_axis():
    spatial_only = SamplingSpec(pretext=("stor_spatial",))
    temporal_only = SamplingSpec(pretext=("stor_temporal",))
    for plan in _plans(spatial_only, 200):
        assert plan.spatial_index is not None and plan.temporal_index is None
    for plan in _plans(temporal_only, 200):
        assert plan.temporal_index is not None and plan.spatial_index is None
        assert plan.clips[0].box.w and plan.rate_index is None  # fixed rate, no STOR boxes


def test_nothing_random_without_the_transformations():
    plans = _plans(SamplingSpec(), 100)
    assert {p.rate_index for p in plans} == {None}
    assert {c.window.rate for p in plans for c in p.clips} == {1}
    assert {c.rotation for p in plans for c in p.clips} == {0}
    augment_only = SamplingSpec(augment=Transformations(playback_rate=True, rotation=True))
    plans = _plans(augment_only, 400)
    assert len({c.rotation for p in plans for c in p.clips}) == 4
    assert len({p.rate_index for p in plans}) == 4


def test_same_seed_same_plan():
    spec = SamplingSpec(pretext=FULL)
    assert _plans(spec, 50, seed=7) == _plans(spec, 50, seed=7)
    assert _plans(spec, 50, seed=7) != _plans(spec, 50, seed=8)


@pytest.mark.parametrize(
    ("candidates", "message"),
    [
        ([], "empty"),
        ([0.2, 1.2], "1.2 is outside"),
        ([0.0, 0.5], "0.0 is outside"),
        ([0.5, 0.5], "duplicates"),
    ],
)
def test_bad_candidate_lists_are_named(candidates, message):
    from cstp.errors import CstpError

    with pytest.raises(CstpError, match=message):
        from_dict(SamplingSpec, {"stor": {"spatial_candidates": candidates}}, "pretrain.sampling")
