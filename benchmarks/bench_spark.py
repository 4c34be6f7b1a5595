"""Scale benchmark of the Spark engine (not CI): the summary of 10M and 100M events on local[2].

For each size N (``--events``, default 10M; ``SPARK_BENCH_SIZES`` or several ``--events``
for more):

1. generate N events straight to Parquet with the streaming generator
   (``python -m sample_data.generate --events N --format parquet``: whole patients per
   file, never all rows in memory), unless the folder exists;
2. ``python -m analytics export-events`` writes the accepted events as an event folder
   (one generated file at a time), unless it exists;
3. ``python -m analytics summary FOLDER --engine spark --spark-master local[2]``: wall
   time; the JVM's peak heap in use (the largest heap occupancy before a collection in
   its GC log: ``-Xlog:gc``), its largest live heap (occupancy after a collection) and
   its peak resident memory; every Python worker's peak
   resident memory (``VmHWM`` of each process forked from the engine's worker daemon,
   polled from ``/proc``);
4. at 10M (``--local-up-to``) also ``--engine local`` on the same folder: wall time and
   peak resident memory, and where the two printed summaries differ (none expected;
   floats within 1e-9 relative, as ``tests/test_spark.py`` compares them).  Both
   summaries are written to the work folder.

``local[N]`` is one JVM: driver and executor cannot be measured apart.  The machine's
1-minute load average is sampled during each run (a shared machine: above the number of
cores, the run waited for them).  Prints a Markdown
table (README "Running on Spark").  Linux only (``/proc``).

Usage: ``python benchmarks/bench_spark.py [--events N ...] [--work DIR]
[--driver-memory 3g] [--shuffle-partitions 8]``
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
_GC_LINE = re.compile(r"Pause.*?(\d+)([KMG])->(\d+)([KMG])\((\d+)([KMG])\)")
_UNIT = {"K": 1 / 1024, "M": 1.0, "G": 1024.0}


def _kb(status: str, key: str) -> int:
    for line in status.splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


@dataclass
class Sampler:
    """Polls /proc for the peak resident memory (VmHWM) of a process tree: the root, the
    JVM (a ``java`` process) and the Python workers (processes running PySpark's worker
    daemon or its workers)."""

    root: int
    interval: float = 0.2
    peaks: dict[int, tuple[str, int]] = field(default_factory=dict)
    loads: list[float] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def _tree(self) -> list[int]:
        children: dict[int, list[int]] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    parent = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
        out, todo = [], [self.root]
        while todo:
            pid = todo.pop()
            out.append(pid)
            todo.extend(children.get(pid, []))
        return out

    def _poll(self) -> None:
        for pid in self._tree():
            try:
                with open(f"/proc/{pid}/status") as fh:
                    status = fh.read()
                with open(f"/proc/{pid}/cmdline", "rb") as fh:
                    cmd = fh.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            hwm = _kb(status, "VmHWM")
            kind = ("jvm" if "java" in cmd.split(" ", 1)[0] else
                    "worker" if ("daemon" in cmd or "pyspark.worker" in cmd) else "driver")
            old = self.peaks.get(pid, (kind, 0))[1]
            self.peaks[pid] = (kind, max(old, hwm))

    def run(self) -> None:
        last_load = 0.0
        while not self._stop.is_set():
            self._poll()
            now = time.monotonic()
            if now - last_load >= 5:  # the machine's 1-minute load average, every 5 s
                self.loads.append(os.getloadavg()[0])
                last_load = now
            time.sleep(self.interval)

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()

    def peak_mb(self, kind: str) -> float:
        values = [kb for k, kb in self.peaks.values() if k == kind]
        return max(values) / 1024 if values else 0.0

    def load(self) -> dict[str, float]:
        """The machine's 1-minute load average during the run: mean and maximum (a shared
        machine: other work slows a run down)."""
        loads = self.loads or [os.getloadavg()[0]]
        return {"load_mean": sum(loads) / len(loads), "load_max": max(loads)}


def gc_peak_heap_mb(log: Path) -> tuple[float, float, float]:
    """(largest heap occupancy before a collection, largest after one — the live data —,
    committed heap size) in MB from a ``-Xlog:gc`` log."""
    peak = live = size = 0.0
    if not log.exists():
        return peak, live, size
    for line in log.read_text(errors="replace").splitlines():
        match = _GC_LINE.search(line)
        if match:
            peak = max(peak, float(match.group(1)) * _UNIT[match.group(2)])
            live = max(live, float(match.group(3)) * _UNIT[match.group(4)])
            size = max(size, float(match.group(5)) * _UNIT[match.group(6)])
    return peak, live, size


def _run(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, Sampler, str]:
    """Run ``cmd``; (wall seconds, its memory sampler, stdout).  Raises on failure."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    sampler = Sampler(proc.pid)
    thread = sampler.start()
    out, err = proc.communicate()
    seconds = time.perf_counter() - start
    sampler.stop()
    thread.join()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {err[-2000:]}")
    return seconds, sampler, out


def prepare(events: int, work: Path) -> tuple[Path, dict[str, float]]:
    """The event folder of ``events`` generated events (generated and exported when
    missing); the seconds each step took."""
    generated, folder = work / f"gen{events}", work / f"events{events}"
    times: dict[str, float] = {}
    if not generated.exists():
        seconds, sampler, _ = _run([PY, "-m", "sample_data.generate", "--events",
                                    str(events), "--format", "parquet", "--out",
                                    str(generated)])
        times["generate_s"] = seconds
        times["generate_peak_rss_mb"] = sampler.peak_mb("driver")
    if not (folder / "metadata.json").exists():
        seconds, sampler, _ = _run([PY, "-m", "analytics", "export-events", str(generated),
                                    "--out", str(folder)])
        times["export_s"] = seconds
        times["export_peak_rss_mb"] = sampler.peak_mb("driver")
    return folder, times


