"""The `python -m analytics` commands (docs/definitions.md "The summary CLI"): the contract run as a
real subprocess, and the population, --map, table and option tests run in-process through
``analytics.cli.main`` with the output captured (each hand-computed from its fixture)."""

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from analytics.cli import main

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
    assert out.keys() >= CONTRACT_KEYS | {"population"}
    # The sample is a clinic export whose diagnosis column holds a spinal-pain code for 2,339
    # of its 2,400 patients: the default back-pain population leaves out the other 61.
    assert out["population"] == {
        "name": "Back-pain patients", "patients_kept": 2339, "patients_left_out": 61,
        "note": "Patients with a back or neck pain diagnosis on any row of the export; all "
                "their events (no date cut). Patients of the dataset left out: 61 (61 "
                "without a back or neck pain diagnosis)."}
    assert out["patients"] == 2339
    assert out["extract_date"] == "2025-07-01"  # the latest date of the export
    assert set(out["injections"]) >= {"patients", "sessions", "patients_repeated",
                                      "median_interval_days", "patients_over_limit"}
    assert set(out["narcotics"]) >= {"patients", "fills", "events", "courses",
                                     "median_course_days", "long_term_courses",
                                     "ongoing_courses", "courses_ended_by_death",
                                     "high_dose_courses", "fills_without_mme"}
    counts = [p["patients"] for p in out["pathways"]]
    assert counts == sorted(counts, reverse=True)
    # Every sample patient has a treatment of a default pathway technique: every patient of
    # the population has a pathway.
    assert sum(counts) == 2339
    everyone = json.loads(summary(str(SAMPLE), "--min-cell", "0", "--population", "all").stdout)
    assert everyone["patients"] == 2400
    assert everyone["population"]["patients_left_out"] == 0
    assert sum(p["patients"] for p in everyone["pathways"]) == 2400


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


# ---- in-process: population, --map, table, options ------------------------------------


def run(capsys, *args: str) -> tuple[int, str, str]:
    """``python -m analytics ARGS`` in this process: (exit status, stdout, stderr)."""
    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse: --help and option errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys, *args: str) -> dict:
    code, out, err = run(capsys, *args)
    assert code == 0, err
    return json.loads(out)


SYNTHEA_CONDITIONS = """START,STOP,PATIENT,ENCOUNTER,CODE,DESCRIPTION
2024-02-01,,P1,e1,278860009,Chronic low back pain (finding)
2024-03-01,2024-03-20,P2,e2,44465007,Sprain of ankle (disorder)
2024-06-01,,P3,e3,279039007,Low back pain (finding)
"""
SYNTHEA_MEDICATIONS = """START,STOP,PATIENT,PAYER,ENCOUNTER,CODE,DESCRIPTION,DISPENSES,REASONCODE,\
REASONDESCRIPTION
2024-01-01T08:00:00Z,2024-01-10T08:00:00Z,P1,pay,e4,1049621,\
Acetaminophen 325 MG / Oxycodone Hydrochloride 5 MG Oral Tablet,1,,
2024-02-05T08:00:00Z,2024-03-05T08:00:00Z,P1,pay,e5,1049621,\
Acetaminophen 325 MG / Oxycodone Hydrochloride 5 MG Oral Tablet,1,,
2024-03-02T08:00:00Z,2024-03-12T08:00:00Z,P2,pay,e6,1049621,\
Acetaminophen 325 MG / Oxycodone Hydrochloride 5 MG Oral Tablet,1,,
2024-04-01T08:00:00Z,2024-04-10T08:00:00Z,P3,pay,e7,1049621,\
Acetaminophen 325 MG / Oxycodone Hydrochloride 5 MG Oral Tablet,1,,
2024-02-01T08:00:00Z,2024-02-11T08:00:00Z,P4,pay,e8,1049621,\
Acetaminophen 325 MG / Oxycodone Hydrochloride 5 MG Oral Tablet,1,,
"""
SYNTHEA_PROCEDURES = """START,STOP,PATIENT,ENCOUNTER,CODE,DESCRIPTION,REASONCODE,REASONDESCRIPTION
2024-01-20T09:00:00Z,2024-01-20T10:00:00Z,P1,e9,91251008,Physical therapy procedure,,
"""


