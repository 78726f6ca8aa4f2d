"""Clip rendering: the box that is cut, the drawn augmentation, rotation in scene coordinates."""

import numpy as np
import torch

from cstp.sampling.augment import ClipAugment, draw_augment, render_clip
from cstp.sampling.geometry import Box
from cstp.specs.sampling import BaseAugment


def _coordinate_video(frames=4, height=48, width=64) -> torch.Tensor:
    """R = x, G = y, B = t: every pixel says where and when it is."""
    t, y, x = torch.meshgrid(
        torch.arange(frames), torch.arange(height), torch.arange(width), indexing="ij"
    )
    return torch.stack([x, y, t], dim=-1).to(torch.uint8)


def test_render_cuts_the_planned_box_without_resizing_when_sizes_match():
    video = _coordinate_video()
    clip = render_clip(video, Box(x=10, y=5, w=16, h=16), 16, ClipAugment())
    assert clip.shape == (3, 4, 16, 16) and clip.dtype == torch.uint8
    assert clip[0, 0, 0, 0] == 10 and clip[1, 0, 0, 0] == 5
    assert clip[0, 0, 0, -1] == 25 and clip[1, 0, -1, 0] == 20
    assert clip[2, :, 0, 0].tolist() == [0, 1, 2, 3]


def test_rotation_is_applied_after_cropping_so_the_box_is_in_scene_coordinates():
    video = _coordinate_video()
    box = Box(x=20, y=10, w=24, h=24)
    upright = render_clip(video, box, 24, ClipAugment())
    for quarter_turns in (1, 2, 3):
        turned = render_clip(video, box, 24, ClipAugment(), quarter_turns)
        assert torch.equal(turned, torch.rot90(upright, quarter_turns, dims=(-2, -1)))


def test_flip_mirrors_the_crop():
    video = _coordinate_video()
    flipped = render_clip(video, Box(0, 0, 16, 16), 16, ClipAugment(flip=True))
    assert flipped[0, 0, 0].tolist() == list(range(15, -1, -1))


def test_rotation_jitter_leaves_no_empty_corners():
    video = torch.full((2, 48, 64, 3), 200, dtype=torch.uint8)
    clip = render_clip(video, Box(8, 8, 32, 32), 32, ClipAugment(jitter_angle=10.0))
    assert int(clip.min()) >= 199


def test_apply_prob_zero_keeps_only_the_flip():
    base = BaseAugment(apply_prob=0.0, flip_prob=1.0)
    drawn = draw_augment(base, np.random.default_rng(0))
    assert drawn == ClipAugment(flip=True)


def test_full_base_augment_draws_every_op_within_its_range():
    base = BaseAugment()
    rng = np.random.default_rng(1)
    draws = [draw_augment(base, rng) for _ in range(2000)]
    assert 0.45 < np.mean([d.flip for d in draws]) < 0.55
    assert 0.15 < np.mean([d.grayscale for d in draws]) < 0.25
    assert 0.45 < np.mean([d.blur_sigma is not None for d in draws]) < 0.55
    assert 0.75 < np.mean([bool(d.color) for d in draws]) < 0.85
    assert all(abs(d.jitter_angle) <= 10 for d in draws)
    factors = dict(op for d in draws for op in d.color)
    assert set(factors) == {"brightness", "contrast", "saturation", "hue"}
    for d in draws:
        for op, value in d.color:
            assert (abs(value) <= 0.1) if op == "hue" else (0.6 <= value <= 1.4)
    assert len({tuple(op for op, _ in d.color) for d in draws if len(d.color) == 4}) > 1


def test_colour_and_blur_change_pixels_but_not_shape():
    video = _coordinate_video(frames=2)
    plain = render_clip(video, Box(0, 0, 32, 32), 32, ClipAugment())
    augmented = render_clip(
        video,
        Box(0, 0, 32, 32),
        32,
        ClipAugment(color=(("brightness", 1.3), ("hue", 0.05)), grayscale=True, blur_sigma=1.0),
    )
    assert augmented.shape == plain.shape and augmented.dtype == torch.uint8
    assert not torch.equal(augmented, plain)
    assert torch.equal(augmented[0], augmented[1])  # grey: all channels equal
