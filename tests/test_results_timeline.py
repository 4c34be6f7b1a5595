"""The Patient timeline result: one patient's own rows, never suppressed."""

from analytics.results.measures import CohortMeasures
from analytics.results.timeline import build_timeline
from tests.test_cohorts import events  # noqa: F401  (fixture)


def test_one_patient(events):  # noqa: F811
    result = build_timeline(CohortMeasures(events), "p1")
    assert result.patient_id == "p1"
    assert [result.facts.text(0, c) for c in ("sex", "age", "provider_id", "events")] == [
        "F", "45", "DR01", "4"]
    assert result.diagnoses == ("M96.1",)
    assert result.pathway.labels("label") == ["Surgery", "Physical therapy", "Injection"]
    assert result.pathway.texts("start") == ["2024-01-01", "2024-02-01", "2024-03-01"]
    events_table = result.events.display(titles=False)
    assert events_table["event_date"].tolist() == ["2024-01-01", "2024-02-01", "2024-03-01",
                                                   "2024-04-01"]
    # every table is patient level: one patient's single sessions are not "<11"
    for table in (result.segments, result.facts, result.pathway, result.events):
        assert table.patient_level and not table.hidden_cells().values.any()
    lanes = set(result.segments.values["lane"])
    assert {"Injection eras", "Surgery eras", "Injection events",
            "Pathway steps (eras mode)"} <= lanes
