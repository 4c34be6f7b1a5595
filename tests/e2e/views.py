"""Browser steps shared by the Safety / Outcomes / drill-down tests and the screenshot script.

Plotly charts and ``st.dataframe`` (a canvas) are clicked by coordinates, as the
Streamlit notes say; every step waits for the rerun it causes.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

from tests.e2e.conftest import wait_for_app

SUNBURST_TITLE = "Pathways: inner ring"
DATAFRAME_ROW_PX = 35  # st.dataframe's default row height (header and rows)


def no_exception(page) -> None:
    errors = page.get_by_test_id("stException")
    assert errors.count() == 0, errors.all_inner_texts()


def chart(page, title_prefix: str):
    """The plotly chart whose title starts with ``title_prefix``."""
    charts = page.get_by_test_id("stPlotlyChart").filter(
        has=page.locator(".gtitle", has_text=re.compile("^" + re.escape(title_prefix))))
    assert charts.count() == 1, f"no chart titled {title_prefix!r}"
    return charts.first


def metric_labels(page) -> list[str]:
    return [m.inner_text().strip() for m in page.get_by_test_id("stMetricLabel").all()]


def click_sunburst_segment(page, index: int = 0) -> None:
    """Click one wedge of the pathways sunburst (the ``index``-th drawn) and wait."""
    sunburst = chart(page, SUNBURST_TITLE)
    sunburst.scroll_into_view_if_needed()
    wedges = sunburst.locator(".sunburstlayer path.surface")
    wedges.nth(index).click(force=True)
    wait_for_app(page)


def dataframe_after(page, heading: str):
    """The first dataframe after the element whose text is ``heading``."""
    return page.get_by_text(heading, exact=True).locator(
        "xpath=following::*[@data-testid='stDataFrame'][1]")


def click_dataframe_row(frame, row: int = 0) -> None:
    """Click data row ``row`` of an ``st.dataframe`` with row selection (the canvas has no
    DOM cells): the row's middle, a little right of the selection column."""
    frame.scroll_into_view_if_needed()
    box = frame.bounding_box()
    assert box is not None, "the dataframe is not visible"
    y = box["y"] + DATAFRAME_ROW_PX * (row + 1) + DATAFRAME_ROW_PX / 2
    frame.page.mouse.click(box["x"] + 15, y)
    wait_for_app(frame.page)


def full_page_screenshot(page, path: Path, width: int = 1400) -> None:
    """A screenshot of the whole page (main area and sidebar at full height)."""
    height = page.evaluate(
        "() => Math.max(...['stMain', 'stSidebarContent'].map(id => "
        "(document.querySelector(`[data-testid=${id}]`) || {scrollHeight: 0}).scrollHeight))")
    page.set_viewport_size({"width": width, "height": max(1000, int(height))})
    page.wait_for_timeout(800)  # let plotly re-layout
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", header[16:24])
