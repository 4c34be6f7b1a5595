"""Benchmark of the analytics core: every analysis over N generated events.

Usage::

    python benchmarks/bench_analytics.py --events 1000000
    python benchmarks/bench_analytics.py --events 10000000 --no-reference
    python benchmarks/bench_analytics.py --events 1000000 --reference-events 1000000

Steps: the sample generator makes a clinic of about N events (cached as
Parquet under ``benchmarks/out/``); a fresh child process loads it and times
each analysis (so the peak memory figure is the analyses', not the
generator's); then the straightforward per-patient loop implementations
(``tests/oracles/reference_*.py``, kept here only) run on the first
``--reference-events`` events' patients, their results are checked equal to
the vectorised ones, and the speed-up is reported.  Output is a Markdown
table for the README.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analytics import injections, narcotics, pathways, schema  # noqa: E402
from analytics.intervals import extract_date  # noqa: E402
from analytics.survival import kaplan_meier  # noqa: E402
from sample_data.generate import generate_events  # noqa: E402

OUT = ROOT / "benchmarks" / "out"
EVENTS_PER_PATIENT = 14.3  # the generator's average, measured on the sample


def dataset(n_events: int) -> Path:
    """Parquet file of about ``n_events`` canonical events (generated once, then reused)."""
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"events_{n_events}.parquet"
    if path.exists():
        return path
    frame = generate_events(patients=max(10, int(n_events / EVENTS_PER_PATIENT)), seed=7)
    frame = frame.head(n_events) if len(frame) > n_events else frame
    # Keep only rows a clean ingest would accept, in canonical form.
    frame = frame.loc[frame["patient_id"].notna()]
    frame["event_date"] = pd.to_datetime(frame["event_date"].astype("string"), errors="coerce")
    frame["end_date"] = pd.to_datetime(frame["end_date"].astype("string"), errors="coerce")
    frame = frame.loc[frame["event_date"].notna() & frame["technique"].isin(schema.TECHNIQUES)]
    frame = frame.loc[~(frame["days_supply"].astype("Float64") <= 0).fillna(False)]
    frame = frame.loc[~(frame["end_date"] < frame["event_date"]).fillna(False)]
    schema.conform(frame).drop_duplicates().to_parquet(path, index=False)
    return path


def store_ingested(store, name: str, path: Path) -> pd.DataFrame:
    """Ingest the file ``path`` and create dataset ``name`` in ``store`` from the result, as
    the Data page does (events, report, diagnoses, extract date, population source);
    returns the stored events."""
    from analytics.ingest import ingest

    result = ingest([path])
    store.create_dataset(name, result.events, result.report.to_dict(), [path.name],
                         diagnoses=result.diagnoses, extract_date=result.extract_date,
                         population_source=result.population_source)
    return result.events


def all_analyses(events: pd.DataFrame) -> dict[str, float]:
    """Seconds per analysis (pathways both modes, injections, courses with MME, overlap, KM)."""
    timings: dict[str, float] = {}

    def timed(name, fn, *args, **kwargs):
        t0 = time.perf_counter()
        result = fn(*args, **kwargs)
        timings[name] = time.perf_counter() - t0
        return result

    extract = extract_date(events)
    timed("technique eras", pathways.technique_eras, events, extract=extract)
    steps = timed("pathways, mode first", pathways.pathway_steps, events, mode="first",
                  extract=extract)
    timed("pathways, mode eras", pathways.pathway_steps, events, mode="eras", extract=extract)
    patients = pd.Index(events["patient_id"].unique())
    timed("pathway counts", pathways.pathway_counts, steps, patients)
    timed("step-therapy concordance", pathways.step_therapy_concordance, events)
    sessions = timed("injection sessions", injections.injection_sessions, events)
    timed("repeat intervals", injections.repeat_intervals, sessions)
    timed("payer-limit windows", injections.limit_windows, events)
    ttr = timed("time to repeat", injections.time_to_repeat, sessions, extract=extract)
    timed("KM time to repeat", kaplan_meier, ttr["days"], ttr["repeated"].astype(bool))
    courses = timed("narcotic courses with MME", narcotics.narcotic_courses, events,
                    extract=extract)
    timed("KM course duration", kaplan_meier, courses["duration_days"],
          ~courses["ongoing"].astype(bool))
    timed("opioid + relaxant overlap", narcotics.relaxant_overlap, events, extract=extract)
    timed("active narcotic patients/month", narcotics.active_patients_by_month, events,
          extract=extract)
    return timings


def measure(path: Path) -> dict:
    """Child-process part: load, time every analysis, report peak RSS."""
    t0 = time.perf_counter()
    events = schema.conform(pd.read_parquet(path))
    load = time.perf_counter() - t0
    all_analyses(events)  # warm-up: regex compiles, imports, numpy first calls
    timings = all_analyses(events)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"events": len(events), "patients": int(events["patient_id"].nunique()),
            "load_s": load, "timings": timings, "peak_mb": peak_mb}


def reference_check(path: Path, n_events: int) -> dict:
    """Run the per-patient loops on the patients of the first ``n_events`` events; compare."""
    from tests.oracles.reference_injections import ref_injection_summary
    from tests.oracles.reference_narcotics import ref_narcotic_courses, ref_narcotic_summary
    from tests.oracles.reference_pathways import reference_pathway_steps

    events = schema.conform(pd.read_parquet(path))
    keep = events["patient_id"].iloc[:n_events].unique()
    events = events.loc[events["patient_id"].isin(keep)].reset_index(drop=True)
    extract = extract_date(events)

    def pair(name, fast, slow, same):
        t0 = time.perf_counter()
        a = fast()
        t1 = time.perf_counter()
        b = slow()
        t2 = time.perf_counter()
        if not same(a, b):
            raise AssertionError(f"{name}: vectorised result differs from the reference loop")
        return {"analysis": name, "vectorised_s": t1 - t0, "loop_s": t2 - t1}

    def same_frame(a: pd.DataFrame, b: pd.DataFrame) -> bool:
        cols = list(a.columns)
        a = a.sort_values(cols[:2]).reset_index(drop=True)
        b = b[cols].sort_values(cols[:2]).reset_index(drop=True)
        return a.astype(str).equals(b.astype(str))

    rows = [
        pair("pathways, mode first",
             lambda: pathways.pathway_steps(events, mode="first", extract=extract),
             lambda: reference_pathway_steps(events, mode="first", extract=extract), same_frame),
        pair("pathways, mode eras",
             lambda: pathways.pathway_steps(events, mode="eras", extract=extract),
             lambda: reference_pathway_steps(events, mode="eras", extract=extract), same_frame),
        pair("narcotic courses with MME",
             lambda: narcotics.narcotic_courses(events, extract=extract)[
                 ["patient_id", "course", "start", "end", "duration_days", "fills", "ongoing",
                  "long_term"]],
             lambda: ref_narcotic_courses(events, extract=extract), same_frame),
        pair("narcotic summary",
             lambda: narcotics.narcotic_summary(events, extract=extract),
             lambda: ref_narcotic_summary(events, extract=extract),
             lambda a, b: all(a[k] == b[k] for k in b)),
        pair("injection summary",
             lambda: injections.injection_summary(events, extract=extract),
             lambda: ref_injection_summary(events),
             lambda a, b: all(a[k] == b[k] for k in b)),
    ]
    return {"events": len(events), "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--reference-events", type=int, default=1_000_000,
                        help="events whose patients the per-patient loops run on")
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child)))
        return

    path = dataset(args.events)
    child = subprocess.run([sys.executable, __file__, "--child", str(path)], check=True,
                           capture_output=True, text=True)
    result = json.loads(child.stdout.strip().splitlines()[-1])
    total = sum(result["timings"].values())
    print(f"\n### Analytics over {result['events']:,} events / {result['patients']:,} patients\n")
    print("| analysis | seconds |")
    print("|---|---:|")
    for name, seconds in result["timings"].items():
        print(f"| {name} | {seconds:.3f} |")
    print(f"| **all analyses** | **{total:.2f}** |")
    print(f"\nLoad from Parquet {result['load_s']:.2f} s; throughput "
          f"{result['events'] / total:,.0f} events/s; peak memory {result['peak_mb']:,.0f} MB.")
    if args.no_reference:
        return
    ref = reference_check(path, args.reference_events)
    print(f"\n### Against the per-patient loop ({ref['events']:,} events; results identical)\n")
    print("| analysis | vectorised s | loop s | speed-up |")
    print("|---|---:|---:|---:|")
    for row in ref["rows"]:
        speed = row["loop_s"] / max(row["vectorised_s"], 1e-9)
        print(f"| {row['analysis']} | {row['vectorised_s']:.3f} | {row['loop_s']:.2f} | "
              f"{speed:,.0f}× |")
    fast = sum(r["vectorised_s"] for r in ref["rows"])
    slow = sum(r["loop_s"] for r in ref["rows"])
    print(f"| **together** | **{fast:.2f}** | **{slow:.1f}** | **{slow / fast:,.0f}×** |")


if __name__ == "__main__":
    main()
