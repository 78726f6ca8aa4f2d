"""A table row as a cell: what the paper's flags say, and the run specs that realise it.

A cell's pretraining, fine-tuning, evaluation and feature specs are built from the preset's typed
recipes plus the row's flags; equal specs hash equally, so equal cells of different tables become
one job.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from cstp.errors import CstpError
from cstp.planning.config import Dataset, Study, Table
from cstp.specs.measure import EvaluateSpec, FeatureSpec
from cstp.specs.registry import PRETEXT_TASKS, tasks_of
from cstp.specs.sampling import BaseAugment, SamplingSpec, Transformations, stor_area_cap
from cstp.specs.train import BackboneSpec, ContrastiveSpec, FinetuneSpec, PretrainSpec

AUGMENTS = ("playback_rate", "rotation")
# How tables print the dataset a row pretrains on (its key in the preset otherwise).
DATASET_NAMES = {"ucf101": "UCF-101", "hmdb51": "HMDB-51", "kinetics400": "K400"}
# How tables print a backbone (a row's `backbone`; the preset's width multiplier applies).
BACKBONE_NAMES = {
    "c3d": "C3D",
    "r2plus1d_10": "R(2+1)D-10",
    "r2plus1d_18": "R(2+1)D-18",
    "r3d_18": "R3D-18",
    "s3d_g": "S3D-G",
}


@dataclass(frozen=True)
class Cell:
    table: str
    exp: str
    contrastive: str
    augment: frozenset[str]
    pretext: frozenset[str]
    stor_candidates: tuple[float, ...] | None
    datasets: tuple[str, ...]
    paper: dict[str, Any]  # dataset -> number (accuracy) or {"R@k": number} (retrieval)
    backbone: str | None = None  # None: the preset's
    pretrain_on: str | None = None  # dataset key; None: the preset's pretrain_on
    protocol: str = "finetune"  # finetune: end to end; linear: frozen encoder (paper: "Freeze")

    @property
    def pretrains(self) -> bool:
        return self.contrastive != "none" or bool(self.pretext)

    def show(self, prop: str) -> Any:
        """A column's value: the flags the paper prints (True / False), a scheme, a count."""
        values = {
            "base": True,
            "contrastive": self.contrastive,
            "contrastive.used": self.contrastive != "none",
            "stor.candidates": len(self.stor_candidates) if self.stor_candidates else 5,
            "backbone": BACKBONE_NAMES.get(self.backbone or "", "preset's"),
            "pretrain_on": (
                DATASET_NAMES.get(self.pretrain_on, self.pretrain_on or "preset's")
                if self.pretrains
                else "-"
            ),
            "protocol.linear": self.protocol == "linear",
        }
        values |= {f"augment.{a}": a in self.augment for a in AUGMENTS}
        for task in PRETEXT_TASKS.values():  # a task by its name, and by its row's name
            values[f"pretext.{task.name}"] = task.name in self.pretext
            values[f"pretext.{task.row}"] = values.get(f"pretext.{task.row}", False) or (
                task.name in self.pretext
            )
        if prop not in values:
            raise CstpError(f"column show: {prop!r} is not one of {', '.join(sorted(values))}")
        return values[prop]


def cells(table: Table) -> list[Cell]:
    out = []
    for row in table.rows:
        merged = table.defaults | row
        pretext = tasks_of(merged.get("pretext", []))
        candidates = merged.get("stor_candidates")
        out.append(
            Cell(
                table=table.name,
                exp=str(row["exp"]),
                contrastive=merged.get("contrastive", "none"),
                augment=frozenset(merged.get("augment", [])),
                pretext=frozenset(pretext),
                stor_candidates=tuple(map(float, candidates)) if candidates else None,
                datasets=table.datasets,
                paper=dict(row.get("paper", {})),
                backbone=merged.get("backbone"),
                pretrain_on=merged.get("pretrain_on"),
                protocol=merged.get("protocol", "finetune"),
            )
        )
    return out


