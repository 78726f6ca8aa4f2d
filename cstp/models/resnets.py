"""Width-scalable video ResNets (R(2+1)D-10/-18, R3D-18) built from torchvision's blocks.

Also owns the two conventions every backbone here shares: channel scaling by a width multiplier and
torchvision's video-ResNet weight initialisation.
"""

from collections.abc import Sequence

import torch
from torch import nn
from torchvision.models.video.resnet import BasicBlock, Conv2Plus1D, Conv3DSimple

ConvBuilder = type[Conv2Plus1D] | type[Conv3DSimple]

# Stage widths of every video ResNet here (conv2_x .. conv5_x).
STAGE_WIDTHS = (64, 128, 256, 512)
# torchvision's R(2+1)D stem uses a fixed 45 mid channels rather than the mid_channels formula.
R2PLUS1D_STEM_MID = 45


def scale_channels(channels: int, width: float) -> int:
    """`channels` times `width`, rounded half up, at least 1."""
    return max(1, int(channels * width + 0.5))


def mid_channels(in_planes: int, out_planes: int, t: int = 3, d: int = 3) -> int:
    """Tran et al.'s M: mid channels that give a (1,d,d) + (t,1,1) pair a t x d x d conv's size.

    M = floor(t*d^2*Nin*Nout / (d^2*Nin + t*Nout)), the formula torchvision's BasicBlock uses.
    """
    return (t * d * d * in_planes * out_planes) // (d * d * in_planes + t * out_planes)


class PerConvBasicBlock(BasicBlock):
    """torchvision's BasicBlock with each factorised conv's M computed from its own channels.

    torchvision sizes both convs of a block by M(inplanes, planes); Tran et al., VCOP and the
    official CSTP code give the second conv M(planes, planes), which differs in a stage's first
    block (288 instead of 230 mid channels for 64 -> 128). That makes R(2+1)D-10 14.4 M params.
    """

    def __init__(
        self,
        inplanes: int,
        planes: int,
        conv_builder: ConvBuilder,
        stride: int = 1,
        downsample: nn.Module | None = None,
    ):
        """Arguments as torchvision's BasicBlock."""
        super().__init__(inplanes, planes, conv_builder, stride, downsample)
        self.conv2[0] = conv_builder(planes, planes, mid_channels(planes, planes))


def init_weights(model: nn.Module) -> None:
    """Initialise as torchvision's video ResNets do: Kaiming-normal (fan_out) convs, BN to identity.

    Linear layers get N(0, 0.01) weights and zero bias, so a new S3D-G gate starts near 0.5.
    """
    for m in model.modules():
        if isinstance(m, nn.Conv3d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm3d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.01)
            nn.init.zeros_(m.bias)


def r2plus1d_stem(out_planes: int, mid_planes: int) -> nn.Sequential:
    """Factorised stem: (1,7,7) stride (1,2,2) conv -> BN -> ReLU -> (3,1,1) conv -> BN -> ReLU.

    Same layer order as torchvision's R2Plus1dStem, so state-dict keys match at width 1.
    """
    return nn.Sequential(
        nn.Conv3d(3, mid_planes, (1, 7, 7), stride=(1, 2, 2), padding=(0, 3, 3), bias=False),
        nn.BatchNorm3d(mid_planes),
        nn.ReLU(inplace=True),
        nn.Conv3d(mid_planes, out_planes, (3, 1, 1), padding=(1, 0, 0), bias=False),
        nn.BatchNorm3d(out_planes),
        nn.ReLU(inplace=True),
    )


def r3d_stem(out_planes: int) -> nn.Sequential:
    """3D stem: (3,7,7) stride (1,2,2) conv -> BN -> ReLU (torchvision's BasicStem, no max-pool)."""
    return nn.Sequential(
        nn.Conv3d(3, out_planes, (3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3), bias=False),
        nn.BatchNorm3d(out_planes),
        nn.ReLU(inplace=True),
    )


