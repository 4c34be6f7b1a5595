"""The issue-11 views in the app: Safety, Outcomes, the pathway drill-down, strata, attrition,
time per transition, the timeline's lanes — and who may see the patient lists."""

from __future__ import annotations

import json

import pytest

from analytics.results.safety import KPI_MEASURES, SHORT_LABELS
from tests.app.conftest import metrics, run_page
from tests.app.test_auth import MANAGER, PHYSICIAN, _configure, _login

SEGMENT = "physical_therapy > narcotic"  # a sunburst segment of the sample


def _titles(at) -> list[str]:
    return [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]


def _click_segment(at, segment: str = SEGMENT):
    at.session_state["sunburst"] = {"selection": {"points": [{"id": segment}],
                                                  "point_indices": [], "box": [], "lasso": []}}
    return at.run()


def test_safety_page_shows_every_measure_trend_physicians_and_tapers(app):
    at = app("safety").run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Opioid safety"]
    shown = metrics(at)
    assert set(SHORT_LABELS.values()) <= set(shown)
    # every measure explains itself in its help text
    helps = {m.label: m.proto.help for m in at.metric}
    assert "NCQA HEDIS Use of Opioids at High Dosage" in helps[SHORT_LABELS["hdo"]]
    assert "recommendation 8" in helps[SHORT_LABELS["naloxone"]]
    titles = _titles(at)
    assert "Opioid safety: share over the 12 months to each month" in titles
    assert any(t.startswith(SHORT_LABELS["hdo"]) for t in titles)  # physicians vs clinic
    headers = [list(d.value.columns) for d in at.dataframe]
    assert ["Physician", "Counted", "Denominator", "Numerator", "Share", "Clinic share",
            "Note"] in headers
    assert any("Abrupt stops (no taper)" in h for h in headers)
    # the trend follows the chosen measures
    at.multiselect(key="safety_trend").set_value(["hdo"]).run()
    trend = [json.loads(c.proto.spec) for c in at.get("plotly_chart")][0]
    assert [t["name"] for t in trend["data"]] == [SHORT_LABELS["hdo"]]
    # a measure and year pick the physician table
    at.selectbox(key="safety_measure").set_value("cob").run()
    assert any(t == f"{SHORT_LABELS['cob']}, {at.selectbox(key='safety_year').value}"
               for t in _titles(at))


def test_outcomes_page_three_curves_with_at_risk_tables_and_strata(app):
    at = app("outcomes").run()
    assert not at.exception
    titles = _titles(at)
    assert titles == ["Time to spine surgery", "Time to a long-term narcotic course (≥ 90 days)",
                      "Time to opioid-free (end of the last narcotic course)"]
    assert any(w.value.startswith("Observational") for w in at.info)
    assert any("Left out without an index date" in c.value for c in at.caption)
    groups = at.dataframe[0].value
    assert list(groups.columns) == ["Group", "Patients", "With the outcome", "Median (days)",
                                    "95% CI from", "95% CI to"]
    assert "Physical therapy" in set(groups["Group"])
    at.segmented_control(key="outcome_by").set_value("sex").run()
    assert not at.exception
    assert set(at.dataframe[0].value["Group"]) == {"F", "M"}


def test_overview_has_the_three_safety_kpis(app):
    at = app("overview").run()
    assert not at.exception
    shown = metrics(at)
    assert {"High dosage (HDO)", "Opioid + benzodiazepine (COB)",
            "Naloxone when indicated"} <= set(shown)
    assert len(KPI_MEASURES) == 3


def test_overview_attrition_from_the_rows_read_to_the_cohort(app):
    at = app("overview")
    at.query_params["providers"] = "DR01"
    at.run()
    assert not at.exception
    attrition = [d.value for d in at.dataframe if "Stage" in d.value.columns][0]
    assert attrition["Stage"].tolist() == ["Rows read from the files", "Accepted events",
                                           "In the population", "With a treatment pathway",
                                           "In the cohort"]
    rows = attrition["Rows / events"].tolist()
    assert rows[0] > rows[1] > rows[2]  # the sample: 46,577 rows read, 44,540 accepted, ...
    patients = attrition["Patients"].tolist()
    assert patients[2] >= patients[3] > patients[4]  # DR01's patients among them


