"""Where and how a job runs: device, threads, numeric mode, and the signals that stop it cleanly.

None of this is part of an experiment's identity (a run spec's hash), except `precision`, which
changes the numbers and therefore lives in the specs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import signal
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cstp.errors import CstpError

log = logging.getLogger(__name__)

# What Slurm sends before a time limit (--signal) or a preemption, and what a user's Ctrl-C sends.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT)


@dataclass(frozen=True)
class Runtime:
    device: str = "auto"  # auto: CUDA when present, else CPU
    threads: int | None = None  # torch intra-op threads (default: the job's cores)
    workers: int = 0  # data-loader processes
    channels_last: bool = True  # channels_last_3d: training jobs, and inference on CUDA
    compile: str = "off"  # torch.compile the backbone: on, off, or cuda (on a GPU only)
    cache: Path | None = None  # a frame cache (`cstp cache`) to read instead of decoding
    deterministic: bool = False  # CUDA: deterministic kernels only (slower; bit-equal reruns)
    code: str | None = None  # digest of the code the job runs: another's checkpoint is not resumed

    def torch_device(self) -> torch.device:
        """The device of this process. A bare `cuda` (or `auto` on a GPU machine) means the
        process's own GPU: torchrun's LOCAL_RANK picks it, so N processes take N GPUs."""
        name = self.device
        if name == "auto":
            name = "cuda" if torch.cuda.is_available() else "cpu"
        device = torch.device(name)
        if device.type == "cuda" and device.index is None:
            device = torch.device("cuda", local_rank())
        return device


def local_rank() -> int:
    """This process's index on its node (torchrun's LOCAL_RANK; 0 when run alone)."""
    text = os.environ.get("LOCAL_RANK", "0")
    if not text.isdigit():
        raise CstpError(f"LOCAL_RANK={text!r}: expected a process index (0, 1, ...)")
    return int(text)


def configure(runtime: Runtime) -> torch.device:
    """Apply thread count and CUDA math settings; return the device to use. On CUDA the
    process's GPU becomes the current device before anything is allocated (NCCL and every bare
    `.cuda()` then use it, not GPU 0)."""
    device = runtime.torch_device()
    threads = runtime.threads or _job_cores()
    torch.set_num_threads(threads)
    if runtime.deterministic:
        # cuBLAS needs a fixed workspace to be deterministic; set before its first call.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cudnn.benchmark = not runtime.deterministic
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    log.info("device %s, %d threads, %d data workers", device, threads, runtime.workers)
    return device


def peak_memory_gib(device: torch.device) -> float | None:
    """The device's peak allocated memory so far (CUDA), or None."""
    if device.type != "cuda":
        return None
    return torch.cuda.max_memory_allocated(device) / 2**30


def _job_cores() -> int:
    for variable in ("SLURM_CPUS_PER_TASK", "SNAKEMAKE_THREADS"):
        if os.environ.get(variable, "").isdigit():
            return int(os.environ[variable])
    return len(os.sched_getaffinity(0))


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


COMPILE_MODES = ("off", "on", "cuda")


def autocast(device: torch.device, precision: str):
    """bf16 autocast on CUDA when the spec asks for bf16; nothing otherwise. On a CPU a bf16 spec
    runs fp32 (`precision_run` says so): CPU bf16 convolutions gave a NaN weight gradient in
    R(2+1)D-10's first step here (docs/engine.md). Losses leave autocast themselves
    (`cstp.losses.full_precision`)."""
    if precision == "bf16" and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def precision_run(device: torch.device, precision: str) -> str:
    """The precision a job of `precision` really runs on `device`, with a warning when it is not
    the spec's."""
    run = precision if device.type == "cuda" else "fp32"
    if run != precision:
        log.warning("the spec asks for %s; on %s this job runs %s", precision, device, run)
    return run


def compiles(runtime: Runtime, device: torch.device) -> bool:
    if runtime.compile not in COMPILE_MODES:
        raise CstpError(f"compile: {runtime.compile!r} is not one of {', '.join(COMPILE_MODES)}")
    return runtime.compile == "on" or (runtime.compile == "cuda" and device.type == "cuda")


def prepare_model(
    model: torch.nn.Module, device: torch.device, runtime: Runtime, training: bool = False
):
    """Move to `device`, in channels_last_3d unless the runtime says not to: on CUDA always (a
    1.6x step for 3D convs in bf16, shared notes), on a CPU in training jobs only, their
    validation and BYOL's target included (R(2+1)D-10 at 1/8 width, one thread: a whole
    pretraining 1.28x, a fine-tuning 1.13x, but a forward without gradient 0.82x, so evaluation
    and feature jobs stay contiguous; docs/engine.md). Compile the backbone (`model.backbone`,
    or `model` when it is a backbone) in place when asked: state-dict keys are unchanged, so
    checkpoints and encoders are too."""
    model = model.to(device)
    if runtime.channels_last and (training or device.type == "cuda"):
        model = model.to(memory_format=torch.channels_last_3d)
    if compiles(runtime, device):
        getattr(model, "backbone", model).compile()
        log.info("torch.compile: the backbone compiles on its first steps")
    return model


class StopRequest:
    """Remembers a stop signal instead of dying, so the loop can checkpoint first."""

    def __init__(self):
        self.signal: int | None = None
        self._previous = {}

    def __enter__(self) -> StopRequest:
        for sig in STOP_SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum, frame) -> None:
        log.warning("received %s: checkpointing and stopping", signal.Signals(signum).name)
        self.signal = signum

    def __bool__(self) -> bool:
        return self.signal is not None
