"""Loss terms against hand computations; momentum encoders, queue and stop-gradient behaviour."""

import math

import pytest
import torch

from cstp import losses
from cstp.models.contrastive import BYOL, MoCo, MomentumScheme, SimSiam, build_scheme
from cstp.models.joint import head_of, term_weights
from cstp.specs.train import ContrastiveSpec, LossWeights


def test_info_nce_by_hand():
    # Two videos, unit vectors at right angles, temperature 1.
    z1 = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    z2 = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    # View 0 (z1[0]): similarities to views 1, 2, 3 = 0 (z1[1]), 1 (its positive z2[0]), 0.
    per_view = -math.log(math.e / (math.e + 2))
    assert losses.info_nce(z1, z2, 1.0).item() == pytest.approx(per_view, rel=1e-6)
    # Temperature scales the logits.
    per_view = -math.log(math.exp(10) / (math.exp(10) + 2))
    assert losses.info_nce(z1, z2, 0.1).item() == pytest.approx(per_view, abs=1e-6)


def test_info_nce_rows_select_this_processes_pairs():
    torch.manual_seed(0)
    z1, z2 = torch.randn(6, 4), torch.randn(6, 4)
    whole = losses.info_nce(z1, z2, 0.5)
    halves = [losses.info_nce(z1, z2, 0.5, torch.arange(k, k + 3)) for k in (0, 3)]
    assert (halves[0] + halves[1]).item() / 2 == pytest.approx(whole.item(), rel=1e-6)


def test_moco_infonce_by_hand():
    q = torch.tensor([[1.0, 0.0]])
    k = torch.tensor([[2.0, 0.0]])  # normalised inside
    queue = torch.tensor([[0.0, 1.0], [-1.0, 0.0]])
    expected = -math.log(math.e / (math.e + math.exp(0) + math.exp(-1)))
    assert losses.moco_infonce(q, k, queue, 1.0).item() == pytest.approx(expected, rel=1e-6)


def test_byol_and_simsiam_losses_by_hand():
    p = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    z = torch.tensor([[0.0, 3.0], [2.0, 0.0]])  # cosines 0 and 1
    assert losses.byol_loss(p, z).item() == pytest.approx((2.0 + 0.0) / 2)
    assert losses.simsiam_loss(p, z).item() == pytest.approx(-(0.0 + 1.0) / 2)


def test_stop_gradient_on_the_target_branch():
    p = torch.randn(4, 3, requires_grad=True)
    z = torch.randn(4, 3, requires_grad=True)
    (losses.simsiam_loss(p, z) + losses.byol_loss(p, z)).backward()
    assert p.grad is not None and p.grad.abs().sum() > 0
    assert z.grad is None


def test_joint_loss_weights_and_drops_terms():
    terms = {"contrastive": torch.tensor(2.0), "rotation": torch.tensor(3.0)}
    total, values = losses.joint_loss(terms, {"contrastive": 0.1, "rotation": 1.0})
    assert total.item() == pytest.approx(3.2)
    total, _ = losses.joint_loss(terms, {"contrastive": 0.0, "rotation": 1.0})
    assert total.item() == pytest.approx(3.0)
    assert values == {"contrastive": 2.0, "rotation": 3.0}
    with pytest.raises(ValueError, match="no weighted loss term"):
        losses.joint_loss(terms, {})


def test_stor_weights_multiply_lambda_and_l():
    weights = term_weights(LossWeights(stor=0.5, stor_spatial=2.0, stor_temporal=4.0))
    assert weights["stor_spatial"] == 1.0 and weights["stor_temporal"] == 2.0


def test_per_clip_pretext_loss_sums_the_two_clips_cross_entropies():
    # Clip 1 gives class 1 probability 3/4; clip 2 gives class 0 probability 1/2.
    logits = torch.log(torch.tensor([[[1.0, 3.0]], [[1.0, 1.0]]]))  # 2 clips x N=1 x K=2
    targets = torch.tensor([[1], [0]])
    expected = -math.log(3 / 4) - math.log(1 / 2)
    assert losses.per_clip_pretext_loss(logits, targets).item() == pytest.approx(expected)


def test_pair_pretext_loss_is_the_mean_cross_entropy_over_pairs():
    logits = torch.log(torch.tensor([[1.0, 1.0, 2.0], [4.0, 3.0, 1.0]]))  # N=2 x K=3
    targets = torch.tensor([2, 1])
    expected = (-math.log(2 / 4) - math.log(3 / 8)) / 2
    assert losses.pair_pretext_loss(logits, targets).item() == pytest.approx(expected)


def test_pretext_tasks_read_labels_per_clip_or_per_pair():
    rotation = torch.tensor([[0, 3], [1, 2]])  # N x 2: one rotation per clip
    assert head_of("rotation").targets(rotation).tolist() == [[0, 1], [3, 2]]
    rate = torch.tensor([2, 0])  # both clips play at one rate
    assert head_of("playback_rate").targets(rate).tolist() == [[2, 0], [2, 0]]
    assert head_of("stor_spatial").targets(rate) is rate
    tasks = ("playback_rate", "rotation", "stor_spatial", "stor_temporal")
    assert [head_of(t).per_clip for t in tasks] == [True, True, False, False]


