"""From a pathway to its patients (the four-patient clinic of tests/test_cohorts.py).

Mode "first": p1 surgery 01-01 → physical therapy 02-01 → injection 03-01 (4 events, last
04-01); p2 narcotic 01-01 → physical therapy 05-01 (5 events); p3 physical therapy 01-05 →
narcotic 06-01 (2 events); p4 injection 02-01 → surgery 05-01 (2 events).
"""

import pytest

from analytics.results.drilldown import Selection, pathway_patients
from analytics.results.measures import CohortMeasures
from tests.test_cohorts import events  # noqa: F401  (fixture)

P1 = ("surgery", "physical_therapy", "injection")
P2 = ("narcotic", "physical_therapy")
P3 = ("physical_therapy", "narcotic")
P4 = ("injection", "surgery")
EVERY = (P1, P2, P3, P4)


def ids(events, selection, techniques=None) -> list[str]:  # noqa: F811
    result = pathway_patients(CohortMeasures(events), "first", techniques, selection)
    assert result.patients.patient_level
    return result.patients.labels("patient_id")


def test_a_pathway_row_lists_its_patients_with_dates_and_counts(events):  # noqa: F811
    result = pathway_patients(CohortMeasures(events), "first", None,
                              Selection("pathway", P2, listed=EVERY))
    table = result.patients.display(titles=False)
    assert table.to_dict("records") == [{
        "patient_id": "p2", "pathway": "Narcotic → Physical therapy",
        "first_step": "2024-01-01", "steps": 2, "events": 5, "first_event": "2024-01-01",
        "last_event": "2024-05-01"}]
    assert result.patients.title == "Patients: Narcotic → Physical therapy"


def test_segments_links_other_pathways_and_untreated(events):  # noqa: F811
    assert ids(events, Selection("prefix", ("surgery",), listed=EVERY)) == ["p1"]
    assert ids(events, Selection("prefix", ("physical_therapy",), listed=EVERY)) == ["p3"]
    # a segment lists only the pathways the chart draws (the listed ones)
    assert ids(events, Selection("prefix", ("physical_therapy",), listed=(P1, P2))) == []
    assert ids(events, Selection("link", ("physical_therapy", "narcotic"), 1,
                                 listed=EVERY)) == ["p3"]
    assert ids(events, Selection("link", ("physical_therapy", "injection"), 2,
                                 listed=EVERY)) == ["p1"]
    assert ids(events, Selection("link", ("physical_therapy", "injection"), 1,
                                 listed=EVERY)) == []
    # "other pathways": the pathways not listed, by first step date
    assert ids(events, Selection("other", listed=(P2, P3))) == ["p1", "p4"]
    # counting only narcotics, p1 and p4 have no step
    assert ids(events, Selection("untreated"), ("narcotic",)) == ["p1", "p4"]
    untreated = pathway_patients(CohortMeasures(events), "first", ("narcotic",),
                                 Selection("untreated")).patients.display(titles=False)
    assert untreated["first_step"].isna().all() and untreated["steps"].tolist() == [0, 0]
    assert untreated["events"].tolist() == [4, 2]


def test_selection_says_what_was_clicked():
    assert Selection("link", P3, 1).describe() == (
        "Physical therapy (step 1) → Narcotic (step 2)")
    assert Selection("prefix", ("surgery",)).describe() == "Surgery …"
    with pytest.raises(ValueError):
        Selection("wedge")
    assert isinstance(hash(Selection("pathway", P1, listed=EVERY)), int)
