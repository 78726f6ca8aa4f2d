"""The joint CSTP objective (paper Eq. 4-5): one backbone, a contrastive scheme and pretext heads.

`JointModel.forward(clips, labels)` returns the weighted loss and every term and pretext accuracy,
for whatever combination the recipe switches on; the training loop never looks inside.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cstp.engine.specs import LossWeights
from cstp.losses import joint_loss
from cstp.models.contrastive import ContrastiveScheme
from cstp.models.heads import ClipHead, PairHead


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
        self.heads = nn.ModuleDict(
            {
                name: (PairHead if name.startswith("stor") else ClipHead)(dim, n)
                for name, n in classes.items()
            }
        )
        self.weights = weights.per_term()

    def forward(
        self, clips: torch.Tensor, labels: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """clips: N x 2 x C x T x H x W float; labels: name -> N (or N x 2 for rotation)."""
        n = clips.shape[0]
        x1, x2 = clips[:, 0], clips[:, 1]
        # Both clips in one batch of 2N: one pass, BatchNorm statistics over both views.
        h1, h2 = self.backbone(torch.cat([x1, x2])).split(n)  # N x D each
        terms: dict[str, torch.Tensor] = {}
        accuracy: dict[str, float] = {}
        if self.scheme is not None:
            terms["contrastive"] = self.scheme.loss(h1, h2, x1, x2)
        for name, head in self.heads.items():
            target = labels[name]
            if name.startswith("stor"):
                logits = head(h1, h2)  # N x classes
                terms[name] = F.cross_entropy(logits, target)
            else:
                # Per-clip heads: the official code sums the two clips' losses (interpretation L2).
                clip_targets = target.T if target.ndim == 2 else torch.stack([target, target])
                logits = torch.stack([head(h1), head(h2)])  # 2 x N x classes
                terms[name] = sum(F.cross_entropy(logits[k], clip_targets[k]) for k in range(2))
                target = clip_targets
            accuracy[f"acc_{name}"] = float((logits.argmax(-1) == target).float().mean())
        loss, values = joint_loss(terms, self.weights)
        return loss, values | accuracy
