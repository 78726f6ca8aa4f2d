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
    if device.type == "cuda":
        # NCCL bound to this process's GPU from the start (no guess of GPU 0 at the first
        # collective, no duplicate-GPU error with N processes on N GPUs).
        dist.init_process_group(backend="nccl", device_id=device)
    else:
        dist.init_process_group(backend="gloo")
    return True


def data_parallel(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """`model` wrapped for data parallelism over the process group (DDP on this process's GPU
    only), or `model` itself in a single process."""
    if not is_distributed():
        return model
    ids = [device.index] if device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)


def largest(value: int, device: torch.device) -> int:
    """The largest of every rank's `value`, on every rank (a stop signal seen by one process
    stops all after the same step). One small all-reduce and one read: call it at a logging
    interval, not per step."""
    if not is_distributed():
        return value
    tensor = torch.tensor([value], dtype=torch.long, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return int(tensor.item())


def barrier() -> None:
    if is_distributed():
        dist.barrier()


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
