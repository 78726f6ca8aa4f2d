"""What a regenerated table says, in words: first the finding (the best cells and whether the
seeds can tell them apart, the gap between scratch and pretrained cells, which pretext heads
learnt), then whether our ordering of its cells agrees with the paper's (Spearman's rank
correlation, with a permutation p-value), which cells are within noise of the best, and what was
run. Written per table (results/<table>.md) and gathered in results/summary.md."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cstp.files import write_text_atomic
from cstp.planning.plan import Plan
from cstp.reporting.tables import scratch_exp

PERMUTATIONS = 10_000
LEARNT = 10.0  # points above the commonest label's share for a pretext head to count as learnt


def spearman(a, b, seed: int = 0) -> tuple[float, float]:
    """Spearman's rho of two sequences (ties get their mean rank) and the two-sided p-value of a
    permutation test (the share of shuffles at least as correlated); NaN with fewer than 3."""
    a, b = pd.Series(a, dtype=float), pd.Series(b, dtype=float)
    keep = a.notna() & b.notna()
    a, b = a[keep].rank().to_numpy(), b[keep].rank().to_numpy()
    if len(a) < 3 or a.std() == 0 or b.std() == 0:
        return float("nan"), float("nan")
    rho = float(np.corrcoef(a, b)[0, 1])
    rng = np.random.default_rng(seed)
    shuffled = np.array([np.corrcoef(a, rng.permutation(b))[0, 1] for _ in range(PERMUTATIONS)])
    p = (np.sum(np.abs(shuffled) >= abs(rho) - 1e-12) + 1) / (PERMUTATIONS + 1)
    return rho, float(p)


def within_noise(means: pd.Series, stds: pd.Series, names: pd.Series) -> list[str] | None:
    """Cells whose mean is within twice the larger standard deviation of the best cell's; None
    with one seed (no spread to judge by)."""
    if stds.isna().all():
        return None
    best = means.idxmax()
    close = [
        str(names[i])
        for i in means.index
        if abs(means[best] - means[i]) <= 2 * max(stds[best], stds[i])
    ]
    return close


def beyond_noise(summary: pd.DataFrame, column: str, scratch: str) -> str:
    """Cells whose paired difference to scratch (`column`, mean over seeds) is more than twice its
    std over seeds, with the difference: '16 (+12.3 +- 4.1)'; 'none'; or why it cannot be said."""
    if column not in summary:
        return "n/a (no scratch cell)"
    stds = summary[f"{column} std"]
    if stds.isna().all():
        return "one seed: spread unknown"
    found = [
        f"{row['Exp.']} ({row[column]:+.1f} +- {row[f'{column} std']:.1f})"
        for _, row in summary.iterrows()
        if str(row["Exp."]) != scratch
        and pd.notna(row[f"{column} std"])
        and abs(row[column]) > 2 * row[f"{column} std"]
    ]
    return ", ".join(found) or "none"


def table_section(plan: Plan, table: str, summary: pd.DataFrame) -> str:
    spec, study = plan.study.tables[table], plan.study
    scratch = scratch_exp(plan, table)
    paired = f"paired vs scratch (Exp {scratch}): beyond noise" if scratch else "paired vs scratch"
    lines = [
        f"## {table}: {spec.title}",
        "",
        f"Preset `{study.preset_name}`, seeds {list(study.seeds)}, {len(summary)} cells.",
        "",
        *finding_lines(plan, table, summary, scratch),
        "| dataset | measure | Spearman rho vs paper | p (permutation) | within noise of best "
        f"| {paired} |",
        "|---|---|---|---|---|---|",
    ]
    for key in spec.datasets:
        label = study.datasets[key].label
        for metric in ("ours", "probe"):
            means, paper = summary[f"{label}: {metric}"], summary[f"{label}: paper"]
            rho, p = spearman(means, paper)
            close = within_noise(means, summary[f"{label}: {metric} std"], summary["Exp."])
            shown = "one seed: spread unknown" if close is None else ", ".join(close)
            measure = "fine-tune" if metric == "ours" else "linear probe"
            correlation = "n/a (no spread)" if np.isnan(rho) else f"{rho:.2f}"
            p_value = "n/a" if np.isnan(p) else f"{p:.3f}"
            versus = beyond_noise(summary, f"{label}: {metric} - scratch", str(scratch))
            lines.append(
                f"| {label} | {measure} | {correlation} | {p_value} | {shown} | {versus} |"
            )
    lines += [
        "",
        "Agreeing with the paper's ordering is a finding, not a target: on synthetic stand-ins the",
        "datasets are not the paper's. Within noise: |mean - best| <= 2 x the larger std.",
        "Paired vs scratch: per seed, the cell minus the scratch cell on the same seed; beyond",
        "noise when |mean of the differences| > 2 x their std over seeds (mean +- std shown).",
        "",
        *pretext_lines(summary),
    ]
    return "\n".join(lines)


def finding_lines(plan: Plan, table: str, summary: pd.DataFrame, scratch) -> list[str]:
    """The finding, per dataset and measure, in a few bullets; then the pretext heads' verdict."""
    study = plan.study
    lines = ["Finding:", ""]
    for key in study.tables[table].datasets:
        label = study.datasets[key].label
        for metric, measure in (("ours", "fine-tune"), ("probe", "linear probe")):
            lines.append(f"- {label}, {measure}: " + _finding(summary, label, metric, scratch))
    heads = head_verdicts(summary)
    if heads:
        lines.append(
            f"- Pretext heads (learnt: {LEARNT:.0f}+ points above the commonest label): {heads}"
        )
    return [*lines, ""]


