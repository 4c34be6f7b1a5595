"""The Injections result (hand-computed on the four-patient clinic of tests/test_cohorts.py).

Sessions: p1 2024-03-01 (DR01) and 04-01 (DR02), epidural steroid; p4 02-01 (DR02), facet.
Extract date 2024-06-01.
"""

import pandas as pd

from analytics.results.injections import build_injections, injection_type_label
from analytics.results.measures import CohortMeasures
from analytics.schema import conform
from tests.test_cohorts import events  # noqa: F401  (fixture)


def test_without_suppression(events):  # noqa: F811
    result = build_injections(CohortMeasures(events), min_cell=0)
    kpis = result.kpis.values.iloc[0].to_dict()
    assert kpis == {"patients": 2, "sessions": 3, "repeated": 1, "over_limit": 0,
                    "intervals": 1, "short_intervals": 0}
    assert result.per_patient.display(titles=False).values.tolist() == [["1", 1], ["2", 1]]
    # one interval of 31 days, in the bin 28–34
    bins = result.intervals.values
    assert bins["intervals"].sum() == 1 and bins.loc[4, ["range", "intervals"]].tolist() == [
        "28–34", 1]
    # Kaplan–Meier: p1 repeats after 31 days, p4 is censored after 121 days (02-01 .. 06-01)
    curve = result.repeat.curve.values
    assert curve["time"].tolist() == [0, 31, 121]
    assert curve["survival"].tolist() == [1.0, 0.5, 0.5]
    assert result.repeat.summary.texts("median") == ["31 days"]
    by = result.by_physician.display(titles=False)
    assert by.values.tolist() == [["DR01", "Epidural steroid", 1, 1],
                                  ["DR02", "Epidural steroid", 1, 1],
                                  ["DR02", "Facet joint", 1, 1]]
    assert result.over_by_type.empty and result.windows.empty and result.pain_change.empty
    assert result.pain.texts("median_change") == ["–"]  # no scores: not defined


def test_protected(events):  # noqa: F811
    result = build_injections(CohortMeasures(events), min_cell=3)
    # 3 sessions are shown; 2 patients, 1 repeater and 1 interval are small
    assert result.kpis.texts("sessions") == ["3"]
    assert result.kpis.texts("patients") == ["<3"]
    assert result.kpis.texts("repeated") == ["<3"]
    assert result.kpis.texts("over_limit") == ["0"]
    assert result.per_patient.texts("patients") == ["<3", "<3"]
    assert result.repeat.summary.texts("median") == ["hidden"]
    assert set(result.repeat.curve.texts("survival")) == {"hidden"}
    # patient-level windows are never suppressed (none here)
    assert result.windows.patient_level


def test_type_labels():
    assert injection_type_label("epidural_steroid+facet") == "Epidural steroid + Facet joint"


def test_over_the_limit_by_type_and_region():

    # p1: 5 lumbar epidural sessions in 2024 (limit 4: over); p2: 3 lumbar + 2 cervical
    # epidural sessions (4 per region allowed: not over); p3: 4 trigger-point sessions, one
    # without a region (limit 3, counted per type: over, region unknown).
    rows = [("p1", f"2024-0{m}-01", "epidural_steroid", "lumbar_sacral") for m in range(1, 6)]
    rows += [("p2", f"2024-0{m}-01", "epidural_steroid", "lumbar_sacral") for m in range(1, 4)]
    rows += [("p2", f"2024-0{m}-15", "epidural_steroid", "cervical_thoracic") for m in (1, 2)]
    rows += [("p3", f"2024-0{m}-01", "trigger_point", "lumbar_sacral") for m in range(1, 4)]
    rows += [("p3", "2024-04-01", "trigger_point", None)]
    frame = conform(pd.DataFrame(rows, columns=["patient_id", "event_date", "injection_type",
                                                 "region"]).assign(technique="injection"))
    result = build_injections(CohortMeasures(frame), min_cell=0)
    assert result.over_by_type.display(titles=False).values.tolist() == [
        ["Epidural steroid", 1], ["Trigger point", 1]]
    assert result.over_by_region.display(titles=False).values.tolist() == [
        ["Epidural steroid", "Lumbar / sacral", 1],
        ["Trigger point", "Unknown region (all sessions of the type counted)", 1]]
    windows = result.windows.values
    assert windows.loc[windows["patient_id"] == "p1", "region"].unique().tolist() == [
        "Lumbar / sacral"]
    assert "p2" not in set(windows["patient_id"])
    protected = build_injections(CohortMeasures(frame), min_cell=11)
    assert protected.over_by_region.texts("patients") == ["<11", "<11"]


