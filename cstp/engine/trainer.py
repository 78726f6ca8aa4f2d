"""The training loop of pretraining and fine-tuning: schedule, progress, metrics, checkpoints.

A run is resumable at any step: the checkpoint holds the model, the optimiser, the position in the
epoch and the running metrics, and every sample is a function of (seed, epoch, index), so a run
killed and resumed on a CPU ends with the same weights and metrics as one never interrupted.
"""

from __future__ import annotations

import csv
import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from cstp import distributed as dist
from cstp.engine import checkpoint
from cstp.engine.progress import bar_options
from cstp.engine.runtime import StopRequest
from cstp.errors import CstpError
from cstp.files import write_atomic
from cstp.sampling.datasets import EpochBatches
from cstp.specs.train import OptimSpec

log = logging.getLogger(__name__)


def epoch_loader(dataset, spec: OptimSpec, seed: int, workers: int, device: torch.device):
    """A DataLoader drawing (epoch, index) batches in a seeded order, split over processes."""
    from torch.utils.data import DataLoader

    batches = EpochBatches(len(dataset), spec.batch_size, seed, dist.rank(), dist.world_size())
    loader = DataLoader(
        dataset,
        batch_sampler=batches,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        persistent_workers=workers > 0,  # no worker start-up (and re-import) every epoch
    )
    return loader, batches


def learning_rate(spec: OptimSpec, step: int, steps_per_epoch: int) -> float:
    """The learning rate at optimiser step `step` (0-based)."""
    epoch = step / steps_per_epoch
    if epoch < spec.warmup_epochs:
        return spec.min_lr + (spec.lr - spec.min_lr) * epoch / spec.warmup_epochs
    if spec.schedule == "constant":
        return spec.lr
    span = max(spec.epochs - spec.warmup_epochs, 1e-9)
    progress = min(1.0, (epoch - spec.warmup_epochs) / span)
    return spec.min_lr + (spec.lr - spec.min_lr) * 0.5 * (1 + math.cos(math.pi * progress))


