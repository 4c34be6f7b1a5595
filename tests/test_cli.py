"""The `python -m analytics summary` contract (DESIGN.md), run as a real subprocess."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SMALL = ROOT / "tests" / "fixtures" / "small_clinic.csv"
SAMPLE = ROOT / "sample_data" / "painpath_sample.csv"
EXPORTS = ROOT.parent / "shared" / "exports"

CONTRACT_KEYS = {"events", "patients", "rejected_rows", "extract_date", "techniques", "pathways",
                 "injections", "narcotics", "refused_columns"}


def summary(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "analytics", "summary", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_small_clinic_hand_computed():
    # 11 rows: 9 accepted, 1 rejected (no patient id), 1 not relevant (amoxicillin).
    proc = summary(str(SMALL), "--min-cell", "0")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out.keys() >= CONTRACT_KEYS
    assert (out["events"], out["patients"], out["rejected_rows"]) == (9, 3, 1)
    assert out["not_relevant_rows"] == 1
    assert out["extract_date"] == "2024-03-01"  # latest accepted event date
    assert out["techniques"]["narcotic"] == {"patients": 2, "events": 3}
    assert out["techniques"]["physical_therapy"] == {"patients": 2, "events": 2}
    assert out["techniques"]["injection"] == {"patients": 1, "events": 3}
    assert out["techniques"]["surgery"] == {"patients": 0, "events": 0}
    # p2's muscle relaxant and narcotic started the same day: one step "a+b".
    assert out["pathways"] == [
        {"steps": ["muscle_relaxant+narcotic"], "patients": 1},
        {"steps": ["physical_therapy", "injection"], "patients": 1},
        {"steps": ["physical_therapy", "narcotic"], "patients": 1},
    ]
    # p3's sessions 2024-01-05, 01-15, 03-01: intervals 10 and 46 days, median 28.
    assert out["injections"] == {"patients": 1, "sessions": 3, "patients_repeated": 1,
                                 "median_interval_days": 28.0, "patients_over_limit": 0,
                                 "short_intervals": 1}
    # p1: fills 01-10 (10 d) and 02-15 (10 d), gap 26 days -> one course 01-10..02-24 = 46
    # days; p2: one 30-day course.  Median (46 + 30) / 2 = 38.
    narcotics = out["narcotics"]
    assert (narcotics["patients"], narcotics["fills"], narcotics["courses"]) == (2, 3, 2)
    assert narcotics["median_course_days"] == 38.0
    assert (narcotics["long_term_courses"], narcotics["ongoing_courses"]) == (0, 0)


def test_extract_date_and_gap_parameters():
    # With the extract date on 2024-02-20, p1's course (last day 2024-02-24) is ongoing.
    out = json.loads(summary(str(SMALL), "--min-cell", "0", "--extract-date",
                             "2024-02-20").stdout)
    assert out["extract_date"] == "2024-02-20"
    assert out["narcotics"]["ongoing_courses"] == 1
    # A course gap of 25 days splits p1's fills (gap 26): three courses.
    out = json.loads(summary(str(SMALL), "--min-cell", "0", "--course-gap-days", "25").stdout)
    assert out["narcotics"]["courses"] == 3


def test_min_cell_suppresses_every_count_and_merges_pathways():
    out = json.loads(summary(str(SMALL)).stdout)  # default --min-cell 11
    assert out["patients"] == "<11" and out["events"] == "<11"
    # events, fills, sessions and courses are counts too
    assert out["techniques"]["narcotic"] == {"patients": "<11", "events": "<11"}
    assert out["techniques"]["surgery"] == {"patients": 0, "events": 0}  # zero is allowed
    assert out["pathways"] == [{"steps": ["other pathways"], "patients": "<11"}]
    assert out["injections"]["patients"] == "<11"
    assert out["injections"]["patients_over_limit"] == 0
    assert out["injections"]["sessions"] == "<11"
    assert out["injections"]["median_interval_days"] == "hidden"  # a median of 2 intervals
    assert out["narcotics"]["patients"] == "<11"
    assert (out["narcotics"]["fills"], out["narcotics"]["courses"]) == ("<11", "<11")
    assert out["narcotics"]["median_course_days"] == "hidden"
    out = json.loads(summary(str(SMALL), "--min-cell", "3").stdout)
    assert out["patients"] == 3 and out["techniques"]["narcotic"]["patients"] == "<3"
    # 3 narcotic fills, 3 injection sessions: shown at threshold 3
    assert out["narcotics"]["fills"] == 3 and out["injections"]["sessions"] == 3


def test_no_usable_file_exits_2_with_one_line(tmp_path):
    proc = summary(str(tmp_path / "missing.csv"))
    assert proc.returncode == 2
    assert proc.stdout == "" and len(proc.stderr.strip().splitlines()) == 1
    bad = tmp_path / "bad.csv"
    bad.write_text("colour,size\nred,3\n")
    proc = summary(str(bad))
    assert proc.returncode == 2
    assert "patient_id" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_sample_data_prints_whole_contract():
    proc = summary(str(SAMPLE), "--min-cell", "0")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out.keys() >= CONTRACT_KEYS
    assert out["patients"] == 2400
    assert set(out["injections"]) >= {"patients", "sessions", "patients_repeated",
                                      "median_interval_days", "patients_over_limit"}
    assert set(out["narcotics"]) >= {"patients", "fills", "courses", "median_course_days",
                                     "long_term_courses", "ongoing_courses"}
    counts = [p["patients"] for p in out["pathways"]]
    assert counts == sorted(counts, reverse=True)
    # Every sample event is one of the default pathway techniques: every patient has a pathway.
    assert sum(counts) == 2400


@pytest.mark.skipif(not EXPORTS.exists(), reason="../shared/exports is absent")
def test_synthea_folder_refuses_identifiers():
    proc = summary(str(EXPORTS / "synthea-27"), "--min-cell", "0")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    for column in ("SSN", "FIRST", "LAST", "ADDRESS", "ZIP", "LAT", "LON", "PASSPORT"):
        assert column in out["refused_columns"]
    assert out["techniques"]["narcotic"]["events"] > 0


def test_the_cli_does_not_import_scipy_stats():
    code = ("import sys, analytics.cli; "
            "print(any(m.startswith('scipy.stats') for m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.stdout.strip() == "False", proc.stderr


def test_map_values_maps_a_clinics_own_labels(tmp_path):
    export = tmp_path / "praxis.csv"
    export.write_text("Patienten-ID;Datum;Behandlung\n"
                      "P1;05.01.2023;Rückenschule\nP1;06.01.2023;Physiotherapie\n"
                      "P2;07.01.2023;Rückenschule\n", encoding="utf-8")
    proc = summary(str(export), "--min-cell", "0")
    out = json.loads(proc.stdout)  # Rückenschule is unknown: 2 rows rejected
    assert (out["events"], out["rejected_rows"]) == (1, 2)
    value_map = tmp_path / "map.csv"
    value_map.write_text("kind,value,maps_to\ntechnique,Rückenschule,physical_therapy\n",
                         encoding="utf-8")
    proc = summary(str(export), "--min-cell", "0", "--map-values", str(value_map))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert (out["events"], out["rejected_rows"]) == (3, 0)
    assert out["techniques"]["physical_therapy"] == {"patients": 2, "events": 3}
    value_map.write_text("kind,value,maps_to\ntechnique,Rückenschule,yoga\n", encoding="utf-8")
    proc = summary(str(export), "--map-values", str(value_map))
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: map.csv: value map row 1: 'yoga' is not")
    assert proc.stderr.count("\n") == 1