def make_stage(
    block: type[BasicBlock],
    conv_builder: ConvBuilder,
    in_planes: int,
    planes: int,
    blocks: int,
    stride: int,
) -> nn.Sequential:
    """`blocks` BasicBlocks; the first one changes width / resolution through a 1x1x1 projection."""
    downsample = None
    if stride != 1 or in_planes != planes:
        downsample = nn.Sequential(
            nn.Conv3d(
                in_planes,
                planes,
                kernel_size=1,
                stride=conv_builder.get_downsample_stride(stride),
                bias=False,
            ),
            nn.BatchNorm3d(planes),
        )
    layers = [block(in_planes, planes, conv_builder, stride, downsample)]
    layers += [block(planes, planes, conv_builder) for _ in range(1, blocks)]
    return nn.Sequential(*layers)


class VideoResNet(nn.Module):
    """A video ResNet trunk ending in global average pooling: N x 3 x T x H x W -> N x out_dim.

    Submodule names follow torchvision's VideoResNet (stem, layer1..layer4, avgpool), so a
    torchvision state dict without `fc.*` loads into the width-1 model unchanged.
    """

    def __init__(
        self,
        conv_builder: ConvBuilder,
        layers: Sequence[int],
        stem: str,
        width: float = 1.0,
        per_conv_mid: bool = False,
    ):
        """
        Args:
            conv_builder: torchvision's Conv2Plus1D (R(2+1)D) or Conv3DSimple (R3D).
            layers: BasicBlocks per stage, e.g. (1, 1, 1, 1) for -10 or (2, 2, 2, 2) for -18.
            stem: "r2plus1d" (factorised (1,7,7)+(3,1,1)) or "r3d" (one (3,7,7) conv).
            width: multiplier on every channel count (1.0 = 64/128/256/512 stage widths).
            per_conv_mid: size every factorised conv's mid channels by mid_channels() of its own
                in/out channels, stem included (Tran et al., VCOP, official CSTP code); False keeps
                torchvision's layout (M shared within a block, 45-channel stem).
        """
        super().__init__()
        if len(layers) != len(STAGE_WIDTHS):
            raise ValueError(f"layers needs {len(STAGE_WIDTHS)} entries, got {list(layers)}")
        planes = [scale_channels(c, width) for c in STAGE_WIDTHS]
        if stem == "r2plus1d":
            if per_conv_mid:
                stem_mid = mid_channels(3, planes[0], t=3, d=7)  # 83 at width 1
            else:
                stem_mid = scale_channels(R2PLUS1D_STEM_MID, width)
            self.stem = r2plus1d_stem(planes[0], stem_mid)
        elif stem == "r3d":
            self.stem = r3d_stem(planes[0])
        else:
            raise ValueError(f"stem must be 'r2plus1d' or 'r3d', got {stem!r}")
        # conv2_x keeps the stem's resolution; conv3_x..conv5_x halve T, H and W.
        strides = (1, 2, 2, 2)
        block = PerConvBasicBlock if per_conv_mid else BasicBlock
        in_planes = planes[0]
        for i, (p, n, s) in enumerate(zip(planes, layers, strides, strict=True), start=1):
            self.add_module(f"layer{i}", make_stage(block, conv_builder, in_planes, p, n, s))
            in_planes = p
        self.avgpool = nn.AdaptiveAvgPool3d(1)
        self.out_dim = planes[-1]
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = self.layer4(x)
        return self.avgpool(x).flatten(1)  # N x out_dim


def r2plus1d_10(width: float = 1.0) -> VideoResNet:
    """R(2+1)D-10: one block per stage, per-conv mid channels; the CSTP paper's "R(2+1)D"."""
    return VideoResNet(Conv2Plus1D, (1, 1, 1, 1), "r2plus1d", width, per_conv_mid=True)


def r2plus1d_18(width: float = 1.0) -> VideoResNet:
    """R(2+1)D-18: torchvision's r2plus1d_18 without its fc layer (at width 1)."""
    return VideoResNet(Conv2Plus1D, (2, 2, 2, 2), "r2plus1d", width)


def r3d_18(width: float = 1.0) -> VideoResNet:
    """R3D-18: torchvision's r3d_18 without its fc layer (at width 1)."""
    return VideoResNet(Conv3DSimple, (2, 2, 2, 2), "r3d", width)
