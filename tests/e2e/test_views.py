"""Browser tests of the issue-11 views on the bundled sample: the Opioid safety and Outcomes
pages, and the drill-down from a pathway to its patients to a patient's timeline."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from analytics.results.safety import SHORT_LABELS
from tests.e2e.conftest import open_page, wait_for_app
from tests.e2e.views import (
    chart,
    click_dataframe_row,
    click_sunburst_segment,
    dataframe_after,
    metric_labels,
    no_exception,
)

pytestmark = pytest.mark.e2e


def test_safety_page(server, page):
    open_page(page, f"{server}/Safety")
    no_exception(page)
    labels = metric_labels(page)
    for label in SHORT_LABELS.values():
        assert label in labels
    trend = chart(page, "Opioid safety: share over the 12 months to each month")
    assert trend.locator(".scatterlayer .trace").count() == 3  # HDO, COB, naloxone
    physicians = chart(page, SHORT_LABELS["hdo"])
    assert physicians.locator(".barlayer .point").count() >= 2
    assert page.get_by_test_id("stDataFrame").count() >= 3
    # the definitions, on the page
    page.get_by_test_id("stMainBlockContainer").get_by_test_id("stExpander").locator(
        "summary").filter(has_text="Definitions of the measures").click()
    page.wait_for_timeout(400)
    assert page.get_by_text("NCQA HEDIS Use of Opioids at High Dosage", exact=False).count()


def test_outcomes_page(server, page):
    open_page(page, f"{server}/Outcomes")
    no_exception(page)
    assert page.get_by_text("Observational:", exact=False).count() == 1
    for title in ("Time to spine surgery", "Time to a long-term narcotic course",
                  "Time to opioid-free"):
        km = chart(page, title)
        assert km.locator(".scatterlayer .trace").count() >= 3  # curves and the at-risk row
        assert km.locator(".textpoint").count() >= 6  # at-risk numbers under the curves
    assert page.get_by_test_id("stDataFrame").count() == 6  # groups and at risk, each
    page.get_by_test_id("stButtonGroup").get_by_role("radio", name="Sex", exact=True).click()
    wait_for_app(page)
    no_exception(page)
    assert "outcome_by=Sex" in page.url  # the bound parameter holds the label


def test_drill_down_from_a_pathway_to_its_patients_to_a_timeline(server, page):
    open_page(page, f"{server}/Pathways")
    no_exception(page)
    click_sunburst_segment(page, 0)
    no_exception(page)
    heading = page.locator("h3", has_text="Patients:")
    assert heading.count() == 1
    patients = dataframe_after(page, heading.inner_text().strip())
    assert patients.count() == 1
    click_dataframe_row(patients, 0)
    page.wait_for_url("**/Patient_timeline?*")  # the pick switches page: one more run
    wait_for_app(page)
    no_exception(page)
    patient = parse_qs(urlsplit(page.url).query)["patient"][0]
    assert patient.startswith("P")
    timeline = chart(page, f"Patient {patient}")
    assert timeline.locator(".barlayer .point").count() >= 2
    selected = page.get_by_test_id("stSelectbox").filter(
        has=page.get_by_test_id("stWidgetLabel").get_by_text("Patient", exact=True))
    assert selected.locator("input").input_value() == patient
