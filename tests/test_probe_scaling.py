"""The linear probe's feature scaling switch (docs/synthetic-world.md measures its seed spread)."""

from __future__ import annotations

import pytest
import torch

from cstp.engine.probe import SCALINGS, linear_probe, scale_features
from cstp.errors import CstpError


def test_standardise_is_the_default_and_uses_the_training_videos_only():
    torch.manual_seed(0)
    train, test = torch.randn(50, 4) * 3 + 7, torch.randn(20, 4) + 100
    x_train, x_test = scale_features(train, test)
    assert torch.allclose(x_train.mean(0), torch.zeros(4), atol=1e-5)
    assert torch.allclose(x_train.std(0), torch.ones(4), atol=1e-5)
    assert x_test.mean() > 10  # test videos are scaled with the training statistics
    raw = scale_features(train, test, "none")
    assert raw[0] is train and raw[1] is test
    l2 = scale_features(train * torch.rand(50, 1) * 10, test, "l2")[0]
    assert torch.allclose(l2.std(0), torch.ones(4), atol=1e-5)


@pytest.mark.parametrize("scaling", SCALINGS)
def test_every_scaling_separates_separable_features(scaling):
    torch.manual_seed(0)
    centres = torch.randn(3, 8) * 5
    labels = torch.arange(3).repeat(20)
    train, test = centres[labels] + torch.randn(60, 8), centres[labels] + torch.randn(60, 8)
    assert linear_probe(train, labels, test, labels, scaling=scaling)["probe_test"] > 0.95


def test_unknown_scaling_is_refused():
    with pytest.raises(CstpError, match="scaling 'whiten'"):
        scale_features(torch.zeros(2, 2), torch.zeros(2, 2), "whiten")