class SpecBuilder:
    """The preset's recipes, specialised per cell, seed and dataset: a cell changes only what its
    row says (scheme, augmentation, pretext tasks, STOR candidates)."""

    def __init__(self, study: Study):
        self.study = study
        self.preset = study.preset
        self.base = self._study_base()

    def _study_base(self) -> BaseAugment:
        """The pretraining base augmentation of every cell: the recipe's, with the crop-area
        range capped for the whole study (recipe.crop_cap: study)."""
        recipe = self.preset.pretrain
        smallest = study_smallest_spatial_candidate(self.study)
        if recipe.crop_cap == "none" or smallest is None:
            return recipe.base
        cap = stor_area_cap(smallest)
        lo, hi = recipe.base.crop_scale
        return replace(recipe.base, crop_scale=(round(min(lo, cap), 4), round(min(hi, cap), 4)))

    def backbone(self, cell: Cell) -> BackboneSpec:
        """The row's backbone at the preset's width, or the preset's backbone."""
        if cell.backbone is None:
            return self.preset.backbone
        return replace(self.preset.backbone, name=cell.backbone)

    def pretrain_dataset(self, cell: Cell) -> Dataset:
        """The dataset a cell pretrains on, without labels: its row's, else the preset's."""
        if cell.pretrain_on is None:
            return self.study.pretrain_on
        return self.study.datasets[cell.pretrain_on]

    def _sampling(self, recipe, augment: frozenset[str], rates: tuple[int, ...]) -> SamplingSpec:
        return SamplingSpec(
            clip=self.preset.clip,
            base=recipe.base,
            playback_rates=rates,
            fixed_rate=recipe.fixed_rate,
            augment=Transformations(**{a: a in augment for a in AUGMENTS}),
        )

    def pretrain(self, cell: Cell, seed: int) -> PretrainSpec | None:
        if not cell.pretrains:
            return None
        recipe = self.preset.pretrain
        stor = recipe.stor
        if cell.stor_candidates:
            stor = replace(
                stor,
                spatial_candidates=cell.stor_candidates,
                temporal_candidates=cell.stor_candidates,
            )
        sampling = replace(
            self._sampling(recipe, cell.augment, recipe.playback_rates),
            base=self.base,
            pretext=tuple(cell.pretext),
            stor=stor,
        )
        settings = {f.name: getattr(recipe.contrastive, f.name) for f in fields(recipe.contrastive)}
        dataset = self.pretrain_dataset(cell)
        return _build(
            PretrainSpec,
            f"{cell.table} exp {cell.exp}",
            dataset=dataset.name,
            split=dataset.split,
            seed=seed,
            backbone=self.backbone(cell),
            sampling=sampling,
            contrastive=ContrastiveSpec(scheme=cell.contrastive, **settings),
            loss=recipe.loss,
            optim=recipe.optim_on.get(dataset.key, recipe.optim),
            sync_batchnorm=recipe.sync_batchnorm,
            processes=recipe.processes,
            precision=self.preset.precision,
        )

    def finetune(self, cell: Cell, seed: int, dataset: Dataset, pretrain: str | None):
        recipe = self.preset.finetune
        row_rule = self.study.finetune_augment == "row"
        augment = cell.augment if (row_rule or not cell.pretrains) else frozenset()
        sampling = self._sampling(recipe, augment, self.preset.pretrain.playback_rates)
        if not cell.pretrains and self.study.scratch_base == "base":
            # A cell trained from scratch prints "Base": the base augmentation (docs: T1).
            sampling = replace(sampling, base=self.preset.pretrain.base)
        return _build(
            FinetuneSpec,
            f"{cell.table} exp {cell.exp}",
            dataset=dataset.name,
            split=dataset.split,
            protocol=cell.protocol,
            seed=seed,
            pretrain=pretrain,
            backbone=self.backbone(cell),
            sampling=sampling,
            classifier=recipe.classifier,
            optim=recipe.optim,
            val_fraction=recipe.val_fraction,
            selection=recipe.selection,
            val_clips=recipe.val_clips,
            precision=self.preset.precision,
        )

    def evaluate(self, finetune: str) -> EvaluateSpec:
        return EvaluateSpec(finetune=finetune, test=self.preset.test)

    def control(self, seed: int) -> FinetuneSpec | None:
        """The positive control's training: the preset's backbone on the pretraining set's labels,
        from scratch, with the fine-tuning recipe for `control_epochs` (None: no control)."""
        epochs = self.preset.control_epochs
        if epochs is None:
            return None
        recipe, dataset = self.preset.finetune, self.study.pretrain_on
        return _build(
            FinetuneSpec,
            "control",
            dataset=dataset.name,
            split=dataset.split,
            seed=seed,
            backbone=self.preset.backbone,
            sampling=self._sampling(recipe, frozenset(), self.preset.pretrain.playback_rates),
            classifier=recipe.classifier,
            optim=replace(recipe.optim, epochs=epochs),
            val_fraction=recipe.val_fraction,
            selection=recipe.selection,
            val_clips=recipe.val_clips,
            precision=self.preset.precision,
        )

    def features(
        self,
        cell: Cell | None,
        seed: int,
        dataset: Dataset,
        pretrain: str | None,
        trained: str | None = None,
    ) -> FeatureSpec:
        """A cell's frozen features (cell None: the control's, of fine-tuning run `trained`)."""
        return FeatureSpec(
            dataset=dataset.name,
            split=dataset.split,
            pretrain=pretrain,
            trained=trained,
            backbone=self.preset.backbone if cell is None else self.backbone(cell),
            clip=self.preset.clip,
            fixed_rate=self.preset.finetune.fixed_rate,
            views=self.preset.features,
            seed=seed,
            precision=self.preset.precision,
            probe=self.preset.probe,
            retrieval=self.preset.retrieval,
        )


def study_smallest_spatial_candidate(study: Study) -> float | None:
    """The smallest spatial overlap rate any pretraining cell of the study predicts."""
    default = study.preset.pretrain.stor.spatial_candidates
    rates = [
        min(cell.stor_candidates or default)
        for table in study.tables.values()
        for cell in cells(table)
        if "stor_spatial" in cell.pretext
    ]
    return min(rates) if rates else None


def _build(cls, where: str, **values):
    try:
        return cls(**values)
    except ValueError as err:
        raise CstpError(f"{where}: {err}") from None
