"""The report page of a table: a styled first table with mean ± std in one cell and headers
that say which data, the long columns folded below it, and a cropped, sharp LaTeX preview."""

import base64
import io
import re
import shutil

import matplotlib
import pytest
from test_latex import COUNTS, _plan, measured

from cstp.reporting import pages
from cstp.reporting.latex import to_latex
from cstp.reporting.page_table import folded, shown
from cstp.reporting.peers import with_peers
from cstp.reporting.tables import summarize

matplotlib.use("Agg")


def test_the_first_table_holds_mean_and_std_in_one_cell_under_headers_that_say_which_data():
    plan = _plan()
    summary = summarize(plan, "table2", measured(plan, "table2"))
    first = shown(plan, "table2", summary)
    label = plan.study.datasets["ucf101"].label
    assert (label, "ours (synthetic)") in first.columns and (label, "paper (real)") in first
    assert (label, "ours - scratch") in first.columns and (label, "probe - scratch") in first
    assert re.fullmatch(r"\d+\.\d ± \d+\.\d", first[(label, "ours (synthetic)")][0])
    assert not [c for c in first.columns if "run" in c[1] or "std" in c[1] or c[0] == "pretext"]
    assert len(first.columns) <= 16  # a 1,400 px page at 13 px type
    second = folded(plan, "table2", summary)
    assert f"{label}: run" in second and "seeds" in second and "pretrain run" in second
    assert f"{label}: ours - paper" in second and f"{label}: R@1" in second
    assert "<a href=" in second[f"{label}: run"][0]


def test_the_page_is_styled_and_its_latex_preview_cropped_to_the_table(tmp_path):
    import matplotlib.pyplot as plt
    from PIL import Image

    plan = _plan((0,))
    summary = summarize(plan, "table6", measured(plan, "table6"))
    tex = to_latex(plan, "table6", summary, counts=COUNTS)
    figure = plt.figure(figsize=(2, 2))
    figure.savefig(tmp_path / "p.png")
    images = {"plot": tmp_path / "p.png", "curves": tmp_path / "p.png"}
    page = pages.page(plan, "table6", with_peers(plan, "table6", summary), tex, images)
    assert "max-width:1400px" in page and "border-collapse" in page
    assert "<details><summary>Runs, seeds" in page
    if shutil.which("pdflatex") is None or shutil.which("pdftoppm") is None:
        pytest.skip("pdflatex or pdftoppm is not installed (.ci/run installs them)")
    found = re.search(r'alt="LaTeX preview" width="(\d+)" [^>]*base64,([^"]+)"', page)
    assert found, "no preview"
    image = Image.open(io.BytesIO(base64.b64decode(found[2])))
    width, height = image.size
    # A letter page at 300 dpi is 2550 x 3300: the crop keeps one column's table and caption.
    assert width < 0.45 * 2550 and height < 0.8 * 3300
    assert int(found[1]) == round(width / 2)  # shown at half its pixels: sharp
