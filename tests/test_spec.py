"""Specs from config dicts: defaults, one-line errors naming the key, content hashes."""

import pytest

from cstp.errors import CstpError
from cstp.specs.base import from_dict, spec_hash, to_dict
from cstp.specs.sampling import SamplingSpec


def test_defaults_fill_missing_keys_and_round_trip():
    spec = from_dict(SamplingSpec, {"clip": {"frames": 8}, "pretext": ["rotation"]})
    assert spec.clip.frames == 8 and spec.clip.size == 112
    assert spec.pretext == ("rotation",)
    assert from_dict(SamplingSpec, to_dict(spec)) == spec


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"clip": {"frame": 8}},
            r"pretrain\.clip\.frame: unknown key; allowed: frames, short_side, size",
        ),
        ({"clip": {"frames": "8"}}, r"pretrain\.clip\.frames: expected int, got '8'"),
        (
            {"pretext": {"rotation": 1}},
            r"pretrain\.pretext: expected a list, got \{'rotation': 1\}",
        ),
        (
            {"pretext": ["rotations"]},
            r"pretrain: pretext: 'rotations' is not a pretext task \(play",
        ),
        ({"base": {"crop_scale": [0.2]}}, r"pretrain\.base\.crop_scale: expected 2 values"),
        ({"stor": {"crop_scale": "big"}}, r"pretrain\.stor\.crop_scale: 'big' is not one of"),
        ({"base": {"crop_scale": [0.5, 1.5]}}, r"pretrain\.base: crop_scale must satisfy"),
        ({"clip": 3}, r"pretrain\.clip: expected a mapping, got 3"),
    ],
)
def test_errors_name_the_key_and_what_is_allowed(data, message):
    with pytest.raises(CstpError, match=message):
        from_dict(SamplingSpec, data, "pretrain")


def test_hash_depends_on_content_only():
    a = from_dict(SamplingSpec, {"pretext": ["rotation", "playback_rate"]})
    b = from_dict(SamplingSpec, {"pretext": ["playback_rate", "rotation"]})  # one spelling
    c = from_dict(SamplingSpec, {"pretext": ["rotation"]})
    assert spec_hash(a) == spec_hash(b) != spec_hash(c)
    assert len(spec_hash(a)) == 10


def test_a_partial_nested_mapping_keeps_the_fields_own_default():
    from cstp.specs.train import FinetuneSpec

    spec = from_dict(FinetuneSpec, {"optim": {"epochs": 2}})
    assert spec.optim.epochs == 2
    assert spec.optim.warmup_epochs == 0.0 and spec.optim.lr == 0.025  # FinetuneSpec's default
    assert spec.optim.batch_size == 60
