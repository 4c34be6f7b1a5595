"""Acceptance through the command line: every TreatmentPatterns logical case
(tests/treatment_patterns_cases.py) gives TreatmentPatterns' path from
``python -m analytics summary FILE --min-cell 0 --population all <the case's options>``.

Each case's treatments are written to a CSV (patient_id, event_date, technique, end_date)
and run in-process through ``analytics.cli.main`` (fast); one case also runs in a real
subprocess, as a user would.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from analytics.cli import main
from tests.treatment_patterns_cases import cli_arguments, treatment_patterns_cases

ROOT = Path(__file__).resolve().parents[1]
CASES = list(treatment_patterns_cases())


def write_case(case, folder: Path) -> Path:
    """The case's events as a clinic CSV with PainPath's canonical column names."""
    path = folder / "treatments.csv"
    events = case.events
    path.write_text("patient_id,event_date,technique,end_date\n" + "".join(
        f"{p},{s:%Y-%m-%d},{t},{e:%Y-%m-%d}\n" for p, s, t, e in zip(
            events["patient_id"], events["event_date"], events["technique"],
            events["end_date"], strict=True)))
    return path


def arguments(case, path: Path) -> list[str]:
    return ["summary", str(path), "--min-cell", "0", "--population", "all",
            *cli_arguments(case.parameters)]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_treatment_patterns_case_through_the_cli(case, tmp_path, capsys):
    code = main(arguments(case, write_case(case, tmp_path)))
    out, err = capsys.readouterr()
    assert code == 0, err
    summary = json.loads(out)
    assert summary["pathway_mode"] == "eras"
    assert summary["patients"] == 1
    assert summary["pathways"] == [{"steps": case.expected, "patients": 1}]


def test_one_case_in_a_real_subprocess(tmp_path):
    case = next(c for c in CASES if c.name == "A-A+C-C-B+C-C")
    proc = subprocess.run([sys.executable, "-m", "analytics",
                           *arguments(case, write_case(case, tmp_path))],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["pathways"] == [{"steps": case.expected, "patients": 1}]
    assert summary["pathways"][0]["steps"] == [
        "physical_therapy", "physical_therapy+narcotic", "narcotic",
        "muscle_relaxant+narcotic", "narcotic"]
