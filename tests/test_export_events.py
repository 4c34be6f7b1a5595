"""``python -m analytics export-events FILE… --out DIR`` (analytics.export_events)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

from analytics.event_files import read_event_folder
from analytics.ingest import ingest

ROOT = Path(__file__).resolve().parents[1]
SMALL = ROOT / "tests" / "fixtures" / "small_clinic.csv"


def export(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "analytics", "export-events", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_export_events_writes_what_ingest_accepted(tmp_path):
    out = tmp_path / "events"
    proc = export(str(SMALL), "--out", str(out), "--buckets", "3")
    assert proc.returncode == 0, proc.stderr
    printed = json.loads(proc.stdout)
    assert printed["out"] == str(out)
    assert (printed["events"], printed["buckets"], printed["extract_date"]) == (9, 3, "2024-03-01")
    assert printed["report"]["rejected_rows"] == 1
    back = read_event_folder(out)
    pd.testing.assert_frame_equal(back.events, ingest(SMALL).events.reset_index(drop=True))


def test_export_events_errors_are_one_line(tmp_path):
    proc = export(str(tmp_path / "missing.csv"), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "keep.txt").write_text("not an event folder")
    proc = export(str(SMALL), "--out", str(taken))
    assert proc.returncode == 2 and "not an event folder" in proc.stderr
    assert (taken / "keep.txt").exists()
