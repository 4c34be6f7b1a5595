"""Benchmark of the command line: ``python -m analytics summary`` on a generated clinic CSV,
against a bare pyarrow read of the same file.

Usage::

    python benchmarks/bench_cli.py                      # about 1,000,000 events
    python benchmarks/bench_cli.py --events 200000 --repeat 3

Steps: the sample generator writes a clinic export of about N rows as CSV (cached under
``benchmarks/out/``); then, each in a fresh interpreter, (a) ``pyarrow.csv.read_csv`` of the
file — the floor any tool reading that CSV pays — and (b) the whole CLI: start-up and
imports, ingest, population, every measure, the results and the JSON on stdout.  The
fastest of ``--repeat`` runs is reported with the child's peak memory.  Output is a
Markdown table for the README.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"


def export_csv(n_events: int) -> Path:
    """A clinic CSV of about ``n_events`` rows from the sample generator (made once)."""
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"clinic_{n_events}.csv"
    if not path.exists():
        subprocess.run(
            [sys.executable, "-m", "sample_data.generate", "--events", str(n_events),
             "--format", "csv", "--out", str(path)],
            cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return path


def timed_child(command: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of ``command`` run in a fresh process."""
    start = time.perf_counter()
    child = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(command)}")
    return seconds, usage.ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs; the fastest is reported")
    args = parser.parse_args(argv)
    path = export_csv(args.events)
    rows = sum(1 for _ in path.open("rb")) - 1
    commands = {
        "pyarrow.csv.read_csv (the floor)": [
            sys.executable, "-c", f"import pyarrow.csv; pyarrow.csv.read_csv({str(path)!r})"],
        "python -m analytics summary": [
            sys.executable, "-m", "analytics", "summary", str(path)],
        "python -m analytics summary --population all": [
            sys.executable, "-m", "analytics", "summary", str(path), "--population", "all"],
    }
    print(f"{rows:,} rows, {path.stat().st_size / 1e6:.0f} MB ({path.name})\n")
    print(f"| command | seconds (fastest of {args.repeat}) | peak memory |")
    print("|---|---:|---:|")
    for label, command in commands.items():
        runs = [timed_child(command) for _ in range(args.repeat)]
        seconds = min(r[0] for r in runs)
        peak = max(r[1] for r in runs)
        print(f"| {label} | {seconds:.2f} | {peak:,.0f} MB |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
