"""Tests of the sample-data generator (sample_data/generate.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sample_data.generate import BAD_DATE, COLUMNS, generate_events, write_csv

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    return generate_events(2400)


@pytest.fixture(scope="module")
def valid(sample: pd.DataFrame) -> pd.DataFrame:
    """The rows an ingest would accept, with parsed dates (bad rows dropped here)."""
    d = sample[sample["patient_id"].notna() & (sample["event_date"] != BAD_DATE)].copy()
    d = d[d["technique"] != "unknown"]
    d["date"] = pd.to_datetime(d["event_date"].astype(str), format="%Y-%m-%d")
    d["patient_id"] = d["patient_id"].astype(str)
    d["technique"] = d["technique"].astype(str)
    d["injection_type"] = d["injection_type"].astype(str)
    return d


def test_columns_exactly() -> None:
    assert COLUMNS == (
        "patient_id", "event_date", "technique", "end_date", "days_supply", "detail", "code",
        "quantity", "strength", "injection_type", "provider_id", "site", "sex", "birth_year",
        "age", "diagnosis", "pain_score",
    )
    assert list(generate_events(30).columns) == list(COLUMNS)


def test_deterministic() -> None:
    a = generate_events(300, seed=7)
    b = generate_events(300, seed=7)
    pd.testing.assert_frame_equal(a, b)
    c = generate_events(300, seed=8)
    assert not a.equals(c)


def test_committed_csv_is_the_default_output(tmp_path: Path, sample: pd.DataFrame) -> None:
    out = write_csv(sample, tmp_path / "s.csv")
    committed = ROOT / "sample_data" / "painpath_sample.csv"
    assert committed.exists()
    assert committed.stat().st_size < 8 * 1024 * 1024
    assert out.read_bytes() == committed.read_bytes()


def test_size_and_spread(sample: pd.DataFrame, valid: pd.DataFrame) -> None:
    assert sample["patient_id"].nunique() >= 2000
    assert set(sample["provider_id"].astype(str)) == {f"DR0{i}" for i in range(1, 9)}
    assert set(sample["site"].astype(str)) == {"North Clinic", "South Clinic"}
    assert set(sample["sex"].astype(str)) == {"F", "M"}
    span = valid["date"].max() - valid["date"].min()
    assert span >= pd.Timedelta(days=3 * 365)
    assert set(valid["technique"]) == {
        "physical_therapy", "muscle_relaxant", "narcotic", "injection", "surgery",
    }
    # DR08 is the deliberate small cell: about 5 patients
    dr08 = sample.loc[sample["provider_id"] == "DR08", "patient_id"].nunique()
    assert 1 <= dr08 <= 10


def test_demographics(sample: pd.DataFrame) -> None:
    age = sample["age"].astype(float)
    assert age.min() >= 18 and age.max() == 90
    assert sample["age"].notna().all() and sample["birth_year"].notna().all()
    year = pd.to_numeric(sample["event_date"].astype(str).str[:4])
    diff = year - sample["birth_year"].astype(float) - age
    under_90 = (age < 90) & (sample["event_date"] != BAD_DATE)
    # the age at the event is the year difference or one less (birthday not yet reached)
    assert diff[under_90].isin([0, 1]).all()
    pain = sample["pain_score"].dropna().astype(float)
    assert pain.between(0, 10).all()


def test_diagnoses(sample: pd.DataFrame, valid: pd.DataFrame) -> None:
    assert sample.groupby("patient_id", observed=True)["diagnosis"].nunique().max() == 1
    codes = set(sample["diagnosis"].astype(str))
    assert {"M54.50", "M54.16", "M51.16", "M47.816", "M48.062", "M96.1"} <= codes
    fbss = valid[valid["diagnosis"] == "M96.1"]
    surg = fbss[fbss["technique"] == "surgery"].groupby("patient_id")["date"].min()
    inj = fbss[fbss["technique"] == "injection"].groupby("patient_id")["date"].min()
    both = pd.concat([surg, inj], axis=1, keys=["surgery", "injection"]).dropna()
    assert len(both) >= 20
    assert (both["surgery"] < both["injection"]).all()


def test_first_techniques(valid: pd.DataFrame) -> None:
    first = valid.sort_values(["patient_id", "date"]).groupby("patient_id")["technique"].first()
    share = first.value_counts(normalize=True)
    assert share["physical_therapy"] > 0.5
    assert 0.08 <= share["narcotic"] <= 0.25
    assert share["muscle_relaxant"] > 0.02


def test_muscle_relaxant_fills(valid: pd.DataFrame) -> None:
    mr = valid[valid["technique"] == "muscle_relaxant"]
    ds = mr["days_supply"].dropna().astype(int)
    assert set(ds) - {0} <= {7, 10, 14, 15, 21}
    assert mr["quantity"].notna().all() and mr["strength"].notna().all()


def _course_durations(valid: pd.DataFrame, gap: int = 30) -> np.ndarray:
    n = valid[(valid["technique"] == "narcotic") & (valid["days_supply"] > 0)]
    n = n.sort_values(["patient_id", "date"])
    start = n["date"].to_numpy("datetime64[D]").astype(np.int64)
    end = start + n["days_supply"].astype(int).to_numpy()
    pid = n["patient_id"].to_numpy()
    durations, cur_pid, cur_start, cur_end = [], None, 0, 0
    for p, s, e in zip(pid, start, end, strict=True):
        if p == cur_pid and s - cur_end <= gap:
            cur_end = max(cur_end, e)
        else:
            if cur_pid is not None:
                durations.append(cur_end - cur_start)
            cur_pid, cur_start, cur_end = p, s, e
    durations.append(cur_end - cur_start)
    return np.array(durations)


def test_narcotic_courses(valid: pd.DataFrame) -> None:
    n = valid[valid["technique"] == "narcotic"]
    ds = n["days_supply"].astype(float)
    assert ds[ds > 0].between(3, 30).all()
    dur = _course_durations(valid)
    assert (dur < 30).mean() > 0.5  # mostly short
    assert (dur > 90).sum() >= 10  # a long-term tail
    # high dose: 10 mg oxycodone x 6/day x 1.5, 30 mg morphine x 3/day, 50 mcg/hr patch
    high = n["detail"].astype(str).str.contains(
        "Oxycodone Hydrochloride 10 MG|Morphine Sulfate 30 MG|Fentanyl 0.05 MG/HR"
    )
    assert high.sum() > 0
    assert n.loc[n["detail"].astype(str).str.contains("Fentanyl"), "strength"].isin([25, 50]).all()


def test_narcotic_gap_edges(valid: pd.DataFrame) -> None:
    n = valid[(valid["technique"] == "narcotic") & (valid["days_supply"] > 0)]
    n = n.sort_values(["patient_id", "date"])
    end = n["date"] + pd.to_timedelta(n["days_supply"].astype(int), unit="D")
    same = n["patient_id"].to_numpy()[1:] == n["patient_id"].to_numpy()[:-1]
    gaps = (n["date"].to_numpy()[1:] - end.to_numpy()[:-1]).astype("timedelta64[D]").astype(int)
    assert (gaps[same] == 30).any() and (gaps[same] == 31).any()


def test_injections(valid: pd.DataFrame) -> None:
    inj = valid[valid["technique"] == "injection"]
    assert inj["injection_type"].isin(
        ["epidural_steroid", "facet", "radiofrequency_ablation", "sacroiliac", "trigger_point",
         "nerve_block"]
    ).all()
    assert {"62323", "64483", "64493", "64635", "27096", "20552", "64450"} <= set(
        inj["code"].astype(str)
    )
    # multi-level sessions: two CPT lines on one date
    assert inj.duplicated(["patient_id", "date"]).sum() > 0
    sessions = inj.drop_duplicates(["patient_id", "date"]).sort_values(["patient_id", "date"])
    per_patient = sessions.groupby("patient_id").size()
    assert (per_patient == 1).any() and (per_patient >= 4).any()
    intervals = sessions.groupby("patient_id")["date"].diff().dt.days.dropna()
    assert (intervals < 14).any()
    esi = sessions[sessions["injection_type"] == "epidural_steroid"]
    over = False
    for _, d in esi.groupby("patient_id")["date"]:
        days = d.to_numpy("datetime64[D]").astype(np.int64)
        counts = np.searchsorted(days, days + 365) - np.arange(len(days))
        over = over or bool((counts > 4).any())
    assert over


def test_overlap_and_surgery(valid: pd.DataFrame) -> None:
    pts = valid.groupby("technique")["patient_id"].unique()
    both = set(pts["narcotic"]) & set(pts["muscle_relaxant"])
    assert len(both) >= 100
    surgery = set(pts["surgery"])
    assert 0.02 <= len(surgery) / valid["patient_id"].nunique() <= 0.15
    assert set(valid.loc[valid["technique"] == "surgery", "code"].astype(str)) == {
        "63030", "22612",
    }


def test_bad_rows_and_duplicates(sample: pd.DataFrame) -> None:
    n = len(sample)
    assert sample["patient_id"].isna().sum() > 0
    assert (sample["days_supply"] == 0).sum() > 0
    assert (sample["event_date"] == BAD_DATE).sum() > 0
    assert (sample["technique"] == "unknown").sum() > 0
    ends = sample[sample["end_date"].notna() & (sample["event_date"] != BAD_DATE)]
    assert (ends["end_date"].astype(str) < ends["event_date"].astype(str)).sum() > 0
    bad = (
        sample["patient_id"].isna().sum()
        + (sample["days_supply"] == 0).sum()
        + (sample["event_date"] == BAD_DATE).sum()
        + (sample["technique"] == "unknown").sum()
    )
    assert 0.001 <= bad / n <= 0.01
    dups = sample.duplicated().sum()
    assert 1 <= dups <= 0.005 * n
    # end_date is mostly empty
    assert sample["end_date"].notna().mean() < 0.1


def test_cli_runs(tmp_path: Path) -> None:
    out = tmp_path / "big.csv"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "sample_data" / "generate.py"), "--patients", "20000",
         "--seed", "3", "--out", str(out), "--start", "2021-06-01", "--years", "3"],
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    frame = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(frame.columns) == list(COLUMNS)
    assert 19_900 <= frame.loc[frame["patient_id"] != "", "patient_id"].nunique() <= 20_000
    dates = frame.loc[frame["event_date"] != BAD_DATE, "event_date"]
    assert dates.min() >= "2021-06-01" and dates.max() < "2024-06-01"
