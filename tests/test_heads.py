"""Heads on pooled features: shapes, layer layout, clip order of the pair head, scale invariance of
the fine-tuning classifier."""

import pytest
import torch
from torch import nn

from cstp.models import MLP, Classifier, ClipHead, PairHead


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def linear_shapes(module: nn.Module) -> list[tuple[int, int]]:
    return [(m.in_features, m.out_features) for m in module.modules() if isinstance(m, nn.Linear)]


def has_bn(module: nn.Module) -> bool:
    return any(isinstance(m, nn.BatchNorm1d) for m in module.modules())


def test_mlp_is_linear_bn_relu_linear_with_byol_sizes():
    mlp = MLP(512, 4096, 256)
    assert [type(m) for m in mlp] == [nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Linear]
    assert linear_shapes(mlp) == [(512, 4096), (4096, 256)]
    assert mlp(torch.randn(4, 512)).shape == (4, 256)


def test_mlp_without_bn_has_no_batch_norm_and_takes_a_single_sample():
    mlp = MLP(16, 32, 8, bn=False)
    assert not has_bn(mlp)
    assert mlp(torch.randn(1, 16)).shape == (1, 8)  # BN would refuse a batch of one in training


def test_clip_head_keeps_the_feature_width_in_its_hidden_layer():
    head = ClipHead(64, 4)
    assert linear_shapes(head) == [(64, 64), (64, 4)] and has_bn(head)
    assert head(torch.randn(3, 64)).shape == (3, 4)


def test_pair_head_classifies_the_concatenation_with_clip_1_first():
    head = PairHead(32, 5)
    assert linear_shapes(head) == [(64, 64), (64, 5)] and has_bn(head)
    h1, h2 = torch.randn(6, 32), torch.randn(6, 32)
    out = head(h1, h2)
    assert out.shape == (6, 5)
    head.eval()
    torch.testing.assert_close(head(h1, h2), head.mlp(torch.cat((h1, h2), dim=1)))
    assert not torch.allclose(head(h1, h2), head(h2, h1))


def test_pair_head_refuses_clips_of_different_width():
    with pytest.raises(ValueError, match=r"clip features differ in shape: \(6, 32\) vs \(6, 16\)"):
        PairHead(32, 5)(torch.randn(6, 32), torch.randn(6, 16))


@pytest.mark.parametrize("train", [True, False])
def test_classifier_ignores_feature_scale(train):
    head = Classifier(48, 101).train(train)
    h = torch.randn(8, 48)
    out = head(h)
    assert out.shape == (8, 101)
    torch.testing.assert_close(head(7.0 * h), out, atol=1e-4, rtol=1e-4)


def test_plain_classifier_is_one_linear_layer():
    head = Classifier(48, 51, normalise=False).eval()
    assert not has_bn(head) and linear_shapes(head) == [(48, 51)]
    h = torch.randn(8, 48)
    torch.testing.assert_close(head(h), head.fc(h))


def test_classifier_dropout_acts_only_in_training():
    head = Classifier(48, 10, dropout=0.5)
    h = torch.randn(64, 48)
    head.eval()
    torch.testing.assert_close(head(h), head(h))
    head.train()
    assert not torch.allclose(head(h), head(h))
