"""Backbones: shapes at many clip sizes and widths, memory formats, gradients, exact agreement with
torchvision's models at width 1, parameter and FLOP counts, and the registry's errors."""

import pytest
import torch
from torch import nn
from torchvision.models.video import r2plus1d_18, r3d_18, s3d

from cstp.errors import CstpError
from cstp.models import BACKBONES, build_backbone
from cstp.models.profile import profile_backbone, profile_table
from cstp.models.resnets import mid_channels, scale_channels
from cstp.models.s3d import INCEPTION, S3DG

NAMES = sorted(BACKBONES)
FULL_DIM = {"c3d": 512, "r2plus1d_10": 512, "r2plus1d_18": 512, "r3d_18": 512, "s3d_g": 1024}


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def on_meta(build, *args, **kwargs) -> nn.Module:
    """Full-width models on the meta device: shapes and counts without allocating memory."""
    with torch.device("meta"):
        return build(*args, **kwargs)


def first_conv(model: nn.Module) -> nn.Conv3d:
    return next(m for m in model.modules() if isinstance(m, nn.Conv3d))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("width", [0.125, 0.25])
@pytest.mark.parametrize("clip", [(8, 32, 32), (16, 64, 64), (8, 48, 64), (6, 40, 24)])
def test_pooled_feature_has_out_dim_at_any_clip_size(name, width, clip):
    model = build_backbone(name, width)
    x = torch.randn(2, 3, *clip)  # N x C x T x H x W
    out = model(x)
    assert model.out_dim == scale_channels(FULL_DIM[name], width)
    assert out.shape == (2, model.out_dim)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", [n for n in NAMES if n != "s3d_g"])
@pytest.mark.parametrize("clip", [(4, 48, 64), (1, 8, 8), (3, 15, 9)])
def test_resnets_and_c3d_take_short_and_odd_clips(name, clip):
    model = build_backbone(name, 0.125)
    assert model(torch.randn(2, 3, *clip)).shape == (2, model.out_dim)


def test_s3d_g_works_at_its_minimum_clip_and_names_it_below():
    model = build_backbone("s3d_g", 0.125)
    assert model(torch.randn(2, 3, 5, 17, 17)).shape == (2, model.out_dim)
    for clip in [(4, 48, 64), (5, 16, 17), (5, 17, 16)]:
        with pytest.raises(CstpError, match=r"s3d_g needs clips of at least 5 frames and 17x17"):
            model(torch.randn(2, 3, *clip))


@pytest.mark.parametrize("name", NAMES)
def test_channels_last_3d_gives_the_same_features(name):
    # Eval mode: batch statistics of a tiny batch would amplify summation-order noise past any
    # sensible tolerance, while the layouts still differ in every conv, pool and gate.
    model = build_backbone(name, 0.25).eval()
    x = torch.randn(2, 3, 8, 32, 32)
    expected = model(x)
    model = model.to(memory_format=torch.channels_last_3d)
    got = model(x.contiguous(memory_format=torch.channels_last_3d))
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", NAMES)
def test_gradients_reach_the_first_conv(name):
    model = build_backbone(name, 0.125)
    model(torch.randn(2, 3, 8, 32, 32)).pow(2).sum().backward()
    grad = first_conv(model).weight.grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0


@pytest.mark.parametrize(("name", "reference"), [("r2plus1d_18", r2plus1d_18), ("r3d_18", r3d_18)])
def test_width_1_resnets_are_torchvisions_without_fc(name, reference):
    ours, theirs = on_meta(build_backbone, name), on_meta(reference)
    assert n_params(ours) == n_params(theirs) - n_params(theirs.fc)
    theirs_shapes = {k: v.shape for k, v in theirs.state_dict().items() if not k.startswith("fc.")}
    assert {k: v.shape for k, v in ours.state_dict().items()} == theirs_shapes


def test_width_1_r3d_18_computes_what_torchvision_computes():
    theirs = r3d_18().eval()
    theirs.fc = nn.Identity()
    ours = build_backbone("r3d_18").eval()
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(1, 3, 4, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x))


def test_plain_s3d_is_torchvisions_s3d_features_and_gating_adds_a_gate_per_branch():
    theirs = on_meta(s3d).features
    plain = on_meta(S3DG, gating=False)
    assert n_params(plain) == n_params(theirs)
    assert {k: v.shape for k, v in plain.features.state_dict().items()} == {
        k: v.shape for k, v in theirs.state_dict().items()
    }
    branch_outs = [c for b in INCEPTION.values() for c in (b[0], b[2], b[4], b[5])]
    gates = sum(c * c + c for c in branch_outs)  # one Linear(c, c) per branch
    assert n_params(on_meta(S3DG)) == n_params(plain) + gates


def test_plain_s3d_computes_torchvisions_features_with_an_adaptive_pool():
    theirs = s3d().eval()
    ours = S3DG(gating=False).eval()
    ours.features.load_state_dict(theirs.features.state_dict())
    x = torch.randn(1, 3, 8, 64, 64)
    with torch.no_grad():
        # Only BN's eps differs (1e-5 here, 1e-3 there): ~1e-3 relative at unit running variance.
        torch.testing.assert_close(
            ours(x), theirs.features(x).mean(dim=(2, 3, 4)), rtol=1e-2, atol=1e-4
        )


