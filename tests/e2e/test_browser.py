"""Browser tests: Playwright drives Debian's Chromium against ``streamlit run``.

Upload a Synthea export and a generic CSV through the file uploader, accept the
mapping, look at the pathways sunburst and the narcotic Kaplan–Meier chart of
the uploaded data, reload a copied URL and get the same cohort, and render every page
at full height (``make screenshots`` writes ``docs/screenshots/``).
"""

from __future__ import annotations

import re
import struct
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

try:
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
except ImportError:  # the `requirements` fixture skips (or fails in CI)
    PlaywrightTimeoutError = TimeoutError

from analytics.cohorts import Cohort, apply_cohort
from analytics.ingest import ingest
from analytics.population import apply_population
from analytics.results.measures import CohortMeasures
from analytics.results.overview import period_measures
from tests.e2e.conftest import (
    RERUN_TIMEOUT_MS,
    ROOT,
    SYNTHEA,
    SYNTHEA_FILES,
    open_page,
    wait_for_app,
)

pytestmark = pytest.mark.e2e

SYNTHEA_NAME = "Synthea 105"
GENERIC_NAME = "Generic clinic"
GENERIC_CSV = """Patient,Visit date,CPT,Description,Doctor,Days supply
G1,2024-01-05,97110,Therapeutic exercise,DRA,
G1,2024-01-20,,Oxycodone 5 MG Oral Tablet,DRA,30
G1,2024-02-10,64483,Transforaminal epidural injection,DRA,
G2,2024-03-01,97110,Therapeutic exercise,DRB,
G2,2024-03-02,,Hydrocodone 10 MG / Acetaminophen 325 MG Oral Tablet,DRB,14
"""

PAGES = {  # screenshot name -> URL path
    "overview": "/",
    "pathways": "/Pathways",
    "injections": "/Injections",
    "narcotic_courses": "/Narcotic_courses",
    "compare_cohorts": "/Compare_cohorts",
    "patient_timeline": "/Patient_timeline",
    "data": "/Data",
}


# --- helpers ------------------------------------------------------------------------------

def no_exception(page) -> None:
    errors = page.get_by_test_id("stException")
    assert errors.count() == 0, errors.all_inner_texts()


def metrics(page) -> dict[str, str]:
    out = {}
    for metric in page.get_by_test_id("stMetric").all():
        label = metric.get_by_test_id("stMetricLabel").inner_text().strip()
        out[label] = metric.get_by_test_id("stMetricValue").inner_text().strip()
    return out


def widget(page, testid: str, label: str):
    """The widget of type ``testid`` (e.g. stMultiSelect) whose label is ``label``."""
    return page.get_by_test_id(testid).filter(
        has=page.get_by_test_id("stWidgetLabel").get_by_text(label, exact=True))


def choose(page, testid: str, label: str, option: str) -> None:
    """Pick ``option`` in a selectbox / multiselect (type it, press Enter), wait for the
    rerun.  Retries when the dropdown did not open (a widget in an expander that is
    still animating open can swallow the first click)."""
    box = widget(page, testid, label).locator("input")
    wanted = page.get_by_role("option", name=option, exact=True)
    for attempt in range(4):
        box.scroll_into_view_if_needed()
        box.click()
        box.fill(option)
        try:
            wanted.wait_for(timeout=3_000)
            break
        except PlaywrightTimeoutError:
            if attempt == 3:
                raise
            page.keyboard.press("Escape")
            page.wait_for_timeout(300)
    box.press("Enter")
    page.keyboard.press("Escape")
    wait_for_app(page)


def chips(page, label: str) -> list[str]:
    """The values shown in a multiselect."""
    box = widget(page, "stMultiSelect", label)
    return [t.get_attribute("aria-label") for t in box.locator("[data-tag]").all()]


def selected(page, label: str) -> str:
    """The value shown in a selectbox."""
    return widget(page, "stSelectbox", label).locator("input").input_value()


def go_to(page, link: str) -> None:
    """Switch page through the sidebar navigation (keeps the session)."""
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.locator("a").filter(has=page.get_by_text(link, exact=True)).first.click()
    wait_for_app(page)


def open_expander(page, title: str) -> None:
    summary = page.get_by_test_id("stExpander").locator("summary").filter(has_text=title)
    if summary.locator("xpath=..").get_attribute("open") is None:
        summary.click()
        page.wait_for_timeout(400)  # the open animation


def chart(page, title_prefix: str):
    """The plotly chart whose title starts with ``title_prefix``."""
    charts = page.get_by_test_id("stPlotlyChart").filter(
        has=page.locator(".gtitle", has_text=re.compile("^" + re.escape(title_prefix))))
    assert charts.count() == 1, f"no chart titled {title_prefix!r}"
    return charts.first


