"""Heads on pooled backbone features: projector/predictor, pretext classifiers, fine-tuning head."""

import torch
import torch.nn.functional as F
from torch import nn


class MLP(nn.Sequential):
    """Linear -> BatchNorm1d -> ReLU -> Linear: N x in_dim -> N x out_dim.

    The projector and predictor shape of BYOL / SimSiam / SimCLR / MoCo-v2 (the official CSTP code
    uses MLP(512, 4096, 512) for both).
    """

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, bn: bool = True):
        """
        Args:
            in_dim: input feature size.
            hidden_dim: hidden layer size.
            out_dim: output size.
            bn: BatchNorm1d after the hidden Linear (False: Linear -> ReLU -> Linear).
        """
        norm: nn.Module = nn.BatchNorm1d(hidden_dim) if bn else nn.Identity()
        super().__init__(
            nn.Linear(in_dim, hidden_dim),
            norm,
            nn.ReLU(inplace=True),
            nn.Linear(hidden_dim, out_dim),
        )
        self.out_dim = out_dim


class ClipHead(MLP):
    """Per-clip pretext classifier (playback rate, rotation): Linear(d,d)-BN-ReLU-Linear(d,k)."""

    def __init__(self, in_dim: int, classes: int):
        """
        Args:
            in_dim: feature size d of one clip.
            classes: number of labels (4 playback rates, 4 rotations).
        """
        super().__init__(in_dim, in_dim, classes)


class PairHead(nn.Module):
    """STOR classifier on a clip pair: Linear(2d,2d)-BN-ReLU-Linear(2d,classes) of cat(h1, h2).

    Order matters: clip 1 first, as in the official code, so the head can tell which clip is which.
    """

    def __init__(self, in_dim: int, classes: int):
        """
        Args:
            in_dim: feature size d of one clip.
            classes: number of overlap-rate labels (5 in the paper).
        """
        super().__init__()
        self.mlp = MLP(2 * in_dim, 2 * in_dim, classes)
        self.out_dim = classes

    def forward(self, h1: torch.Tensor, h2: torch.Tensor) -> torch.Tensor:
        if h1.shape != h2.shape:
            raise ValueError(
                f"clip features differ in shape: {tuple(h1.shape)} vs {tuple(h2.shape)}"
            )
        return self.mlp(torch.cat((h1, h2), dim=1))  # N x 2d -> N x classes


class Classifier(nn.Module):
    """Fine-tuning / linear-probe head of the official code: L2-normalise, BN, (dropout), Linear.

    Normalising and batch-normalising puts features from any pretraining on one scale, so one
    learning rate suits every backbone; `normalise=False` gives (dropout ->) a plain Linear.
    """

    def __init__(self, in_dim: int, classes: int, dropout: float = 0.0, normalise: bool = True):
        """
        Args:
            in_dim: backbone feature size.
            classes: number of action classes (101 for UCF-101, 51 for HMDB-51).
            dropout: dropout probability before the Linear (0 = none).
            normalise: L2-normalise and BatchNorm1d the features first.
        """
        super().__init__()
        self.normalise = normalise
        self.bn = nn.BatchNorm1d(in_dim) if normalise else nn.Identity()
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(in_dim, classes)
        self.out_dim = classes

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if self.normalise:
            h = F.normalize(h, dim=1)
        return self.fc(self.dropout(self.bn(h)))  # N x classes
