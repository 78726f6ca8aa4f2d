"""The loss terms of CSTP as pure functions of tensors, each tested against a hand computation.

Contrastive: `info_nce` (SimCLR, paper Eq. 1), `moco_infonce` (MoCo), `byol_loss` (BYOL, Eq. 3),
`simsiam_loss` (SimSiam). Pretext (Eq. 4): `per_clip_pretext_loss` (playback rate, rotation) and
`pair_pretext_loss` (STOR); the weighted sum of all terms (Eq. 5) is `joint_loss`.

Under bf16 autocast every loss still computes in fp32 (`full_precision`): similarity logits
divided by a temperature of 0.1-0.2 and `2 - 2 cos` near 0 lose their digits in bf16's 8 bits.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F


def full_precision(loss):
    """`loss` run with autocast off and its floating-point tensor arguments in fp32 (a no-op for
    fp32 inputs, which keep their autograd graph)."""

    @functools.wraps(loss)
    def fp32_loss(*args, **kwargs):
        device = next(a.device.type for a in args if isinstance(a, torch.Tensor))
        args = [a.float() if torch.is_tensor(a) and a.is_floating_point() else a for a in args]
        with torch.autocast(device, enabled=False):
            return loss(*args, **kwargs)

    return fp32_loss


@full_precision
def info_nce(
    z1: torch.Tensor, z2: torch.Tensor, temperature: float, rows: torch.Tensor | None = None
) -> torch.Tensor:
    """NT-Xent over the 2N views of a batch (SimCLR).

    z1, z2: N x D projections of the two clips of N videos (row i of each is a positive pair).
    Every view's positive is the other view of its video; the other 2N - 2 views are negatives; the
    positive is in the denominator, as in InfoNCE (docs/interpretations.md, L1). The mean is over
    the views of the pairs in `rows` (default: all); with data parallelism z1, z2 are gathered from
    every rank and `rows` are this rank's pairs.
    """
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)  # 2N x D
    rows = torch.arange(n, device=z.device) if rows is None else rows
    anchors = torch.cat([rows, rows + n])  # 2M views whose loss is averaged
    logits = z[anchors] @ z.T / temperature  # 2M x 2N
    # A view is not its own negative.
    logits[torch.arange(len(anchors), device=z.device), anchors] = float("-inf")
    targets = torch.cat([rows + n, rows])
    return F.cross_entropy(logits, targets)


@full_precision
def moco_infonce(
    q: torch.Tensor, k: torch.Tensor, queue: torch.Tensor, temperature: float
) -> torch.Tensor:
    """MoCo's InfoNCE: each query against its key (positive) and the queue (negatives).

    q: N x D queries (online branch), k: N x D keys (momentum branch, no gradient),
    queue: K x D earlier keys. All are L2-normalised here. Mean over N.
    """
    q, k, queue = F.normalize(q, dim=1), F.normalize(k, dim=1), F.normalize(queue, dim=1)
    positive = (q * k).sum(dim=1, keepdim=True)  # N x 1
    negative = q @ queue.T  # N x K
    logits = torch.cat([positive, negative], dim=1) / temperature  # N x (1 + K)
    return F.cross_entropy(logits, torch.zeros(q.shape[0], dtype=torch.long, device=q.device))


@full_precision
def byol_loss(p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """BYOL's regression loss 2 - 2 cos(p, z), mean over N.

    p: N x D predictions of the online branch, z: N x D target projections (no gradient through z).
    """
    return (2 - 2 * F.cosine_similarity(p, z.detach(), dim=1)).mean()


@full_precision
def simsiam_loss(p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """SimSiam's negative cosine similarity with a stop-gradient on z, mean over N."""
    return -F.cosine_similarity(p, z.detach(), dim=1).mean()


@full_precision
def per_clip_pretext_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """A per-clip pretext task (playback rate, rotation): cross-entropy of each clip, summed over
    the two clips of a pair, as the official code does (interpretation L2).

    logits: 2 x N x K (clip 1, clip 2), targets: 2 x N.
    """
    return F.cross_entropy(logits[0], targets[0]) + F.cross_entropy(logits[1], targets[1])


@full_precision
def pair_pretext_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """A pair pretext task (spatial or temporal overlap rate): cross-entropy, mean over N.

    logits: N x K from the features of both clips, targets: N.
    """
    return F.cross_entropy(logits, targets)


def joint_loss(
    terms: dict[str, torch.Tensor], weights: dict[str, float]
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """L = sum_k lambda_k L_k over the terms present (paper Eq. 5), and each term detached (a
    tensor on the loss's device: reading it is the caller's choice, not a sync per step).

    A term whose weight is 0 or missing is left out; `terms` may hold tensors that are not losses
    (they are ignored unless weighted).
    """
    total = None
    for name, value in terms.items():
        weight = weights.get(name, 0.0)
        if weight:
            total = weight * value if total is None else total + weight * value
    if total is None:
        raise ValueError(f"no weighted loss term among {sorted(terms)}")
    return total, {name: value.detach() for name, value in terms.items()}
