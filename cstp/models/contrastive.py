"""The four contrastive schemes of the paper as small modules over a shared backbone.

Each scheme owns its projector (and predictor / momentum encoder / queue where the method has one)
and exposes `loss(h1, h2, x1, x2)`: h are the online backbone's features of the two clips, x the
clips themselves for a momentum encoder. `update_target(progress)` runs after each optimiser step.

One convention for all four (docs: L3): a scheme's loss is the mean over the directions it uses
(clip 1 -> clip 2 and back), each direction its method's loss as published, so lambda_ctr means
the same per direction whatever the scheme and whether it is symmetric.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

from cstp import distributed as dist
from cstp import losses
from cstp.models.heads import MLP
from cstp.specs.train import ContrastiveSpec

IMPLEMENTATIONS: dict[str, type[ContrastiveScheme]] = {}  # scheme name -> its module


def implements(name: str):
    """Class decorator: the module of contrastive scheme `name` (a cstp.specs.registry entry)."""

    def register(cls: type[ContrastiveScheme]) -> type[ContrastiveScheme]:
        IMPLEMENTATIONS[name] = cls
        return cls

    return register


class ContrastiveScheme(nn.Module):
    """Base: a projector g on the backbone features."""

    def __init__(self, spec: ContrastiveSpec, backbone: nn.Module):
        super().__init__()
        self.spec = spec
        self.projector = MLP(backbone.out_dim, spec.proj_hidden, spec.proj_dim)

    def loss(self, h1, h2, x1, x2) -> torch.Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def update_target(self, progress: float) -> None:
        """Called after every optimiser step with the fraction of training done."""


@implements("simclr")
class SimCLR(ContrastiveScheme):
    def loss(self, h1, h2, x1, x2) -> torch.Tensor:
        z1, z2 = self.projector(h1), self.projector(h2)  # N x D each
        rows = dist.local_rows(len(z1), z1.device)
        return losses.info_nce(
            dist.gather_with_grad(z1), dist.gather_with_grad(z2), self.spec.temperature, rows
        )


@implements("simsiam")
class SimSiam(ContrastiveScheme):
    def __init__(self, spec: ContrastiveSpec, backbone: nn.Module):
        super().__init__(spec, backbone)
        self.predictor = MLP(spec.proj_dim, spec.pred_hidden, spec.proj_dim)

    def loss(self, h1, h2, x1, x2) -> torch.Tensor:
        z1, z2 = self.projector(h1), self.projector(h2)
        p1, p2 = self.predictor(z1), self.predictor(z2)
        return 0.5 * (losses.simsiam_loss(p1, z2) + losses.simsiam_loss(p2, z1))


class MomentumScheme(ContrastiveScheme):
    """A scheme with a target (key) encoder: a moving average of backbone + projector."""

    def __init__(self, spec: ContrastiveSpec, backbone: nn.Module):
        super().__init__(spec, backbone)
        self.online = [backbone]  # a list, so the backbone is not registered twice
        self.target_backbone = copy.deepcopy(backbone).requires_grad_(False)
        self.target_projector = copy.deepcopy(self.projector).requires_grad_(False)
        self.base_momentum = self.momentum = self.momentum_of(spec)

    @staticmethod
    def momentum_of(spec: ContrastiveSpec) -> float:
        """The EMA momentum this scheme's target encoder starts from."""
        return spec.momentum

    @torch.no_grad()
    def target(self, x: torch.Tensor) -> torch.Tensor:
        return self.target_projector(self.target_backbone(x))

    @torch.no_grad()
    def update_target(self, progress: float) -> None:
        m = self.base_momentum
        if self.spec.momentum_schedule == "cosine":
            m = 1 - (1 - m) * (math.cos(math.pi * progress) + 1) / 2
        self.momentum = m
        pairs = ((self.online[0], self.target_backbone), (self.projector, self.target_projector))
        for online, target in pairs:
            for p_online, p_target in zip(online.parameters(), target.parameters(), strict=True):
                p_target.mul_(m).add_(p_online.detach(), alpha=1 - m)
            for b_online, b_target in zip(online.buffers(), target.buffers(), strict=True):
                b_target.copy_(b_online)


