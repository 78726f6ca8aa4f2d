"""The jobs of a study: every unique pretraining, fine-tuning, evaluation and feature run, by the
content hash of its spec, and which table cells each one serves.

The Snakefile asks the plan which result files a table needs and, for a run id in a path, which
spec and inputs it has; `cstp plan` prints how many cells and unique jobs each table needs, and
`cstp plan --list` which cells each job serves and whether it is done.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cstp.files import write_text_atomic
from cstp.planning.cells import Cell, SpecBuilder, cells
from cstp.planning.config import Dataset, Study, load_study
from cstp.specs.base import spec_hash, spec_json

log = logging.getLogger(__name__)

RUNS = Path("runs")
KINDS = ("pretrain", "finetune", "evaluate", "features")
# What each kind of job writes into its run folder (the declared outputs of its rule).
OUTPUTS = {
    "pretrain": ("encoder.pt", "metrics.json"),
    "finetune": ("model.pt", "metrics.json"),
    "evaluate": ("metrics.json",),
    "features": ("features.pt", "probe.json", "retrieval.json"),
}


@dataclass
class Run:
    """One job: its spec, the dataset it reads, the run it starts from, the cells it serves."""

    kind: str
    id: str
    spec: Any
    dataset: Dataset
    parent: str | None = None  # pretrain id (finetune, features) or finetune id (evaluate)
    cells: list[str] = field(default_factory=list)

    def spec_json(self) -> str:
        return spec_json(self.spec)

    def describe(self) -> str:
        """The cells a job serves, e.g. 'table1 Exp 4 (ucf101, seed 0), table2 Exp 1 (...)'."""
        return ", ".join(self.cells)


@dataclass(frozen=True)
class CellRuns:
    """The runs behind one cell for one seed, dataset and split (`dataset.split`)."""

    cell: Cell
    seed: int
    dataset: Dataset  # at the split its fine-tune, evaluation and features use
    pretrain: str | None
    finetune: str | None  # None in a retrieval table: frozen features only
    evaluate: str | None
    features: str


@dataclass(frozen=True)
class ControlRuns:
    """The positive control of a table for one seed and dataset: the backbone trained on the
    pretraining set's labels (`finetune`), its frozen features probed on `dataset`."""

    seed: int
    dataset: Dataset
    finetune: str
    features: str


