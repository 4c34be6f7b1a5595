"""The Pathways result (hand-computed on the four-patient clinic of tests/test_cohorts.py).

Mode "first", default techniques: p1 surgery 01-01, physical therapy 02-01, injection 03-01;
p2 narcotic 01-01, physical therapy 05-01; p3 physical therapy 01-05, narcotic 06-01;
p4 injection 02-01, surgery 05-01.  Four pathways of one patient each.
"""

import pandas as pd

from analytics.results.measures import CohortMeasures
from analytics.results.pathways import build_pathways, pathway_label, step_label
from tests.test_cohorts import events  # noqa: F401  (fixture)


def test_without_suppression(events):  # noqa: F811
    result = build_pathways(CohortMeasures(events), "first", None, min_cell=0)
    table = result.pathways.display(titles=False)
    assert table["pathway"].tolist() == [
        "Injection → Surgery", "Narcotic → Physical therapy", "Physical therapy → Narcotic",
        "Surgery → Physical therapy → Injection"]
    assert table["patients"].tolist() == [1, 1, 1, 1]
    assert table["percent"].tolist() == [25.0] * 4
    assert result.steps[3] == ("surgery", "physical_therapy", "injection")
    lines = result.lines.display(titles=False)
    line2 = lines.loc[lines["line"] == 2].set_index("label")["patients"]
    assert line2.to_dict() == {"Physical therapy": 2, "Narcotic": 1, "Surgery": 1}
    # days from step 1 to step 2: 31 (p1), 121 (p2), 148 (p3), 90 (p4): median 105.5,
    # quartiles 75.25 and 127.75 (linear); step 2 to 3: p1, 29 days
    times = result.step_times.values
    assert times["transitions"].tolist() == [4, 1]
    assert times.loc[0, ["median_days", "q1_days", "q3_days"]].tolist() == [105.5, 75.25,
                                                                             127.75]
    assert times.loc[1, "median_days"] == 29
    concordance = result.concordance.display(titles=False).set_index("group")
    assert concordance.loc["DR01", ["patients", "concordant", "percent"]].tolist() == [
        2, 2, 100.0]
    assert concordance.loc["All physicians", ["patients", "concordant"]].tolist() == [4, 2]
    # the Sankey draws the shown pathways' first three steps
    sankey = result.sankey.values
    assert len(sankey) == 5 and sankey["patients"].sum() == 5
    # the sunburst: a wedge per prefix; "surgery" holds only p1's longer pathway
    sunburst = result.sunburst.values.set_index("id")
    assert sunburst.loc["surgery", ["own", "patients"]].tolist() == [0, 1]
    assert sunburst.loc["surgery > physical_therapy > injection", "own"] == 1


def test_rare_pathways_merge_and_the_lines_are_protected(events):  # noqa: F811
    result = build_pathways(CohortMeasures(events), "first", None, min_cell=3)
    table = result.pathways.display(titles=False)
    assert table["pathway"].tolist() == ["Other pathways"]
    assert table["patients"].tolist() == [4] and table["percent"].tolist() == [100.0]
    assert result.sankey.empty  # "other pathways" has no transitions to draw
    assert result.sunburst.texts("patients") == ["4"]
    # every line-of-therapy cell is 1 or 2 patients: hidden, with its shares
    assert set(result.lines.texts("patients")) == {"<3"}
    assert set(result.lines.texts("pct_of_cohort")) == {"hidden"}
    # transitions 1 -> 2: 4 patients shown; 2 -> 3: 1 patient
    assert result.step_times.texts("transitions") == ["4", "<3"]
    assert result.step_times.texts("median_days") == ["105.5", "hidden"]


def test_a_small_untreated_count_hides_a_pathway_too():
    # 30 patients on physical therapy alone, 12 on narcotic alone, 2 untreated (surgery only
    # is outside the chosen techniques): 44 - 30 - 12 would reveal the 2.
    rows = ([(f"a{i}", "physical_therapy") for i in range(30)]
            + [(f"b{i}", "narcotic") for i in range(12)]
            + [(f"c{i}", "surgery") for i in range(2)])
    frame = pd.DataFrame(rows, columns=["patient_id", "technique"]).assign(
        event_date=pd.Timestamp("2024-01-01"))
    from analytics.schema import conform

    result = build_pathways(CohortMeasures(conform(frame)), "first",
                            ("physical_therapy", "narcotic"), min_cell=11)
    table = result.pathways.display(titles=False)
    assert table["pathway"].tolist() == ["Physical therapy", "Narcotic",
                                         "No treatment in the selected techniques"]
    assert table["patients"].tolist() == [30, "hidden", "<11"]
    # the hidden pathway's place does not tell its size: shown rows first
    assert result.lines.texts("patients") == ["30", "hidden"]


def test_labels():
    assert step_label("muscle_relaxant+narcotic") == "Muscle relaxant + Narcotic"
    assert pathway_label(("physical_therapy", "injection")) == "Physical therapy → Injection"
    assert step_label("other pathways") == "Other pathways"


def test_time_between_steps_per_transition(events):  # noqa: F811
    result = build_pathways(CohortMeasures(events), "first", None, min_cell=0)
    table = result.transitions.display(titles=False)
    # one patient each: p1 surgery -> PT 31 days and PT -> injection 29; p2 narcotic -> PT
    # 121; p3 PT -> narcotic 148; p4 injection -> surgery 90 (sorted by transitions, labels)
    rows = {(a, b): (n, q1, med, q3) for a, b, n, q1, med, q3 in table.itertuples(index=False)}
    assert rows == {
        ("Injection", "Surgery"): (1, 90.0, 90.0, 90.0),
        ("Narcotic", "Physical therapy"): (1, 121.0, 121.0, 121.0),
        ("Physical therapy", "Injection"): (1, 29.0, 29.0, 29.0),
        ("Physical therapy", "Narcotic"): (1, 148.0, 148.0, 148.0),
        ("Surgery", "Physical therapy"): (1, 31.0, 31.0, 31.0),
    }
    protected = build_pathways(CohortMeasures(events), "first", None, min_cell=3).transitions
    assert set(protected.texts("transitions")) == {"<3"}
    assert set(protected.texts("median_days")) == {"hidden"}
