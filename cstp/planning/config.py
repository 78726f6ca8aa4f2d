"""The effective study of a config: the chosen preset (typed), seeds, interpretation and tables.

`load_study(config)` checks what a JSON schema cannot (every preset key by key through
`cstp.specs.preset.PresetSpec`, a table naming a dataset the preset lacks, a real dataset path that
does not exist) and raises CstpError with one line naming the key and the value.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cstp.data.synth import LAYOUT
from cstp.errors import CstpError
from cstp.specs.base import from_dict
from cstp.specs.preset import SYNTH_PRESETS, DatasetSpec, PresetSpec

SYNTH_DIR = Path("data/synth")
INDEX_DIR = Path("data/index")
CACHE_DIR = Path("data/cache")


@dataclass(frozen=True)
class Dataset:
    key: str  # name in the preset (ucf101, hmdb51, kinetics400)
    kind: str  # which official split format it follows
    label: str  # how tables name it (says "synthetic stand-in" when it is one)
    split: int
    root: Path
    splits: Path
    synth: str | None = None  # the cstp synth preset that generates it, or None for real data

    @property
    def name(self) -> str:
        """Identity in run specs: synthetic datasets by generator preset, real ones by key and
        where the copy lives (its videos and split folders, resolved): pointing a key at another
        copy gives new run ids, never a reuse of runs trained on the old one."""
        if self.synth:
            return f"synth-{self.synth}-{self.kind}"
        where = f"{self.root.resolve()}\n{self.splits.resolve()}"
        return f"{self.key}-{hashlib.sha256(where.encode()).hexdigest()[:8]}"

    @property
    def index(self) -> Path:
        return INDEX_DIR / f"{self.name}_split{self.split}.csv"

    def cache(self, short_side: int | None) -> Path:
        """The frame cache's manifest for frames at `short_side` (None: as decoded)."""
        size = "native" if short_side is None else f"s{short_side}"
        return CACHE_DIR / f"{self.name}_split{self.split}_{size}" / "cache.json"

    @property
    def synth_marker(self) -> Path | None:
        return SYNTH_DIR / self.synth / self.kind / "synth.json" if self.synth else None

    def at_split(self, split: int) -> Dataset:
        """The same videos under another official split (its own index, cache and run ids)."""
        return replace(self, split=split)


RETRIEVAL_KS = (1, 5, 10, 20, 50)
SPLIT_KINDS = ("ucf101", "hmdb51")  # the datasets published with three official splits


@dataclass(frozen=True)
class Table:
    name: str
    title: str
    plot: str  # bars or line
    datasets: tuple[str, ...]
    defaults: dict[str, Any]
    columns: tuple[dict[str, str], ...]
    rows: tuple[dict[str, Any], ...]
    # accuracy: top-1 after fine-tuning (and probe, R@1) per dataset; retrieval: R@k of frozen
    # features only (no fine-tuning job), the paper's numbers given per k.
    measure: str = "accuracy"
    ks: tuple[int, ...] = RETRIEVAL_KS
    # The official splits its cells are fine-tuned and tested on, each cell's number the mean over
    # them (per seed); None: each dataset's split in the preset. Pretraining stays on the
    # preset's split (docs/interpretations.md, T10).
    splits: tuple[int, ...] | None = None
    # Other methods' rows as the paper prints them, its numbers only, no job (check_peers below;
    # printed by cstp.reporting.peers).
    peers: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class Study:
    preset_name: str
    preset: PresetSpec
    seeds: tuple[int, ...]
    finetune_augment: str  # interpretation T2: scratch_only or row
    scratch_base: str  # interpretation T1: base or finetune
    latex_show: tuple[str, ...]  # what the LaTeX tables show per dataset (outputs.latex)
    datasets: dict[str, Dataset]
    tables: dict[str, Table] = field(default_factory=dict)

    @property
    def pretrain_on(self) -> Dataset:
        return self.datasets[self.preset.pretrain_on]

    def splits(self, table: str, key: str) -> tuple[int, ...]:
        """The splits a table fine-tunes and tests dataset `key` on: the table's, else the
        preset's one."""
        return self.tables[table].splits or (self.datasets[key].split,)


