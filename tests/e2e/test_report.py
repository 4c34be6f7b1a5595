"""Browser test: the monthly report printed (issue 10, item 2).

The HTML report is downloaded from the Overview as a user does, opened in Chromium and
printed to PDF on A4 (``page.pdf``), then each PDF page is drawn to an image with
``pdftoppm`` (Debian's poppler-utils).  Checked: at the A4 print width no table, figure or
text is wider than the page (in the DOM, with the print style sheet); every printed page
has content and nothing in its right margin (where anything running off the page would
show); the PDF's text carries the header (dataset, period) and the pages' titles, never a
column name.  ``make screenshots`` keeps page 1 as docs/screenshots/report_page1.png.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.e2e.conftest import VIEWPORT, missing, open_page
from tests.e2e.views import no_exception

pytestmark = pytest.mark.e2e

A4_MM = (210, 297)
MARGIN_MM = (14, 12)  # top/bottom, left/right: the report's @page rule
PX_PER_MM = 96 / 25.4
A4_CONTENT_PX = int((A4_MM[0] - 2 * MARGIN_MM[1]) * PX_PER_MM)  # 703 CSS px
DPI = 50

# Elements wider than the page, at the print width, in the print style sheet.
_OVERFLOWING = """() => {
  const width = document.documentElement.clientWidth;
  const out = [];
  for (const el of document.querySelectorAll('table, .figure, .plotly-graph-div, svg.main-svg,'
                                             + ' h1, h2, h3, p')) {
    const box = el.getBoundingClientRect();
    if (box.width > 0 && box.right > width + 1) {
      out.push(`${el.tagName} ${(el.innerText || el.getAttribute('class') || '').slice(0, 60)}`
               + ` right=${Math.round(box.right)} > ${width}`);
    }
  }
  if (document.documentElement.scrollWidth > width + 1) {
    out.push(`page scrolls sideways: ${document.documentElement.scrollWidth} > ${width}`);
  }
  return out;
}"""


def read_pgm(path: Path) -> np.ndarray:
    """A binary greyscale PGM (``pdftoppm -gray``) as a 2-D uint8 array."""
    data = path.read_bytes()
    fields: list[bytes] = []
    position = 0
    while len(fields) < 4:  # magic, width, height, maximum
        while data[position:position + 1].isspace():
            position += 1
        start = position
        while not data[position:position + 1].isspace():
            position += 1
        fields.append(data[start:position])
    assert fields[0] == b"P5", fields[0]
    width, height = int(fields[1]), int(fields[2])
    pixels = np.frombuffer(data, dtype=np.uint8, count=width * height, offset=position + 1)
    return pixels.reshape(height, width)


def download_report(page, server: str, url_path: str, folder: Path) -> Path:
    open_page(page, f"{server}{url_path}")
    no_exception(page)
    with page.expect_download(timeout=120_000) as info:
        page.get_by_role("button", name="HTML report").click()
    path = folder / "painpath_report.html"
    info.value.save_as(path)
    return path


def print_report(browser, html: Path, pdf: Path) -> list[str]:
    """Open the report, check the layout at the A4 print width, print it to ``pdf`` on A4;
    the elements wider than the page."""
    context = browser.new_context(viewport=VIEWPORT)
    try:
        report = context.new_page()
        report.goto(html.resolve().as_uri())
        report.wait_for_function(
            "document.querySelectorAll('.plotly-graph-div .main-svg').length >= "
            "document.querySelectorAll('.plotly-graph-div').length")
        report.emulate_media(media="print")
        report.set_viewport_size({"width": A4_CONTENT_PX, "height": 1000})
        report.wait_for_timeout(500)
        overflowing = report.evaluate(_OVERFLOWING)
        report.pdf(path=str(pdf), format="A4", print_background=True)
        return overflowing
    finally:
        context.close()


@pytest.fixture(scope="module")
def poppler() -> None:
    for tool in ("pdftoppm", "pdfinfo", "pdftotext"):
        if shutil.which(tool) is None:
            missing(f"{tool} not found (Debian: apt-get install -y poppler-utils)")


@pytest.fixture(scope="module")
def printed(server, browser, poppler, tmp_path_factory) -> dict[str, object]:
    """The Overview's report of the last 180 days for physician DR02, printed on A4."""
    folder = tmp_path_factory.mktemp("report")
    context = browser.new_context(viewport=VIEWPORT)
    try:
        html = download_report(context.new_page(), server,
                               "/?period=180%20days&providers=DR02", folder)
    finally:
        context.close()
    pdf = folder / "report.pdf"
    overflowing = print_report(browser, html, pdf)
    subprocess.run(["pdftoppm", "-r", str(DPI), "-gray", str(pdf), str(folder / "page")],
                   check=True)
    info = subprocess.run(["pdfinfo", str(pdf)], check=True, capture_output=True, text=True)
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True,
                          capture_output=True, text=True).stdout
    return {"html": html.read_text(), "overflowing": overflowing, "info": info.stdout,
            "text": text, "pages": sorted(folder.glob("page-*.pgm"))}


def test_nothing_is_wider_than_an_a4_page(printed):
    assert printed["overflowing"] == []


def test_the_pdf_is_a4_and_every_page_stays_inside_it(printed):
    info = dict(line.split(":", 1) for line in printed["info"].splitlines() if ":" in line)
    assert info["Page size"].strip().startswith("595.92 x 842.88 pts (A4)")
    pages = printed["pages"]
    assert int(info["Pages"]) == len(pages) >= 4  # Overview, Pathways, Injections, ...
    margin = int(MARGIN_MM[1] * DPI / 25.4) - 2  # the right margin, less 2 px
    for path in pages:
        pixels = read_pgm(path)
        assert abs(pixels.shape[1] - A4_MM[0] * DPI / 25.4) <= 1, path.name
        assert (pixels < 200).any(), f"{path.name} is blank"
        right = pixels[:, -margin:]
        assert (right > 240).all(), f"{path.name}: something runs into the right margin"


def test_the_printed_header_names_dataset_period_and_threshold(printed):
    html, text = printed["html"], " ".join(printed["text"].split())
    assert "Dataset: Sample clinic" in text
    assert "Cohort: Physician: DR02" in text
    assert "Period: the last 180 days" in text
    assert "Definitions: narcotic course gap 30 days" in text
    assert "are shown as <11" in text
    assert "<h3>Key measures, current and previous period</h3>" in html
    for name in ("provider_id", "pct_narcotic", "physical_therapy", "not_used", "synthea"):
        assert name not in text, name
    # figures as the pages print them: no raw floats such as 12.541666666666666
    assert not [w for w in text.split() if w.replace(".", "", 1).isdigit()
                and "." in w and len(w.split(".")[1]) > 2]
