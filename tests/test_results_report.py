"""The report's result is the pages' results: the same builders, so the same hidden cells."""

from analytics.results.injections import build_injections
from analytics.results.measures import CohortMeasures
from analytics.results.narcotics import build_narcotics
from analytics.results.overview import build_overview
from analytics.results.pathways import build_pathways
from analytics.results.report import build_report
from analytics.results.safety import build_safety
from analytics.results.table import tables_of
from tests.test_cohorts import events  # noqa: F401  (fixture)
from ui.report import build_report as render_report


def test_report_is_made_of_the_pages_results(events):  # noqa: F811
    m = CohortMeasures(events)
    report = build_report(m, "everyone", min_cell=3)
    pages = {
        "overview": build_overview(m, 365, 3), "pathways": build_pathways(m, "first", None, 3),
        "injections": build_injections(m, 3), "narcotics": build_narcotics(m, 3),
        "safety": build_safety(m, min_cell=3)}
    for name, page in pages.items():
        mine, theirs = tables_of(getattr(report, name)), tables_of(page)
        assert mine.keys() == theirs.keys()
        for key in mine:
            assert mine[key].display().equals(theirs[key].display()), (name, key)


def test_rendered_report_hides_what_the_result_hides(events):  # noqa: F811
    report = build_report(CohortMeasures(events), "everyone", min_cell=3)
    html = render_report(report)
    assert "Cohort: everyone" in html
    assert "Counts from 1 to 2 (patients, events, fills, sessions, courses) are shown as &lt;3" in (
        html)
    # the physician table: DR01 and DR02 have 2 patients each
    assert html.count("<td>&lt;3</td>") >= 2 and "<td>hidden</td>" in html
    for section in ("Overview", "Pathways (first use)", "Injections", "Narcotic courses",
                    "Opioid safety"):
        assert f"<h2>{section}</h2>" in html
    # p2's four fills in 2024 make one opioid user: the HDO denominator of 2024 is small
    assert "<h3>Opioid safety in 2024</h3>" in html
