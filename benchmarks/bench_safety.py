"""Benchmark of the opioid-safety measures and the outcome curves over N generated events.

Usage::

    python benchmarks/bench_safety.py --events 1000000 [--repeats 5]

The sample generator makes a clinic of about N events (cached as Parquet under
``benchmarks/out/``), in canonical form: the generator writes a clinic CSV whose drug
classes and death dates ingest turns into ``drug_class``, ``death_year`` and
``ends_at_death``; :func:`canonical` does the same for the generator's few drug names so
the benchmark does not time ingest.  A fresh child process then times, best of
``--repeats``, wall-clock and CPU seconds:

- the inputs the Narcotics and Pathways pages already compute and cache per dataset:
  MME per fill, narcotic courses, pathway steps (mode "first");
- the measure step of this issue, given those inputs: every safety measure per patient-year
  and per rolling 12-month window (``safety_measures``), their yearly and monthly rates per
  physician with the clinic figure (``safety_rates``), the per-patient outcome times
  (``outcome_data``) and the three Kaplan–Meier outcome curves by first step with the
  privacy threshold 11 (``outcome_curves``).

Output is a Markdown table for the README.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analytics import narcotics, outcomes, pathways, safety, schema  # noqa: E402
from analytics.intervals import extract_date  # noqa: E402
from sample_data.generate import generate_events, patients_for_events  # noqa: E402

OUT = ROOT / "benchmarks" / "out"
SEED = 7
SAFETY_CLASSES: tuple[tuple[str, str], ...] = (
    ("benzodiazepine", r"alprazolam|clonazepam|lorazepam|diazepam"),
    ("oud_treatment", r"buprenorphine.*naloxone"),
    ("naloxone", r"naloxone"),
    ("gabapentinoid", r"gabapentin|pregabalin"),
)
"""The generator's technique-``other`` drugs and their classes (first match wins), as
ingest's drug-class table classifies them."""


def canonical(frame: pd.DataFrame) -> pd.DataFrame:
    """The generator's clinic export as ingest leaves it: valid rows only, ``drug_class``
    from the technique (narcotic, muscle relaxant) or the drug name, the death date kept
    as ``death_year`` and rows covering past it cut there (``ends_at_death``)."""
    frame = frame.loc[frame["patient_id"].notna()].copy()
    for column in ("event_date", "end_date", "death_date"):
        frame[column] = pd.to_datetime(frame[column].astype("string"), errors="coerce")
    technique = frame["technique"].astype("object")
    frame = frame.loc[frame["event_date"].notna() & technique.isin(schema.TECHNIQUES)]
    frame = frame.loc[~(frame["days_supply"].astype("Float64") <= 0).fillna(False)]
    frame = frame.loc[~(frame["end_date"] < frame["event_date"]).fillna(False)]
    technique = frame["technique"].astype("object")
    detail = frame["detail"].astype("string")
    drug_class = np.full(len(frame), None, dtype=object)
    drug_class[(technique == "narcotic").to_numpy()] = "opioid"
    drug_class[(technique == "muscle_relaxant").to_numpy()] = "muscle_relaxant"
    for name, pattern in SAFETY_CLASSES:
        match = ((technique == "other").to_numpy()
                 & detail.str.contains(pattern, case=False, regex=True)
                 .fillna(False).to_numpy(dtype=bool) & pd.isna(drug_class))
        drug_class[match] = name
    frame["drug_class"] = drug_class
    death = frame.pop("death_date")
    frame["death_year"] = death.dt.year.astype("float64")
    supply = pd.to_numeric(frame["days_supply"], errors="coerce").fillna(1)
    dispenses = pd.to_numeric(frame["dispenses"], errors="coerce").fillna(1)
    last = frame["end_date"].fillna(
        frame["event_date"] + pd.to_timedelta(supply * dispenses - 1, unit="D"))
    past_death = (death.notna() & (last > death)).to_numpy()
    frame.loc[past_death, "end_date"] = death[past_death]
    frame["ends_at_death"] = past_death
    return schema.conform(frame).drop_duplicates()