@pytest.fixture
def ehr_export(tmp_path: Path) -> Path:
    """A Synthea-format EHR-wide export (a conditions table): P1 first has chronic low back
    pain on 2024-02-01 (lookback cut 2024-01-02), P2 only an ankle sprain, P3 low back pain
    on 2024-06-01 (cut 2024-05-02) after its only opioid order (2024-04-01), P4 no
    condition.  P1: an opioid on 2024-01-01 (before the cut), physical therapy on
    2024-01-20 and an opioid on 2024-02-05."""
    folder = tmp_path / "synthea"
    folder.mkdir()
    (folder / "conditions.csv").write_text(SYNTHEA_CONDITIONS)
    (folder / "medications.csv").write_text(SYNTHEA_MEDICATIONS)
    (folder / "procedures.csv").write_text(SYNTHEA_PROCEDURES)
    return folder


def test_population_object_of_an_ehr_wide_export(capsys, ehr_export):
    out = run_json(capsys, "summary", str(ehr_export), "--min-cell", "0")
    assert out["population"] == {
        "name": "Back-pain patients", "patients_kept": 1, "patients_left_out": 3,
        "note": "Patients with a back or neck pain diagnosis (index date: the first one); "
                "their events from 30 days before the index date on. Patients of the "
                "dataset left out: 3 (2 without a back or neck pain diagnosis, 1 whose "
                "events all start before the lookback)."}
    # P1's physical therapy (01-20) and opioid (02-05); the 01-01 opioid is before the cut
    assert (out["events"], out["patients"]) == (2, 1)
    assert out["techniques"]["narcotic"] == {"patients": 1, "events": 1}
    assert out["techniques"]["physical_therapy"] == {"patients": 1, "events": 1}
    assert out["pathways"] == [{"steps": ["physical_therapy", "narcotic"], "patients": 1}]
    # the latest date of the export: P3's diagnosis, after every treatment
    assert out["extract_date"] == "2024-06-01"
    assert out["parameters"]["population"] == "back_pain"
    assert out["parameters"]["lookback_days"] == 30


def test_population_all_and_the_lookback(capsys, ehr_export):
    everyone = run_json(capsys, "summary", str(ehr_export), "--min-cell", "0",
                        "--population", "all")
    assert everyone["population"]["name"] == "All patients"
    assert (everyone["population"]["patients_kept"],
            everyone["population"]["patients_left_out"]) == (4, 0)
    assert (everyone["events"], everyone["patients"]) == (6, 4)
    assert everyone["techniques"]["narcotic"] == {"patients": 4, "events": 5}
    # lookback 100: P1's cut is 2023-10-24 (its 01-01 opioid counts again) and P3's
    # 2024-02-22 (its 04-01 opioid counts): only P2 and P4 are left out
    wider = run_json(capsys, "summary", str(ehr_export), "--min-cell", "0",
                     "--lookback-days", "100")
    assert (wider["population"]["patients_kept"],
            wider["population"]["patients_left_out"]) == (2, 2)
    assert wider["population"]["note"].endswith(
        "Patients of the dataset left out: 2 (2 without a back or neck pain diagnosis).")
    assert wider["techniques"]["narcotic"] == {"patients": 2, "events": 3}
    assert wider["events"] == 4


def test_population_counts_are_suppressed_with_the_rest(capsys, ehr_export):
    out = run_json(capsys, "summary", str(ehr_export))  # default --min-cell 11
    assert out["population"]["patients_kept"] == "<11"
    assert out["population"]["patients_left_out"] == "<11"
    assert "Patients of the dataset left out: <11 (<11 without" in out["population"]["note"]
    assert "3" not in out["population"]["note"].replace("30 days", "")


def test_population_object_of_a_clinic_export(capsys, tmp_path):
    # A clinic export's diagnosis column: A has a low back pain code, B a knee pain code
    # (another condition), C none: A is kept with all its events, B and C are left out.
    clinic = tmp_path / "clinic.csv"
    clinic.write_text("patient_id,event_date,technique,days_supply,diagnosis\n"
                      "A,2019-05-01,narcotic,10,\n"
                      "A,2024-01-10,narcotic,10,M54.50\n"
                      "A,2024-02-01,physical_therapy,,\n"
                      "B,2024-01-15,narcotic,10,M25.561\n"
                      "C,2024-01-20,physical_therapy,,\n")
    out = run_json(capsys, "summary", str(clinic), "--min-cell", "0")
    assert out["population"] == {
        "name": "Back-pain patients", "patients_kept": 1, "patients_left_out": 2,
        "note": "Patients with a back or neck pain diagnosis on any row of the export; all "
                "their events (no date cut). Patients of the dataset left out: 2 (2 without "
                "a back or neck pain diagnosis)."}
    # no date cut: A's 2019 fill counts (two courses: 2019 and 2024)
    assert (out["events"], out["patients"]) == (3, 1)
    assert out["narcotics"]["courses"] == 2
    everyone = run_json(capsys, "summary", str(clinic), "--min-cell", "0",
                        "--population", "all")
    assert (everyone["events"], everyone["patients"]) == (5, 3)
    assert everyone["narcotics"]["courses"] == 3