def _scored_sessions() -> pd.DataFrame:
    """a (DR1, epidural, lumbar/sacral): session 2024-01-10 scored 8, a therapy visit
    2024-02-10 (day 31) scored 4 — a documented response; session 2024-03-01 with no score
    after it.  b (DR2, facet, cervical/thoracic): session 2024-01-10 scored 6, 2024-01-20
    scored 5 — no response; session 2024-02-15, no score after it.  Extract 2024-12-31."""
    rows = [
        ("a", "2024-01-10", "injection", "epidural_steroid", "lumbar_sacral", "DR1", 8.0),
        ("a", "2024-02-10", "physical_therapy", None, None, "DR1", 4.0),
        ("a", "2024-03-01", "injection", "epidural_steroid", "lumbar_sacral", "DR1", None),
        ("b", "2024-01-10", "injection", "facet", "cervical_thoracic", "DR2", 6.0),
        ("b", "2024-01-20", "physical_therapy", None, None, "DR2", 5.0),
        ("b", "2024-02-15", "injection", "facet", "cervical_thoracic", "DR2", None),
    ]
    frame = pd.DataFrame(rows, columns=["patient_id", "event_date", "technique",
                                        "injection_type", "region", "provider_id",
                                        "pain_score"])
    frame["event_date"] = pd.to_datetime(frame["event_date"])
    return conform(frame)


def test_injection_response_by_type_region_and_physician():
    m = CohortMeasures(_scored_sessions(), extract=pd.Timestamp("2024-12-31"))
    result = build_injections(m, min_cell=0)
    # four followed sessions: a1 responded (4 <= 8 x 0.5, on day 31 >= 28); b1 did not
    # (5 > 3); a2 and b2 have a baseline (4 on 02-10, 5 on 01-20) and no score after
    response = result.response.display(titles=False).iloc[0].to_dict()
    assert {k: response[k] for k in ("sessions", "responses", "no_response", "no_baseline",
                                     "no_follow_up", "repeats",
                                     "repeats_after_no_response")} == {
        "sessions": 4, "responses": 1, "no_response": 1, "no_baseline": 0, "no_follow_up": 2,
        "repeats": 2, "repeats_after_no_response": 1}
    assert result.response.texts("response_share") == ["25.0%"]
    # b2 followed b1, which had no response: 1 of the 2 repeats
    assert result.response.texts("repeat_after_no_response_share") == ["50.0%"]
    by_type = result.response_by_injection_types.display(titles=False)
    assert by_type[["group", "sessions", "responses", "response_share"]].values.tolist() == [
        ["Epidural steroid", 2, 1, 50.0], ["Facet joint", 2, 0, 0.0]]
    by_region = result.response_by_region.display(titles=False)
    assert by_region["group"].tolist() == ["Cervical / thoracic", "Lumbar / sacral"]
    by_doctor = result.response_by_provider_id.display(titles=False)
    assert by_doctor[["group", "repeats_after_no_response"]].values.tolist() == [
        ["DR1", 0], ["DR2", 1]]
    protected = build_injections(m, min_cell=3)
    assert protected.response.texts("responses") == ["<3"]
    assert protected.response.texts("response_share") == ["hidden"]
