"""Load test: concurrent browser sessions against one server with a ~1M-event dataset.

Usage::

    python benchmarks/load_test.py                       # 20 sessions, 120 s
    python benchmarks/load_test.py --sessions 5 --seconds 30 --events 100000

Not part of CI.  Steps: load about ``--events`` generated events (the cached
Parquet of ``bench_analytics.dataset``) into a fresh store in a temporary data
dir; start ``streamlit run dashboard.py`` on a free 127.0.0.1 port with that
``PAINPATH_DATA_DIR``; open ``--sessions`` sessions — one headless Chromium, one
browser context (= one Streamlit session) per session, all driven from one
asyncio loop — each opening the Overview of the big dataset.  When every session
has loaded, each one loops for ``--seconds``: a random filter change through the
sidebar widgets (add or clear a physician, a sex, a technique tried) or a page
switch through a sidebar link, then a random think time of 0–``--think`` s.

Rerun latency = from the action (the click or key press) to the server's
``script_finished`` message on the session's websocket, the app state
``notRunning`` and no ``stSkeleton`` left — i.e. until the user sees the result.
Errors: ``stException`` elements after an action, actions not finished within
``--timeout`` s, websocket disconnects.  The server's resident memory (VmRSS of
the streamlit process) is sampled every second.  Only 127.0.0.1 is contacted.
Prints a Markdown table (and writes the raw figures to
``benchmarks/out/load_test.json``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

from analytics import schema  # noqa: E402
from analytics.schema import TECHNIQUE_LABELS, TECHNIQUES  # noqa: E402
from analytics.store import Store  # noqa: E402
from benchmarks.bench_analytics import OUT, dataset  # noqa: E402

CHROMIUM = os.environ.get("PAINPATH_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-dev-shm-usage"]
DATASET = "Load test"
PAGES = ["Overview", "Pathways", "Injections", "Narcotic courses", "Compare cohorts",
         "Patient timeline", "Data"]
COHORT_KEYS = ("providers", "sexes", "tried")  # the URL parameters the actions change
WARM_UP_S = 20.0
DONE_JS = """() => {
  const app = document.querySelector('[data-testid=stApp]');
  return app !== null
    && app.getAttribute('data-test-connection-state') === 'CONNECTED'
    && app.getAttribute('data-test-script-state') === 'notRunning'
    && document.querySelectorAll('[data-testid=stSkeleton]').length === 0;
}"""


# --- server -------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.read().decode().strip() == "ok"
    except OSError:
        return False


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` in MB (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def make_store(n_events: int) -> tuple[str, pd.DataFrame]:
    events = schema.conform(pd.read_parquet(dataset(n_events)))
    data_dir = tempfile.mkdtemp(prefix="painpath-load-")
    with Store(data_dir) as store:
        store.create_dataset(DATASET, events, {"files": []}, ["load_test.parquet"])
    return data_dir, events


# --- sessions -----------------------------------------------------------------------------

@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=dict)
    first_load: list[float] = field(default_factory=list)
    exceptions: int = 0
    timeouts: int = 0
    disconnects: int = 0
    error_notes: list[str] = field(default_factory=list)
    cohorts: set[str] = field(default_factory=set)

    def add(self, kind: str, seconds: float) -> None:
        self.latencies.setdefault(kind, []).append(seconds)


class Session:
    """One browser context = one Streamlit session, with its websocket watched."""

    def __init__(self, number: int, browser, server: str, stats: Stats, args,
                 choices: dict[str, list[str]]):
        self.number, self.browser, self.server, self.stats = number, browser, server, stats
        self.args, self.choices = args, choices
        self.rng = random.Random(args.seed * 1000 + number)
        self.finished = 0  # script_finished messages (not "early for rerun")
        self.closing = False
        self.current = "Overview"

    def _on_frame(self, payload) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        if not isinstance(payload, bytes) or len(payload) > 2048:
            return  # script_finished is a small message; deltas can be megabytes
        try:
            msg = ForwardMsg.FromString(payload)
        except Exception:  # noqa: BLE001 - not a ForwardMsg: ignore
            return
        if (msg.WhichOneof("type") == "script_finished"
                and msg.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN):
            self.finished += 1

    def _on_websocket(self, ws) -> None:
        ws.on("framereceived", self._on_frame)
        ws.on("close", lambda _ws: self._on_close())

    def _on_close(self) -> None:
        if not self.closing:
            self.stats.disconnects += 1
            self.stats.error_notes.append(f"session {self.number}: websocket closed")

    async def _wait_done(self, before: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.finished <= before:
            if time.monotonic() > deadline:
                raise TimeoutError("no script_finished")
            await asyncio.sleep(0.01)
        remaining = max(1.0, deadline - time.monotonic()) * 1000
        await self.page.wait_for_function(DONE_JS, timeout=remaining, polling=20)

    async def _timed(self, kind: str, action, timeout: float | None = None) -> None:
        before = self.finished
        t0 = time.perf_counter()
        try:
            await action()
            await self._wait_done(before, timeout or self.args.timeout)
        except Exception as exc:  # noqa: BLE001 - Playwright and our own timeouts
            self.stats.timeouts += 1
            self.stats.error_notes.append(f"session {self.number} {kind}: {exc!s:.200}")
            await self._recover()
            return
        self.stats.add(kind, time.perf_counter() - t0)
        query = parse_qs(urlsplit(self.page.url).query)
        self.stats.cohorts.add(repr([sorted(query.get(k, [])) for k in COHORT_KEYS]))
        errors = await self.page.get_by_test_id("stException").count()
        if errors:
            self.stats.exceptions += errors
            text = await self.page.get_by_test_id("stException").first.inner_text()
            self.stats.error_notes.append(f"session {self.number} {kind}: {text:.300}")

    async def _recover(self) -> None:
        """After a timeout: reload the page (a new script run) so the loop can go on."""
        self.closing = True
        try:
            await self.page.goto(f"{self.server}/?dataset={DATASET}", timeout=120_000)
            self.closing = False
            self.current = "Overview"
            await self.page.wait_for_function(DONE_JS, timeout=120_000, polling=100)
        except Exception:  # noqa: BLE001
            self.closing = False

    async def open(self) -> None:
        self.context = await self.browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = await self.context.new_page()
        self.page.on("websocket", self._on_websocket)
        self.page.set_default_timeout(self.args.timeout * 1000)
        first = 3 * self.args.timeout  # many sessions open at once
        await self._timed("first load", lambda: self.page.goto(
            f"{self.server}/?dataset={DATASET}", timeout=first * 1000), timeout=first)
        self.stats.first_load.extend(self.stats.latencies.pop("first load", []))

    async def close(self) -> None:
        self.closing = True
        await self.context.close()

    # actions ---------------------------------------------------------------------------

    def _widget(self, label: str):
        sidebar = self.page.get_by_test_id("stSidebar")
        return sidebar.get_by_test_id("stMultiSelect").filter(
            has=self.page.get_by_test_id("stWidgetLabel").get_by_text(label, exact=True))

    async def _open_expander(self, title: str) -> None:
        summary = self.page.get_by_test_id("stSidebar").get_by_test_id("stExpander").locator(
            "summary").filter(
            has_text=title)
        for _ in range(3):
            if await summary.locator("xpath=..").get_attribute("open") is not None:
                break
            await summary.click()
            await self.page.wait_for_timeout(400)  # the open animation (not timed)

    async def filter_change(self) -> None:
        label, expander, options = self.rng.choice([
            ("Physician", None, self.choices["providers"]),
            ("Sex", "Demographics", self.choices["sexes"]),
            ("Tried (all of)", "Treatment history", self.choices["tried"]),
        ])
        if expander:
            await self._open_expander(expander)
        box = self._widget(label)
        chosen = await box.locator("[data-tag]").count()
        if chosen >= (2 if label == "Physician" else 1):
            clear = box.get_by_role("button", name="Clear all")
            await clear.scroll_into_view_if_needed()
            await self._timed("filter change", clear.click)
            return
        taken = {await t.get_attribute("aria-label") for t in await box.locator(
            "[data-tag]").all()}
        option = self.rng.choice([o for o in options if o not in taken])
        field_input = box.locator("input")
        wanted = self.page.get_by_role("option", name=option, exact=True)
        for attempt in range(4):  # the dropdown can miss a click while an expander animates
            await field_input.scroll_into_view_if_needed()
            await field_input.click()
            await field_input.fill(option)
            try:
                await wanted.wait_for(timeout=5_000)
                break
            except Exception:  # noqa: BLE001
                if attempt == 3:
                    raise
                await self.page.keyboard.press("Escape")
                await self.page.wait_for_timeout(300)

        async def pick() -> None:
            await field_input.press("Enter")
            await self.page.keyboard.press("Escape")

        await self._timed("filter change", pick)

    async def page_switch(self) -> None:
        target = self.rng.choice([p for p in PAGES if p != self.current])
        link = self.page.get_by_test_id("stSidebar").locator("a").filter(
            has=self.page.get_by_text(target, exact=True)).first
        await self._timed("page switch", link.click)
        self.current = target

    async def run(self, until: float) -> None:
        while time.monotonic() < until:
            try:
                if self.current != "Data" and self.rng.random() < 0.6:  # Data: no filters
                    await self.filter_change()
                else:
                    await self.page_switch()
            except Exception as exc:  # noqa: BLE001 - a widget not found etc.
                self.stats.timeouts += 1
                self.stats.error_notes.append(f"session {self.number}: {exc!s:.200}")
                await self._recover()
            await asyncio.sleep(self.rng.uniform(0, self.args.think))


# --- driver -------------------------------------------------------------------------------

async def drive(args, server: str, pid: int, choices: dict[str, list[str]]) -> dict:
    from playwright.async_api import async_playwright

    stats = Stats()
    samples: list[tuple[float, float, float]] = []  # (seconds since loop start, MB, cpu s)
    phase = {"start": None}

    async def sample() -> None:
        while True:
            t = time.monotonic() - phase["start"] if phase["start"] else -1.0
            samples.append((t, rss_mb(pid), cpu_seconds(pid)))
            await asyncio.sleep(1.0)

    sampler = asyncio.create_task(sample())
    idle = rss_mb(pid)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        sessions = [Session(i, browser, server, stats, args, choices)
                    for i in range(args.sessions)]
        await sessions[0].open()  # cold: reads the dataset from the store
        cold = stats.first_load.pop() if stats.first_load else float("nan")
        after_one = rss_mb(pid)
        t0 = time.perf_counter()
        await asyncio.gather(*(s.open() for s in sessions[1:]))
        all_loaded = time.perf_counter() - t0
        after_load = rss_mb(pid)
        phase["start"] = time.monotonic()
        cpu_start = cpu_seconds(pid)
        until = phase["start"] + args.seconds
        await asyncio.gather(*(s.run(until) for s in sessions))
        elapsed = time.monotonic() - phase["start"]
        cpu_used = cpu_seconds(pid) - cpu_start
        for s in sessions:
            await s.close()
        await browser.close()
    sampler.cancel()
    loop = [(t, mb) for t, mb, _ in samples if t >= 0]
    warm = [mb for t, mb in loop if t <= WARM_UP_S]
    checkpoints = {}
    for mark in range(20, int(args.seconds) + 20, 20):
        before = [mb for t, mb in loop if t <= mark]
        if before and mark <= elapsed + 1:
            checkpoints[mark] = before[-1]
    return {"stats": stats, "idle_mb": idle, "after_first_load_mb": after_load,
            "cold_load_s": cold, "after_one_mb": after_one, "checkpoints": checkpoints,
            "warm_mb": warm[-1] if warm else float("nan"),
            "end_mb": loop[-1][1] if loop else float("nan"),
            "max_mb": max((mb for _, mb in loop), default=float("nan")),
            "all_loaded_s": all_loaded, "elapsed_s": elapsed,
            "server_cpu_pct": 100 * cpu_used / elapsed if elapsed else float("nan"),
            "samples": samples}


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(args, n_events: int, result: dict) -> str:
    stats: Stats = result["stats"]
    every = [x for xs in stats.latencies.values() for x in xs]
    errors = stats.exceptions + stats.timeouts + stats.disconnects
    lines = [
        f"### Load test: {args.sessions} concurrent browser sessions, {n_events:,} events, "
        f"{result['elapsed_s']:.0f} s",
        "",
        f"One headless Chromium with {args.sessions} browser contexts (one Streamlit session "
        f"each) on {os.cpu_count()} CPUs shared with the server; think time 0–{args.think:g} s.",
        "",
        "| measure | value |",
        "|---|---:|",
        f"| sessions | {args.sessions} |",
        f"| first load of the first session (cold: dataset read from the store) | "
        f"{result['cold_load_s']:.1f} s |",
        f"| first load of the other {args.sessions - 1} sessions, all at once (p50 / max) | "
        f"{_pct(stats.first_load, 0.5):.1f} s / {max(stats.first_load, default=0):.1f} s |",
    ]
    kinds = ["filter change", "page switch"]
    total = sum(len(stats.latencies.get(k, [])) for k in kinds)
    lines.append(f"| actions (filter changes + page switches) | {total:,} "
                 f"({len(stats.latencies.get('filter change', []))} + "
                 f"{len(stats.latencies.get('page switch', []))}) |")
    lines.append(f"| errors: exceptions / timeouts / disconnects | **{errors}** "
                 f"({stats.exceptions} / {stats.timeouts} / {stats.disconnects}) |")
    for name, values in [("all reruns", every)] + [(k, stats.latencies.get(k, [])) for k in kinds]:
        lines.append(f"| rerun latency, {name}: p50 / p95 / max | {_pct(values, 0.5):.2f} s / "
                     f"{_pct(values, 0.95):.2f} s / {max(values, default=float('nan')):.2f} s |")
    lines += [
        f"| distinct cohorts (physician × sex × technique filters) visited | "
        f"{len(stats.cohorts)} |",
        f"| server RSS idle (dataset not loaded yet) | {result['idle_mb']:,.0f} MB |",
        f"| server RSS after the first session's load | {result['after_one_mb']:,.0f} MB |",
        f"| server RSS after all {args.sessions} sessions' first load (same cohort) | "
        f"{result['after_first_load_mb']:,.0f} MB |",
        f"| server RSS after warm-up ({WARM_UP_S:.0f} s of actions) | "
        f"{result['warm_mb']:,.0f} MB |",
        f"| server RSS at the end | {result['end_mb']:,.0f} MB "
        f"({result['end_mb'] - result['warm_mb']:+,.0f} MB) |",
        f"| server RSS max during the actions | {result['max_mb']:,.0f} MB |",
        f"| server CPU during the actions (100 % = one core) | "
        f"{result['server_cpu_pct']:.0f} % |",
        "| server RSS every 20 s of actions | "
        + (" · ".join(f"{mb:,.0f}" for mb in result["checkpoints"].values()) or "–")
        + " MB |",
    ]
    if stats.error_notes:
        lines += ["", "Errors (first 10):", *[f"- {n}" for n in stats.error_notes[:10]]]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--think", type=float, default=1.0,
                        help="maximum think time between a session's actions (s)")
    parser.add_argument("--timeout", type=float, default=90.0,
                        help="seconds before an action counts as timed out")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if not 1 <= args.sessions <= 50 or not 0 < args.seconds <= 3600:
        parser.error("bounded: 1–50 sessions, at most 3600 seconds")

    data_dir, events = make_store(args.events)
    choices = {
        "providers": sorted(str(v) for v in events["provider_id"].dropna().unique()),
        "sexes": sorted(str(v) for v in events["sex"].dropna().unique()),
        "tried": [TECHNIQUE_LABELS.get(t, t) for t in TECHNIQUES[:-1]],
    }
    n_events = len(events)
    del events

    port = _free_port()
    server = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PAINPATH_DATA_DIR": data_dir}
    log_path = Path(data_dir).parent / f"{Path(data_dir).name}-streamlit.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "dashboard.py",
             "--server.address", "127.0.0.1", "--server.port", str(port),
             "--server.headless", "true", "--browser.gatherUsageStats", "false",
             "--server.fileWatcherType", "none"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not _healthy(server):
            if process.poll() is not None or time.monotonic() > deadline:
                sys.exit("streamlit did not start:\n" + log_path.read_text()[-3000:])
            time.sleep(0.2)
        result = asyncio.run(drive(args, server, process.pid, choices))
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(data_dir, ignore_errors=True)
    table = report(args, n_events, result)
    print("\n" + table)
    stats: Stats = result["stats"]
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "load_test.json").write_text(json.dumps({
        "args": vars(args), "events": n_events, "latencies": stats.latencies,
        "first_load": stats.first_load, "cold_load_s": result["cold_load_s"],
        "cohorts": len(stats.cohorts), "exceptions": stats.exceptions,
        "timeouts": stats.timeouts, "disconnects": stats.disconnects,
        "error_notes": stats.error_notes, "rss_samples": result["samples"],
        "server_log": str(log_path)}, indent=1))
    print(f"\nServer log: {log_path}; raw figures: {OUT / 'load_test.json'}")
    if stats.exceptions + stats.timeouts + stats.disconnects:
        sys.exit(1)


if __name__ == "__main__":
    main()
