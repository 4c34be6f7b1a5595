"""Benchmark: ingest of a generic clinic CSV (default 1,000,000 rows).

Generates the CSV itself with a seeded numpy generator (columns like the canonical
ones: patient id, service date, technique, description, CPT/RxNorm code, days supply,
quantity, provider, site, sex, birth year, diagnosis, pain score), then times
``analytics.ingest.ingest`` on it and prints a small markdown table with seconds,
rows/s and the peak RSS (``resource.getrusage``) of a fresh interpreter that
imports PainPath and ingests the file (generation is not measured).

    python -m benchmarks.bench_ingest [--rows 1000000] [--keep FILE] [--repeat N]

``--repeat N`` runs the ingest in N fresh interpreters and reports the fastest run (and the
largest peak memory): on a shared machine the minimum is the ingest's own time.

Target: < 3 s (the CLI's critical path) and < 1.5 GB peak on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

ITEMS = [
    # technique label, description, code, days supply (0 = none)
    ("Physical Therapy", "Therapeutic exercise, each 15 min", "97110", 0),
    ("Physical Therapy", "Manual therapy", "97140", 0),
    ("PT", "PT evaluation moderate complexity", "97162", 0),
    ("Muscle Relaxant", "Cyclobenzaprine Hydrochloride 10 MG Oral Tablet", "197446", 14),
    ("Muscle Relaxant", "tizanidine 4 MG Oral Tablet [Zanaflex]", "313371", 21),
    (
        "Opioid",
        "Acetaminophen 325 MG / Oxycodone Hydrochloride 5 MG Oral Tablet [Percocet]",
        "1049621",
        7,
    ),
    (
        "Opioid",
        "Hydrocodone Bitartrate 5 MG / Acetaminophen 325 MG Oral Tablet [Norco]",
        "856999",
        30,
    ),
    ("Narcotic", "tramadol hydrochloride 50 MG Oral Tablet", "835603", 30),
    ("ESI", "Transforaminal epidural injection lumbar single level", "64483", 0),
    ("Facet", "Lumbar facet joint injection", "64493", 0),
    ("RFA", "Radiofrequency ablation lumbar facet", "64635", 0),
    ("Trigger Point Injection", "Trigger point injection 1-2 muscles", "20552", 0),
    ("Surgery", "Lumbar laminectomy", "63047", 0),
    ("Vaccine", "Influenza vaccine", "90686", 0),
]
DIAGNOSES = ["M54.50", "M54.16", "M51.26", "M48.062", "M96.1", "M54.41"]


def make_csv(path: Path, rows: int, seed: int = 20250101) -> None:
    """Write a deterministic generic clinic export of ``rows`` rows to ``path``."""
    rng = np.random.default_rng(seed)
    patients = max(rows // 20, 1)
    pid = rng.integers(0, patients, rows)
    item = rng.integers(0, len(ITEMS), rows)
    labels = np.array([i[0] for i in ITEMS], dtype=object)
    details = np.array([i[1] for i in ITEMS], dtype=object)
    codes = np.array([i[2] for i in ITEMS], dtype=object)
    supply = np.array([i[3] for i in ITEMS])
    start = np.datetime64("2021-01-01")
    dates = start + rng.integers(0, 3 * 365, rows).astype("timedelta64[D]")
    days = supply[item].astype(float)
    days_text = np.where(days > 0, days.astype(int).astype(str), "")
    qty = np.where(days > 0, (days * rng.integers(1, 4, rows)).astype(int).astype(str), "")
    birth = 1940 + (pid * 7919) % 60
    sex = np.where(pid % 2 == 0, "F", "M")
    frame = pd.DataFrame(
        {
            "Patient ID": np.char.add("P", pid.astype(str)),
            "Service Date": np.datetime_as_string(dates, unit="D"),
            "Treatment Type": labels[item],
            "Description": details[item],
            "CPT/HCPCS": codes[item],
            "Days Supply": days_text,
            "Quantity": qty,
            "Provider": np.char.add("DR", (pid % 8).astype(str)),
            "Site": np.where(pid % 3 == 0, "North", "South"),
            "Sex": sex,
            "Birth Year": birth,
            "Diagnosis": np.array(DIAGNOSES, dtype=object)[pid % len(DIAGNOSES)],
            "Pain Score": rng.integers(0, 11, rows),
        }
    )
    frame.to_csv(path, index=False)


_CHILD = """
import json, resource, sys, time
from analytics.ingest import ingest
t0 = time.perf_counter()
result = ingest(sys.argv[1])
seconds = time.perf_counter() - t0
r = result.report
print(json.dumps({
    "seconds": seconds,
    "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "accepted": r.accepted, "rejected": r.rejected,
    "not_relevant": r.not_relevant, "duplicates": r.duplicates,
}))
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, default=None, help="write the CSV here and keep it")
    parser.add_argument("--repeat", type=int, default=1, help="runs; the fastest is reported")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep or Path(tmp) / "bench_generic.csv"
        make_csv(path, args.rows)
        size_mb = path.stat().st_size / 1e6
        # a fresh interpreter, so that peak RSS is the ingest's own (imports included)
        root = Path(__file__).resolve().parents[1]
        env = {**os.environ, "PYTHONPATH": str(root)}
        runs = []
        for _ in range(max(args.repeat, 1)):
            proc = subprocess.run(
                [sys.executable, "-c", _CHILD, str(path)],
                capture_output=True,
                text=True,
                check=True,
                env=env,
                cwd=root,
            )
            runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        stats = min(runs, key=lambda r: r["seconds"])
        stats["peak_mb"] = max(r["peak_mb"] for r in runs)
    seconds = stats["seconds"]
    print("| rows | file MB | seconds | rows/s | peak RSS MB | cores |")
    print("|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {args.rows:,} | {size_mb:.0f} | {seconds:.2f} | {args.rows / seconds:,.0f} | "
        f"{stats['peak_mb']:.0f} | {os.cpu_count()} |"
    )
    print()
    print(
        f"accepted {stats['accepted']:,}, rejected {stats['rejected']:,}, not relevant "
        f"{stats['not_relevant']:,}, duplicates {stats['duplicates']:,}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