def load_study(config: dict[str, Any], check_paths: bool = True) -> Study:
    """The study `config` describes (already validated against the JSON schema); with
    `check_paths`, every real dataset it uses must be on disk."""
    name = config.get("preset", "default")
    presets = config.get("presets", {})
    if name not in presets:
        known = ", ".join(sorted(presets))
        raise CstpError(f"preset: {name!r} is not defined; defined presets: {known}")
    for other, data in presets.items():  # every preset, so a typo never waits for its turn
        from_dict(PresetSpec, data, where=f"presets.{other}")
    preset = from_dict(PresetSpec, presets[name], where=f"presets.{name}")
    seeds = tuple(config.get("seeds", ()))
    if not seeds:
        raise CstpError("seeds: the list is empty; give at least one seed, e.g. seeds: [0]")
    datasets = {key: _dataset(key, spec, preset.synth) for key, spec in preset.datasets.items()}
    tables = {t: _table(t, spec) for t, spec in config.get("tables", {}).items()}
    for table in tables.values():
        for key in table.datasets:
            if key not in datasets:
                raise CstpError(
                    f"tables.{table.name}.datasets: {key!r} is not a dataset of preset "
                    f"{name!r} ({', '.join(datasets)})"
                )
            if table.splits and datasets[key].kind not in SPLIT_KINDS:
                raise CstpError(
                    f"tables.{table.name}.splits: {key!r} ({datasets[key].kind}) has no official "
                    f"splits; only {' and '.join(SPLIT_KINDS)} do"
                )
    rows_on = [r["pretrain_on"] for t in tables.values() for r in t.rows if "pretrain_on" in r]
    rows_on += [t.defaults["pretrain_on"] for t in tables.values() if "pretrain_on" in t.defaults]
    for key in rows_on:
        if key not in datasets:
            raise CstpError(
                f"tables: a row pretrains on {key!r}, which is not a dataset of preset {name!r} "
                f"({', '.join(datasets)})"
            )
    used = dict.fromkeys(
        [preset.pretrain_on, *rows_on, *(d for t in tables.values() for d in t.datasets)]
    )
    for key in used if check_paths else ():
        _check_paths(datasets[key], f"presets.{name}.datasets.{key}")
    return Study(
        preset_name=name,
        preset=preset,
        seeds=seeds,
        finetune_augment=config.get("interpretation", {}).get("finetune_augment", "scratch_only"),
        scratch_base=config.get("interpretation", {}).get("scratch_base", "base"),
        latex_show=tuple(config.get("outputs", {}).get("latex", ("ours", "paper"))),
        datasets=datasets,
        tables=tables,
    )


# What a table calls a real dataset whose label was left saying "synthetic" (a user's config file
# merged over a synthetic preset keeps the preset's label).
OFFICIAL_NAMES = {"ucf101": "UCF-101", "hmdb51": "HMDB-51", "kinetics400": "Kinetics-400"}


def _label(key: str, spec: DatasetSpec) -> str:
    """The label tables print, which must say whether the data is synthetic."""
    says_synthetic = "synthetic" in spec.label.casefold()
    if spec.synthetic and not says_synthetic:
        return f"{spec.label or OFFICIAL_NAMES.get(spec.kind, key)} (synthetic stand-in)"
    if not spec.synthetic and (says_synthetic or not spec.label):
        return OFFICIAL_NAMES.get(spec.kind, key)
    return spec.label