def upload(page, files: list[Path]) -> list[str]:
    """Choose ``files`` in the Data page's uploader; return the recognised-file headers."""
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files([str(f) for f in files])
    wait_for_app(page)
    no_exception(page)
    # every file recognised gets an expander; the rerun that draws them may finish after
    # the one the upload itself started
    page.get_by_text("1 · Check what was recognised").wait_for(timeout=RERUN_TIMEOUT_MS)
    page.get_by_test_id("stExpander").first.wait_for(timeout=RERUN_TIMEOUT_MS)
    wait_for_app(page)
    return [t.strip() for t in page.get_by_test_id("stExpander").locator("summary")
            .all_inner_texts()]


def save_as_new(page, dataset_name: str) -> str:
    """Name the new dataset, click "Ingest and save", return the success message."""
    name = page.get_by_label("Dataset name")
    name.fill(dataset_name)
    name.press("Enter")
    wait_for_app(page)
    page.get_by_role("button", name="Ingest and save").click()
    wait_for_app(page)
    no_exception(page)
    success = page.get_by_test_id("stAlertContentSuccess")
    assert success.count() == 1
    return success.inner_text().strip()


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", header[16:24])


# --- fixtures -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def uploaded(server, browser, tmp_path_factory) -> dict[str, object]:
    """Upload the Synthea export and a generic CSV through the browser, as two datasets."""
    generic = tmp_path_factory.mktemp("generic") / "clinic_visits.csv"
    generic.write_text(GENERIC_CSV)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    try:
        out: dict[str, object] = {}
        open_page(page, f"{server}/Data")
        out["synthea_plans"] = upload(page, [SYNTHEA / f for f in SYNTHEA_FILES])
        out["synthea"] = save_as_new(page, SYNTHEA_NAME)
        out["synthea_metrics"] = metrics(page)
        open_page(page, f"{server}/Data")  # a new session: the uploader starts empty
        out["generic_plans"] = upload(page, [generic])
        out["generic_mapping_editor"] = page.get_by_test_id("stDataFrame").count()
        out["generic"] = save_as_new(page, GENERIC_NAME)
        out["generic_metrics"] = metrics(page)
        yield out
    finally:
        context.close()


# --- tests --------------------------------------------------------------------------------

def test_upload_synthea_export_and_generic_csv(uploaded):
    plans = uploaded["synthea_plans"]
    for name in SYNTHEA_FILES:
        role = name.removesuffix(".csv").replace("careplans", "care plans")
        assert any(p.endswith(f"{name} · Synthea · {role}") for p in plans), plans
    assert re.fullmatch(rf"Created dataset {SYNTHEA_NAME} with [\d,]+ events\.",
                        uploaded["synthea"])
    report = uploaded["synthea_metrics"]
    assert int(report["Accepted"].replace(",", "")) > 0
    assert int(report["Rows read"].replace(",", "")) >= int(report["Accepted"].replace(",", ""))

    assert any(p.endswith("clinic_visits.csv · Clinic file · treatment events")
               for p in uploaded["generic_plans"])
    assert uploaded["generic_mapping_editor"] >= 2  # mapping editor + preview
    assert uploaded["generic"] == f"Created dataset {GENERIC_NAME} with 5 events."
    assert uploaded["generic_metrics"]["Rows read"] == "5"
    assert uploaded["generic_metrics"]["Accepted"] == "5"


def test_uploaded_dataset_shows_sunburst_and_narcotic_km(server, page, uploaded):
    open_page(page, f"{server}/")
    choose(page, "stSelectbox", "Dataset", SYNTHEA_NAME)
    no_exception(page)
    assert parse_qs(urlsplit(page.url).query)["dataset"] == [SYNTHEA_NAME]

    go_to(page, "Pathways")
    no_exception(page)
    assert "/Pathways" in page.url
    assert selected(page, "Dataset") == SYNTHEA_NAME
    sunburst = chart(page, "Pathways: inner ring")
    # 18 back-pain patients: each pathway is under the threshold or would give one away
    # (complementary suppression), so the sunburst draws none of them
    assert sunburst.locator(".sunburstlayer path.surface").count() == 0
    assert page.get_by_test_id("stPlotlyChart").count() >= 3
    # the sample clinic's pathways are large enough to be drawn
    choose(page, "stSelectbox", "Dataset", "Sample clinic")
    no_exception(page)
    sunburst = chart(page, "Pathways: inner ring")
    assert sunburst.locator(".sunburstlayer path.surface").count() > 0
    choose(page, "stSelectbox", "Dataset", SYNTHEA_NAME)
    no_exception(page)

    go_to(page, "Narcotic courses")
    no_exception(page)
    km = chart(page, "Course duration (Kaplan–Meier")
    assert km.locator(".scatterlayer .trace").count() >= 1
    shown = metrics(page)
    # the back-pain population (patients with a back or neck pain diagnosis in
    # conditions.csv): 16 patients, 17 courses, every one long-term
    assert page.get_by_text("Population: Back-pain patients (18 of 30 patients).").count() == 1
    assert (shown["Patients on narcotics"], shown["Courses"]) == ("16", "17")
    assert shown["Long-term (≥ 90 days)"] == "100.0%"
    # all patients: 23 courses of which 18 long-term: the 5 others would follow from the
    # two, so the course count is hidden by complementary suppression
    page.get_by_test_id("stRadio").get_by_text("All patients", exact=True).click()
    wait_for_app(page)
    no_exception(page)
    assert parse_qs(urlsplit(page.url).query)["population"] == ["All patients"]
    shown = metrics(page)
    assert shown["Patients on narcotics"] == "23"
    assert shown["Courses"] == "hidden"
    page.get_by_test_id("stRadio").get_by_text("Back-pain patients", exact=True).click()
    wait_for_app(page)

    # the generic CSV dataset is selectable too
    choose(page, "stSelectbox", "Dataset", GENERIC_NAME)
    no_exception(page)
    assert metrics(page)["Patients on narcotics"] == "<11"


