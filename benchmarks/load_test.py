"""Load test: concurrent sessions against one server with a ~1M-event dataset.

Usage::

    python benchmarks/load_test.py                       # ws mode, 20 sessions, 120 s
    python benchmarks/load_test.py --sessions 5 --seconds 30 --events 100000
    python benchmarks/load_test.py --mode browser        # 20 headless Chromium sessions

Not part of CI.  Steps: load about ``--events`` generated events (the cached
Parquet of ``bench_analytics.dataset``) into a fresh store in a temporary data
dir; start ``streamlit run dashboard.py`` on a free 127.0.0.1 port with that
``PAINPATH_DATA_DIR``; open ``--sessions`` sessions, all driven from one asyncio
loop, each opening the Overview of the big dataset.  When every session has
loaded, each one loops for ``--seconds``: a random filter change (add or clear a
physician, a sex, a technique tried) or a page switch, then a random think time
of 0–``--think`` s.

Two modes:

* ``--mode ws`` (default): each session is one websocket to ``/_stcore/stream``
  speaking Streamlit's protobuf protocol (``BackMsg.rerun_script`` with a
  ``ClientState`` out, ``ForwardMsg`` deltas in) — what the browser's JavaScript
  puts on the wire, without the rendering, so 20 sessions cost the client ~1 % of
  a core and the figures measure the server.  See :class:`WsSession`.
  Rerun latency = from sending ``rerun_script`` to receiving ``script_finished``.
* ``--mode browser``: one headless Chromium, one browser context (= one Streamlit
  session) per session, acting through the sidebar widgets and links.  Rerun
  latency = from the action (the click or key press) to the server's
  ``script_finished`` message on the session's websocket, the app state
  ``notRunning`` and no ``stSkeleton`` left — i.e. until the user sees the
  result.  On a 2-core machine the 20 browsers' rendering dominates.

Errors: exception elements (``stException`` / ``ForwardMsg`` ``new_element.exception``;
in ws mode also ``st.error`` alerts and compile errors), actions not finished within
``--timeout`` s, websocket disconnects.  The server's resident memory (VmRSS of
the streamlit process) is sampled every second.  Only 127.0.0.1 is contacted.
Prints a Markdown table (and writes the raw figures to
``benchmarks/out/load_test_<mode>.json``).
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
from urllib.parse import parse_qs, urlencode, urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

from analytics import settings  # noqa: E402
from analytics.schema import TECHNIQUE_LABELS, TECHNIQUES  # noqa: E402
from analytics.store import Store  # noqa: E402
from benchmarks.bench_analytics import OUT, dataset, store_ingested  # noqa: E402

CHROMIUM = str(settings.chromium_path())
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
    data_dir = tempfile.mkdtemp(prefix="painpath-load-")
    with Store(data_dir) as store:
        events = store_ingested(store, DATASET, dataset(n_events))
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
    patients: dict[str, set[str]] = field(default_factory=dict)  # cohort -> Overview metric

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


# --- websocket sessions (--mode ws) -------------------------------------------------------

class WsSession:
    """One websocket speaking Streamlit's protobuf protocol = one Streamlit session.

    Does what the browser's JavaScript does on the wire and nothing else: no rendering.
    First load = ``BackMsg(rerun_script=ClientState(query_string="dataset=…"))`` right after
    the handshake; a filter change = a rerun carrying the new value of one bound
    multiselect (``WidgetState.string_array_value``, the option labels, under the widget id
    the server sent in the previous run's ``multiselect`` element) — the other widgets keep
    their server-side state, as when the browser sends them unchanged; a page switch = a
    rerun with the ``page_script_hash`` of a sidebar ``page_link``.  The query string is
    the one the server last sent (``page_info_changed``), as the browser's URL bar would.
    """

    def __init__(self, number: int, url: str, stats: Stats, args):
        self.number, self.url, self.stats, self.args = number, url, stats, args
        self.rng = random.Random(args.seed * 1000 + number)
        self.closing = False
        self.ws = None
        self.reader: asyncio.Task | None = None
        self.done: asyncio.Future | None = None
        self._reset_page_state()

    def _reset_page_state(self) -> None:
        self.query_string = urlencode({"dataset": DATASET})
        self.page_hash = ""
        self.current = "Overview"
        self.selected: dict[str, list[str]] = {k: [] for k in COHORT_KEYS}
        self.links: dict[str, str] = {}  # page label -> page_script_hash (sidebar page_link)
        self.widgets: dict[str, tuple[str, list[str]]] = {}  # URL key -> (widget id, options)
        self.patients: str | None = None  # the Overview's "Patients" metric of the last run
        self.run_errors: list[str] = []

    # protocol ----------------------------------------------------------------------------

    async def connect(self) -> None:
        import websockets

        self.closing = False
        self.ws = await websockets.connect(
            self.url, subprotocols=["streamlit"], max_size=None, open_timeout=60,
            ping_interval=None)  # the server keeps the connection alive; no client pings
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        try:
            async for raw in self.ws:
                if isinstance(raw, bytes):
                    self._handle(ForwardMsg.FromString(raw))
        except Exception as exc:  # noqa: BLE001 - ConnectionClosedError etc.
            note = f"{type(exc).__name__}: {exc!s:.150}"
        else:
            note = "closed by the server"
        if not self.closing:
            self.stats.disconnects += 1
            self.stats.error_notes.append(f"session {self.number}: websocket {note}")
            if self.done is not None and not self.done.done():
                self.done.set_exception(ConnectionError(note))

    def _handle(self, msg) -> None:
        from streamlit.proto.Alert_pb2 import Alert
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        kind = msg.WhichOneof("type")
        if kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
            element = msg.delta.new_element
            what = element.WhichOneof("type")
            if what == "exception":
                e = element.exception
                self.run_errors.append(f"{e.type}: {e.message} | "
                                       + " / ".join(line.strip() for line in e.stack_trace[-4:]))
            elif what == "alert" and element.alert.format == Alert.ERROR:
                self.run_errors.append(f"st.error: {element.alert.body}")
            elif what == "metric" and element.metric.label == "Patients":
                self.patients = element.metric.body
            elif what == "multiselect" and element.multiselect.query_param_key in COHORT_KEYS:
                box = element.multiselect
                self.widgets[box.query_param_key] = (box.id, list(box.options))
                if box.set_value:
                    self.selected[box.query_param_key] = list(box.raw_values)
            elif what == "page_link" and element.page_link.page_script_hash:
                self.links[element.page_link.label] = element.page_link.page_script_hash
        elif kind == "page_info_changed":
            self.query_string = msg.page_info_changed.query_string
        elif kind == "new_session":
            self.page_hash = msg.new_session.page_script_hash
        elif kind == "script_finished":
            if msg.script_finished == ForwardMsg.FINISHED_WITH_COMPILE_ERROR:
                self.run_errors.append("script finished with a compile error")
            if (msg.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN
                    and self.done is not None and not self.done.done()):
                self.done.set_result(msg.script_finished)

    async def _rerun(self, kind: str, timeout: float, page_hash: str | None = None,
                     widget: tuple[str, list[str]] | None = None) -> bool:
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from streamlit.proto.ClientState_pb2 import ClientState

        state = ClientState(query_string=self.query_string,
                            page_script_hash=self.page_hash if page_hash is None else page_hash)
        if widget is not None:
            item = state.widget_states.widgets.add()
            item.id = widget[0]
            item.string_array_value.data.extend(widget[1])
        self.done = asyncio.get_running_loop().create_future()
        self.run_errors, self.patients, self.widgets, self.links = [], None, {}, {}
        t0 = time.perf_counter()
        try:
            await self.ws.send(BackMsg(rerun_script=state).SerializeToString())
            await asyncio.wait_for(self.done, timeout)
        except Exception as exc:  # noqa: BLE001 - our timeout or a disconnect
            if isinstance(exc, TimeoutError):
                self.stats.timeouts += 1
                self.stats.error_notes.append(
                    f"session {self.number} {kind}: no script_finished within {timeout:g} s")
            if kind != "recovery":
                await self._recover()
            return False
        self.stats.add(kind, time.perf_counter() - t0)
        if self.run_errors:
            self.stats.exceptions += len(self.run_errors)
            self.stats.error_notes += [f"session {self.number} {kind} on {self.current}: "
                                       f"{e:.600}" for e in self.run_errors]
        cohort = repr([sorted(self.selected[k]) for k in COHORT_KEYS])
        self.stats.cohorts.add(cohort)
        if self.current == "Overview" and self.patients is not None:
            self.stats.patients.setdefault(cohort, set()).add(self.patients)
        return True

    async def _recover(self) -> None:
        """After a timeout or a disconnect: a fresh connection and first load."""
        await self.close()
        self._reset_page_state()
        try:
            await self.connect()
            await self._rerun("recovery", 3 * self.args.timeout)
            self.stats.latencies.pop("recovery", None)
        except Exception as exc:  # noqa: BLE001
            self.stats.error_notes.append(f"session {self.number} recovery: {exc!s:.200}")

    async def open(self) -> None:
        await self.connect()
        if await self._rerun("first load", 3 * self.args.timeout):  # many open at once
            self.stats.first_load.extend(self.stats.latencies.pop("first load", []))

    async def close(self) -> None:
        self.closing = True
        if self.ws is not None:
            await self.ws.close()
        if self.reader is not None:
            await asyncio.gather(self.reader, return_exceptions=True)

    # actions (the same mix as the browser mode) ------------------------------------------

    async def filter_change(self) -> None:
        keys = [k for k in COHORT_KEYS if k in self.widgets]
        key = self.rng.choice(keys)
        widget_id, options = self.widgets[key]
        taken = self.selected[key]
        if len(taken) >= (2 if key == "providers" else 1):
            value: list[str] = []
        else:
            value = [*taken, self.rng.choice([o for o in options if o not in taken])]
        before = self.selected[key]
        self.selected[key] = value
        if not await self._rerun("filter change", self.args.timeout, widget=(widget_id, value)):
            self.selected[key] = before

    async def page_switch(self) -> None:
        target = self.rng.choice([p for p in PAGES if p != self.current and p in self.links])
        page_hash = self.links[target]
        if await self._rerun("page switch", self.args.timeout, page_hash=page_hash):
            self.current, self.page_hash = target, page_hash

    async def run(self, until: float) -> None:
        while time.monotonic() < until:
            if (self.current != "Data" and self.widgets
                    and self.rng.random() < 0.6):  # Data: no filters
                await self.filter_change()
            elif self.links:
                await self.page_switch()
            else:  # nothing to act on (the last run failed): start over
                await self._recover()
            await asyncio.sleep(self.rng.uniform(0, self.args.think))


# --- driver -------------------------------------------------------------------------------

async def drive(args, server: str, pid: int, choices: dict[str, list[str]]) -> dict:
    stats = Stats()
    samples: list[tuple[float, float, float]] = []  # (seconds since loop start, MB, cpu s)
    phase = {"start": None}

    async def sample() -> None:
        while True:
            t = time.monotonic() - phase["start"] if phase["start"] else -1.0
            samples.append((t, rss_mb(pid), cpu_seconds(pid)))
            await asyncio.sleep(1.0)

    async def exercise(sessions) -> dict:
        await sessions[0].open()  # cold: reads the dataset from the store
        cold = stats.first_load.pop() if stats.first_load else float("nan")
        after_one = rss_mb(pid)
        t0 = time.perf_counter()
        await asyncio.gather(*(s.open() for s in sessions[1:]))
        all_loaded = time.perf_counter() - t0
        after_load = rss_mb(pid)
        phase["start"] = time.monotonic()
        cpu_start, own_start = cpu_seconds(pid), _own_cpu_seconds()
        until = phase["start"] + args.seconds
        await asyncio.gather(*(s.run(until) for s in sessions))
        elapsed = time.monotonic() - phase["start"]
        cpu_used, own_used = cpu_seconds(pid) - cpu_start, _own_cpu_seconds() - own_start
        for s in sessions:
            await s.close()
        return {"cold_load_s": cold, "after_one_mb": after_one, "all_loaded_s": all_loaded,
                "after_first_load_mb": after_load, "elapsed_s": elapsed,
                "server_cpu_pct": 100 * cpu_used / elapsed if elapsed else float("nan"),
                "client_cpu_pct": 100 * own_used / elapsed if elapsed else float("nan")}

    sampler = asyncio.create_task(sample())
    idle = rss_mb(pid)
    if args.mode == "ws":
        url = server.replace("http://", "ws://") + "/_stcore/stream"
        result = await exercise([WsSession(i, url, stats, args) for i in range(args.sessions)])
    else:
        from playwright.async_api import async_playwright

        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            result = await exercise([Session(i, browser, server, stats, args, choices)
                                     for i in range(args.sessions)])
            await browser.close()
    sampler.cancel()
    elapsed = result["elapsed_s"]
    loop = [(t, mb) for t, mb, _ in samples if t >= 0]
    warm = [mb for t, mb in loop if t <= WARM_UP_S]
    checkpoints = {}
    for mark in range(20, int(args.seconds) + 20, 20):
        before = [mb for t, mb in loop if t <= mark]
        if before and mark <= elapsed + 1:
            checkpoints[mark] = before[-1]
    return {**result, "stats": stats, "idle_mb": idle, "checkpoints": checkpoints,
            "warm_mb": warm[-1] if warm else float("nan"),
            "end_mb": loop[-1][1] if loop else float("nan"),
            "max_mb": max((mb for _, mb in loop), default=float("nan")),
            "samples": samples}


def _own_cpu_seconds() -> float:
    """CPU time of this process and its finished children (the browser mode's Chromium
    processes are children of Playwright's driver, so only partly counted)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(args, n_events: int, result: dict) -> str:
    stats: Stats = result["stats"]
    every = [x for xs in stats.latencies.values() for x in xs]
    errors = stats.exceptions + stats.timeouts + stats.disconnects
    if args.mode == "ws":
        how = (f"{args.sessions} websocket clients speaking Streamlit's protobuf protocol from "
               f"one asyncio loop (no rendering; rerun latency = rerun_script sent → "
               f"script_finished received)")
    else:
        how = (f"One headless Chromium with {args.sessions} browser contexts (one Streamlit "
               f"session each; rerun latency = action → result rendered)")
    lines = [
        f"### Load test ({args.mode} mode): {args.sessions} concurrent sessions, "
        f"{n_events:,} events, {result['elapsed_s']:.0f} s",
        "",
        f"{how}, on {os.cpu_count()} CPUs shared with the server; think time "
        f"0–{args.think:g} s.",
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
    ]
    if stats.patients:
        values = {v for vs in stats.patients.values() for v in vs}
        lines.append(f"| distinct Overview 'Patients' values over the {len(stats.patients)} "
                     f"cohorts seen on the Overview (the filters change the computation) | "
                     f"{len(values)} |")
    lines += [
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
        f"| load-test client CPU (this process{'' if args.mode == 'ws' else ', without Chromium'})"
        f" | {result['client_cpu_pct']:.0f} % |",
        "| server RSS every 20 s of actions | "
        + (" · ".join(f"{mb:,.0f}" for mb in result["checkpoints"].values()) or "–")
        + " MB |",
    ]
    if stats.error_notes:
        lines += ["", "Errors (first 10):", *[f"- {n}" for n in stats.error_notes[:10]]]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=("ws", "browser"), default="ws",
                        help="ws: protobuf websocket clients (cheap); browser: headless "
                        "Chromium via Playwright (the browsers' rendering dominates)")
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
    (OUT / f"load_test_{args.mode}.json").write_text(json.dumps({
        "args": vars(args), "events": n_events, "latencies": stats.latencies,
        "first_load": stats.first_load, "cold_load_s": result["cold_load_s"],
        "cohorts": len(stats.cohorts),
        "overview_patients": {k: sorted(v) for k, v in stats.patients.items()},
        "exceptions": stats.exceptions,
        "timeouts": stats.timeouts, "disconnects": stats.disconnects,
        "error_notes": stats.error_notes, "rss_samples": result["samples"],
        "server_log": str(log_path)}, indent=1))
    print(f"\nServer log: {log_path}; raw figures: {OUT / f'load_test_{args.mode}.json'}")
    if stats.exceptions + stats.timeouts + stats.disconnects:
        sys.exit(1)


if __name__ == "__main__":
    main()