def make_optimizer(model: nn.Module, spec: OptimSpec) -> torch.optim.Optimizer:
    """The spec's optimiser over trainable parameters; no weight decay on biases and
    normalisation weights."""
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (no_decay if p.ndim <= 1 else decay).append(p)
    groups = [
        {"params": decay, "weight_decay": spec.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    # One fused kernel per step on CUDA (the foreach loop on CPU, where runs stay exact).
    fused = bool(decay or no_decay) and all(p.is_cuda for p in decay + no_decay)
    if spec.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=spec.lr, fused=fused or None)
    return torch.optim.SGD(groups, lr=spec.lr, momentum=spec.momentum, fused=fused or None)


class NonFiniteLoss(CstpError):
    pass


class Interrupted(Exception):
    """A stop signal arrived; the checkpoint is written and the job should exit (and be resumed)."""

    def __init__(self, signum: int, epoch: int = 0, batch: int = 0):
        self.signum = signum
        super().__init__(
            f"stopped by signal {signum} at epoch {epoch + 1}, batch {batch}; resume by running "
            "the same command again"
        )


@dataclass
class Meter:
    """Batch-size-weighted running sums of the step metrics of one epoch. A value may be a tensor
    on the training device: it is summed there (in float64, as Python floats would be) and read
    only by `means`, so a step costs no host synchronisation."""

    sums: dict[str, float | torch.Tensor]
    count: int = 0

    def add(self, values: dict[str, float | torch.Tensor], n: int) -> None:
        for k, v in values.items():
            if isinstance(v, torch.Tensor):
                v = v.detach().to(torch.float64)
            self.sums[k] = self.sums.get(k, 0.0) + v * n
        self.count += n

    def means(self) -> dict[str, float]:
        return {k: float(v) / max(self.count, 1) for k, v in self.sums.items()}

    def plain(self) -> dict[str, float]:
        """The sums as floats (one read of each), for a checkpoint."""
        return {k: float(v) for k, v in self.sums.items()}


class FiniteWatch:
    """Remembers, on the device, the first step whose loss was not finite and that step's
    values; read at the logging interval instead of after every step."""

    def __init__(self):
        self.first: torch.Tensor | None = None
        self.values: dict[str, torch.Tensor] = {}

    def see(self, loss: torch.Tensor, values: dict, step: int) -> None:
        bad = ~torch.isfinite(loss.detach())
        if self.first is None:
            self.first = torch.full((), -1, dtype=torch.long, device=loss.device)
        new = bad & (self.first < 0)
        self.first = torch.where(new, torch.full_like(self.first, step), self.first)
        for k, v in values.items():
            if isinstance(v, torch.Tensor):
                old = self.values.get(k, torch.zeros_like(v, dtype=torch.float32))
                self.values[k] = torch.where(new, v.detach().float(), old)

    def bad_step(self) -> int | None:
        """The first non-finite step seen (one read), or None."""
        if self.first is None:
            return None
        step = int(self.first)
        return None if step < 0 else step


StepFn = Callable[[object], tuple[torch.Tensor, dict[str, float | torch.Tensor], int]]
# Steps between two reads of the running metrics (progress bar, non-finite check) and between two
# agreements of the processes on a stop signal: the loop itself never waits on the device.
LOG_EVERY = 10


class Trainer:
    """Runs `epochs` passes of `step_fn` over `loader`, resuming from `run_dir/state/last.pt`."""

    def __init__(
        self,
        run_dir: Path,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        spec: OptimSpec,
        loader: Iterable,
        batches: EpochBatches,
        step_fn: StepFn,
        after_step: Callable[[float], None] | None = None,
        end_epoch: Callable[[int], dict[str, float]] | None = None,
        hooks: tuple[Callable[[int], None], ...] = (),
        log_every: int | None = None,
        code: str | None = None,
    ):
        self.run_dir, self.model, self.optimizer, self.spec = run_dir, model, optimizer, spec
        self.code = code  # the job's code digest, kept in each checkpoint
        self.loader, self.batches, self.step_fn = loader, batches, step_fn
        self.after_step, self.end_epoch, self.hooks = after_step, end_epoch, hooks
        self.log_every = log_every or LOG_EVERY
        self.state_path = run_dir / "state" / "last.pt"
        self.previous_path = run_dir / "state" / "previous.pt"  # the one before, kept by _save
        self.steps_per_epoch = batches.batches_per_epoch()
        self.total_steps = spec.epochs * self.steps_per_epoch
        if self.steps_per_epoch == 0:
            raise CstpError(
                f"{batches.size} training videos are fewer than one batch of {spec.batch_size}"
            )

    def fit(self) -> list[dict[str, float]]:
        """Train to the end (or until a stop signal); return the per-epoch metrics rows."""
        epoch, batch, meter = self._resume()
        with StopRequest() as stop:
            while epoch < self.spec.epochs:
                meter = self._epoch(epoch, batch, meter, stop)
                self._finish_epoch(epoch, meter)
                epoch, batch, meter = epoch + 1, 0, Meter({})
                self._save(epoch, batch, meter)
        return self._rows

    def _epoch(self, epoch: int, batch: int, meter: Meter, stop: StopRequest) -> Meter:
        self.batches.start(epoch, batch)
        self.model.train()
        started = time.perf_counter() - float(meter.sums.get("_seconds", 0.0))
        bar = tqdm(
            self.loader,
            total=self.steps_per_epoch,
            initial=batch,
            desc=f"epoch {epoch + 1}/{self.spec.epochs}",
            disable=dist.rank() != 0,
            leave=False,
            **bar_options(),  # a log file gets a line per update (cstp.engine.progress)
        )
        watch = FiniteWatch()
        for data in bar:
            step = epoch * self.steps_per_epoch + batch
            self._set_lr(learning_rate(self.spec, step, self.steps_per_epoch))
            loss, values, n = self.step_fn(data)
            watch.see(loss, values, step)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if self.spec.grad_clip:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.spec.grad_clip)
            self.optimizer.step()
            if self.after_step:
                self.after_step((step + 1) / self.total_steps)
            meter.add(values | {"lr": self.optimizer.param_groups[0]["lr"]}, n)
            batch += 1
            meter.sums["_seconds"] = time.perf_counter() - started
            for hook in self.hooks:
                hook(step + 1)
            interval = batch % self.log_every == 0 or batch == self.steps_per_epoch
            if interval:
                self._check_finite(watch)
                loss_mean = float(meter.sums.get("loss", math.nan)) / max(meter.count, 1)
                bar.set_postfix(loss=f"{loss_mean:.3f}", refresh=False)  # one read, not all
            signum = self._agreed_stop(stop, interval)
            if signum:
                self._save(epoch, batch, meter)
                dist.barrier()  # no process exits (and no launcher tears down) before the save
                raise Interrupted(signum, epoch, batch)
        bar.close()
        return meter

    def _agreed_stop(self, stop: StopRequest, interval: bool) -> int:
        """The stop signal to act on now, the same on every process: alone, any signal seen;
        under data parallelism, the largest any process saw, agreed at each logging interval so
        that all stop after the same step."""
        if not dist.is_distributed():
            return stop.signal or 0
        if not interval:
            return 0
        device = next(self.model.parameters()).device
        return dist.largest(stop.signal or 0, device)

    def _finish_epoch(self, epoch: int, meter: Meter) -> None:
        means = meter.means()
        seconds = meter.sums.get("_seconds", 0.0)
        row = {"epoch": epoch + 1, **{k: v for k, v in means.items() if not k.startswith("_")}}
        row["samples_per_s"] = meter.count * dist.world_size() / max(seconds, 1e-9)
        if self.end_epoch:
            row |= self.end_epoch(epoch)
        self._rows.append(row)
        if dist.rank() == 0:
            write_metrics_csv(self.run_dir / "metrics.csv", self._rows)
            summary = ", ".join(f"{k} {v:.4g}" for k, v in row.items() if k != "epoch")
            log.info("epoch %d/%d: %s", epoch + 1, self.spec.epochs, summary)

    def _set_lr(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def _check_finite(self, watch: FiniteWatch) -> None:
        step = watch.bad_step()
        if step is None:
            return
        values = {k: float(v) for k, v in watch.values.items()}
        bad = [k for k, v in values.items() if not math.isfinite(v)] or ["loss"]
        epoch, batch = divmod(step, self.steps_per_epoch)
        raise NonFiniteLoss(
            f"non-finite loss at epoch {epoch + 1}, step {batch + 1}: "
            + ", ".join(f"{k} = {values.get(k, math.nan)}" for k in bad)
            + "; "
            + self._last_good()
        )

    def _last_good(self) -> str:
        for path in (self.state_path, self.previous_path):
            if path.exists():
                return f"the last checkpoint is {path} (running again resumes from it)"
        return "no checkpoint was written yet (running again starts afresh)"

    def _load_state(self) -> dict | None:
        """The newest readable checkpoint: last.pt, else (damaged: moved aside as *.damaged,
        with a warning naming it) previous.pt, else None (start from the beginning). Under
        data parallelism the first process alone sets damaged files aside; the others then read
        what it chose."""
        state = self._first_readable(repair=True) if dist.rank() == 0 else None
        dist.barrier()
        return state if dist.rank() == 0 else self._first_readable(repair=False)

    def _first_readable(self, repair: bool) -> dict | None:
        for path in (self.state_path, self.previous_path):
            try:
                state = checkpoint.load(path)
            except checkpoint.DamagedCheckpoint as err:
                if repair:
                    log.warning(
                        "%s; moved to %s.damaged, trying an older checkpoint", err, path.name
                    )
                    path.replace(path.with_name(path.name + ".damaged"))
                continue
            if state is not None:  # a missing last.pt (set aside, or a kill between the two
                return state  # renames of a save) falls back to previous.pt as well
        return None

    def _resume(self) -> tuple[int, int, Meter]:
        state = self._load_state()
        if state is not None and state.get("code") != self.code:
            # New code re-runs a job (its code stamp); resuming would return the old result.
            log.warning(
                "%s: the checkpoint was written by other code (%s; this job's: %s), so training "
                "starts from the beginning",
                self.run_dir,
                state.get("code") or "not recorded",
                self.code,
            )
            state = None
        if state is None:
            self._rows: list[dict[str, float]] = []
            return 0, 0, Meter({})
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        self._rows = state["rows"]
        log.info(
            "resuming %s at epoch %d, batch %d", self.run_dir, state["epoch"] + 1, state["batch"]
        )
        return state["epoch"], state["batch"], Meter(state["meter"], state["count"])

    def _save(self, epoch: int, batch: int, meter: Meter) -> None:
        if dist.rank() != 0:
            return
        if self.state_path.exists():  # keep one older checkpoint, in case this one is damaged
            self.state_path.replace(self.previous_path)
        checkpoint.save_atomic(
            {
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "epoch": epoch,
                "batch": batch,
                "meter": meter.plain(),
                "count": meter.count,
                "rows": self._rows,
                "torch_rng": torch.get_rng_state(),
                "code": self.code,
            },
            self.state_path,
        )


def write_metrics_csv(path: Path, rows: list[dict[str, float]]) -> None:
    columns = list(dict.fromkeys(k for row in rows for k in row))

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)

    write_atomic(path, write, "metrics")
