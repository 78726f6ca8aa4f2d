"""The specs of what is measured on a cell: test accuracy of a fine-tuned classifier, and frozen
features with their linear probe and nearest-neighbour retrieval.

Each is a job of its own kind, so that changing how a number is measured re-runs the measurement
and never the training it measures.
"""

from __future__ import annotations

from dataclasses import dataclass

from cstp.specs.base import field
from cstp.specs.sampling import ClipSpec
from cstp.specs.train import PRECISIONS, BackboneSpec


@dataclass(frozen=True)
class EvalClips:
    """How a video is seen at test time: evenly spaced, centre-cropped clips covering it."""

    clips: int = field(
        10, "evenly spaced clips per video (logits or features averaged)", at_least=1
    )
    crop: float = field(
        0.875, "centre crop as a fraction of the short side (112 of 128)", above=0, at_most=1
    )
    batch_size: int = field(8, "videos per batch", at_least=1)

    def __post_init__(self):
        if self.clips < 1 or self.batch_size < 1 or not 0 < self.crop <= 1:
            raise ValueError(f"clips and batch_size must be positive, crop in (0, 1], got {self}")


@dataclass(frozen=True)
class EvaluateSpec:
    finetune: str = field("", "id of the fine-tuning run whose classifier is tested")
    test: EvalClips = field(EvalClips(), "test clips")

    def __post_init__(self):
        if not self.finetune:
            raise ValueError("finetune: give the id of the fine-tuning run to test")


@dataclass(frozen=True)
class ProbeSpec:
    weight_decay: float = field(1e-3, "L2 penalty of the logistic regression", at_least=0)
    max_iter: int = field(300, "L-BFGS iterations", at_least=1)


@dataclass(frozen=True)
class RetrievalSpec:
    center: bool = field(False, "subtract the gallery mean before normalising (CoCLR: yes)")
    ks: tuple[int, ...] = field((1, 5, 10, 20, 50), "the k of each recall R@k", at_least=1)

    def __post_init__(self):
        if not self.ks or any(k < 1 for k in self.ks):
            raise ValueError(f"ks must be positive integers, got {self.ks}")


@dataclass(frozen=True)
class FeatureSpec:
    dataset: str = field("ucf101", "dataset whose train and test videos are encoded")
    split: int = field(1, "official split", at_least=1)
    pretrain: str | None = field(None, "hash of the pretraining run; null: random init (scratch)")
    trained: str | None = field(
        None, "hash of a fine-tuning run whose backbone is encoded (the positive control)"
    )
    backbone: BackboneSpec = field(BackboneSpec(), "encoder")
    clip: ClipSpec = field(ClipSpec(), "clip shape (as in pretraining)")
    fixed_rate: int = field(
        1, "frame step of the clips (as the fine-tuned classifier is tested)", at_least=1
    )
    views: EvalClips = field(EvalClips(), "clips per video whose features are averaged")
    seed: int = field(0, "seed of the random initialisation when pretrain is null", at_least=0)
    precision: str = field("fp32", "fp32 or bf16 (CUDA)", choices=PRECISIONS)
    probe: ProbeSpec = field(ProbeSpec(), "the linear probe on these features")
    retrieval: RetrievalSpec = field(RetrievalSpec(), "retrieval: test queries, train gallery")

    def __post_init__(self):
        if self.pretrain is not None and self.trained is not None:
            raise ValueError("pretrain and trained: an encoder comes from one run, not two")