def _dataset(key: str, spec: DatasetSpec, synth: str | None) -> Dataset:
    label = _label(key, spec)
    if spec.synthetic:
        if synth is None or spec.kind not in LAYOUT:
            raise CstpError(
                f"datasets.{key}: synthetic datasets need the preset's `synth` "
                f"({', '.join(SYNTH_PRESETS)}) and kind {', '.join(LAYOUT)}, got kind {spec.kind!r}"
            )
        videos, splits = LAYOUT[spec.kind]
        base = SYNTH_DIR / synth / spec.kind
        return Dataset(key, spec.kind, label, spec.split, base / videos, base / splits, synth)
    return Dataset(key, spec.kind, label, spec.split, Path(str(spec.root)), Path(str(spec.splits)))


def _check_paths(dataset: Dataset, where: str) -> None:
    if dataset.synth:
        return  # generated by the workflow
    for name, path in (("root", dataset.root), ("splits", dataset.splits)):
        if not path.exists():
            raise CstpError(f"{where}.{name}: {path} does not exist")


def _table(name: str, spec: dict[str, Any]) -> Table:
    table = Table(
        name=name,
        title=spec.get("title", name),
        plot=spec.get("plot", "bars"),
        datasets=tuple(spec["datasets"]),
        defaults=dict(spec.get("defaults", {})),
        columns=tuple(spec["columns"]),
        rows=tuple(spec["rows"]),
        measure=spec.get("measure", "accuracy"),
        ks=tuple(spec.get("ks", RETRIEVAL_KS)),
        splits=tuple(spec["splits"]) if spec.get("splits") else None,
    )
    table = replace(table, peers=check_peers(table, spec.get("peers", [])))
    for row in table.rows:
        for key, value in row.get("paper", {}).items():
            _check_paper(table, f"tables.{name}.rows[{row['exp']}].paper.{key}", value)
    return table


def _check_paper(table: Table, where: str, value: Any) -> None:
    """An accuracy table's paper value is a number; a retrieval table's maps R@k to numbers."""
    if table.measure == "accuracy":
        if isinstance(value, dict):
            raise CstpError(f"{where}: expected the paper's accuracy, a number, got {value}")
        return
    wanted = {f"R@{k}" for k in table.ks}
    if not isinstance(value, dict) or not set(value) <= wanted:
        raise CstpError(
            f"{where}: expected the paper's recall per k, e.g. {{R@1: 51.3, R@5: 71.1}}, with k "
            f"among the table's ks {list(table.ks)}; got {value}"
        )


# The table columns (`show`) a peer can fill, and the keys a peer may give.
PEER_SHOWS = ("backbone", "pretrain_on", "protocol.linear")
PEER_KEYS = ("method", "short", "cite", "note", "backbone", "pretrain_on", "protocol", "paper")


def check_peers(table, peers: list[dict[str, Any]]) -> tuple[dict[str, Any], ...]:
    """The table's peers, checked: a method name, numbers for the table's datasets only, and
    columns a peer can fill; CstpError naming `tables.NAME.peers[i]` otherwise."""
    if not peers:
        return ()
    where = f"tables.{table.name}.peers"
    if table.measure != "accuracy":
        raise CstpError(f"{where}: peer rows are for accuracy tables, not {table.measure}")
    cannot = [c["show"] for c in table.columns if c["show"] not in PEER_SHOWS]
    if cannot:
        raise CstpError(
            f"{where}: column show {cannot[0]!r} has no value for a peer; a table with peers "
            f"shows only {', '.join(PEER_SHOWS)}"
        )
    for i, peer in enumerate(peers):
        unknown = sorted(set(peer) - set(PEER_KEYS))
        if unknown or not peer.get("method"):
            what = f"unknown key {unknown[0]!r}" if unknown else "no method name"
            raise CstpError(f"{where}[{i}]: {what}; a peer gives {', '.join(PEER_KEYS)}")
        for key, value in peer.get("paper", {}).items():
            if key not in table.datasets or isinstance(value, bool | dict):
                raise CstpError(
                    f"{where}[{i}].paper.{key}: expected the paper's accuracy on one of the "
                    f"table's datasets ({', '.join(table.datasets)}), got {value!r}"
                )
    return tuple(dict(p) for p in peers)
