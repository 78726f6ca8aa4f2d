"""C3D with BatchNorm, the variant of the self-supervised video literature (VCOP, CSTP)."""

from collections import OrderedDict

import torch
from torch import nn

from cstp.models.resnets import init_weights, scale_channels

# (conv name, output channels, max-pool window after it or None). There is no pool5: the global
# average pool takes its place, as in the official CSTP code and VCOP's successors.
LAYOUT: tuple[tuple[str, int, tuple[int, int, int] | None], ...] = (
    ("conv1", 64, (1, 2, 2)),  # time is not pooled before conv2, as in the original C3D
    ("conv2", 128, (2, 2, 2)),
    ("conv3a", 256, None),
    ("conv3b", 256, (2, 2, 2)),
    ("conv4a", 512, None),
    ("conv4b", 512, (2, 2, 2)),
    ("conv5a", 512, None),
    ("conv5b", 512, None),
)


def conv_bn_relu(in_planes: int, out_planes: int) -> nn.Sequential:
    """3x3x3 conv -> BN -> ReLU; no conv bias because BN's shift replaces it."""
    return nn.Sequential(
        nn.Conv3d(in_planes, out_planes, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm3d(out_planes),
        nn.ReLU(inplace=True),
    )


class C3D(nn.Module):
    """C3D trunk (8 convs + BN, no fc6/fc7), average-pooled: N x 3 x T x H x W -> N x 512w."""

    def __init__(self, width: float = 1.0):
        """
        Args:
            width: multiplier on every channel count (1.0 = 64, 128, 256x2, 512x4).
        """
        super().__init__()
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        in_planes = 3
        for name, channels, pool in LAYOUT:
            out_planes = scale_channels(channels, width)
            layers[name] = conv_bn_relu(in_planes, out_planes)
            if pool is not None:
                # ceil_mode keeps short or odd-sized clips (e.g. 4 frames) alive; on the even sizes
                # of the paper's 16x112x112 clips it is identical to the usual floor pooling.
                stage = name.removeprefix("conv")[0]  # conv3b -> pool3
                layers[f"pool{stage}"] = nn.MaxPool3d(pool, stride=pool, ceil_mode=True)
            in_planes = out_planes
        self.features = nn.Sequential(layers)
        self.avgpool = nn.AdaptiveAvgPool3d(1)
        self.out_dim = in_planes
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.avgpool(self.features(x)).flatten(1)  # N x out_dim