def test_pathways_page_strata_and_time_per_transition(app):
    at = app("overview").run()
    run_page(at, "pathways")
    assert not at.exception
    frames = [d.value for d in at.dataframe]
    assert any(list(f.columns)[:3] == ["From", "To", "Patients"] for f in frames)
    at.segmented_control(key="pathway_strata").set_value("sex").run()
    assert not at.exception
    strata = [d.value for d in at.dataframe if "Stratum" in d.value.columns][0]
    assert set(strata["Stratum"]) == {"F", "M"}


def test_drill_down_from_a_segment_to_the_patients_to_the_timeline(app):
    at = app("overview").run()
    run_page(at, "pathways")
    _click_segment(at)
    assert not at.exception
    assert "Patients: Physical therapy → Narcotic …" in [s.value for s in at.subheader]
    patients = [d.value for d in at.dataframe if "Patient" in d.value.columns][0]
    assert list(patients.columns) == ["Patient", "Pathway", "First step on", "Steps", "Events",
                                      "First event", "Last event"]
    assert patients["Pathway"].str.startswith("Physical therapy → Narcotic").all()
    first = patients["Patient"].iloc[0]
    # a table row replaces the segment: the most recent pick is listed
    at.session_state["df_top_pathways"] = {"selection": {"rows": [0], "columns": []}}
    at.run()
    assert [s.value for s in at.subheader if s.value.startswith("Patients:")] == [
        "Patients: Physical therapy"]
    _click_segment(at, "narcotic")
    patients = [d.value for d in at.dataframe if "Patient" in d.value.columns][0]
    first = patients["Patient"].iloc[0]
    at.session_state["drill_patients"] = {"selection": {"rows": [0], "columns": []}}
    at.run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Patient timeline"]
    assert at.selectbox(key="patient").value == first
    assert at.query_params["patient"] == first
    lanes = set(json.loads(at.get("plotly_chart")[0].proto.spec)["layout"]["yaxis"][
        "categoryarray"])
    assert "Pathway steps (eras mode)" in lanes and "Narcotic eras" in lanes


def test_a_sankey_link_lists_its_patients(app):
    at = app("overview").run()
    run_page(at, "pathways")
    link = at.selectbox(key="drill_link")
    assert link.options[0].startswith("Step 1 → 2: ")  # the Sankey's largest link first
    link.select_index(0).run()
    assert not at.exception
    heading = [s.value for s in at.subheader if s.value.startswith("Patients:")]
    assert len(heading) == 1 and "(step 1) →" in heading[0] and "(step 2)" in heading[0]


@pytest.mark.parametrize("who", ["manager", "switched off"])
def test_no_patient_list_for_managers_or_when_patient_views_are_off(app, monkeypatch, who):
    if who == "manager":
        at = _configure(app("overview"), _login(MANAGER)).run()
    else:
        monkeypatch.setenv("PAINPATH_PATIENT_VIEWS", "off")
        at = app("overview").run()
    run_page(at, "pathways")
    _click_segment(at)
    at.session_state["df_top_pathways"] = {"selection": {"rows": [0], "columns": []}}
    at.run()
    assert not at.exception
    assert not [s.value for s in at.subheader if s.value.startswith("Patients:")]
    assert "drill_link" not in [s.key for s in at.selectbox]
    assert not [d for d in at.dataframe if "Patient" in d.value.columns]


def test_a_physician_gets_the_patient_list(app):
    at = _configure(app("overview"), _login(PHYSICIAN)).run()
    run_page(at, "pathways")
    _click_segment(at)
    assert not at.exception
    assert [s.value for s in at.subheader if s.value.startswith("Patients:")]
