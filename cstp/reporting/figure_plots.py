"""Drawing the qualitative figures (matplotlib, PNG): retrieval examples and activation maps.

Frames are decoded from the videos the dataset's index lists; a figure shows the videos that
`pick_videos` chooses, so every rebuild and every encoder shows the same ones.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from cstp.engine.activation import activation_maps
from cstp.engine.encoder import build_encoder
from cstp.engine.probe import load_features, ranked
from cstp.errors import CstpError
from cstp.planning.cells import Cell
from cstp.planning.figures import Figure, figure_runs, pick_videos
from cstp.planning.plan import RUNS, Plan
from cstp.sampling.datasets import ReaderSource, TestClipsDataset, load_subset
from cstp.specs.registry import PRETEXT_TASKS, SCHEMES
from cstp.specs.sampling import SamplingSpec

HIT, MISS = "tab:green", "tab:red"


def draw(plan: Plan, figure: Figure, out: Path, root: Path = Path(".")) -> dict:
    """Draw `figure` into `out` (PNG); returns what it shows (videos, classes, hits)."""
    return (_retrieval if figure.kind == "retrieval" else _activation)(plan, figure, out, root)


def task_words(pretext) -> list[str]:
    """The pretext tasks in the registry's order, by their short names; a row name for the tasks
    it switches on together when all are on ('STOR' for both STOR tasks)."""
    words = []
    for row in dict.fromkeys(t.row for t in PRETEXT_TASKS.values()):
        group = [t for t in PRETEXT_TASKS.values() if t.row == row]
        on = [t.short for t in group if t.name in pretext]
        words += [row.upper()] if len(on) == len(group) > 1 else on
    return words


def cell_words(cell: Cell) -> str:
    """A cell by what its row says, the pretext tasks named as such: 'Exp 16: BYOL, pretext
    PB+Rot+STOR'; 'Exp 2: BYOL, no pretext'; 'Exp 1: scratch'."""
    scheme = SCHEMES[cell.contrastive].label if cell.contrastive in SCHEMES else None
    pretext = task_words(cell.pretext)
    if not scheme and not pretext:
        return f"Exp {cell.exp}: scratch"
    tasks = f"pretext {'+'.join(pretext)}" if pretext else "no pretext"
    return f"Exp {cell.exp}: " + ", ".join([scheme, tasks] if scheme else [tasks])


