"""`cstp bench step`: a pretraining cell's step measured against its own ceiling, in one run.

(a) the bare backbone training step (forward, cross-entropy on a linear layer, backward, SGD) in
the cell's numeric mode, clips/s: the ceiling; (b) the cell's full CSTP step (contrastive scheme,
pretext heads, momentum update) on random clips, samples/s; (c) efficiency = (b) x backbone passes
per sample / (a), counting a trained clip as one pass and a no-grad (target) clip as a third;
(d) the data pipeline alone (decode, sample, augment, collate) with N loader workers, samples/s,
and again reading a frame cache when one is given; (e) loader and step together (from the cache
when given), samples/s. Also the precision the step really ran and the peak memory of each phase.
Warm-up steps are not timed, CUDA is synchronised around every timed group, and each figure is the
median of `repeats` groups.
"""

from __future__ import annotations

import contextlib
import gc
import platform
import resource
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from cstp.bench import cpu_name
from cstp.engine.encoder import to_input
from cstp.engine.pretrain import build_model
from cstp.engine.runtime import Runtime, autocast, compiles, configure, prepare_model
from cstp.engine.trainer import epoch_loader, make_optimizer
from cstp.sampling.datasets import PairDataset, load_subset
from cstp.specs.train import PretrainSpec


@dataclass(frozen=True)
class StepBench:
    """How long to measure: `warmup` untimed steps, then `repeats` timed groups of `steps`."""

    steps: int = 5
    warmup: int = 2
    repeats: int = 3
    workers: int = 0  # data-loader processes for (d) and (e)

    def __post_init__(self):
        if min(self.steps, self.repeats) < 1 or self.warmup < 0 or self.workers < 0:
            raise ValueError(f"steps and repeats must be >= 1, warmup and workers >= 0: {self}")


def machine(device: torch.device) -> dict:
    """What the figures depend on, printed and saved beside them."""
    info = {
        "cpu": cpu_name(),
        "threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "device": str(device),
    }
    if device.type == "cuda":
        info |= {"gpu": torch.cuda.get_device_name(device), "cuda": torch.version.cuda}
    return info


def timed(step: Callable[[], object], device: torch.device, setup: StepBench) -> float:
    """Median seconds per call of `step` over `repeats` groups of `steps`, after `warmup` calls."""
    for _ in range(setup.warmup):
        step()
    groups = []
    for _ in range(setup.repeats):
        _sync(device)
        start = time.perf_counter()
        for _ in range(setup.steps):
            step()
        _sync(device)
        groups.append((time.perf_counter() - start) / setup.steps)
    return statistics.median(groups)


def random_batch(spec: PretrainSpec, classes: dict[str, int], device: torch.device):
    """A batch as the loader delivers it: uint8 clip pairs N x 2 x C x T x S x S and labels."""
    n, clip = spec.optim.batch_size, spec.sampling.clip
    generator = torch.Generator().manual_seed(spec.seed)
    shape = (n, 2, 3, clip.frames, clip.size, clip.size)
    clips = torch.randint(0, 256, shape, dtype=torch.uint8, generator=generator)
    labels = {k: torch.randint(0, c, (n,), generator=generator) for k, c in classes.items()}
    if "rotation" in labels:
        labels["rotation"] = torch.randint(0, classes["rotation"], (n, 2), generator=generator)
    return clips.to(device), {k: v.to(device) for k, v in labels.items()}


def backbone_step(spec: PretrainSpec, runtime: Runtime, device: torch.device):
    """(a) One bare training step of the backbone on 2N random clips, as a callable."""
    from cstp.models.backbones import build_backbone

    torch.manual_seed(spec.seed)
    backbone = build_backbone(spec.backbone.name, spec.backbone.width)
    model = torch.nn.Sequential(backbone, torch.nn.Linear(backbone.out_dim, 10))
    model = prepare_model(_Wrapped(model), device, runtime, training=True)
    optimizer = make_optimizer(model, spec.optim)
    clips, _ = random_batch(spec, {}, device)
    clips = clips.flatten(0, 1)  # the 2N clips of N pairs, as one batch
    target = torch.randint(0, 10, (len(clips),), device=device)

    def step():
        with autocast(device, spec.precision):
            loss = torch.nn.functional.cross_entropy(model(to_input(clips, device)), target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step, len(clips)


class _Wrapped(torch.nn.Module):
    """A model with a `backbone` attribute, so prepare_model can compile it as in training."""

    def __init__(self, model: torch.nn.Sequential):
        super().__init__()
        self.backbone = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)