def dataset(n_events: int) -> Path:
    """Parquet file of about ``n_events`` canonical events (generated once, then reused)."""
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"safety_events_{n_events}.parquet"
    if not path.exists():
        frame = generate_events(patients=patients_for_events(n_events, seed=SEED), seed=SEED)
        canonical(frame).to_parquet(path, index=False)
    return path


def _best(fn, repeats: int) -> tuple[object, float, float]:
    """(result, best wall seconds, best CPU seconds) of ``repeats`` runs."""
    wall = cpu = float("inf")
    result = None
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        result = fn()
        wall = min(wall, time.perf_counter() - w)
        cpu = min(cpu, time.process_time() - c)
    return result, wall, cpu


def measure(path: Path, repeats: int) -> dict:
    """Child-process part: load, time the inputs and the measure step."""
    events = schema.conform(pd.read_parquet(path))
    extract = extract_date(events)
    rows: list[tuple[str, str, float, float]] = []

    def timed(group: str, name: str, fn):
        result, wall, cpu = _best(fn, repeats)
        rows.append((group, name, wall, cpu))
        return result

    fills = timed("input", "MME per fill", lambda: narcotics.fill_mme(events, extract=extract))
    courses = timed("input", "narcotic courses",
                    lambda: narcotics.narcotic_courses(events, extract=extract))
    steps = timed("input", "pathway steps (first)",
                  lambda: pathways.pathway_steps(events, mode="first", extract=extract))
    measures = timed("measure", "safety measures (years + rolling months)",
                     lambda: safety.safety_measures(events, extract=extract, fills=fills,
                                                    courses=courses))
    timed("measure", "safety rates per year and physician",
          lambda: safety.safety_rates(measures, "year"))
    timed("measure", "safety rates per month (trend) and physician",
          lambda: safety.safety_rates(measures, "month"))
    data = timed("measure", "outcome times per patient",
                 lambda: outcomes.outcome_data(events, extract=extract, steps=steps,
                                               courses=courses))
    for outcome in outcomes.OUTCOMES:
        timed("measure", f"KM curves: {outcome}",
              lambda o=outcome: outcomes.outcome_curves(data, o, min_at_risk=11))
    return {
        "events": len(events),
        "patients": int(events["patient_id"].nunique()),
        "patient_years": len(measures.patient_years),
        "patient_months": len(measures.patient_months),
        "rows": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.repeats)))
        return
    path = dataset(args.events)
    child = subprocess.run([sys.executable, __file__, "--child", str(path), "--repeats",
                            str(args.repeats)], check=True, capture_output=True, text=True)
    result = json.loads(child.stdout.strip().splitlines()[-1])
    print(f"\n### Safety measures and outcome curves over {result['events']:,} events / "
          f"{result['patients']:,} patients\n")
    print(f"{result['patient_years']:,} patient-years, {result['patient_months']:,} "
          f"patient-months (rolling 12-month windows); best of {args.repeats}.\n")
    print("| step | wall s | CPU s |")
    print("|---|---:|---:|")
    totals = {"input": [0.0, 0.0], "measure": [0.0, 0.0]}
    for group, name, wall, cpu in result["rows"]:
        totals[group][0] += wall
        totals[group][1] += cpu
        print(f"| {name}{' (input, cached per dataset)' if group == 'input' else ''} | "
              f"{wall:.3f} | {cpu:.3f} |")
    m_wall, m_cpu = totals["measure"]
    i_wall, i_cpu = totals["input"]
    print(f"| **all safety measures + the three outcome curves** | **{m_wall:.2f}** | "
          f"**{m_cpu:.2f}** |")
    print(f"| with their inputs computed too | {m_wall + i_wall:.2f} | {m_cpu + i_cpu:.2f} |")


if __name__ == "__main__":
    main()
