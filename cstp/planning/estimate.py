"""`cstp plan --estimate`: what a target costs before it is submitted, from measured step rates.

Every job's cost is its backbone passes divided by one rate, the bare backbone's training clips/s
of `cstp bench step` (a), times the measured efficiency (c) and, where the bench measured the data
pipeline, the share of the step rate that the loader let through end to end (e / b):

- pretraining: epochs x training videos x the cell's passes per sample (`backbone_passes`);
- fine-tuning: epochs x (training videos, one trained clip each, plus the held-out videos'
  validation clips, a third each); a linear probe trains its head only, a third per clip;
- evaluation and features: test (and training) videos x clips, a third per clip.

A job of another clip shape than the bench's is scaled by voxels (frames x side^2). A bench file
prices the jobs of its own backbone; every other job is priced by its backbone's anchor, measured
on one H100 (shared notes, gpu-ceilings); no bench and no anchor, no estimate.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from cstp.errors import CstpError
from cstp.planning.plan import KINDS, Plan, Run

# Published video counts (train, test) of split 1, used when no index of the dataset exists.
PUBLISHED = {
    "ucf101": (9537, 3783),
    "hmdb51": (3570, 1530),
    "kinetics400": (246535, 19906),  # train / validation as released; copies today hold fewer
}
# One H100, 16x112x112, batch 64, bf16 + channels_last_3d, eager (gpu-ceilings.md): each backbone's
# bare training clips/s, and the CSTP-BYOL step's efficiency against it, asymmetric (the target
# embeds clip 2 only) and symmetric (both clips): measured passes 2.44 / 2.88 against the ideal
# 2.33 / 2.67 for R(2+1)D-10, 2.43 / 2.88 for R(2+1)D-18. The other backbones' joint steps were not
# measured: they take R(2+1)D-10's efficiencies.
BARE = {"r2plus1d_10": 813.0, "r2plus1d_18": 481.0, "r3d_18": 960.0, "c3d": 880.0, "s3d_g": 987.0}
EFFICIENCY = {  # (asymmetric, symmetric)
    "r2plus1d_10": (333 * (2 + 1 / 3) / 813, 283 * (2 + 2 / 3) / 813),
    "r2plus1d_18": (198 * (2 + 1 / 3) / 481, 167 * (2 + 2 / 3) / 481),
}
ANCHORS = {
    (name, 1.0, 16, 112, symmetric): (clips, EFFICIENCY.get(name, EFFICIENCY["r2plus1d_10"])[i])
    for name, clips in BARE.items()
    for i, symmetric in enumerate((False, True))
}
ANCHOR_SOURCE = "anchor: one H100, bf16 + channels_last_3d, eager (shared notes, gpu-ceilings)"


@dataclass(frozen=True)
class Rates:
    """One device's rates, from a `cstp bench step` JSON file or an anchor."""

    clips_per_s: float  # (a): bare backbone training clips/s
    efficiency: float  # (c)
    loader_share: float  # (e) / (b), at most 1; 1 when the bench did not measure data
    voxels: int  # frames x side^2 of the bench's clips
    source: str
    backbone: str = ""  # "name xwidth" it was measured on
    step: str = "measured cell"  # which step's efficiency: the bench's cell, or an anchor's

    @classmethod
    def from_bench(cls, path: Path) -> Rates:
        try:
            bench = json.loads(Path(path).read_text())
            step = bench["step_samples_per_s"]
            share = min(1.0, bench.get("end_to_end_samples_per_s", step) / step)
            frames, side, _ = (int(v) for v in bench["cell"]["clip"].split("x"))
            rates = cls(bench["backbone_clips_per_s"], bench["efficiency"], share, 0, "")
            backbone = str(bench["cell"]["backbone"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
            raise CstpError(f"--bench {path}: not a `cstp bench step --out` file ({err})") from err
        where = bench.get("machine", {})
        device = where.get("gpu") or f"CPU {where.get('cpu', '?')} x{where.get('threads', '?')}"
        source = f"bench {path}: {device}, {bench['cell']['backbone']}, {bench['cell']['clip']}"
        voxels = frames * side * side
        return cls(rates.clips_per_s, rates.efficiency, share, voxels, source, backbone)

    @classmethod
    def anchor(cls, backbone, frames: int, size: int, symmetric: bool = True) -> Rates:
        """The anchor of `backbone` at frames x size^2, its efficiency that of a symmetric (both
        clips to the target encoder) or an asymmetric step."""
        key = (backbone.name, backbone.width, frames, size, symmetric)
        if key not in ANCHORS:
            raise CstpError(
                f"no measured rate for {backbone.name} x{backbone.width} at {frames}x{size}x{size}"
                ": measure one with `cstp bench step --spec runs/pretrain/<id>/spec.json --out "
                "bench.json` on the target machine and pass --bench bench.json"
            )
        clips, efficiency = ANCHORS[key]
        step = "symmetric step" if symmetric else "asymmetric step"
        voxels = frames * size * size
        return cls(clips, efficiency, 1.0, voxels, ANCHOR_SOURCE, _name(backbone), step)

    def seconds(self, passes: float, voxels: int) -> float:
        """Seconds for `passes` backbone passes over clips of `voxels` voxels."""
        rate = self.clips_per_s * self.efficiency * self.loader_share * self.voxels / voxels
        return passes / rate


def video_counts(run: Run) -> tuple[int, int, str]:
    """(train, test) videos of a job's dataset: from its index if scanned, else as published."""
    index = run.dataset.index
    if index.is_file():
        return (*_index_counts(index.resolve(), index.stat().st_mtime_ns), f"index {index}")
    if run.dataset.synth:
        raise CstpError(
            f"{index}: not generated yet; make it with `snakemake --cores all {index}` first"
        )
    if run.dataset.kind in PUBLISHED:
        train, test = PUBLISHED[run.dataset.kind]
        return train, test, f"published split-1 counts of {run.dataset.kind}"
    raise CstpError(f"{run.dataset.name}: no index at {index} and no published size")


@functools.lru_cache
def _index_counts(index: Path, mtime_ns: int) -> tuple[int, int]:
    """Usable (train, test) videos of an index (by path and time), read once, not once per job."""
    table = pd.read_csv(index, usecols=["subset", "status"])
    ok = table[table["status"] == "ok"]["subset"].value_counts()
    return int(ok.get("train", 0)), int(ok.get("test", 0))


def job_passes(plan: Plan, run: Run, counts: tuple[int, int] | None = None) -> tuple[float, int]:
    """Backbone passes of one job, and the voxels of its clips; `counts`: (train, test) videos
    instead of its dataset's."""
    train, test = counts or video_counts(run)[:2]
    spec = run.spec
    if run.kind == "pretrain":
        clip = spec.sampling.clip
        return spec.optim.epochs * train * spec.backbone_passes, _voxels(clip)
    if run.kind == "finetune":
        held_out = spec.val_fraction * train
        trained = (train - held_out) * (1.0 if spec.protocol == "finetune" else 1 / 3)
        passes = spec.optim.epochs * (trained + held_out * spec.val_clips / 3)
        return passes, _voxels(spec.sampling.clip)
    if run.kind == "evaluate":
        finetune = plan.run("finetune", spec.finetune).spec
        return test * spec.test.clips / 3, _voxels(finetune.sampling.clip)
    return (train + test) * spec.views.clips / 3, _voxels(spec.clip)


def job_weight(plan: Plan, run: Run) -> float:
    """A job's backbone passes times its clips' voxels: its share of a device's work, and the
    order in which jobs should start (the longest first, so the short ones fill the end instead of
    one long job running alone). Before a synthetic dataset is generated, its videos count one each.
    """
    try:
        passes, voxels = job_passes(plan, run)
    except CstpError:
        passes, voxels = job_passes(plan, run, counts=(1, 1))
    return passes * voxels


def _voxels(clip) -> int:
    return clip.frames * clip.size * clip.size


def estimate(plan: Plan, tables: list[str], bench: Rates | None, gpus: int = 1) -> dict:
    """Jobs and device-hours per kind for `tables`, the wall time on `gpus` devices, and the
    rates behind the figures (with how many jobs each priced)."""
    runs = plan.runs_of(tables)
    rows, longest, sizes, used = {}, 0.0, set(), {}
    for kind in KINDS:
        seconds = []
        for run in runs[kind]:
            rates = _rates(plan, run, bench)
            passes = job_passes(plan, run)
            used[rates] = used.get(rates, 0) + 1
            seconds.append(rates.seconds(*passes))
            sizes.add(video_counts(run)[2])
        rows[kind] = {"jobs": len(seconds), "hours": sum(seconds) / 3600}
        longest = max([longest, *seconds])
    total = sum(row["hours"] for row in rows.values())
    return {
        "rows": rows,
        "total_hours": total,
        "wall_hours": max(longest / 3600, total / gpus),
        "longest_hours": longest / 3600,
        "gpus": gpus,
        "rates": used,
        "sizes": sorted(sizes),
        "epochs": _epochs(runs),
    }


def _rates(plan: Plan, run: Run, bench: Rates | None) -> Rates:
    """Evaluation jobs are priced like their fine-tuning (same backbone and clips)."""
    if run.kind == "evaluate":
        run = plan.run("finetune", run.spec.finetune)
    spec = run.spec
    if bench is not None and bench.backbone == _name(spec.backbone):
        return bench
    symmetric = run.kind == "pretrain" and spec.backbone_passes > 2 + 1 / 3 + 1e-9
    clip = spec.clip if run.kind == "features" else spec.sampling.clip
    return Rates.anchor(spec.backbone, clip.frames, clip.size, symmetric)


def _name(backbone) -> str:
    return f"{backbone.name} x{backbone.width}"


def _epochs(runs: dict[str, list[Run]]) -> dict[str, list[int]]:
    return {
        kind: sorted({run.spec.optim.epochs for run in runs[kind]})
        for kind in ("pretrain", "finetune")
    }
