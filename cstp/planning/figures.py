"""The paper's qualitative figures as data: which cells' runs each figure draws from.

A figure names a table, the Exp. of its cells and a dataset (config.yaml, `figures`); it draws on
the runs of those cells for the study's first seed, so it needs no job of its own beyond the
cells' pretraining and features. Two kinds:

- `retrieval` (paper Figure 5): test videos as queries, their nearest training videos by cosine
  similarity of the cell's frozen video-level features (the retrieval protocol of the tables).
- `activation` (paper Figure 6): where each cell's pretrained encoder responds on the same test
  clips (docs/interpretations.md, F2).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cstp.errors import CstpError
from cstp.planning.plan import RUNS, CellRuns, Plan

KINDS = ("retrieval", "activation")


@dataclass(frozen=True)
class Figure:
    name: str
    kind: str  # retrieval or activation
    title: str
    table: str
    exps: tuple[str, ...]  # retrieval: one cell; activation: the encoders side by side
    dataset: str  # key of the dataset whose test videos are shown
    count: int  # query videos (retrieval) or test clips (activation)
    neighbours: int = 3  # retrieval: nearest training videos shown per query


def load_figures(config: dict[str, Any], plan: Plan) -> dict[str, Figure]:
    """The figures of `config`, each checked against the plan's tables (one line per mistake)."""
    return {name: _figure(name, spec, plan) for name, spec in config.get("figures", {}).items()}


def _figure(name: str, spec: dict[str, Any], plan: Plan) -> Figure:
    where = f"figures.{name}"
    table = spec["table"]
    if table not in plan.study.tables:
        known = ", ".join(plan.study.tables)
        raise CstpError(f"{where}.table: {table!r} is not a table of the config ({known})")
    dataset = spec["dataset"]
    if dataset not in plan.study.tables[table].datasets:
        raise CstpError(f"{where}.dataset: {dataset!r} is not a dataset of {table}")
    exps = tuple(str(e) for e in spec["exps"])
    by_exp = {c.exp: c for c in plan.cells[table]}
    for exp in exps:
        if exp not in by_exp:
            raise CstpError(f"{where}.exps: {table} has no Exp {exp} ({', '.join(by_exp)})")
    if spec["kind"] == "retrieval" and len(exps) != 1:
        raise CstpError(f"{where}.exps: a retrieval figure shows one cell, got {list(exps)}")
    if spec["kind"] == "activation":
        scratch = [e for e in exps if not by_exp[e].pretrains]
        if scratch:
            raise CstpError(
                f"{where}.exps: {table} Exp {scratch[0]} trains from scratch: no pretrained "
                "encoder to show"
            )
    return Figure(
        name=name,
        kind=spec["kind"],
        title=spec.get("title", name),
        table=table,
        exps=exps,
        dataset=dataset,
        count=int(spec.get("count", 4)),
        neighbours=int(spec.get("neighbours", 3)),
    )


def figure_runs(plan: Plan, figure: Figure) -> list[CellRuns]:
    """The runs of each of the figure's cells on its dataset, for the study's first seed (and
    the first split, where the table has several)."""
    seed = plan.study.seeds[0]
    found: dict[str, CellRuns] = {}
    for e in plan.tables[figure.table]:
        if e.seed == seed and e.dataset.key == figure.dataset:
            found.setdefault(e.cell.exp, e)
    return [found[exp] for exp in figure.exps]


def figure_inputs(plan: Plan, figure: Figure) -> list[Path]:
    """What a figure is drawn from: the cell's features (retrieval) or each cell's encoder
    (activation), and the index of the dataset whose videos it shows."""
    runs = figure_runs(plan, figure)
    if figure.kind == "retrieval":
        files = [RUNS / "features" / runs[0].features / "features.pt"]
    else:
        files = [RUNS / "pretrain" / r.pretrain / "encoder.pt" for r in runs]
    return [*files, runs[0].dataset.index]


def pick_videos(labels: list[int], count: int) -> list[int]:
    """Positions of `count` videos of distinct classes spread evenly over the classes present:
    the first video (in index order) of each chosen class. Deterministic, so a figure shows the
    same videos for every encoder and every rebuild."""
    first: dict[int, int] = {}
    for position, label in enumerate(labels):
        first.setdefault(int(label), position)
    classes = sorted(first)
    if count >= len(classes):
        return [first[c] for c in classes]
    step = len(classes) / count
    return [first[classes[int(k * step)]] for k in range(count)]
