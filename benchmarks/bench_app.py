"""Benchmark of the app's reruns on a large dataset (issue: filter change and page switch < 1 s).

Usage::

    python benchmarks/bench_app.py --events 1000000

Loads about N generated events (the same cached Parquet file as
``bench_analytics.py``) into a fresh store, then drives the real pages with
Streamlit's AppTest (the server-side script run, which is what a rerun costs
the user apart from network and drawing): the first load, a filter change on
the Overview, the same filter again (cached), a page switch to every page, a
page switch back with the cohort unchanged, threshold changes, and filter changes
on the Opioid safety and Outcomes pages (issue 11: ≤ 0.5 s at 1M events).  Prints
a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


from analytics.store import Store  # noqa: E402
from benchmarks.bench_analytics import dataset, store_ingested  # noqa: E402

PAGES = ["pages/1_Pathways.py", "pages/2_Injections.py", "pages/3_Narcotic_courses.py",
         "pages/4_Compare_cohorts.py", "pages/5_Patient_timeline.py", "pages/6_Data.py",
         "pages/7_Safety.py", "pages/8_Outcomes.py"]
WHOLE_RECORD_PAGES = ["pages/7_Safety.py", "pages/8_Outcomes.py"]
"""Pages whose measures read whole records (computed once per population, then a selection
of rows per cohort): timed on filter changes of their own."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    args = parser.parse_args()
    data_dir = tempfile.mkdtemp(prefix="painpath-bench-")
    with Store(data_dir) as store:
        events = store_ingested(store, "Benchmark", dataset(args.events))
    os.environ["PAINPATH_DATA_DIR"] = data_dir
    os.chdir(ROOT)

    from streamlit.testing.v1 import AppTest

    rows: list[tuple[str, float, float]] = []

    def timed(label: str, action) -> None:
        t0, c0 = time.perf_counter(), time.process_time()
        action()
        rows.append((label, time.perf_counter() - t0, time.process_time() - c0))
        if at.exception:
            raise RuntimeError(f"{label}: {at.exception[0].message}")

    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=600)
    timed("first load (store open, dataset read, Overview computed)", at.run)
    timed("Overview, rerun with nothing changed", at.run)
    for threshold in (12, 20, 11):
        at.number_input(key="min_cell").set_value(threshold)
        timed(f"Overview, threshold change to {threshold}", at.run)
    providers = sorted(events["provider_id"].dropna().unique())
    for i, provider in enumerate(providers[:3]):
        at.multiselect(key="providers").set_value([provider])
        timed(f"Overview, filter change #{i + 1} (physician {provider})", at.run)
    at.multiselect(key="sexes").set_value(["F"])
    timed("Overview, filter change (sex F, on top)", at.run)
    for page in PAGES:
        timed(f"switch to {page.split('_', 1)[1][:-3].replace('_', ' ')} (new page)",
              lambda p=page: at.switch_page(p).run())
    timed("switch back to Overview (cached)", lambda: at.switch_page("dashboard.py").run())
    for page in PAGES[:4]:
        at.switch_page(page).run()
        at.run()  # in AppTest the first run after a switch shows the widgets' defaults
        name = page.split("_", 1)[1][:-3].replace("_", " ")
        for threshold in (15, 11):
            at.number_input(key="min_cell").set_value(threshold)
            timed(f"{name}, threshold change to {threshold}", at.run)

    for page in WHOLE_RECORD_PAGES:
        at.switch_page(page).run()
        at.run()
        name = page.split("_", 1)[1][:-3].replace("_", " ")
        for i, provider in enumerate(providers[3:6] or providers[:3]):
            at.multiselect(key="providers").set_value([provider])
            timed(f"{name}, filter change #{i + 1} (physician {provider})", at.run)
        at.multiselect(key="sexes").set_value(["M"])
        timed(f"{name}, filter change (sex M, on top)", at.run)

    print(f"\n### App reruns over {len(events):,} events (AppTest, server-side script time)\n")
    print("CPU = the process's CPU time during the rerun (all threads): it changes little when "
          "other processes compete for the cores, unlike the elapsed time.\n")
    print("| action | seconds | CPU seconds |")
    print("|---|---:|---:|")
    for label, seconds, cpu in rows:
        print(f"| {label} | {seconds:.2f} | {cpu:.2f} |")

    def summary(word: str, pick) -> str:
        wall = [s for label, s, _ in rows if pick(label)]
        cpu = [c for label, _, c in rows if pick(label)]
        return (f"{word}: median {statistics.median(wall):.2f} s, max {max(wall):.2f} s "
                f"(CPU median {statistics.median(cpu):.2f} s, max {max(cpu):.2f} s)")

    print("\n" + ". ".join([
        summary("Filter change", lambda label: "filter change" in label),
        summary("Page switch", lambda label: label.startswith("switch")),
        summary("Threshold change", lambda label: "threshold change" in label),
        *(summary(f"{name}: filter change", lambda label, n=name: label.startswith(n)
                  and "filter change" in label)
          for name in ("Safety", "Outcomes")),
    ]) + ".")


if __name__ == "__main__":
    main()
