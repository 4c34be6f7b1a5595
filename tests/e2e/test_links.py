"""Browser tests: a copied link carries the cohort (issue 10, item 1), and the server log
stays free of Streamlit's warnings (item 6).

A shared link such as ``/?providers=DR02&tried=Injection`` must keep its query after every
page switch through the sidebar (the address bar is what a user copies), and the copied
address of any page must show the recipient the same cohort in a fresh browser.  A link
naming a dataset this store does not have says so.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from analytics.schema import TECHNIQUE_LABELS
from tests.e2e.conftest import VIEWPORT, open_page, switch_page
from tests.e2e.test_browser import chips, metrics, open_expander, selected
from tests.e2e.views import no_exception

pytestmark = pytest.mark.e2e

COHORT = {"providers": ["DR02"], "tried": [TECHNIQUE_LABELS["injection"]]}
LINK = "/?providers=DR02&tried=" + TECHNIQUE_LABELS["injection"]
# Every page in the sidebar's order, starting with the one the issue names.
ROUTE = ("Narcotic courses", "Pathways", "Injections", "Opioid safety", "Outcomes",
         "Compare cohorts", "Patient timeline", "Data", "Overview", "Narcotic courses")
PATHS = {"Overview": "/", "Pathways": "/Pathways", "Injections": "/Injections",
         "Narcotic courses": "/Narcotic_courses", "Opioid safety": "/Safety",
         "Outcomes": "/Outcomes", "Compare cohorts": "/Compare_cohorts",
         "Patient timeline": "/Patient_timeline", "Data": "/Data"}


def query(page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def cohort_widgets(page) -> tuple[list[str], list[str]]:
    """The physicians and the "Tried (all of)" techniques the sidebar shows."""
    open_expander(page, "Treatment history")
    return chips(page, "Physician"), chips(page, "Tried (all of)")


def test_the_query_survives_every_page_switch(server, browser, page):
    open_page(page, f"{server}{LINK}")
    no_exception(page)
    assert query(page) == COHORT
    seen: dict[str, tuple[str, dict[str, str]]] = {}
    for label in ROUTE:
        switch_page(page, label)
        no_exception(page)
        parts = urlsplit(page.url)
        assert parts.path == PATHS[label], page.url
        assert query(page) == COHORT, f"{label}: {page.url}"
        if label != "Data":  # the Data page has no cohort sidebar
            assert cohort_widgets(page) == (["DR02"], [TECHNIQUE_LABELS["injection"]])
        seen.setdefault(label, (page.url, metrics(page)))

    # the recipient: a fresh browser context (a new session) opening each copied address
    other = browser.new_context(viewport=VIEWPORT)
    try:
        fresh = other.new_page()
        for label in ("Narcotic courses", "Injections", "Overview"):
            url, shown = seen[label]
            open_page(fresh, url)
            no_exception(fresh)
            assert query(fresh) == COHORT
            assert cohort_widgets(fresh) == (["DR02"], [TECHNIQUE_LABELS["injection"]])
            assert metrics(fresh) == shown, label
    finally:
        other.close()


def test_a_link_to_an_unknown_dataset_says_so(server, page):
    open_page(page, f"{server}/Pathways?dataset=Praxis%20M%C3%BCller&providers=DR02")
    no_exception(page)
    warnings = page.get_by_test_id("stAlertContentWarning").all_inner_texts()
    assert any("“Praxis Müller”, which is not in this store" in w
               and "shows “Sample clinic” instead" in w for w in warnings), warnings
    assert selected(page, "Dataset") == "Sample clinic"
    # the note stays on the next page
    switch_page(page, "Injections")
    assert any("Praxis Müller" in w
               for w in page.get_by_test_id("stAlertContentWarning").all_inner_texts())


LOG_WARNINGS = (
    "missing ScriptRunContext",
    "was created with a default value but also had its value set via the Session State API",
)


def test_the_server_log_has_no_streamlit_warnings(server, page, server_log):
    """The shared server (started for this session) after a link with a non-default number
    widget, page switches that hand the sidebar's values back, and a report download."""
    open_page(page, f"{server}/?era_gap_days=45&min_cell=12&providers=DR02")
    for label in ("Pathways", "Narcotic courses", "Overview"):
        switch_page(page, label)
        no_exception(page)
    assert query(page)["era_gap_days"] == ["45"]
    with page.expect_download(timeout=120_000) as info:
        page.get_by_role("button", name="HTML report").click()
    assert info.value.suggested_filename == "painpath_report.html"
    page.wait_for_timeout(500)
    log = server_log.read_text()
    assert "Uvicorn server started" in log
    for warning in LOG_WARNINGS:
        assert warning not in log, log[-3000:]
