"""The command-line summary result: every count protected, complementary suppression."""

import pandas as pd
import pytest

from analytics.cli import summarise
from analytics.schema import conform


def clinic(groups: list[tuple[int, list[str]]], *, surgery: int = 0) -> pd.DataFrame:
    """``groups``: (patients, techniques in order, one event each a month apart)."""
    rows, n = [], 0
    for patients, techniques in groups:
        for _ in range(patients):
            n += 1
            for k, technique in enumerate(techniques):
                rows.append((f"p{n:03d}", pd.Timestamp("2024-01-01") + pd.DateOffset(months=k),
                             technique, 10 if technique == "narcotic" else None))
    for k in range(surgery):
        rows.append((f"p{k + 1:03d}", pd.Timestamp("2024-12-01"), "surgery", None))
    frame = pd.DataFrame(rows, columns=["patient_id", "event_date", "technique", "days_supply"])
    return conform(frame)


def test_thirteen_patients_a_twelve_pathway_and_a_small_other_never_show_13_and_12():
    # 12 patients physical therapy then narcotic, 1 patient injection alone: 13 patients.
    events = clinic([(12, ["physical_therapy", "narcotic"]), (1, ["injection"])])
    out = summarise(events)
    assert out["pathways"][-1] == {"steps": ["other pathways"], "patients": "<11"}
    twelve = out["pathways"][0]
    assert twelve["steps"] == ["physical_therapy", "narcotic"]
    # 13 - 12 would reveal the 1: the 12 or the total is hidden
    assert twelve["patients"] == "hidden" or out["patients"] == "hidden"
    # The patients without physical therapy (13 - 12 = 1) would follow from two shown
    # counts as well.  Hiding the narcotic technique's 12 alone does not help (the narcotic
    # block prints the same 12), so the total is the one cell that protects all of them.
    assert out["patients"] == "hidden"
    assert out["techniques"]["injection"]["patients"] == "<11"
    off = summarise(events, min_cell=0)
    assert off["patients"] == 13 and off["pathways"][0]["patients"] == 12


def test_a_single_surgery_event_is_small_and_the_event_total_protects_it():
    events = clinic([(20, ["physical_therapy", "narcotic"]), (15, ["physical_therapy"])],
                    surgery=1)
    out = summarise(events)
    assert out["techniques"]["surgery"] == {"patients": "<11", "events": "<11"}
    events_by_technique = {t: v["events"] for t, v in out["techniques"].items()}
    # the technique events add up to all events (56): one more event count must be hidden;
    # not the narcotic one (20), which the narcotic block prints again as its fills, but the
    # physical therapy one (35)
    assert [t for t, v in events_by_technique.items() if v == "hidden"] == ["physical_therapy"]
    assert out["events"] == 56 and events_by_technique["narcotic"] == 20
    assert out["narcotics"]["fills"] == 20


def test_other_pathways_last_and_min_cell_zero_shows_everything():
    events = clinic([(30, ["physical_therapy"]), (12, ["narcotic", "injection"]),
                     (2, ["injection"]), (3, ["muscle_relaxant"])])
    out = summarise(events)
    assert out["pathways"][-1]["steps"] == ["other pathways"]
    assert out["pathways"][0] == {"steps": ["physical_therapy"], "patients": 30}
    off = summarise(events, min_cell=0)
    assert [p["patients"] for p in off["pathways"]] == [30, 12, 3, 2]
    assert all(isinstance(p["patients"], int) for p in off["pathways"])
    assert off["techniques"]["injection"] == {"patients": 14, "events": 14}


@pytest.mark.parametrize("min_cell", [0, 1])
def test_suppression_off_keeps_the_contract_numbers(min_cell):
    events = clinic([(3, ["physical_therapy", "narcotic"])])
    out = summarise(events, min_cell=min_cell)
    assert out["patients"] == 3 and out["narcotics"]["fills"] == 3
    assert out["narcotics"]["median_course_days"] == 10.0


def test_rows_kept_for_their_drug_class_are_no_events_and_the_population_is_protected():
    from analytics.population import apply_population

    # 12 patients with physical therapy; a 13th whose only row is a benzodiazepine fill
    # (kept for the safety measures, technique "other"): no pain treatment.
    events = clinic([(12, ["physical_therapy"])])
    benzo = conform(pd.DataFrame({"patient_id": ["p013"], "event_date": [pd.Timestamp(
        "2024-01-05")], "technique": ["other"], "drug_class": ["benzodiazepine"]}))
    events = conform(pd.concat([events, benzo], ignore_index=True))
    population = apply_population(events, None, "none", "all")
    off = summarise(population.events, min_cell=0, population=population)
    assert (off["events"], off["patients"]) == (12, 12)
    assert off["techniques"]["other"] == {"patients": 0, "events": 0}
    assert off["population"]["patients_kept"] == 13
    assert off["pathways"] == [{"steps": ["physical_therapy"], "patients": 12}]
    # 13 kept - 12 treated = 1 patient: the two are never both shown
    out = summarise(population.events, population=population)
    assert "hidden" in (out["patients"], out["population"]["patients_kept"])


def test_narcotic_block_counts_dispenses_rows_and_courses_by_ending():
    # p1: one row standing for 3 dispenses of 10 days (30 days covered), oxycodone 5 mg x 40
    # -> 30 MME/day; p2: a row without quantity (no MME); p3: a fill whose course ends at
    # the patient's death.
    frame = pd.DataFrame({
        "patient_id": ["p1", "p2", "p3"],
        "event_date": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-01"]),
        "technique": ["narcotic"] * 3,
        "days_supply": [10, 10, 10],
        "dispenses": [3, 1, 1],
        "quantity": [40, None, 40],
        "detail": ["Oxycodone Hydrochloride 5 MG Oral Tablet"] * 3,
        "end_date": [None, None, "2024-01-05"],
        "ends_at_death": [False, False, True],
    })
    out = summarise(conform(frame), min_cell=0)
    narcotics = out["narcotics"]
    assert (narcotics["fills"], narcotics["events"], narcotics["courses"]) == (5, 3, 3)
    assert narcotics["courses_ended_by_death"] == 1
    assert narcotics["fills_without_mme"] == 1 and narcotics["courses_without_mme"] == 1
    assert narcotics["fills_mme_estimated"] == 0
    assert out["techniques"]["narcotic"] == {"patients": 3, "events": 3}
