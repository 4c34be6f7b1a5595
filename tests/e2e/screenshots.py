"""Screenshots of the pages for ``docs/screenshots/`` (``make screenshots``; never during
``make test``, which must not rewrite tracked files).

Starts ``streamlit run dashboard.py`` on a fresh store (the bundled sample dataset), drives
Debian's Chromium with Playwright and writes one PNG per page, the whole page height.  One
function per page: each gets the browser page and the server's URL and writes its file(s);
:data:`SHOTS` lists them in order.

    python -m tests.e2e.screenshots [NAME ...]   # all, or only the named ones
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from tests.e2e.conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    SCREENSHOTS,
    VIEWPORT,
    open_page,
    streamlit_server,
    wait_for_app,
)
from tests.e2e.test_uploads import choose_files, map_values, praxis_csv, save_as
from tests.e2e.views import click_dataframe_row, click_sunburst_segment, dataframe_after

WIDTH = VIEWPORT["width"]


def shoot(page, name: str) -> Path:
    """A full-height screenshot of the current page as ``docs/screenshots/<name>.png``."""
    height = page.evaluate(
        "() => Math.max(...['stMain', 'stSidebarContent'].map(id => "
        "(document.querySelector(`[data-testid=${id}]`) || {scrollHeight: 0}).scrollHeight))")
    page.set_viewport_size({"width": WIDTH, "height": max(VIEWPORT["height"], int(height))})
    page.wait_for_timeout(800)  # let plotly re-layout
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(VIEWPORT)
    return path


def _simple(name: str, url_path: str) -> Callable[[object, str], None]:
    def take(page, url: str) -> None:
        open_page(page, f"{url}{url_path}")
        shoot(page, name)

    take.__name__ = name
    take.__doc__ = f"The {name.replace('_', ' ')} page of the sample dataset."
    return take


overview = _simple("overview", "/")
pathways = _simple("pathways", "/Pathways")
injections = _simple("injections", "/Injections")
narcotic_courses = _simple("narcotic_courses", "/Narcotic_courses")
compare_cohorts = _simple("compare_cohorts", "/Compare_cohorts")
patient_timeline = _simple("patient_timeline", "/Patient_timeline")
data = _simple("data", "/Data")
safety = _simple("safety", "/Safety")
outcomes = _simple("outcomes", "/Outcomes")


def drilldown(page, url: str) -> None:
    """The Pathways page after a click on a sunburst segment: the patients listed."""
    open_page(page, f"{url}/Pathways")
    click_sunburst_segment(page, 0)
    shoot(page, "drilldown")


def drilldown_timeline(page, url: str) -> None:
    """A patient of the drill-down, picked in the list: the Patient timeline."""
    open_page(page, f"{url}/Pathways")
    click_sunburst_segment(page, 0)
    heading = page.locator("h3", has_text="Patients:").inner_text().strip()
    click_dataframe_row(dataframe_after(page, heading), 0)
    page.wait_for_url("**/Patient_timeline?*")
    wait_for_app(page)
    shoot(page, "drilldown_timeline")


def data_value_mapping(page, url: str) -> None:
    """The Data page with a German clinic export whose labels "Rückenschule" and "PRT" and
    drug "Novaminsulfon" (metamizole) PainPath does not know, mapped to physical therapy, an
    epidural steroid injection and not relevant (``data_value_mapping.png``), then the
    upload report after saving (``data_upload_report.png``)."""
    metamizole = "".join(f"A{i:02d};02.02.2023;Medikament;Novaminsulfon 500 mg\n"
                         for i in range(12))
    with tempfile.TemporaryDirectory() as tmp:
        export = Path(tmp) / "praxis_koeln.csv"
        export.write_bytes((praxis_csv() + metamizole).encode("cp1252"))
        open_page(page, f"{url}/Data")
        choose_files(page, [export])
        map_values(page, "values_technique", ["Physical therapy", "Injection: epidural steroid"])
        map_values(page, "values_description", ["Not relevant"])
        page.get_by_text("3 · Values PainPath does not know").scroll_into_view_if_needed()
        shoot(page, "data_value_mapping")
        save_as(page, "Praxis Köln")
        wait_for_app(page)
        shoot(page, "data_upload_report")


SHOTS: tuple[Callable[[object, str], None], ...] = (
    overview, pathways, injections, narcotic_courses, compare_cohorts, patient_timeline, safety,
    outcomes, drilldown, drilldown_timeline, data, data_value_mapping,
)
"""Every screenshot function, in order."""


def main(names: list[str]) -> int:
    from playwright.sync_api import sync_playwright

    chosen = [s for s in SHOTS if not names or s.__name__ in names]
    unknown = set(names) - {s.__name__ for s in SHOTS}
    if unknown:
        print(f"unknown screenshot(s): {', '.join(sorted(unknown))}; choose from "
              + ", ".join(s.__name__ for s in SHOTS), file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as store, \
            streamlit_server(Path(store), Path(store) / "streamlit.log") as url, \
            sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            for shot in chosen:
                context = browser.new_context(viewport=VIEWPORT)
                try:
                    shot(context.new_page(), url)
                    print(f"{shot.__name__}: done")
                finally:
                    context.close()
        finally:
            browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
