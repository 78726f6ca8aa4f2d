"""The joint CSTP objective (paper Eq. 4-5): one backbone, a contrastive scheme and pretext heads.

Each pretext task of `cstp.specs.registry` puts a head on the backbone features, on each clip or
on the pair (`HEADS`), with that kind's loss (a pure function in `cstp.losses`) or its own.
`JointModel.forward(clips, labels)` returns the weighted loss and every term and pretext accuracy,
for whatever combination the recipe switches on; the training loop never looks inside.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from cstp.losses import joint_loss, pair_pretext_loss, per_clip_pretext_loss
from cstp.models.contrastive import ContrastiveScheme
from cstp.models.heads import ClipHead, PairHead
from cstp.specs.registry import PRETEXT_TASKS
from cstp.specs.train import LossWeights


@dataclass(frozen=True)
class Head:
    """A head on one clip's features (logits 2 x N x K, one per clip) or on the pair (N x K)."""

    per_clip: bool
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

    def head(self, dim: int, classes: int) -> nn.Module:
        return ClipHead(dim, classes) if self.per_clip else PairHead(dim, classes)

    def logits(self, head: nn.Module, h1: torch.Tensor, h2: torch.Tensor) -> torch.Tensor:
        return torch.stack([head(h1), head(h2)]) if self.per_clip else head(h1, h2)

    def targets(self, labels: torch.Tensor) -> torch.Tensor:
        """Per-clip labels 2 x N: rotation comes as N x 2 (one per clip), playback rate as N."""
        if not self.per_clip:
            return labels
        return labels.T if labels.ndim == 2 else torch.stack([labels, labels])


HEADS = {  # per_clip: the head and loss of that kind
    True: Head(per_clip=True, loss=per_clip_pretext_loss),
    False: Head(per_clip=False, loss=pair_pretext_loss),
}


def head_of(name: str) -> Head:
    """The head of pretext task `name`: its kind's, with the task's own loss where it has one."""
    task = PRETEXT_TASKS[name]
    kind = HEADS[task.per_clip]
    return kind if task.loss is None else Head(task.per_clip, task.loss)


def term_weights(weights: LossWeights) -> dict[str, float]:
    """The weight of each loss term: lambda (Eq. 5); for STOR lambda_ocls x l_s, x l_t."""
    tasks = {name: task.weight(weights) for name, task in PRETEXT_TASKS.items()}
    return {"contrastive": weights.contrastive} | tasks


class JointModel(nn.Module):
    """Backbone f, optional contrastive scheme, and one head per predicted pretext label."""

    def __init__(
        self,
        backbone: nn.Module,
        scheme: ContrastiveScheme | None,
        classes: dict[str, int],
        weights: LossWeights,
    ):
        super().__init__()
        if scheme is None and not classes:
            raise ValueError("nothing to learn: no contrastive scheme and no pretext task")
        self.backbone = backbone
        self.scheme = scheme
        dim = backbone.out_dim
        self.kinds = {name: head_of(name) for name in classes}
        self.heads = nn.ModuleDict(
            {name: self.kinds[name].head(dim, n) for name, n in classes.items()}
        )
        self.weights = term_weights(weights)

    def forward(
        self, clips: torch.Tensor, labels: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """clips: N x 2 x C x T x H x W float; labels: name -> N (or N x 2 for rotation)."""
        n = clips.shape[0]
        x1, x2 = clips[:, 0], clips[:, 1]
        # Both clips in one batch of 2N: one pass, BatchNorm statistics over both views.
        h1, h2 = self.backbone(torch.cat([x1, x2])).split(n)  # N x D each
        terms: dict[str, torch.Tensor] = {}
        accuracy: dict[str, torch.Tensor] = {}
        if self.scheme is not None:
            terms["contrastive"] = self.scheme.loss(h1, h2, x1, x2)
        for name, head in self.heads.items():
            task = self.kinds[name]
            logits, target = task.logits(head, h1, h2), task.targets(labels[name])
            terms[name] = task.loss(logits, target)
            accuracy[f"acc_{name}"] = (logits.argmax(-1) == target).float().mean()
        loss, values = joint_loss(terms, self.weights)
        return loss, values | accuracy
