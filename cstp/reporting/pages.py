"""The report page of a regenerated table (results/<table>.html, in the Snakemake report): the
table as HTML, its LaTeX source and a rendered preview, the plot, the pretraining curves of its
cells, and a link from each cell to its runs' metrics."""

from __future__ import annotations

import base64
import html
import io
import logging
import shutil
import subprocess
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from cstp.planning.plan import RUNS, Plan
from cstp.reporting.latex import standalone
from cstp.reporting.page_table import folded, shown, styled_html
from cstp.reporting.tables import caption

log = logging.getLogger(__name__)


def curves(plan: Plan, table: str, out: Path, root: Path = Path(".")) -> Path:
    """Loss and pretext accuracies per epoch of every pretraining run of the table."""
    runs = plan.runs_of([table])["pretrain"]
    frames = {}
    for run in runs:
        path = root / RUNS / "pretrain" / run.id / "metrics.csv"
        curve = read_curve(path, run.spec.optim.epochs) if path.exists() else None
        if curve is not None:
            mine = [c for c in run.cells if c.startswith(f"{table} ")] or run.cells
            frames[mine[0].split(" (")[0]] = curve
    metrics = ["loss", *sorted({c for f in frames.values() for c in f if c.startswith("acc_")})]
    figure, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics), 3.4), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        for name, frame in frames.items():
            if metric in frame:
                ax.plot(frame["epoch"], frame[metric], marker=".", label=name)
        ax.set_title(metric.removeprefix("acc_") + (" accuracy" if metric != "loss" else ""))
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    if frames:
        handles, labels = axes[0, 0].get_legend_handles_labels()
        figure.legend(handles, labels, loc="center right", fontsize=6, frameon=False)
    figure.suptitle(f"{table}: pretraining curves (training pairs, per epoch)", fontsize=10)
    figure.tight_layout(rect=(0, 0, 0.85, 1))
    figure.savefig(out, dpi=100)
    plt.close(figure)
    return out


def read_curve(path: Path, epochs: int) -> pd.DataFrame | None:
    """A pretraining run's metrics.csv (one row per epoch), with a warning naming the file when
    it holds less than the run trained: a last line cut short (dropped: its numbers may be cut
    too), fewer rows than `epochs`; None, with a warning, when nothing of it is readable."""
    text = path.read_text(errors="replace")
    complete = text.endswith("\n")
    if not complete:
        text = text[: text.rfind("\n") + 1]
    try:
        frame = pd.read_csv(io.StringIO(text))
    except (pd.errors.EmptyDataError, pd.errors.ParserError) as err:
        log.warning("%s: unreadable (%s); its curve is left out", path, str(err).strip())
        return None
    if not complete or len(frame) < epochs:
        log.warning(
            "%s: cut short: %d of %d epochs%s; the curves show what it holds",
            *(path, len(frame), epochs, "" if complete else ", the last line ends mid-way"),
        )
    return frame


PREVIEW_DPI = 300  # rendered at this, shown at half: sharp on high-density screens too


def latex_preview(tex: str) -> bytes | None:
    """A PNG of the table compiled on a two-column page, cropped to the table and its caption,
    or None without pdflatex / pdftoppm."""
    if shutil.which("pdflatex") is None or shutil.which("pdftoppm") is None:
        return None
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        (work / "t.tex").write_text(standalone("\\pagestyle{empty}\n" + tex))
        run = ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "t.tex"]
        if subprocess.run(run, cwd=work, capture_output=True).returncode != 0:
            return None
        render = ["pdftoppm", "-png", "-r", str(PREVIEW_DPI), "-f", "1", "-l", "1", "t.pdf", "page"]
        subprocess.run(render, cwd=work, capture_output=True, check=False)
        pages = sorted(work.glob("page*.png"))
        return crop(pages[0].read_bytes()) if pages else None


def crop(png: bytes, margin: int = 24) -> bytes:
    """The PNG cut to what is printed on it (non-white), with a white margin."""
    from PIL import Image, ImageOps

    image = Image.open(io.BytesIO(png)).convert("L")
    box = ImageOps.invert(image).getbbox()
    if box is None:
        return png
    left, top, right, bottom = box
    width, height = image.size
    box = (max(0, left - margin), max(0, top - margin))
    box += (min(width, right + margin), min(height, bottom + margin))
    out = io.BytesIO()
    image.crop(box).save(out, format="PNG", optimize=True)
    return out.getvalue()


def _image(data: bytes | None, alt: str, scale: float = 1.0) -> str:
    if data is None:
        return f"<p><em>{html.escape(alt)}: not rendered (needs pdflatex and pdftoppm).</em></p>"
    encoded = base64.b64encode(data).decode()
    source = f"data:image/png;base64,{encoded}"
    size = ""
    if scale != 1.0:
        from PIL import Image

        size = f' width="{round(Image.open(io.BytesIO(data)).size[0] * scale)}"'
    return f'<img alt="{html.escape(alt)}"{size} style="max-width:100%" src="{source}">'


PAGE_STYLE = (
    "body{max-width:1400px;margin:16px auto;padding:0 12px;font:14px/1.45 system-ui,sans-serif;"
    "color:#222}h2{font-size:20px}h3{font-size:16px;margin-top:28px}p.caption{max-width:1000px}"
    "details{margin:12px 0}summary{cursor:pointer;font-weight:600}"
    ".scroll{overflow-x:auto;max-width:100%}pre{white-space:pre-wrap;font-size:12px}"
)


def page(
    plan: Plan,
    table: str,
    summary: pd.DataFrame,
    tex: str,
    images: dict[str, Path],
    words: str | None = None,
) -> str:
    """The table's HTML page; `words` is its caption (default: an accuracy table's). The first
    table fits 1,400 px (mean ± std in one cell); run ids, seeds and pretext heads are folded
    below it; the LaTeX preview is cropped to the table."""
    words = (words or caption(plan, table)).replace("$\\pm$", "±").replace("\\%", "%")
    words = words.replace("$\\times$", "×")
    parts = [
        f"<h2>{html.escape(table)}: {html.escape(plan.study.tables[table].title)}</h2>",
        f'<p class="caption">{html.escape(words)}</p>',
        f'<div class="scroll">{styled_html(shown(plan, table, summary))}</div>',
        "<details><summary>Runs, seeds, splits and pretext heads per cell</summary>",
        f'<div class="scroll">{styled_html(folded(plan, table, summary))}</div></details>',
        "<h3>Plot</h3>",
        _image(images["plot"].read_bytes(), "plot"),
        "<h3>Pretraining curves</h3>",
        _image(images["curves"].read_bytes(), "pretraining curves"),
        "<h3>LaTeX (as it sets in one column of a two-column page)</h3>",
        _image(latex_preview(tex), "LaTeX preview", scale=0.5),
        f"<details><summary>LaTeX source</summary><pre>{html.escape(tex)}</pre></details>",
    ]
    head = f"<html><head><meta charset='utf-8'><style>{PAGE_STYLE}</style></head><body>\n"
    return head + "\n".join(parts) + "\n</body></html>\n"
