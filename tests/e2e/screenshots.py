"""Screenshots of PainPath for the README: ``make screenshots`` (never part of ``make test``).

Starts ``streamlit run dashboard.py`` on a fresh store (the bundled sample clinic), drives
Debian's Chromium and writes ``docs/screenshots/<name>.png``, one per function of
:data:`SHOTS` (each opens its page, does what the picture shows and leaves the page ready)::

    python -m tests.e2e.screenshots            # every screenshot
    python -m tests.e2e.screenshots safety     # some of them
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS, VIEWPORT, open_page
from tests.e2e.conftest import streamlit_server as server
from tests.e2e.views import (
    click_dataframe_row,
    click_sunburst_segment,
    dataframe_after,
    full_page_screenshot,
    no_exception,
    wait_for_app,
)


def safety(page, url: str) -> None:
    """The Opioid safety page: the measures of the year, the trend, physicians, tapers."""
    open_page(page, f"{url}/Safety")


def outcomes(page, url: str) -> None:
    """The Outcomes page: the three Kaplan–Meier charts with their at-risk tables."""
    open_page(page, f"{url}/Outcomes")


def drilldown(page, url: str) -> None:
    """The Pathways page after a click on a sunburst segment: the patients listed."""
    open_page(page, f"{url}/Pathways")
    click_sunburst_segment(page, 0)


def drilldown_timeline(page, url: str) -> None:
    """A patient of the drill-down, picked in the list: the Patient timeline."""
    drilldown(page, url)
    heading = page.locator("h3", has_text="Patients:").inner_text().strip()
    click_dataframe_row(dataframe_after(page, heading), 0)
    page.wait_for_url("**/Patient_timeline?*")
    wait_for_app(page)


SHOTS: dict[str, Callable[[object, str], None]] = {
    "safety": safety,
    "outcomes": outcomes,
    "drilldown": drilldown,
    "drilldown_timeline": drilldown_timeline,
}
"""Screenshot name -> the function that sets its page up."""


def take(names: list[str], out: Path = SCREENSHOTS) -> list[Path]:
    """Take the screenshots ``names`` of a fresh app; the files written."""
    from playwright.sync_api import sync_playwright

    written = []
    with tempfile.TemporaryDirectory(prefix="painpath-screenshots-") as data_dir, \
            server(Path(data_dir), Path(data_dir) / "streamlit.log") as url, \
            sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            for name in names:
                context = browser.new_context(viewport=VIEWPORT)
                page = context.new_page()
                SHOTS[name](page, url)
                no_exception(page)
                path = out / f"{name}.png"
                full_page_screenshot(page, path)
                written.append(path)
                context.close()
        finally:
            browser.close()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.e2e.screenshots",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"screenshots to take, of {', '.join(SHOTS)} (default: all)")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in SHOTS]
    if unknown:
        parser.error(f"unknown screenshot(s) {', '.join(unknown)}; choose from "
                     f"{', '.join(SHOTS)}")
    for path in take(list(args.names) or list(SHOTS)):
        print(path.relative_to(SCREENSHOTS.parent.parent))
    return 0


if __name__ == "__main__":
    sys.exit(main())