class Plan:
    def __init__(self, study: Study):
        self.study = study
        self.runs: dict[str, dict[str, Run]] = {kind: {} for kind in KINDS}
        self.tables: dict[str, list[CellRuns]] = {}
        # Each table's cells, built once from the config; everything downstream reads these.
        self.cells: dict[str, list[Cell]] = {name: cells(t) for name, t in study.tables.items()}
        builder = SpecBuilder(study)
        for name in study.tables:
            self.tables[name] = [
                self._add(builder, cell, seed, study.datasets[key].at_split(split))
                for cell in self.cells[name]
                for seed in study.seeds
                for key in cell.datasets
                for split in study.splits(name, key)
            ]
        self.controls = {name: self._controls(builder, name) for name in study.tables}

    @classmethod
    def from_config(cls, config: dict[str, Any], check_paths: bool = True) -> Plan:
        """The plan of `config`; `check_paths=False` plans real datasets that are not on this
        machine (counting and estimating read no data)."""
        return cls(load_study(config, check_paths))

    def _add(self, builder: SpecBuilder, cell: Cell, seed: int, dataset: Dataset) -> CellRuns:
        name = f"{cell.table} Exp {cell.exp}"
        pretrain = builder.pretrain(cell, seed)
        pretrain_id = None
        if pretrain is not None:
            pretrain_id = self._register(
                "pretrain", pretrain, builder.pretrain_dataset(cell), None, f"{name} (seed {seed})"
            )
        # The split is named where the table asks for splits (the preset's split goes unsaid).
        split = f" split {dataset.split}" if self.study.tables[cell.table].splits else ""
        where = f"{name} ({dataset.key}{split}, seed {seed})"
        finetune_id = evaluate_id = None
        if self.study.tables[cell.table].measure == "accuracy":
            finetune = builder.finetune(cell, seed, dataset, pretrain_id)
            finetune_id = self._register("finetune", finetune, dataset, pretrain_id, where)
            evaluate_id = self._register(
                "evaluate", builder.evaluate(finetune_id), dataset, finetune_id, where
            )
        features = builder.features(cell, seed, dataset, pretrain_id)
        features_id = self._register("features", features, dataset, pretrain_id, where)
        return CellRuns(cell, seed, dataset, pretrain_id, finetune_id, evaluate_id, features_id)

    def _controls(self, builder: SpecBuilder, table: str) -> list[ControlRuns]:
        """A table's positive control per seed and dataset (none without `control_epochs`)."""
        controls: list[ControlRuns] = []
        if self.study.tables[table].measure != "accuracy":
            return controls  # a reference line for accuracy tables
        for seed in self.study.seeds:
            spec = builder.control(seed)
            if spec is None:
                return []
            where = f"{table} control (seed {seed})"
            trained = self._register("finetune", spec, self.study.pretrain_on, None, where)
            for key in self.study.tables[table].datasets:
                dataset = self.study.datasets[key].at_split(self.study.splits(table, key)[0])
                features = builder.features(None, seed, dataset, None, trained)
                name = f"{table} control ({key}, seed {seed})"
                features_id = self._register("features", features, dataset, trained, name)
                controls.append(ControlRuns(seed, dataset, trained, features_id))
        return controls

    def encoder_file(self, kind: str, run_id: str) -> Path | None:
        """The weights a run starts from: its pretraining run's encoder.pt, or for the control's
        features the fine-tuned model.pt; None from scratch."""
        run = self.runs[kind][run_id]
        if run.parent is None or kind not in ("finetune", "features"):
            return None
        if kind == "features" and run.spec.trained is not None:
            return RUNS / "finetune" / run.parent / "model.pt"
        return RUNS / "pretrain" / run.parent / "encoder.pt"

    def _register(self, kind, spec, dataset: Dataset, parent: str | None, cell: str) -> str:
        run_id = spec_hash(spec)
        run = self.runs[kind].setdefault(run_id, Run(kind, run_id, spec, dataset, parent))
        if cell not in run.cells:
            run.cells.append(cell)
        return run_id

    def run(self, kind: str, run_id: str) -> Run:
        return self.runs[kind][run_id]

    def result_files(self, table: str, exp: str | None = None) -> list[Path]:
        """What a table is built from: each cell's test, probe and retrieval metrics, and the
        metrics of its pretraining run (of cell `exp` only, if given)."""
        files: list[Path] = []
        for entry in self.tables[table]:
            if exp is not None and entry.cell.exp != exp:
                continue
            if entry.pretrain:  # its metrics.csv beside it: the pretraining curves
                files.append(RUNS / "pretrain" / entry.pretrain / "metrics.json")
            if entry.evaluate:
                files.append(RUNS / "evaluate" / entry.evaluate / "metrics.json")
            files.append(RUNS / "features" / entry.features / "probe.json")
            files.append(RUNS / "features" / entry.features / "retrieval.json")
        if exp is None:
            files += [RUNS / "features" / c.features / "probe.json" for c in self.controls[table]]
        return list(dict.fromkeys(files))

    def table_inputs(self, table: str, exp: str | None = None) -> list[Path]:
        """The table job's inputs: what it reads (result_files), and every output of the runs
        behind them (of cell `exp` only, if given). A run whose outputs went missing (a failed
        re-run, a folder deleted by hand) is then missing for Snakemake too, which re-runs it
        and what follows, as `cstp plan --list` shows; with only the measurements as inputs, a
        finished table hid it."""
        files = self.result_files(table, exp)
        for entry in self.tables[table]:
            if exp is not None and entry.cell.exp != exp:
                continue
            for kind in ("pretrain", "finetune", "evaluate", "features"):
                run_id = getattr(entry, kind)
                if run_id:
                    files += [RUNS / kind / run_id / name for name in OUTPUTS[kind]]
        if exp is None:
            files += self.control_files(table)
        return list(dict.fromkeys(files))

    def control_files(self, table: str) -> list[Path]:
        """Every output of the runs of the table's positive control (none without one)."""
        files = []
        for control in self.controls[table]:
            files += [RUNS / "finetune" / control.finetune / n for n in OUTPUTS["finetune"]]
            files += [RUNS / "features" / control.features / n for n in OUTPUTS["features"]]
        return list(dict.fromkeys(files))

    def datasets(self) -> list[Dataset]:
        """Every dataset a job reads, once per split (each split has its own index)."""
        used = {
            (run.dataset.name, run.dataset.split): run.dataset
            for kind in self.runs.values()
            for run in kind.values()
        }
        return list(used.values())

    def write_specs(self, root: Path = Path(".")) -> int:
        """Write runs/<kind>/<id>/spec.json for every job that lacks one or whose file does not
        hold its spec (cut short, edited by hand); returns how many.

        A rewritten spec is newer than the run's outputs, so Snakemake re-runs that job.
        """
        written = 0
        for kind, runs in self.runs.items():
            for run_id, run in runs.items():
                path = root / RUNS / kind / run_id / "spec.json"
                text = run.spec_json()
                if not _holds(path, text):
                    if path.exists():
                        log.warning("%s: not the spec of run %s; writing it again", path, run_id)
                    write_text_atomic(path, text)
                    written += 1
        return written

    def counts(self, tables: list[str]) -> dict[str, int]:
        """Cells and unique jobs that `tables` need together."""
        entries = [e for t in tables for e in self.tables[t]]
        controls = [c for t in tables for c in self.controls[t]]
        return {
            "cells": sum(len(self.study.tables[t].rows) for t in tables),
            "cells_that_pretrain": len(
                {(t, c.exp) for t in tables for c in self.cells[t] if c.pretrains}
            ),
            "pretrain": len({e.pretrain for e in entries if e.pretrain}),
            "finetune": len({e.finetune for e in entries + controls if e.finetune}),
            "evaluate": len({e.evaluate for e in entries if e.evaluate}),
            "features": len({e.features for e in entries + controls}),
        }

    def added_by_splits(self, table: str) -> dict[str, int] | None:
        """The jobs a table's splits after its first add to what the first split needs, per
        kind (pretraining stays on the preset's split, so none of them pretrain); None when the
        table has one split."""
        splits = self.study.tables[table].splits
        if not splits or len(splits) < 2:
            return None
        entries = self.tables[table]
        first = [e for e in entries if e.dataset.split == splits[0]]
        rest = [e for e in entries if e.dataset.split != splits[0]]
        return {
            kind: len({getattr(e, kind) for e in rest} - {getattr(e, kind) for e in first} - {None})
            for kind in KINDS
        }

    def shared(self, table: str) -> dict[str, int]:
        """How many of a table's pretraining and feature jobs another table also needs."""
        mine = self.runs_of([table])
        others = self.runs_of([t for t in self.tables if t != table])
        return {
            f"shared {kind}": len({r.id for r in mine[kind]} & {r.id for r in others[kind]})
            for kind in ("pretrain", "features")
        }

    def runs_of(self, tables: list[str]) -> dict[str, list[Run]]:
        """The jobs `tables` need, per kind, in plan order."""
        entries = [e for t in tables for e in self.tables[t]]
        entries += [c for t in tables for c in self.controls[t]]
        wanted = {kind: dict.fromkeys(getattr(e, kind, None) for e in entries) for kind in KINDS}
        return {
            kind: [self.runs[kind][i] for i in ids if i is not None] for kind, ids in wanted.items()
        }


def _holds(path: Path, text: str) -> bool:
    try:
        return path.read_text() == text
    except (OSError, UnicodeDecodeError):
        return False
