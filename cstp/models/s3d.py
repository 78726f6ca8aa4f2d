"""S3D-G (separable 3D Inception with feature gating, Xie et al. 2018) from torchvision's blocks."""

import torch
from torch import nn
from torchvision.models.video.s3d import SepInceptionBlock3D, TemporalSeparableConv
from torchvision.ops.misc import Conv3dNormActivation

from cstp.errors import CstpError
from cstp.models.resnets import init_weights, scale_channels

# Inception blocks Mixed_3b .. Mixed_5c: (b0_out, b1_mid, b1_out, b2_mid, b2_out, b3_out), as in
# torchvision's S3D; a block's input width is the sum of the previous block's four outputs.
INCEPTION = {
    "3b": (64, 96, 128, 16, 32, 32),
    "3c": (128, 128, 192, 32, 96, 64),
    "4b": (192, 96, 208, 16, 48, 64),
    "4c": (160, 112, 224, 24, 64, 64),
    "4d": (128, 128, 256, 24, 64, 64),
    "4e": (112, 144, 288, 32, 64, 64),
    "4f": (256, 160, 320, 32, 128, 128),
    "5b": (256, 160, 320, 32, 128, 128),
    "5c": (384, 192, 384, 48, 128, 128),
}
# (kernel, stride, padding) of the max-pool before these blocks; 4b's and 5b's also halve time.
POOL_BEFORE = {
    "3b": ((1, 3, 3), (1, 2, 2), (0, 1, 1)),
    "4b": ((3, 3, 3), (2, 2, 2), (1, 1, 1)),
    "5b": ((2, 2, 2), (2, 2, 2), (0, 0, 0)),
}


class SelfGating(nn.Module):
    """Feature gating: x * sigmoid(W mean_{T,H,W}(x) + b), one gate per channel."""

    def __init__(self, channels: int):
        """
        Args:
            channels: number of channels gated (W is channels x channels).
        """
        super().__init__()
        self.fc = nn.Linear(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = torch.sigmoid(self.fc(x.mean(dim=(2, 3, 4))))  # N x C
        return x * gate[:, :, None, None, None]


class GatedSepInceptionBlock3D(SepInceptionBlock3D):
    """torchvision's separable Inception block with a SelfGating on each branch, then concatenation.

    Gating per branch (not on the concatenation) is what S3D-G and CoCLR's s3dg do; it keeps the
    gate matrices small (sum of squares of the branch widths, not the square of their sum).
    """

    def __init__(
        self,
        in_planes: int,
        b0_out: int,
        b1_mid: int,
        b1_out: int,
        b2_mid: int,
        b2_out: int,
        b3_out: int,
        norm_layer: type[nn.Module],
    ):
        """
        Args:
            in_planes: input channels.
            b0_out: output channels of branch 0 (1x1x1 conv).
            b1_mid, b1_out: 1x1x1 bottleneck and separable-conv output channels of branch 1.
            b2_mid, b2_out: the same for branch 2.
            b3_out: output channels of branch 3 (3x3x3 max-pool, 1x1x1 conv).
            norm_layer: normalisation after every conv.
        """
        super().__init__(
            in_planes, b0_out, b1_mid, b1_out, b2_mid, b2_out, b3_out, norm_layer=norm_layer
        )
        self.gates = nn.ModuleList(SelfGating(c) for c in (b0_out, b1_out, b2_out, b3_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = (self.branch0, self.branch1, self.branch2, self.branch3)
        outs = [gate(branch(x)) for branch, gate in zip(branches, self.gates, strict=True)]
        return torch.cat(outs, dim=1)  # N x (b0_out + b1_out + b2_out + b3_out) x T x H x W


class S3DG(nn.Module):
    """S3D-G trunk with global average pooling: N x 3 x T x H x W -> N x 1024w.

    `features` has the layer order of torchvision's S3D.features, so with gating off and width 1
    torchvision's S3D state dict (without the classifier) loads unchanged.
    """

    # Smallest clip its unpadded (2,2,2) max-pool before Mixed_5b still has a window in.
    min_frames = 5
    min_size = 17

    def __init__(self, width: float = 1.0, gating: bool = True):
        """
        Args:
            width: multiplier on every channel count (1.0 = torchvision's S3D widths, 1024-d out).
            gating: add SelfGating to every Inception branch (S3D-G); False gives plain S3D.
        """
        super().__init__()
        # PyTorch's default BN (as CoCLR), not torchvision's TF-style momentum 0.001: running
        # statistics that move 100x slower are a poor fit for short from-scratch pretraining.
        norm = nn.BatchNorm3d
        c64, c192 = scale_channels(64, width), scale_channels(192, width)
        layers: list[nn.Module] = [
            TemporalSeparableConv(3, c64, 7, 2, 3, norm),  # stride 2 in T, H and W
            nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
            Conv3dNormActivation(c64, c64, kernel_size=1, norm_layer=norm),
            TemporalSeparableConv(c64, c192, 3, 1, 1, norm),
        ]
        block = GatedSepInceptionBlock3D if gating else SepInceptionBlock3D
        in_planes = c192
        for name, base in INCEPTION.items():
            if name in POOL_BEFORE:
                layers.append(nn.MaxPool3d(*POOL_BEFORE[name]))
            channels = [scale_channels(c, width) for c in base]
            layers.append(block(in_planes, *channels, norm_layer=norm))
            in_planes = channels[0] + channels[2] + channels[4] + channels[5]
        self.features = nn.Sequential(*layers)
        # Adaptive, unlike torchvision's fixed (2,7,7) window that only fits 224 px, 16+ frames.
        self.avgpool = nn.AdaptiveAvgPool3d(1)
        self.out_dim = in_planes
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        frames, height, width = x.shape[2:]
        if frames < self.min_frames or min(height, width) < self.min_size:
            raise CstpError(
                f"s3d_g needs clips of at least {self.min_frames} frames and "
                f"{self.min_size}x{self.min_size} pixels, got {frames}x{height}x{width}"
            )
        return self.avgpool(self.features(x)).flatten(1)  # N x out_dim