EPIC = ("Chart Alias,Service Date,Procedure Name,CPT\n"
        "X1,2024-01-05,Lumbar epidural steroid injection,62323\n"
        "X1,2024-03-05,Lumbar epidural steroid injection,62323\n"
        "X2,2024-02-01,Physical therapy evaluation,97161\n")


def test_map_makes_a_file_with_an_unknown_id_column_usable(capsys, tmp_path):
    epic = tmp_path / "epic_procedures.csv"
    epic.write_text(EPIC)
    code, out, err = run(capsys, "summary", str(epic), "--min-cell", "0")
    assert code == 2 and out == ""
    assert "patient_id" in err and len(err.strip().splitlines()) == 1
    # FILE as given on the command line
    mapped = run_json(capsys, "summary", str(epic), "--min-cell", "0",
                      "--map", f"{epic}:patient_id=Chart Alias")
    assert (mapped["events"], mapped["patients"]) == (3, 2)
    assert mapped["techniques"]["injection"] == {"patients": 1, "events": 2}
    assert mapped["injections"]["sessions"] == 2
    assert mapped["injections"]["median_interval_days"] == 60.0  # 01-05 -> 03-05 (leap year)
    # or by its name alone; two --map options for one file add up
    again = run_json(capsys, "summary", str(epic), "--min-cell", "0",
                     "--map", "epic_procedures.csv:patient_id=Chart Alias",
                     "--map", "epic_procedures.csv:event_date=Service Date")
    assert again["events"] == 3


@pytest.mark.parametrize("option, words", [
    ("epic_procedures.csv:drug_class=CPT", "'drug_class' is not a column a mapping may use"),
    ("epic_procedures.csv:patient_id", "write FILE:canonical=source"),
    ("patient_id=Chart Alias", "write FILE:canonical=source"),
    ("other.csv:patient_id=Chart Alias", "other.csv"),
])
def test_bad_map_exits_2_with_one_line(capsys, tmp_path, option, words):
    epic = tmp_path / "epic_procedures.csv"
    epic.write_text(EPIC)
    code, out, err = run(capsys, "summary", str(epic), "--map", option)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and words in err
    code, out, err = run(capsys, "table", "courses", str(epic), "--map", option)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("args, words", [
    (["--max-steps", "0"], "--max-steps: must be 1 or more"),
    (["--population", "everyone"], "--population: invalid choice"),
    (["--lookback-days", "-1"], "--lookback-days: must be 0 or more"),
    (["--pathway-filter", "some"], "--pathway-filter: invalid choice"),
    (["--extract-date", "2024-13-01"], "not a date"),
])
def test_bad_options_exit_2_with_one_line(capsys, args, words):
    code, out, err = run(capsys, "summary", str(SMALL), *args)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and words in err


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_table_courses_columns_and_rows(capsys):
    code, out, err = run(capsys, "table", "courses", str(SMALL))
    assert code == 0, err
    assert not out.startswith("\ufeff")  # no BOM on standard output
    rows = read_csv(out)
    assert list(rows[0]) == [
        "patient_id", "course", "start", "end", "last_day", "duration_days", "fills",
        "events", "long_term", "ongoing", "ended_by", "censored", "avg_mme_per_day",
        "mme_estimated", "mme_band", "total_mme", "mme_days", "fills_without_mme",
        "fills_mme_estimated"]
    # p1: oxycodone 5 mg x 40 / 10 days x 1.5 = 30 MME/day, fills 01-10 and 02-15 (gap 26)
    # one course 01-10 .. 02-24 (46 days); p2: tramadol 50 mg x 120 / 30 days x 0.2 = 40
    got = [(r["patient_id"], r["start"], r["end"], r["duration_days"], r["fills"],
            float(r["avg_mme_per_day"]), r["mme_estimated"], r["ended_by"]) for r in rows]
    assert got == [("p1", "2024-01-10", "2024-02-25", "46", "2", 30.0, "False", "gap"),
                   ("p2", "2024-01-01", "2024-01-31", "30", "1", 40.0, "False", "gap")]
    # not suppressed (patient level), whatever the counts: the help says so
    code, out, _ = run(capsys, "table", "--help")
    assert code == 0 and "NO count is suppressed" in " ".join(out.split())


