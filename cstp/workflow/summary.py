"""What a regenerated table says, in words: whether our ordering of its cells agrees with the
paper's (Spearman's rank correlation, with a permutation p-value), which cells are within noise
of the best, and what was run. Written per table (results/<table>.md) and gathered in
results/summary.md."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cstp.files import write_text_atomic
from cstp.workflow.plan import Plan

PERMUTATIONS = 10_000


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
    from cstp.workflow.tables import scratch_exp

    spec, study = plan.study.tables[table], plan.study
    scratch = scratch_exp(spec)
    paired = f"paired vs scratch (Exp {scratch}): beyond noise" if scratch else "paired vs scratch"
    lines = [
        f"## {table}: {spec.title}",
        "",
        f"Preset `{study.preset_name}`, seeds {list(study.seeds)}, {len(summary)} cells.",
        "",
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
            else f"{row[f'pretext: {task}']:.1f} ({row[f'pretext: {task} chance']:.1f})"
            for task in tasks
        ]
        if any(cell != "-" for cell in cells):
            lines.append(f"| {row['Exp.']} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def write_summaries(section: str, out_dir: Path, table: str) -> None:
    """results/<table>.md, then results/summary.md from every table section present."""
    write_text_atomic(out_dir / f"{table}.md", section)
    parts = [p.read_text() for p in sorted(out_dir.glob("table*.md"))]
    head = "# Regenerated tables: summary\n\n"
    write_text_atomic(out_dir / "summary.md", head + "\n".join(parts))