def _expected_patients(cohort: Cohort) -> int:
    """The Overview's patients of ``cohort`` in the sample's back-pain population (the app's
    default), at the sample's extract date."""
    result = ingest([ROOT / "sample_data" / "painpath_sample.csv"])
    events = apply_population(result.events, result.diagnoses, result.population_source).events
    extract = result.extract_date
    chosen = apply_cohort(events, cohort, extract=extract)
    return period_measures(CohortMeasures(chosen, extract=extract), 365)[0].patients


def test_copied_url_reopens_the_same_cohort(server, browser, page):
    open_page(page, f"{server}/")
    everyone = metrics(page)["Patients"]
    choose(page, "stMultiSelect", "Physician", "DR01")
    open_expander(page, "Demographics")
    choose(page, "stMultiSelect", "Sex", "F")
    no_exception(page)
    overview = metrics(page)
    expected = _expected_patients(Cohort(providers=("DR01",), sexes=("F",)))
    assert overview["Patients"] == f"{expected:,}"
    assert int(overview["Patients"].replace(",", "")) < int(everyone.replace(",", ""))
    query = parse_qs(urlsplit(page.url).query)
    assert query["providers"] == ["DR01"] and query["sexes"] == ["F"]

    go_to(page, "Injections")  # the cohort follows to the next page
    no_exception(page)
    assert chips(page, "Physician") == ["DR01"]
    before = metrics(page)
    copied = page.url
    assert "/Injections?" in copied

    other = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        fresh = other.new_page()
        open_page(fresh, copied)
        no_exception(fresh)
        assert chips(fresh, "Physician") == ["DR01"]
        open_expander(fresh, "Demographics")
        assert chips(fresh, "Sex") == ["F"]
        assert metrics(fresh) == before
        # reload in the same tab keeps it too
        fresh.reload()
        wait_for_app(fresh)
        assert metrics(fresh) == before

        open_page(fresh, f"{server}/Pathways?sexes=F&providers=DR01")
        no_exception(fresh)
        assert chips(fresh, "Physician") == ["DR01"]
        open_expander(fresh, "Demographics")
        assert chips(fresh, "Sex") == ["F"]
        assert fresh.get_by_test_id("stPlotlyChart").count() >= 3
    finally:
        other.close()


def test_cohort_from_url_survives_a_page_switch(server, page):
    open_page(page, f"{server}/Pathways?sexes=F&providers=DR01")
    assert chips(page, "Physician") == ["DR01"]
    go_to(page, "Injections")
    assert chips(page, "Physician") == ["DR01"]


@pytest.mark.parametrize("name", list(PAGES))
def test_screenshot_of_every_page(server, page, uploaded, name, tmp_path):
    """Every page renders at full height (the screenshots of docs/screenshots/ are taken by
    ``make screenshots``, tests/e2e/screenshots.py: a test does not rewrite tracked files)."""
    open_page(page, f"{server}{PAGES[name]}")
    no_exception(page)
    if name != "data":
        assert page.get_by_test_id("stPlotlyChart").count() >= 1
    height = page.evaluate(
        "() => Math.max(...['stMain', 'stSidebarContent'].map(id => "
        "(document.querySelector(`[data-testid=${id}]`) || {scrollHeight: 0}).scrollHeight))")
    page.set_viewport_size({"width": 1400, "height": max(1000, int(height))})
    page.wait_for_timeout(800)  # let plotly re-layout
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    width, png_height = png_size(path)
    assert width == 1400 and png_height >= 1000