def spark_summary(folder: Path, driver_memory: str, shuffle_partitions: int,
                  work: Path) -> dict[str, object]:
    gc_log = work / f"gc-{os.getpid()}-{time.time_ns()}.log"
    env = dict(os.environ)
    env["PYSPARK_SUBMIT_ARGS"] = (
        f'--driver-java-options "-Xlog:gc:file={gc_log}" pyspark-shell')
    seconds, sampler, out = _run(
        [PY, "-m", "analytics", "summary", str(folder), "--engine", "spark",
         "--spark-master", "local[2]", "--shuffle-partitions", str(shuffle_partitions),
         "--spark-driver-memory", driver_memory, "--min-cell", "0"], env)
    heap, live, heap_size = gc_peak_heap_mb(gc_log)
    return {"seconds": seconds, "jvm_peak_heap_mb": heap, "jvm_peak_live_heap_mb": live,
            "jvm_heap_size_mb": heap_size,
            "jvm_peak_rss_mb": sampler.peak_mb("jvm"),
            "worker_peak_rss_mb": sampler.peak_mb("worker"),
            "workers": sum(1 for k, _ in sampler.peaks.values() if k == "worker"),
            "driver_peak_rss_mb": sampler.peak_mb("driver"), **sampler.load(),
            "summary": json.loads(out)}


def differences(local: object, spark: object, where: str = "") -> list[str]:
    """Where two printed summaries differ: floats beyond 1e-9 relative (as
    tests/test_spark.py compares them), anything else at all."""
    if isinstance(local, dict) and isinstance(spark, dict):
        if local.keys() != spark.keys():
            return [f"{where} keys"]
        return [d for k in local for d in differences(local[k], spark[k], f"{where}.{k}")]
    if isinstance(local, list) and isinstance(spark, list):
        if len(local) != len(spark):
            return [f"{where} length"]
        return [d for i, (a, b) in enumerate(zip(local, spark, strict=True))
                for d in differences(a, b, f"{where}[{i}]")]
    if isinstance(local, float) and isinstance(spark, int | float):
        same = math.isclose(local, spark, rel_tol=1e-9, abs_tol=0.0) or (
            math.isnan(local) and math.isnan(spark))
        return [] if same else [where]
    return [] if type(local) is type(spark) and local == spark else [where]


def local_summary(folder: Path) -> dict[str, object]:
    seconds, sampler, out = _run([PY, "-m", "analytics", "summary", str(folder), "--engine",
                                  "local", "--min-cell", "0"])
    return {"seconds": seconds, "peak_rss_mb": sampler.peak_mb("driver"), **sampler.load(),
            "summary": json.loads(out)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sizes = [int(s) for s in os.environ.get("SPARK_BENCH_SIZES", "10000000").split()]
    parser.add_argument("--events", type=int, action="append", default=None)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "painpath-bench")
    parser.add_argument("--driver-memory", default="3g")
    parser.add_argument("--shuffle-partitions", type=int, default=8)
    parser.add_argument("--local-up-to", type=int, default=10_000_000,
                        help="also run the local engine up to this many events")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    rows = []
    for events in args.events or sizes:
        folder, times = prepare(events, args.work)
        spark = spark_summary(folder, args.driver_memory, args.shuffle_partitions, args.work)
        row = {"events": events, **times, **{f"spark_{k}": v for k, v in spark.items()
                                             if k != "summary"}}
        (args.work / f"summary-{events}-spark.json").write_text(json.dumps(spark["summary"]))
        if events <= args.local_up_to:
            local = local_summary(folder)
            (args.work / f"summary-{events}-local.json").write_text(
                json.dumps(local["summary"]))
            row.update({"local_seconds": local["seconds"],
                        "local_peak_rss_mb": local["peak_rss_mb"],
                        "local_load_mean": local["load_mean"],
                        "local_load_max": local["load_max"],
                        "differences": differences(local["summary"], spark["summary"])})
        rows.append(row)
        print(json.dumps(row), flush=True)
    print("\n| events | engine | wall time | JVM heap: peak in use, live after GC (committed; "
          "max) | JVM peak RSS | Python worker peak RSS | Python process peak RSS | "
          "load average (mean / max) |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['events']:,} | Spark local[2] | {row['spark_seconds']:,.0f} s | "
              f"{row['spark_jvm_peak_heap_mb']:,.0f} MB, "
              f"{row['spark_jvm_peak_live_heap_mb']:,.0f} MB "
              f"({row['spark_jvm_heap_size_mb']:,.0f} MB; {args.driver_memory}) | "
              f"{row['spark_jvm_peak_rss_mb']:,.0f} MB | "
              f"{row['spark_worker_peak_rss_mb']:,.0f} MB ({row['spark_workers']} workers) | "
              f"{row['spark_driver_peak_rss_mb']:,.0f} MB (driver) | "
              f"{row['spark_load_mean']:.1f} / {row['spark_load_max']:.1f} |")
        if "local_seconds" in row:
            print(f"| {row['events']:,} | local | {row['local_seconds']:,.0f} s | | | | "
                  f"{row['local_peak_rss_mb']:,.0f} MB | "
                  f"{row['local_load_mean']:.1f} / {row['local_load_max']:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