def joint_step(spec: PretrainSpec, runtime: Runtime, device: torch.device):
    """(b) One full CSTP step of the cell on a fixed random batch; also returns the train step
    that (e) feeds with real batches."""
    torch.manual_seed(spec.seed)
    model, scheme, classes = build_model(spec)
    model = prepare_model(model, device, runtime, training=True)
    optimizer = make_optimizer(model, spec.optim)

    def train(batch):
        clips, labels = batch
        labels = {k: v.to(device, non_blocking=True) for k, v in labels.items()}
        with autocast(device, spec.precision):
            loss, _ = model(to_input(clips, device), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if scheme is not None:
            scheme.update_target(0.5)

    batch = random_batch(spec, classes, device)
    return (lambda: train(batch)), train


def loader_of(spec: PretrainSpec, index: Path, workers: int, device: torch.device, cache=None):
    """The training loader of the cell over `index`'s training videos (read from the frame
    `cache` when given), cycling over epochs."""
    rows = load_subset(index, "train", min_frames=spec.sampling.clip.frames)
    dataset = PairDataset(rows, spec.sampling, spec.seed, cache)
    loader, batches = epoch_loader(dataset, spec.optim, spec.seed, workers, device)

    def forever():
        epoch = 0
        while True:
            batches.start(epoch)
            yield from loader
            epoch += 1

    return forever()


def measure_step(
    spec: PretrainSpec,
    runtime: Runtime,
    setup: StepBench = StepBench(),
    index: Path | None = None,
) -> dict:
    """(a)-(e) for one pretraining spec; (d) and (e) only with an `index` of videos. Each phase
    builds what it runs and has its own peak memory: (a)'s bare model is gone before (b)."""
    device = configure(runtime)
    n, peaks = spec.optim.batch_size, {}
    with _phase(device, peaks, "backbone"):
        bare, clips = backbone_step(spec, runtime, device)
        ceiling = clips / timed(bare, device, setup)
        del bare
    with _phase(device, peaks, "step"):
        full, train = joint_step(spec, runtime, device)
        joint = n / timed(full, device, setup)
    passes = spec.backbone_passes
    result = {
        "machine": machine(device),
        "cell": _cell(spec),
        "precision_run": measured_precision(device, spec.precision),
        "compiled": compiles(runtime, device),
        "backbone_clips_per_s": ceiling,
        "step_samples_per_s": joint,
        "passes_per_sample": passes,
        "efficiency": joint * passes / ceiling,
    }
    if index is not None:
        with _phase(device, peaks, "data"):
            batches = loader_of(spec, index, setup.workers, device)
            result["data_samples_per_s"] = n / timed(lambda: next(batches), device, setup)
            if runtime.cache is not None:
                batches = loader_of(spec, index, setup.workers, device, runtime.cache)
                result["cached_data_samples_per_s"] = n / timed(
                    lambda: next(batches), device, setup
                )
        with _phase(device, peaks, "end_to_end"):
            result["end_to_end_samples_per_s"] = n / timed(
                lambda: train(next(batches)), device, setup
            )
        result["workers"] = setup.workers
    result["peak_memory_gib"] = peaks
    return result


def measured_precision(device: torch.device, precision: str) -> str:
    """The precision a matrix product really takes under the job's autocast on `device`."""
    a = torch.ones(2, 2, device=device)
    with autocast(device, precision):
        dtype = (a @ a).dtype
    return {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[dtype]


@contextlib.contextmanager
def _phase(device: torch.device, peaks: dict[str, float], name: str):
    """Peak memory of one phase: the counter is reset when it starts."""
    gc.collect()
    _reset_peak(device)
    yield
    peaks[name] = _peak_memory(device)


def _cell(spec: PretrainSpec) -> dict:
    clip = spec.sampling.clip
    return {
        "backbone": f"{spec.backbone.name} x{spec.backbone.width}",
        "scheme": spec.contrastive.scheme,
        "symmetric": spec.contrastive.symmetric,
        "pretext": list(spec.sampling.pretext),
        "batch": spec.optim.batch_size,
        "clip": f"{clip.frames}x{clip.size}x{clip.size}",
        "precision": spec.precision,
    }


def _peak_memory(device: torch.device) -> float:
    """GiB: CUDA's peak allocated memory on a GPU, the process's peak resident set on a CPU
    (since the last `_reset_peak` where Linux allows it, else since the process started)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**20  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return
    with contextlib.suppress(OSError):  # Linux: "5" resets the peak resident set (VmHWM)
        Path("/proc/self/clear_refs").write_text("5")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
