"""The components a recipe is made of, one registry per kind: pretext tasks and contrastive
schemes. Everything that lists them reads these: the specs' checks, the sampler's labels, the
heads and losses, the config schema's enums, the tables' columns and the figures' labels.

A new pretext task is an entry of `PRETEXT_TASKS` (or `register_pretext` from a plug-in), with
its labels read off the pair plan; a new scheme an entry of `SCHEMES` (`register_scheme`) plus
its module in `cstp.models` (`cstp.models.contrastive.implements`). Torch-free: the planning
side reads it too; a task's `loss`, where it has its own, is a callable the model calls.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

ROTATIONS = (0, 90, 180, 270)  # degrees; a clip's rotation label is the index


@dataclass(frozen=True)
class PretextTask:
    """A label predicted from a pair of clips.

    `classes(sampling_spec)` is its number of classes; `label(pair_plan)` its value for a pair:
    one int for a head on the pair, or one per clip ([clip 1, clip 2]) for a head on each clip.
    `row` is what a table row writes for it (both STOR tasks are `stor`), `column` the tables'
    name of its head, `short` the figures'; `weight(loss_weights)` its weight in the joint loss;
    `loss(logits, target)` replaces its head's cross-entropy where given."""

    name: str
    row: str
    column: str
    short: str
    per_clip: bool
    classes: Callable[[Any], int]
    label: Callable[[Any], Any]
    weight: Callable[[Any], float]
    loss: Callable[[Any, Any], Any] | None = None


@dataclass(frozen=True)
class Scheme:
    """A contrastive scheme: its name in rows and specs, its name in print, and whether it keeps a
    momentum (target) encoder that embeds clips without gradient (a third backbone pass)."""

    name: str
    label: str
    momentum_encoder: bool = False


PRETEXT_TASKS: dict[str, PretextTask] = {}
SCHEMES: dict[str, Scheme] = {}


def register_pretext(task: PretextTask) -> PretextTask:
    if task.name in PRETEXT_TASKS:
        raise ValueError(f"pretext task {task.name!r} is registered already")
    PRETEXT_TASKS[task.name] = task
    return task


def register_scheme(scheme: Scheme) -> Scheme:
    if scheme.name in SCHEMES or scheme.name == "none":
        raise ValueError(f"contrastive scheme {scheme.name!r} is registered already")
    SCHEMES[scheme.name] = scheme
    return scheme


def row_names() -> list[str]:
    """What a table row's `pretext` list may hold: each task's row name and its own name."""
    names = [t.row for t in PRETEXT_TASKS.values()] + list(PRETEXT_TASKS)
    return list(dict.fromkeys(names))


def tasks_of(names: list[str]) -> set[str]:
    """The tasks a row's `pretext` list switches on (`stor`: both STOR tasks)."""
    return {t.name for t in PRETEXT_TASKS.values() if t.row in names or t.name in names}


def scheme_names() -> tuple[str, ...]:
    return ("none", *SCHEMES)


for _task in (
    PretextTask(
        "playback_rate",
        row="playback_rate",
        column="PB rate",
        short="PB",
        per_clip=True,
        classes=lambda sampling: len(sampling.playback_rates),
        label=lambda plan: plan.rate_index,
        weight=lambda w: w.playback_rate,
    ),
    PretextTask(
        "rotation",
        row="rotation",
        column="rotation",
        short="Rot",
        per_clip=True,
        classes=lambda sampling: len(ROTATIONS),
        label=lambda plan: [clip.rotation for clip in plan.clips],
        weight=lambda w: w.rotation,
    ),
    PretextTask(
        "stor_spatial",
        row="stor",
        column="STOR spatial",
        short="STOR-s",
        per_clip=False,
        classes=lambda sampling: len(sampling.stor.spatial_candidates),
        label=lambda plan: plan.spatial_index,
        weight=lambda w: w.stor * w.stor_spatial,
    ),
    PretextTask(
        "stor_temporal",
        row="stor",
        column="STOR temporal",
        short="STOR-t",
        per_clip=False,
        classes=lambda sampling: len(sampling.stor.temporal_candidates),
        label=lambda plan: plan.temporal_index,
        weight=lambda w: w.stor * w.stor_temporal,
    ),
):
    register_pretext(_task)

for _scheme in (
    Scheme("simclr", "SimCLR"),
    Scheme("moco", "MoCo", momentum_encoder=True),
    Scheme("byol", "BYOL", momentum_encoder=True),
    Scheme("simsiam", "SimSiam"),
):
    register_scheme(_scheme)
