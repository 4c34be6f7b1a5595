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
