"""STOR placement is exact for every candidate, frame size and video length (property-based)."""

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from cstp.sampling import geometry as geo

candidates = st.floats(min_value=0.05, max_value=1.0)


@settings(max_examples=300, deadline=None)
@given(
    width=st.integers(32, 400),
    height=st.integers(32, 400),
    scale=st.floats(0.05, 1.0),
    overlap=candidates,
    seed=st.integers(0, 2**32 - 1),
)
def test_stor_boxes_overlap_exactly_and_stay_in_frame(width, height, scale, overlap, seed):
    rng = np.random.default_rng(seed)
    size = geo.sample_crop_size(
        rng,
        width,
        height,
        (scale, scale),
        (0.75, 4 / 3),
        lambda w, h: geo.stor_box_fits(w, h, width, height, overlap),
    ) or geo.largest_stor_box(width, height, overlap)
    a, b = geo.stor_boxes(rng, width, height, *size, overlap)
    assert (a.w, a.h) == (b.w, b.h) == size
    for box in (a, b):
        assert box.x >= 0 and box.x + box.w <= width
        assert box.y >= 0 and box.y + box.h <= height
    intersection = geo.spatial_overlap(a, b) * a.area
    # Within one row or column of pixels of the exact area.
    assert abs(intersection - overlap * a.area) <= max(a.w, a.h)


@settings(max_examples=300, deadline=None)
@given(
    length=st.integers(1, 32),
    rate=st.sampled_from([1, 2, 3, 4, 8]),
    overlap=candidates,
    extra=st.integers(0, 200),
    seed=st.integers(0, 2**32 - 1),
)
def test_stor_windows_overlap_within_one_frame(length, rate, overlap, extra, seed):
    rng = np.random.default_rng(seed)
    needed = geo.frames_needed(length, rate, math.ceil(geo.temporal_offset(length * rate, overlap)))
    num_frames = needed + extra
    a, b = geo.stor_windows(rng, num_frames, rate, length, overlap)
    assert a.rate == b.rate == rate and a.length == b.length == length
    for window in (a, b):
        assert window.start >= 0 and window.last <= num_frames - 1
    shared = geo.temporal_overlap(a, b) * a.span
    assert abs(shared - overlap * a.span) <= 1


def test_stochastic_rounding_is_exact_on_average():
    rng = np.random.default_rng(0)
    values = [geo.stochastic_round(12.8, rng) for _ in range(20000)]
    assert set(values) == {12, 13}
    assert abs(np.mean(values) - 12.8) < 0.01


def test_overlap_measures_by_hand():
    assert geo.spatial_overlap(geo.Box(0, 0, 10, 10), geo.Box(5, 0, 10, 10)) == 0.5
    assert geo.spatial_overlap(geo.Box(0, 0, 10, 10), geo.Box(5, 5, 10, 10)) == 0.25
    assert geo.spatial_overlap(geo.Box(0, 0, 10, 10), geo.Box(20, 0, 10, 10)) == 0.0
    # 16 frames at rate 2 span 32 source frames; starting 8 later shares 24 of them.
    assert geo.temporal_overlap(geo.Window(0, 2, 16), geo.Window(8, 2, 16)) == 0.75
    assert geo.Window(3, 4, 4).indices == [3, 7, 11, 15]


def test_largest_stor_box_is_feasible_and_tight():
    for overlap in (0.143, 0.2, 0.5, 0.9, 1.0):
        w, h = geo.largest_stor_box(320, 240, overlap)
        assert geo.stor_box_fits(w, h, 320, 240, overlap)
        assert not geo.stor_box_fits(w + 2, h + 2, 320, 240, overlap) or overlap == 1.0


def test_a_frame_too_small_for_an_overlap_is_a_clear_error():
    try:
        geo.largest_stor_box(8, 8, 0.05)
    except ValueError as err:
        assert "an 8x8 frame" in str(err) or "a 8x8 frame" in str(err)
    else:
        raise AssertionError("expected ValueError")


def test_place_window_rejects_a_clip_longer_than_the_video():
    rng = np.random.default_rng(0)
    try:
        geo.place_window(rng, 100, 8, 16)
    except ValueError as err:
        assert "100 frames are too few for 16 frames at rate 8" in str(err)
    else:
        raise AssertionError("expected ValueError")