@implements("byol")
class BYOL(MomentumScheme):
    def __init__(self, spec: ContrastiveSpec, backbone: nn.Module):
        super().__init__(spec, backbone)
        self.predictor = MLP(spec.proj_dim, spec.pred_hidden, spec.proj_dim)

    def loss(self, h1, h2, x1, x2) -> torch.Tensor:
        p1 = self.predictor(self.projector(h1))
        loss = losses.byol_loss(p1, self.target(x2))
        if self.spec.symmetric:
            p2 = self.predictor(self.projector(h2))
            loss = 0.5 * (loss + losses.byol_loss(p2, self.target(x1)))
        return loss


@implements("moco")
class MoCo(MomentumScheme):
    def __init__(self, spec: ContrastiveSpec, backbone: nn.Module):
        super().__init__(spec, backbone)
        queue = nn.functional.normalize(torch.randn(spec.queue, spec.proj_dim), dim=1)
        self.register_buffer("queue", queue)  # K x D
        self.register_buffer("queue_ptr", torch.zeros((), dtype=torch.long))
        self.register_buffer("shuffle_step", torch.zeros((), dtype=torch.long))
        self._shuffle_host: int | None = None  # shuffle_step read once, then counted here

    @staticmethod
    def momentum_of(spec: ContrastiveSpec) -> float:
        return spec.moco_momentum

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        super()._load_from_state_dict(*args, **kwargs)
        self._shuffle_host = None  # a resumed counter: read it again

    @torch.no_grad()
    def target(self, x: torch.Tensor) -> torch.Tensor:
        """Keys; with key_bn shuffle, the key encoder sees the batch as two random halves, so its
        BatchNorm statistics are not those of the videos the queries were normalised with."""
        if self.spec.key_bn == "batch" or not self.training or len(x) < 4:
            return super().target(x)
        # A permutation that is a function of the step (the counter is checkpointed): resumable.
        # The host keeps its own copy of the counter, so a step never waits to read the device.
        if self._shuffle_host is None:
            self._shuffle_host = int(self.shuffle_step)
        generator = torch.Generator().manual_seed(self._shuffle_host)
        self._shuffle_host += 1
        self.shuffle_step += 1
        order = torch.randperm(len(x), generator=generator).to(x.device)
        keys = torch.cat([super(MoCo, self).target(half) for half in x[order].chunk(2)])
        return keys[torch.argsort(order)]  # back in batch order: N x D

    def loss(self, h1, h2, x1, x2) -> torch.Tensor:
        t = self.spec.moco_temperature
        k2 = self.target(x2)
        loss = losses.moco_infonce(self.projector(h1), k2, self.queue.clone(), t)
        keys = [k2]
        if self.spec.symmetric:
            k1 = self.target(x1)
            loss = 0.5 * (loss + losses.moco_infonce(self.projector(h2), k1, self.queue.clone(), t))
            keys.append(k1)
        if self.training:
            for k in keys:
                self._dequeue_and_enqueue(k)
        return loss

    @torch.no_grad()
    def _dequeue_and_enqueue(self, keys: torch.Tensor) -> None:
        keys = nn.functional.normalize(dist.gather(keys), dim=1)  # N_global x D
        size = len(self.queue)
        # The pointer stays on the device: no read of it per step.
        index = (self.queue_ptr + torch.arange(len(keys), device=keys.device)) % size
        self.queue[index] = keys
        self.queue_ptr.copy_((self.queue_ptr + len(keys)) % size)


def build_scheme(spec: ContrastiveSpec, backbone: nn.Module) -> ContrastiveScheme | None:
    """The scheme a spec names (cstp.specs.registry), or None for `none`."""
    return None if spec.scheme == "none" else IMPLEMENTATIONS[spec.scheme](spec, backbone)
