"""Video backbones and the heads on their pooled features (profiles: `cstp.models.profile`)."""

from cstp.models.backbones import BACKBONES, build_backbone
from cstp.models.heads import MLP, Classifier, ClipHead, PairHead

__all__ = ["BACKBONES", "MLP", "Classifier", "ClipHead", "PairHead", "build_backbone"]