def test_table_steps_follow_the_pathway_mode_and_eras_sessions(capsys):
    steps = read_csv(run(capsys, "table", "steps", str(SMALL))[1])
    assert [(r["patient_id"], r["step"], r["label"]) for r in steps] == [
        ("p1", "1", "physical_therapy"), ("p1", "2", "narcotic"),
        ("p2", "1", "muscle_relaxant+narcotic"),
        ("p3", "1", "physical_therapy"), ("p3", "2", "injection")]
    # eras mode: p1's two opioid fills (last days 01-19 and 02-24) are 27 days apart, one
    # era.  p2's relaxant (01-01 .. last day 01-14) lies at the start of the tramadol
    # (01-01 .. 01-30): overlap 13 = the relaxant's duration, TreatmentPatterns' nested
    # combination: relaxant 01-01 .. 01-01 (0 days), both 01-01 .. 01-14, tramadol after
    eras_steps = read_csv(run(capsys, "table", "steps", str(SMALL),
                              "--pathway-mode", "eras")[1])
    assert [(r["patient_id"], r["label"], r["start"], r["end"]) for r in eras_steps
            if r["patient_id"] in ("p1", "p2")] == [
        ("p1", "physical_therapy", "2024-01-01", "2024-01-02"),
        ("p1", "narcotic", "2024-01-10", "2024-02-25"),
        ("p2", "muscle_relaxant", "2024-01-01", "2024-01-02"),
        ("p2", "muscle_relaxant+narcotic", "2024-01-01", "2024-01-15"),
        ("p2", "narcotic", "2024-01-14", "2024-01-31")]
    # a minimum post-combination duration of 1 day drops the 0-day relaxant piece
    kept = read_csv(run(capsys, "table", "steps", str(SMALL), "--pathway-mode", "eras",
                        "--min-post-combination-days", "1")[1])
    assert [r["label"] for r in kept if r["patient_id"] == "p2"] == [
        "muscle_relaxant+narcotic", "narcotic"]
    eras = read_csv(run(capsys, "table", "eras", str(SMALL))[1])
    assert [(r["patient_id"], r["technique"], r["start"], r["end"], r["events"])
            for r in eras if r["patient_id"] == "p1"] == [
        ("p1", "physical_therapy", "2024-01-01", "2024-01-02", "1"),
        ("p1", "narcotic", "2024-01-10", "2024-02-25", "2")]
    # the era gap is a parameter: 25 days split the opioid fills (gap 02-15 - 01-19 = 27)
    split = read_csv(run(capsys, "table", "eras", str(SMALL), "--era-gap-days", "25")[1])
    assert sum(r["patient_id"] == "p1" and r["technique"] == "narcotic" for r in split) == 2
    sessions = read_csv(run(capsys, "table", "sessions", str(SMALL))[1])
    assert [(r["patient_id"], r["session_date"]) for r in sessions] == [
        ("p3", "2024-01-05"), ("p3", "2024-01-15"), ("p3", "2024-03-01")]


def test_summary_eras_mode_parameters(capsys):
    out = run_json(capsys, "summary", str(SMALL), "--min-cell", "0", "--pathway-mode", "eras",
                   "--max-steps", "1")
    assert out["pathway_mode"] == "eras"
    assert out["parameters"]["max_steps"] == 1
    assert all(len(p["steps"]) == 1 for p in out["pathways"])


def test_map_values_maps_a_clinics_own_labels(capsys, tmp_path):
    export = tmp_path / "praxis.csv"
    export.write_text("Patienten-ID;Datum;Behandlung\n"
                      "P1;05.01.2023;Rückenschule\nP1;06.01.2023;Physiotherapie\n"
                      "P2;07.01.2023;Rückenschule\n", encoding="utf-8")
    out = run_json(capsys, "summary", str(export), "--min-cell", "0")
    assert (out["events"], out["rejected_rows"]) == (1, 2)  # Rückenschule is unknown
    value_map = tmp_path / "map.csv"
    value_map.write_text("kind,value,maps_to\ntechnique,Rückenschule,physical_therapy\n",
                         encoding="utf-8")
    out = run_json(capsys, "summary", str(export), "--min-cell", "0",
                   "--map-values", str(value_map))
    assert (out["events"], out["rejected_rows"]) == (3, 0)
    assert out["techniques"]["physical_therapy"] == {"patients": 2, "events": 3}
    code, text, _ = run(capsys, "table", "steps", str(export), "--map-values", str(value_map))
    assert code == 0
    steps = pd.read_csv(io.StringIO(text))
    assert sorted(steps["patient_id"].unique()) == ["P1", "P2"]
    value_map.write_text("kind,value,maps_to\ntechnique,Rückenschule,yoga\n", encoding="utf-8")
    proc = summary(str(export), "--map-values", str(value_map))
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: map.csv: value map row 1: 'yoga' is not")
    assert proc.stderr.count("\n") == 1
