"""The specs of the two training jobs of a cell: self-supervised pretraining and fine-tuning.

A spec is the whole identity of a run: its content hash names the run folder, so equal cells of
different tables are one job. Paths and devices are not part of a spec; they are given at run time.
"""

from __future__ import annotations

from dataclasses import dataclass

from cstp.specs.base import field
from cstp.specs.registry import SCHEMES, scheme_names
from cstp.specs.sampling import BaseAugment, ClipSpec, ColorJitter, SamplingSpec

PRECISIONS = ("fp32", "bf16")
PRECISION = "fp32, or bf16 autocast on CUDA (losses in fp32; a CPU runs fp32 and says so)"
BACKBONES = ("c3d", "r2plus1d_10", "r2plus1d_18", "r3d_18", "s3d_g")  # cstp.models.BACKBONES


@dataclass(frozen=True)
class OptimSpec:
    """SGD (or AdamW) with linear warm-up then cosine decay (the official pretraining recipe by
    default)."""

    optimizer: str = field(
        "sgd",
        "sgd (the paper's and the official code's) or adamw (decoupled weight decay, Adam's "
        "default betas; a small network on a CPU budget: docs/synthetic-world.md)",
        choices=("sgd", "adamw"),
    )
    epochs: int = field(300, "passes over the training videos", at_least=1)
    batch_size: int = field(60, "global batch size (split over processes)", at_least=1)
    lr: float = field(0.03, "peak learning rate", above=0)
    min_lr: float = field(1e-5, "learning rate at the start of warm-up and at the end", at_least=0)
    warmup_epochs: float = field(
        150.0, "linear warm-up length (official: half the epochs)", at_least=0
    )
    schedule: str = field("cosine", "after warm-up", choices=("cosine", "constant"))
    momentum: float = field(0.9, "SGD momentum (not used by adamw)", at_least=0, at_most=1)
    weight_decay: float = field(
        5e-4, "weight decay (adamw: decoupled, times the learning rate)", at_least=0
    )
    grad_clip: float | None = field(18.0, "max gradient norm (official: 18); null: off", above=0)


@dataclass(frozen=True)
class ContrastiveSettings:
    """What a preset sets for every contrastive scheme; the scheme itself comes from a row."""

    proj_hidden: int = field(4096, "projector hidden width (official BYOL: 4096)", at_least=1)
    proj_dim: int = field(512, "projection width (official BYOL: 512)", at_least=1)
    pred_hidden: int = field(4096, "predictor hidden width (BYOL, SimSiam)", at_least=1)
    temperature: float = field(0.1, "SimCLR: softmax temperature of NT-Xent", above=0)
    momentum: float = field(
        0.996, "BYOL: EMA momentum of the target encoder (official code)", at_least=0, at_most=1
    )
    moco_temperature: float = field(0.2, "MoCo: softmax temperature (MoCo v2)", above=0)
    moco_momentum: float = field(
        0.999, "MoCo: EMA momentum of the key encoder (MoCo)", at_least=0, at_most=1
    )
    queue: int = field(4096, "MoCo: number of negative keys kept", at_least=1)
    key_bn: str = field(
        "shuffle",
        "MoCo: BatchNorm statistics of the key encoder; shuffle: from two random halves of the "
        "batch (one process's stand-in for MoCo's shuffling BN); batch: from the whole batch, "
        "the same videos as the queries' (the leak MoCo's shuffling BN closes)",
        choices=("shuffle", "batch"),
    )
    momentum_schedule: str = field(
        "constant",
        "constant (official code) or cosine from the momentum to 1 (BYOL paper)",
        choices=("constant", "cosine"),
    )
    symmetric: bool = field(True, "BYOL / MoCo: both clips as query (official code: yes)")


@dataclass(frozen=True)
class ContrastiveSpec(ContrastiveSettings):
    scheme: str = field("none", "contrastive scheme (none: pretext tasks only)")

    def __post_init__(self):
        if self.scheme not in scheme_names():
            known = ", ".join(scheme_names())
            raise ValueError(f"scheme: {self.scheme!r} is not one of {known}")


@dataclass(frozen=True)
class LossWeights:
    """The paper's lambda (Eq. 5) and l (Eq. 4); official code: lambda_ctr = 0.1, the rest 1."""

    contrastive: float = field(0.1, "lambda_ctr", at_least=0)
    playback_rate: float = field(1.0, "lambda_pcls", at_least=0)
    rotation: float = field(1.0, "lambda_rcls", at_least=0)
    stor: float = field(1.0, "lambda_ocls", at_least=0)
    stor_spatial: float = field(1.0, "l_s, inside L_ocls", at_least=0)
    stor_temporal: float = field(1.0, "l_t, inside L_ocls", at_least=0)


@dataclass(frozen=True)
class BackboneSpec:
    name: str = field("r2plus1d_10", "backbone (see docs/models.md)", choices=BACKBONES)
    width: float = field(1.0, "channel-width multiplier (1: the paper's)", above=0)


