"""A table row as a cell: what the paper's flags say, and the run specs that realise it.

A cell's pretraining, downstream and feature specs are built from the preset's recipes plus the
row's flags; equal specs hash equally, so equal cells of different tables become one job.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cstp.engine.specs import DownstreamSpec, FeatureSpec, PretrainSpec
from cstp.errors import CstpError
from cstp.spec import from_dict
from cstp.workflow.study import Dataset, Study, Table

PRETEXTS = ("playback_rate", "rotation", "stor_spatial", "stor_temporal")
AUGMENTS = ("playback_rate", "rotation")
# Keys of a preset's pretrain / downstream section that go into the sampling spec.
SAMPLING_KEYS = ("base", "playback_rates", "stor", "fixed_rate")


@dataclass(frozen=True)
class Cell:
    table: str
    exp: str
    contrastive: str
    augment: frozenset[str]
    pretext: frozenset[str]
    stor_candidates: tuple[float, ...] | None
    datasets: tuple[str, ...]
    paper: dict[str, float]

    @property
    def pretrains(self) -> bool:
        return self.contrastive != "none" or bool(self.pretext)

    def show(self, prop: str) -> Any:
        """A column's value: the flags the paper prints (True / False), a scheme, a count."""
        values = {
            "base": True,
            "contrastive": self.contrastive,
            "contrastive.used": self.contrastive != "none",
            "pretext.stor": bool(self.pretext & {"stor_spatial", "stor_temporal"}),
            "stor.candidates": len(self.stor_candidates) if self.stor_candidates else 5,
        }
        values |= {f"augment.{a}": a in self.augment for a in AUGMENTS}
        values |= {f"pretext.{p}": p in self.pretext for p in PRETEXTS}
        if prop not in values:
            raise CstpError(f"column show: {prop!r} is not one of {', '.join(sorted(values))}")
        return values[prop]


def cells(table: Table) -> list[Cell]:
    out = []
    for row in table.rows:
        merged = table.defaults | row
        pretext = set()
        for task in merged.get("pretext", []):
            pretext |= {"stor_spatial", "stor_temporal"} if task == "stor" else {task}
        candidates = merged.get("stor_candidates")
        out.append(
            Cell(
                table=table.name,
                exp=str(row["exp"]),
                contrastive=merged.get("contrastive", "none"),
                augment=frozenset(merged.get("augment", [])),
                pretext=frozenset(pretext),
                stor_candidates=tuple(candidates) if candidates else None,
                datasets=table.datasets,
                paper=dict(row.get("paper", {})),
            )
        )
    return out


class SpecBuilder:
    """The preset's recipes, specialised per cell, seed and dataset."""

    def __init__(self, study: Study):
        self.study = study
        self.settings = study.settings

    def _common(self) -> dict[str, Any]:
        return {
            "backbone": self.settings["backbone"],
            "precision": self.settings.get("precision", "fp32"),
        }

    def _sampling(self, section: dict[str, Any], augment: frozenset[str]) -> dict[str, Any]:
        sampling = {k: v for k, v in section.items() if k in SAMPLING_KEYS}
        sampling["clip"] = self.settings["clip"]
        sampling["augment"] = {a: a in augment for a in AUGMENTS}
        return sampling

    def pretrain(self, cell: Cell, seed: int) -> PretrainSpec | None:
        if not cell.pretrains:
            return None
        section = self.settings.get("pretrain", {})
        sampling = self._sampling(section, cell.augment)
        sampling["pretext"] = {p: p in cell.pretext for p in PRETEXTS}
        if cell.stor_candidates:
            stor = dict(sampling.get("stor", {}))
            stor["spatial_candidates"] = stor["temporal_candidates"] = list(cell.stor_candidates)
            sampling["stor"] = stor
        contrastive = dict(section.get("contrastive", {}))
        contrastive |= section.get("schemes", {}).get(cell.contrastive, {})
        contrastive["scheme"] = cell.contrastive
        dataset = self.study.datasets[self.study.pretrain_on]
        data = self._common() | {
            "dataset": dataset.name,
            "split": dataset.split,
            "seed": seed,
            "sampling": sampling,
            "contrastive": contrastive,
            "loss": section.get("loss", {}),
            "optim": section.get("optim", {}),
        }
        return from_dict(PretrainSpec, data, where=f"{cell.table} exp {cell.exp}")

    def downstream(self, cell: Cell, seed: int, dataset: Dataset, pretrain: str | None):
        section = dict(self.settings.get("downstream", {}))
        rule = self.study.interpretation.get("finetune_augment", "scratch_only")
        augment = cell.augment if (rule == "row" or not cell.pretrains) else frozenset()
        rates = self.settings.get("pretrain", {}).get("playback_rates")
        sampling = self._sampling(section, augment)
        if rates:
            sampling["playback_rates"] = rates
        data = self._common() | {
            "dataset": dataset.name,
            "split": dataset.split,
            "seed": seed,
            "pretrain": pretrain,
            "sampling": sampling,
        }
        data |= {k: v for k, v in section.items() if k not in SAMPLING_KEYS}
        return from_dict(DownstreamSpec, data, where=f"{cell.table} exp {cell.exp}")

    def features(self, seed: int, dataset: Dataset, pretrain: str | None) -> FeatureSpec:
        data = self._common() | {
            "dataset": dataset.name,
            "split": dataset.split,
            "pretrain": pretrain,
            "clip": self.settings["clip"],
            "seed": seed,
        }
        data |= self.settings.get("features", {})
        return from_dict(FeatureSpec, data, where="features")
