"""The LaTeX table's caption: what the numbers are, what was run (backbones and clip sizes as the
paper writes them), and per dataset its classes, test videos and chance level with the seeds in
one sentence, so a number can be read against chance and against the spread."""

from __future__ import annotations

from pathlib import Path

from cstp.planning.cells import BACKBONE_NAMES, DATASET_NAMES
from cstp.planning.plan import Plan
from cstp.reporting.tables import split_words

WHAT = {
    "ours": "video-level top-1 (\\%) after fine-tuning",
    "probe": "probe: logistic regression on frozen features",
    "R@1": "R@1: retrieval recall at 1",
}


def counts_of(plan: Plan, table: str, root: Path = Path(".")) -> dict[str, tuple[int, int]]:
    """Per dataset of the table, its classes and test videos, from the index the runs read
    (a dataset whose index is not there is left out)."""
    from cstp.data.scan import read_index

    found = {}
    for key in plan.study.tables[table].datasets:
        path = root / plan.study.datasets[key].index
        if not path.exists():
            continue
        index = read_index(path)
        usable = index[index["status"] == "ok"]
        found[key] = (usable["label"].nunique(), int((usable["subset"] == "test").sum()))
    return found


def data_words(plan: Plan, table: str, counts: dict[str, tuple[int, int]]) -> str:
    """The datasets in a few words: synthetic UCF-101: 10 classes, 118 test videos, chance
    10.0\\%; HMDB-51: 8, 62, 12.5\\%."""
    study, parts = plan.study, []
    for i, key in enumerate(plan.study.tables[table].datasets):
        dataset = study.datasets[key]
        name = DATASET_NAMES.get(dataset.kind, key)
        if key not in counts:
            parts.append(name)
            continue
        classes, tests = counts[key]
        chance = f"{100 / classes:.1f}\\%" if classes else "--"
        if i == 0:
            parts.append(f"{name}: {classes} classes, {tests} test videos, chance {chance}")
        else:
            parts.append(f"{name}: {classes}, {tests}, {chance}")
    synthetic = any(study.datasets[k].synth for k in plan.study.tables[table].datasets)
    return ("synthetic " if synthetic else "") + "; ".join(parts)


def run_words(plan: Plan, table: str) -> str:
    """Backbone, clip size and epochs as the paper writes them (R(2+1)D-10, 8$\\times$32$\\times$32
    clips)."""
    preset, rows = plan.study.preset, plan.cells[table]
    if any(c.backbone for c in rows):
        backbone = "the rows' backbones"
    else:
        backbone = BACKBONE_NAMES.get(preset.backbone.name, preset.backbone.name)
    clip = f"{preset.clip.frames}$\\times${preset.clip.size}$\\times${preset.clip.size}"
    width = "" if preset.backbone.width == 1 else f" at width {preset.backbone.width:g}"
    return (
        f"{backbone}{width}, {clip} clips, {preset.pretrain.optim.epochs}+"
        f"{preset.finetune.optim.epochs} pretraining+fine-tuning epochs"
        f" (preset {plan.study.preset_name})"
    )


def caption(plan: Plan, table: str, show=("ours", "paper"), counts=None, bold=True) -> str:
    """The caption, a few short sentences; `counts` as counts_of gives them; `bold`: say what
    bold marks (the LaTeX table; not the HTML page, which bolds nothing)."""
    spec, study = plan.study.tables[table], plan.study
    seeds = len(study.seeds)
    what = "; ".join(WHAT[s] for s in show if s in WHAT) or WHAT["ours"]
    seed_words = "one seed" if seeds == 1 else f"mean $\\pm$ std over {seeds} seeds"
    bold = bold and (
        "none of ours bold: one seed cannot rank cells"
        if seeds == 1
        else "bold: within 2 std of the column's best"
    )
    pretrained = sorted({c.pretrain_on for c in plan.cells[table] if c.pretrain_on and c.pretrains})
    on = ", ".join(DATASET_NAMES.get(study.datasets[k].kind, k) for k in pretrained)
    pretrain = f", pretrained on {on}" if on and len(pretrained) == 1 else ""
    synthetic = any(study.datasets[k].synth for k in spec.datasets)
    paper = " on the real datasets" if synthetic else ""
    marks = (f"; {bold}", ", its best in bold") if bold else ("", "")
    return (
        f"{spec.title}: {what}. Ours ({seed_words}, {split_words(plan, table)}; "
        f"{data_words(plan, table, counts or {})}): {run_words(plan, table)}{pretrain}{marks[0]}. "
        f"Paper: as printed{paper}{marks[1]}."
    )