def middle_frame(path: str, frames: int) -> np.ndarray:
    """The middle frame of a video, H x W x 3 uint8."""
    with ReaderSource(path, frames) as video:
        return video.read([video.num_frames // 2])[0].numpy()


def _checked_rows(index: Path, subset: str, videos: list[str]) -> pd.DataFrame:
    rows = load_subset(index, subset)
    if rows["video"].tolist() != videos:
        raise CstpError(
            f"{index}: its {subset} videos differ from those the features were taken from; "
            "run the features job again"
        )
    return rows


def _retrieval(plan: Plan, figure: Figure, out: Path, root: Path) -> dict:
    runs = figure_runs(plan, figure)[0]
    data = load_features(root / RUNS / "features" / runs.features / "features.pt")
    index = runs.dataset.index
    test = _checked_rows(index, "test", data["test"]["videos"])
    train = _checked_rows(index, "train", data["train"]["videos"])
    queries = pick_videos(test["label"].tolist(), figure.count)
    center = bool(data["spec"]["retrieval"]["center"])
    similarity, order = ranked(data["test"]["features"][queries], data["train"]["features"], center)
    k = figure.neighbours
    plot, axes = plt.subplots(
        len(queries), 1 + k, figsize=(1.9 * (1 + k), 1.75 * len(queries)), squeeze=False
    )
    shown = []
    for row, query in enumerate(queries):
        q = test.iloc[query]
        _frame(axes[row, 0], middle_frame(q["path"], int(q["frames"])), f"query\n{q['class_name']}")
        hits = []
        for col in range(k):
            g = train.iloc[int(order[row, col])]
            hit = int(g["label"]) == int(q["label"])
            hits.append(hit)
            title = f"{g['class_name']}\ncos {float(similarity[row, col]):.2f}"
            _frame(axes[row, col + 1], middle_frame(g["path"], int(g["frames"])), title, hit)
        shown.append({"query": q["video"], "class": q["class_name"], "hits": hits})
    words = cell_words(runs.cell)
    _save(
        plot,
        out,
        f"{figure.title}. {runs.dataset.label}, {figure.table} {words}: test queries (left) and "
        f"their top-{k} training videos by cosine similarity of frozen features; a green frame "
        "shares the query's class, a red one does not.",
    )
    return {"kind": "retrieval", "cell": words, "queries": shown}


def _activation(plan: Plan, figure: Figure, out: Path, root: Path) -> dict:
    runs = figure_runs(plan, figure)
    # The clips as each cell's features job cuts them (clip shape, frame step, crop, backbone).
    features = [plan.run("features", entry.features).spec for entry in runs]
    test = load_subset(runs[0].dataset.index, "test")
    picks = pick_videos(test["label"].tolist(), figure.count)
    rows = test.iloc[picks].reset_index(drop=True)
    sampling = SamplingSpec(clip=features[0].clip, fixed_rate=features[0].fixed_rate)
    dataset = TestClipsDataset(rows, sampling, clips=1, crop=features[0].views.crop)
    clips = torch.stack([dataset[i][0][0] for i in range(len(rows))])  # N x C x T x S x S
    middle = clips[:, :, clips.shape[2] // 2].permute(0, 2, 3, 1).numpy()  # N x S x S x C
    plot, axes = plt.subplots(
        1 + len(runs),
        len(rows),
        figsize=(1.7 * len(rows) + 0.6, 1.8 * (1 + len(runs))),
        squeeze=False,
    )
    for col, frame in enumerate(middle):
        _frame(axes[0, col], frame, rows.loc[col, "class_name"])
    axes[0, 0].set_ylabel("clip", fontsize=7)
    positions = None
    for row, (entry, spec) in enumerate(zip(runs, features, strict=True), start=1):
        encoder = root / RUNS / "pretrain" / entry.pretrain / "encoder.pt"
        backbone = build_encoder(spec.backbone, entry.pretrain, encoder)
        maps, positions = activation_maps(backbone, clips)
        for col, frame in enumerate(middle):
            ax = axes[row, col]
            _frame(ax, frame, "")
            ax.imshow(maps[col].numpy(), cmap="jet", alpha=0.45, vmin=0, vmax=1)
        axes[row, 0].set_ylabel(cell_words(entry.cell).replace(": ", "\n"), fontsize=7)
    flat = " (one position: the maps are flat at this clip size)" if positions == (1, 1) else ""
    _save(
        plot,
        out,
        f"{figure.title}. {runs[0].dataset.label}: the middle frame of each video's centre test "
        "clip (top) and, below, each pretrained encoder's activation map on that clip: the "
        f"channel mean of its last convolutional stage, {positions[0]} x {positions[1]} "
        f"positions{flat}, averaged over time and scaled to [0, 1] per clip.",
    )
    return {"kind": "activation", "videos": rows["video"].tolist(), "positions": positions}


def _frame(ax, frame: np.ndarray, title: str, hit: bool | None = None) -> None:
    ax.imshow(frame, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=7)
    if hit is not None:
        for spine in ax.spines.values():
            spine.set_edgecolor(HIT if hit else MISS)
            spine.set_linewidth(3)


def _save(plot, out: Path, caption: str) -> None:
    width = plot.get_size_inches()[0]
    plot.suptitle(textwrap.fill(caption, int(width * 15)), fontsize=7, ha="left", x=0.02)
    plot.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    plot.savefig(out, dpi=130)
    plt.close(plot)