@pytest.mark.parametrize(("name", "millions"), [("r2plus1d_10", 14.4), ("c3d", 27.7)])
def test_paper_backbones_have_their_published_size(name, millions):
    assert n_params(on_meta(build_backbone, name)) / 1e6 == pytest.approx(millions, rel=0.005)


def test_r2plus1d_10_sizes_each_factorised_conv_by_its_own_channels():
    model = on_meta(build_backbone, "r2plus1d_10")
    block = model.layer2[0]  # 64 -> 128: the two convs' M differ, unlike torchvision's BasicBlock
    assert block.conv1[0][0].out_channels == mid_channels(64, 128) == 230
    assert block.conv2[0][0].out_channels == mid_channels(128, 128) == 288
    assert model.stem[0].out_channels == mid_channels(3, 64, t=3, d=7) == 83


def stage_channels(model: nn.Module, x: torch.Tensor) -> list[int]:
    """Output channels of layer1..layer4, read from a forward pass."""
    seen: list[int] = []
    hooks = [
        getattr(model, f"layer{i}").register_forward_hook(lambda m, i, o: seen.append(o.shape[1]))
        for i in range(1, 5)
    ]
    model(x)
    for h in hooks:
        h.remove()
    return seen


@pytest.mark.parametrize("name", ["r2plus1d_10", "r2plus1d_18", "r3d_18"])
def test_width_scales_every_resnet_stage(name):
    x = torch.randn(1, 3, 4, 16, 16)
    assert stage_channels(build_backbone(name, 0.25).eval(), x) == [16, 32, 64, 128]
    assert stage_channels(build_backbone(name, 0.125).eval(), x) == [8, 16, 32, 64]


def test_width_scales_every_c3d_conv_and_s3d_block():
    c3d = build_backbone("c3d", 0.25)
    convs = [m.out_channels for m in c3d.modules() if isinstance(m, nn.Conv3d)]
    assert convs == [16, 32, 64, 64, 128, 128, 128, 128]
    s3d_g = build_backbone("s3d_g", 0.5)
    assert s3d_g.features[-1].branch0[0].out_channels == 192  # Mixed_5c branch 0: 384 x 0.5


def test_scale_channels_rounds_half_up_and_never_reaches_zero():
    assert [scale_channels(c, 0.25) for c in (64, 45, 6, 1)] == [16, 11, 2, 1]
    assert scale_channels(512, 0.001) == 1
    assert scale_channels(64, 1.5) == 96


def test_weights_start_as_torchvision_initialises_them():
    model = build_backbone("c3d", 0.25)
    conv = model.features.conv3b[0]  # 64 -> 64, 3x3x3: fan_out = 64 * 27
    assert conv.weight.std().item() == pytest.approx((2 / (64 * 27)) ** 0.5, rel=0.05)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm3d)]
    assert all(bool((b.weight == 1).all() and (b.bias == 0).all()) for b in bns)


def test_unknown_backbone_is_named_with_the_known_ones():
    with pytest.raises(
        CstpError, match=r"unknown backbone 'r2plus1d'; known backbones: c3d, r2plus"
    ):
        build_backbone("r2plus1d")


@pytest.mark.parametrize("width", [0, -0.5, float("nan"), float("inf"), "0.5", True])
def test_width_must_be_a_positive_number(width):
    with pytest.raises(CstpError, match="backbone width must be a positive number"):
        build_backbone("c3d", width)


@pytest.mark.parametrize(
    ("name", "gflops"),
    # gpu-ceilings.md (torchvision models, FlopCounterMode, 3x16x112x112) and data-and-peers.md
    # (R(2+1)D-10: 21.4 GMAC = 42.8 GFLOPs, VCOP's net, whose 1x1x1 shortcut is factorised).
    [
        ("r3d_18", 81.4),
        ("r2plus1d_18", 81.0),
        ("c3d", 77.0),
        ("s3d_g", 8.95),
        ("r2plus1d_10", 42.8),
    ],
)
def test_forward_flops_match_the_measured_counts(name, gflops):
    profile = profile_backbone(name, 1.0, 16, 112)
    assert profile["gflops"] == pytest.approx(gflops, rel=0.005)
    assert profile["out_dim"] == FULL_DIM[name]


def test_profile_table_has_a_row_per_backbone_in_order():
    table = profile_table(["s3d_g", "c3d"], width=0.25, frames=16, size=32)
    assert list(table["backbone"]) == ["s3d_g", "c3d"]
    assert list(table["out_dim"]) == [256, 128]
    assert table.loc[1, "params"] == n_params(build_backbone("c3d", 0.25))
    # C3D's pools divide 16 and 8 frames evenly, so half the frames is exactly half the cost.
    half = profile_backbone("c3d", 0.25, 8, 32)["gflops"]
    assert half == pytest.approx(table.loc[1, "gflops"] / 2, rel=1e-9)


def test_the_specs_allow_exactly_the_backbones_there_are():
    from cstp.specs.train import BACKBONES as ALLOWED

    assert sorted(ALLOWED) == NAMES