class _Tiny(torch.nn.Module):
    out_dim = 3

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(2, 3)
        self.bn = torch.nn.BatchNorm1d(3)

    def forward(self, x):
        return self.bn(self.fc(x))


def _spec(scheme, **kw):
    return ContrastiveSpec(scheme=scheme, proj_hidden=8, proj_dim=4, pred_hidden=8, **kw)


def test_momentum_update_is_an_exponential_moving_average():
    backbone = _Tiny()
    byol = BYOL(_spec("byol", momentum=0.9), backbone)
    before = byol.target_backbone.fc.weight.clone()
    with torch.no_grad():
        backbone.fc.weight.add_(1.0)
    byol.update_target(progress=0.3)
    expected = 0.9 * before + 0.1 * backbone.fc.weight
    assert torch.allclose(byol.target_backbone.fc.weight, expected)
    assert not any(p.requires_grad for p in byol.target_backbone.parameters())


def test_cosine_momentum_schedule_reaches_one():
    byol = BYOL(_spec("byol", momentum=0.99, momentum_schedule="cosine"), _Tiny())
    byol.update_target(progress=0.0)
    assert byol.momentum == pytest.approx(0.99)
    byol.update_target(progress=1.0)
    assert byol.momentum == pytest.approx(1.0)


def test_moco_queue_replaces_oldest_keys_and_wraps():
    moco = MoCo(_spec("moco", queue=5, symmetric=False), _Tiny())
    keys = torch.eye(4)[:3]  # 3 keys of dim 4
    moco._dequeue_and_enqueue(keys)
    assert int(moco.queue_ptr) == 3 and torch.allclose(moco.queue[:3], keys)
    moco._dequeue_and_enqueue(keys)
    assert int(moco.queue_ptr) == 1
    assert torch.allclose(moco.queue[3:], keys[:2]) and torch.allclose(moco.queue[0], keys[2])


def test_schemes_give_finite_losses_and_no_gradient_into_targets():
    torch.manual_seed(0)
    x1, x2 = torch.randn(6, 2), torch.randn(6, 2)
    for name in ("simclr", "moco", "byol", "simsiam"):
        backbone = _Tiny()
        scheme = build_scheme(_spec(name, queue=8), backbone)
        loss = scheme.loss(backbone(x1), backbone(x2), x1, x2)
        assert torch.isfinite(loss), name
        loss.backward()
        assert backbone.fc.weight.grad is not None, name
        target = getattr(scheme, "target_backbone", None)
        if target is not None:
            assert all(p.grad is None for p in target.parameters()), name
    assert build_scheme(_spec("none"), _Tiny()) is None
    assert isinstance(build_scheme(_spec("simsiam"), _Tiny()), SimSiam)


def test_byol_is_twice_simsiam_plus_two_on_the_same_embeddings():
    torch.manual_seed(1)
    p, z = torch.randn(5, 4), torch.randn(5, 4)
    assert losses.byol_loss(p, z).item() == pytest.approx(2 + 2 * losses.simsiam_loss(p, z).item())


@pytest.mark.parametrize("name", ["byol", "moco", "simsiam"])
def test_a_symmetric_loss_is_the_mean_of_its_directions(name):
    """On two identical clips both directions are one number: a mean gives it, a sum twice it."""
    x = torch.randn(6, 2)
    values = []
    for symmetric in (True, False):
        torch.manual_seed(0)
        backbone = _Tiny()
        scheme = build_scheme(_spec(name, queue=8, symmetric=symmetric), backbone)
        scheme.eval()  # fixed BN statistics, no key shuffling: both directions see the same
        backbone.eval()
        values.append(scheme.loss(backbone(x), backbone(x), x, x).item())
    assert values[0] == pytest.approx(values[1])


def test_moco_has_its_own_momentum_and_temperature():
    moco = build_scheme(_spec("moco"), _Tiny())
    byol = build_scheme(_spec("byol"), _Tiny())
    assert moco.momentum == 0.999 and byol.momentum == 0.996
    assert moco.spec.moco_temperature == 0.2


def test_moco_keys_see_shuffled_halves_and_come_back_in_order():
    torch.manual_seed(0)
    moco = MoCo(_spec("moco", queue=8), _Tiny())
    x = torch.randn(8, 2)
    moco.train()
    shuffled = moco.target(x)
    whole = MomentumScheme.target(moco, x)
    assert not torch.allclose(shuffled, whole)  # other BatchNorm statistics
    moco.target_backbone.eval()  # running statistics: halves and whole batch agree
    moco.target_projector.eval()
    assert torch.allclose(moco.target(x), MomentumScheme.target(moco, x), atol=1e-6)
    steps = int(moco.shuffle_step)
    batch = MoCo(_spec("moco", queue=8, key_bn="batch"), _Tiny())
    batch.train()
    batch.target(x)
    assert steps == 2 and int(batch.shuffle_step) == 0