# ---- safety, outcomes and strata (issue 11) -----------------------------------------------


def test_summary_safety_and_outcomes_objects_hand_computed(capsys):
    out = run_json(capsys, "summary", str(SMALL), "--min-cell", "0")
    # p1: fills 01-10 and 02-15 (10 days each, 5 mg x 40 / 10 x 1.5 = 30 MME/day): 2 fill
    # dates, 20 covered days: an opioid user; 600 MME over 01-10 .. 02-24 (46 days) = 13
    # MME/day: not high dosage.  p2: one fill date.  2024 ends after the extract date.
    hdo = out["safety"]["measures"]["hdo"]
    assert hdo["label"] == "High dosage (HDO)" and hdo["counts"] == "patient-years"
    assert hdo["years"] == [{"year": 2024, "partial": True, "denominator": 1, "numerator": 0,
                             "percent": 0.0}]
    assert set(out["safety"]["measures"]) >= {"uop_prescribers", "cou_15_of_30", "cob",
                                              "naloxone", "taper", "abrupt_stop"}
    # no pharmacy_id in this export: the pharmacy rates cannot be computed
    pharmacies = out["safety"]["measures"]["uop_pharmacies"]["years"][0]
    assert pharmacies["numerator"] is None and pharmacies["percent"] is None
    assert "pharmacy_id" in out["safety"]["pharmacy_note"]
    # time zero: p1 physical therapy 01-01, p3 physical therapy 01-02, p2 a relaxant and a
    # narcotic 01-01 (combination); no surgery.  p2's course ends 01-31, the 30-day gap seen
    # in full by the extract date 03-01: opioid-free on day 30.
    outcomes = out["outcomes"]
    assert (outcomes["patients"], outcomes["left_out_no_index"],
            outcomes["left_out_surgery_first"]) == (3, 0, 0)
    assert outcomes["observational"].startswith("Observational")
    surgery = {g["group"]: (g["patients"], g["events"]) for g in
               outcomes["spine_surgery"]["groups"]}
    assert surgery == {"Physical therapy": (2, 0), "Combination (same day)": (1, 0)}
    assert outcomes["spine_surgery"]["logrank_p"] is None  # no event: no test
    free = {g["group"]: (g["patients"], g["events"], g["median_days"])
            for g in outcomes["opioid_free"]["groups"]}
    assert free == {"Physical therapy": (1, 0, None), "Combination (same day)": (1, 1, 30.0)}
    assert "strata" not in out


def test_summary_strata_and_their_suppression(capsys):
    out = run_json(capsys, "summary", str(SMALL), "--min-cell", "0", "--strata", "sex,age")
    assert list(out["strata"]) == ["sex", "age"]
    # the export has no sex or birth year: one stratum "unknown" holding every patient
    sex = out["strata"]["sex"]
    assert sex["strata"] == [{"stratum": "unknown", "patients": 3}]
    assert sorted(p["patients"] for p in sex["pathways"]) == [1, 1, 1]
    assert {p["stratum"] for p in sex["pathways"]} == {"unknown"}
    assert set(sex["outcomes"]) == {"spine_surgery", "long_term_course", "opioid_free"}
    assert out["strata"]["age"]["outcomes"]["spine_surgery"] == []  # no age: no group
    protected = run_json(capsys, "summary", str(SMALL), "--strata", "sex")
    assert protected["strata"]["sex"]["strata"] == [{"stratum": "unknown", "patients": "<11"}]
    assert {p["steps"][0] for p in protected["strata"]["sex"]["pathways"]} == {
        "other pathways"}
    assert protected["safety"]["measures"]["hdo"]["years"][0]["denominator"] == "<11"
    assert protected["outcomes"]["patients"] == "<11"


@pytest.mark.parametrize("value", ["site", "", "age,,weight"])
def test_bad_strata_exit_2_with_one_line(capsys, value):
    code, out, err = run(capsys, "summary", str(SMALL), "--strata", value)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "--strata" in err
