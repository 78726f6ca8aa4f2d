"""The jobs of a study: every unique pretraining, downstream, test and feature run, by content hash.

The Snakefile asks the plan which result files a table needs and, for a run id in a path, which
spec and inputs it has; `cstp plan` prints how many cells and unique jobs each table needs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cstp.spec import spec_hash, to_dict
from cstp.workflow.cells import Cell, SpecBuilder, cells
from cstp.workflow.study import Dataset, Study, load_study

RUNS = Path("runs")


@dataclass(frozen=True)
class Run:
    """One job's spec, with the dataset it reads and the pretraining run it starts from."""

    kind: str  # pretrain, downstream, features
    id: str
    spec: Any
    dataset: Dataset
    pretrain: str | None = None

    @property
    def folder(self) -> Path:
        return RUNS / self.kind / self.id

    def spec_json(self) -> str:
        return json.dumps(to_dict(self.spec), sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class CellRuns:
    """The runs behind one cell for one seed and dataset."""

    cell: Cell
    seed: int
    dataset: Dataset
    pretrain: str | None
    downstream: str
    features: str


class Plan:
    def __init__(self, study: Study):
        self.study = study
        self.runs: dict[str, dict[str, Run]] = {"pretrain": {}, "downstream": {}, "features": {}}
        self.tables: dict[str, list[CellRuns]] = {}
        builder = SpecBuilder(study)
        for name, table in study.tables.items():
            self.tables[name] = [
                self._add(builder, cell, seed, study.datasets[key])
                for cell in cells(table)
                for seed in study.seeds
                for key in cell.datasets
            ]

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Plan:
        return cls(load_study(config))

    def _add(self, builder: SpecBuilder, cell: Cell, seed: int, dataset: Dataset) -> CellRuns:
        pretrain = builder.pretrain(cell, seed)
        pretrain_id = None
        if pretrain is not None:
            pretrain_id = self._register(
                "pretrain", pretrain, self.study.datasets[self.study.pretrain_on]
            )
        downstream = builder.downstream(cell, seed, dataset, pretrain_id)
        features = builder.features(seed, dataset, pretrain_id)
        return CellRuns(
            cell,
            seed,
            dataset,
            pretrain_id,
            self._register("downstream", downstream, dataset, pretrain_id),
            self._register("features", features, dataset, pretrain_id),
        )

    def _register(self, kind: str, spec, dataset: Dataset, pretrain: str | None = None) -> str:
        run_id = spec_hash(spec)
        self.runs[kind].setdefault(run_id, Run(kind, run_id, spec, dataset, pretrain))
        return run_id

    def run(self, kind: str, run_id: str) -> Run:
        return self.runs[kind][run_id]

    def result_files(self, table: str) -> list[Path]:
        """What a table is built from: each cell's test metrics and probe / retrieval metrics."""
        files: list[Path] = []
        for entry in self.tables[table]:
            files.append(RUNS / "downstream" / entry.downstream / "test.json")
            files.append(RUNS / "features" / entry.features / "probe.json")
            files.append(RUNS / "features" / entry.features / "retrieval.json")
        return list(dict.fromkeys(files))

    def datasets(self) -> list[Dataset]:
        used = {
            run.dataset.name: run.dataset for kind in self.runs.values() for run in kind.values()
        }
        return list(used.values())

    def counts(self, tables: list[str]) -> dict[str, int]:
        """Cells and unique jobs that `tables` need together."""
        entries = [e for t in tables for e in self.tables[t]]
        pretrain = {e.pretrain for e in entries if e.pretrain}
        downstream = {e.downstream for e in entries}
        features = {e.features for e in entries}
        return {
            "cells": sum(len(self.study.tables[t].rows) for t in tables),
            "cells_that_pretrain": len(
                {(t, c.exp) for t in tables for c in cells(self.study.tables[t]) if c.pretrains}
            ),
            "pretrain": len(pretrain),
            "finetune": len(downstream),
            "evaluate": len(downstream),
            "features": len(features),
        }