@dataclass(frozen=True)
class PretrainSpec:
    dataset: str = field("ucf101", "pretraining dataset (its name in the config)")
    split: int = field(1, "official split whose training part is used, without labels", at_least=1)
    seed: int = field(0, "seed of initialisation, data order and sampling", at_least=0)
    backbone: BackboneSpec = field(BackboneSpec(), "encoder")
    sampling: SamplingSpec = field(SamplingSpec(), "clip pairs and pretext labels")
    contrastive: ContrastiveSpec = field(ContrastiveSpec(), "contrastive scheme")
    loss: LossWeights = field(LossWeights(), "weights of the loss terms")
    optim: OptimSpec = field(OptimSpec(), "optimiser and budget")
    sync_batchnorm: bool = field(
        False, "data parallelism (CUDA): BatchNorm statistics over every process's batch"
    )
    processes: int = field(
        1,
        "data-parallel processes (torchrun): each takes 1/N of every batch of optim.batch_size; "
        "BatchNorm statistics are per process unless sync_batchnorm, so N changes the numbers",
        at_least=1,
    )
    precision: str = field("fp32", PRECISION, choices=PRECISIONS)

    def __post_init__(self):
        if self.processes < 1 or self.optim.batch_size % self.processes:
            raise ValueError(batch_advice(self.optim.batch_size, self.processes))

    @property
    def backbone_passes(self) -> float:
        """Backbone passes per sample: both clips trained (2), plus a third per clip that a
        momentum (target) encoder embeds without gradient (BYOL and MoCo: both clips when
        symmetric, clip 2 only when not)."""
        target_clips = 0
        scheme = SCHEMES.get(self.contrastive.scheme)
        if scheme is not None and scheme.momentum_encoder:
            target_clips = 2 if self.contrastive.symmetric else 1
        return 2 + target_clips / 3

    @property
    def learns_anything(self) -> bool:
        return self.contrastive.scheme != "none" or bool(self.sampling.pretext)


def batch_advice(batch: int, processes: int) -> str:
    """Why `processes` cannot share a global batch of `batch`, and the sizes that would work."""
    if processes < 1:
        return f"processes: {processes} must be >= 1"
    lower, upper = batch // processes * processes, (batch // processes + 1) * processes
    batches = " or ".join(str(b) for b in (lower, upper) if b > 0)
    divisors = [n for n in range(1, batch + 1) if batch % n == 0]
    counts = ", ".join(map(str, divisors[:-1])) + f" or {divisors[-1]}"
    return (
        f"processes: {processes} do not divide optim.batch_size {batch}, the global batch: with "
        f"{processes} processes use a batch of {batches}; a batch of {batch} divides over "
        f"{counts} processes"
    )


@dataclass(frozen=True)
class ClassifierSpec:
    normalise: bool = field(True, "L2-normalise + BatchNorm before the linear layer (official)")
    dropout: float = field(0.0, "dropout before the linear layer", at_least=0, below=1)


# The official fine-tuning augmentation: random-resized crop (area 0.2-1), flip, colour jitter
# with probability 0.3; no grey, blur or rotation jitter.
FINETUNE_BASE = BaseAugment(
    rotation_jitter=0.0, grayscale_prob=0.0, blur_prob=0.0, color=ColorJitter(prob=0.3)
)
FINETUNE_SAMPLING = SamplingSpec(clip=ClipSpec(), base=FINETUNE_BASE, fixed_rate=1)
FINETUNE_OPTIM = OptimSpec(epochs=100, lr=0.025, warmup_epochs=0.0, grad_clip=None)


@dataclass(frozen=True)
class FinetuneSpec:
    dataset: str = field("ucf101", "labelled dataset (its name in the config)")
    split: int = field(1, "official split", at_least=1)
    protocol: str = field(
        "finetune",
        "finetune: end to end; linear: frozen backbone and BN",
        choices=("finetune", "linear"),
    )
    seed: int = field(0, "seed of the classifier, data order and sampling", at_least=0)
    pretrain: str | None = field(None, "hash of the pretraining run; null: from scratch")
    backbone: BackboneSpec = field(BackboneSpec(), "encoder (must match the pretraining)")
    sampling: SamplingSpec = field(FINETUNE_SAMPLING, "training clips and their augmentation")
    classifier: ClassifierSpec = field(ClassifierSpec(), "classification head")
    optim: OptimSpec = field(FINETUNE_OPTIM, "optimiser and budget")
    val_fraction: float = field(0.1, "share of training groups held out for model selection")
    selection: str = field(
        "best_val",
        "best_val: the epoch best on validation; last: the last epoch",
        choices=("best_val", "last"),
    )
    val_clips: int = field(3, "clips per validation video", at_least=1)
    precision: str = field("fp32", PRECISION, choices=PRECISIONS)

    def __post_init__(self):
        if not 0 <= self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.selection == "best_val" and self.val_fraction == 0:
            raise ValueError("selection best_val needs val_fraction > 0")
