"""What data parallelism needs beyond DDP itself: rank and world size, and gathers across ranks.

Every function degrades to the single-process answer when torch.distributed is not initialised, so
the same code runs on one CPU, one GPU, or under torchrun.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def init_from_environment(device: torch.device) -> bool:
    """Join the process group that torchrun describes; False when not run under torchrun."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return dist.is_initialized()
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend=backend)
    return True


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """Concatenate `x` from every rank along dim 0, keeping gradients to every rank's part.

    Used for contrastive negatives across GPUs: each rank's loss then sees the global batch, and
    DDP's gradient averaging gives the gradient of the global-batch loss.
    """
    if not is_distributed():
        return x
    import torch.distributed.nn.functional as dist_fn

    return torch.cat(dist_fn.all_gather(x), dim=0)


@torch.no_grad()
def gather(x: torch.Tensor) -> torch.Tensor:
    """Concatenate `x` from every rank along dim 0, without gradients (e.g. MoCo keys)."""
    if not is_distributed():
        return x
    parts = [torch.empty_like(x) for _ in range(world_size())]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts, dim=0)


def local_rows(n_local: int, device: torch.device) -> torch.Tensor:
    """Indices of this rank's rows in a tensor gathered from all ranks."""
    start = rank() * n_local
    return torch.arange(start, start + n_local, device=device)