def _finding(summary: pd.DataFrame, label: str, metric: str, scratch) -> str:
    means, stds = summary[f"{label}: {metric}"], summary[f"{label}: {metric} std"]
    if means.isna().all():
        return "not measured."
    best = means.idxmax()
    names = summary["Exp."].astype(str)
    top = f"highest Exp {names[best]} ({means[best]:.1f}"
    top += ")" if pd.isna(stds[best]) else f" +- {stds[best]:.1f})"
    close = within_noise(means, stds, names)
    if close is None:
        rank = "one seed cannot rank the cells (no spread to judge by)"
    elif len(close) == len(means.dropna()):
        rank = f"all {len(close)} cells are within noise of it: the seeds cannot separate them"
    else:
        rank = f"within noise of it: {', '.join(close)}"
    text = f"{top}; {rank}"
    if scratch is not None and str(scratch) in set(names):
        own = means[names == str(scratch)].iloc[0]
        others = means[names != str(scratch)].dropna()
        if len(others):
            text += (
                f"; scratch (Exp {scratch}) {own:.1f} against {others.min():.1f}-"
                f"{others.max():.1f} for the pretrained cells"
            )
            paired = beyond_noise(summary, f"{label}: {metric} - scratch", str(scratch))
            if paired not in ("none", "one seed: spread unknown", "n/a (no scratch cell)"):
                text += f" (beyond noise, paired by seed: {paired})"
    return text + "."


def head_verdicts(summary: pd.DataFrame) -> str:
    """'rotation learnt in 4, 16; PB rate at chance in 3, 16': each pretrained cell's heads in a
    word, by task."""
    parts = []
    for column in summary.columns:
        if not column.startswith("pretext: ") or column.endswith(" chance"):
            continue
        task = column.removeprefix("pretext: ")
        gain = summary[column] - summary[f"{column} chance"]
        names = summary["Exp."].astype(str)
        learnt = [names[i] for i in gain.index if pd.notna(gain[i]) and gain[i] >= LEARNT]
        not_learnt = [names[i] for i in gain.index if pd.notna(gain[i]) and gain[i] < LEARNT]
        if learnt and not_learnt:
            parts.append(f"{task} learnt in {', '.join(learnt)}, not in {', '.join(not_learnt)}")
        elif learnt or not_learnt:
            which = "learnt" if learnt else "not learnt"
            parts.append(f"{task} {which} in {', '.join(learnt or not_learnt)}")
    return "; ".join(parts)


def pretext_lines(summary: pd.DataFrame) -> list[str]:
    """The pretext heads of each pretrained cell at the end of pretraining, against the share of
    the commonest label (nothing when the table has no pretext task)."""
    tasks = [
        c.removeprefix("pretext: ")
        for c in summary.columns
        if c.startswith("pretext: ") and not c.endswith(" chance")
    ]
    if not tasks:
        return []
    lines = [
        "Pretext heads at the end of pretraining: training accuracy in percent (mean over seeds),",
        "the commonest label's share in brackets (a head there has learnt nothing).",
        "",
        "| Exp. | " + " | ".join(tasks) + " |",
        "|---|" + "---|" * len(tasks),
    ]
    for _, row in summary.iterrows():
        cells = [
            "-"
            if pd.isna(row[f"pretext: {task}"])
            else _head_cell(row[f"pretext: {task}"], row[f"pretext: {task} chance"])
            for task in tasks
        ]
        if any(cell != "-" for cell in cells):
            lines.append(f"| {row['Exp.']} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def _head_cell(accuracy: float, chance: float) -> str:
    word = "learnt" if accuracy - chance >= LEARNT else "not learnt"
    return f"{accuracy:.1f} ({chance:.1f}): {word}"


def write_summaries(section: str, out_dir: Path, table: str) -> None:
    """results/<table>.md, then results/summary.md from every table section present."""
    write_text_atomic(out_dir / f"{table}.md", section)
    parts = [p.read_text() for p in sorted(out_dir.glob("table*.md"))]
    head = "# Regenerated tables: summary\n\n"
    write_text_atomic(out_dir / "summary.md", head + "\n".join(parts))
