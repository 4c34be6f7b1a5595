"""Browser-test fixtures: a real ``streamlit run`` on a free port and Debian's Chromium.

The server gets its own temporary store (``PAINPATH_DATA_DIR``).  Without
Chromium, Playwright or the shared exports the tests skip — unless the
environment variable ``CI`` is set, where they fail instead.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from analytics import settings

ROOT = Path(__file__).resolve().parents[2]
EXPORTS = ROOT / ".." / "shared" / "exports"
SYNTHEA = EXPORTS / "synthea-105"
SYNTHEA_FILES = ("medications.csv", "procedures.csv", "conditions.csv", "patients.csv",
                 "careplans.csv")
CHROMIUM = settings.chromium_path()
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
VIEWPORT = {"width": 1400, "height": 1000}
SCREENSHOTS = ROOT / "docs" / "screenshots"
RERUN_TIMEOUT_MS = 90_000


def missing(reason: str) -> None:
    """Skip locally, fail in CI (``CI`` set): CI must run the browser tests."""
    if os.environ.get("CI"):
        pytest.fail(f"browser tests cannot run in CI: {reason}", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_free_port = free_port


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.read().decode().strip() == "ok"
    except OSError:
        return False


@pytest.fixture(scope="session")
def chromium_requirements() -> None:
    """Chromium and Playwright must be present."""
    if not CHROMIUM.exists() and not shutil.which(str(CHROMIUM)):
        missing(f"Chromium not found at {CHROMIUM}")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing("the playwright package is not installed")


@pytest.fixture(scope="session")
def requirements(chromium_requirements) -> None:
    """Chromium, Playwright and the Synthea export must be present."""
    absent = [f for f in SYNTHEA_FILES if not (SYNTHEA / f).is_file()]
    if absent:
        missing(f"Synthea export missing in {SYNTHEA.resolve()}: {', '.join(absent)}")


@contextmanager
def streamlit_server(data_dir: Path, log_path: Path, extra_args: Sequence[str] = (),
                     port: int | None = None, script: str = "dashboard.py") -> Iterator[str]:
    """Run ``streamlit run <script>`` (default the app) from the repository root, so the
    project's ``.streamlit/config.toml`` applies, on 127.0.0.1 and ``port`` (default: a
    free one) with the store in ``data_dir`` (plus ``extra_args``, e.g.
    ``--secrets.files``); yields its base URL."""
    port = port or free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMLIT_")}
    env["PAINPATH_DATA_DIR"] = str(data_dir)
    env.pop("PAINPATH_PATIENT_VIEWS", None)
    command = [sys.executable, "-m", "streamlit", "run", script,
               "--server.address", "127.0.0.1", "--server.port", str(port),
               "--server.headless", "true", "--browser.gatherUsageStats", "false",
               "--server.fileWatcherType", "none", *extra_args]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log,
                                   stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while not _healthy(url):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("streamlit did not start:\n" + log_path.read_text()[-3000:],
                            pytrace=False)
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def app_server(requirements, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[tuple[str, Path]]:
    """``streamlit run dashboard.py`` with a fresh store, shared by every browser test that
    does not need a server of its own: (base URL, server log)."""
    data_dir = tmp_path_factory.mktemp("e2e_store")
    log = data_dir.parent / "streamlit.log"
    with streamlit_server(data_dir, log) as url:
        yield url, log


@pytest.fixture(scope="session")
def server(app_server: tuple[str, Path]) -> str:
    """Base URL of the shared app (:func:`app_server`)."""
    return app_server[0]


@pytest.fixture(scope="session")
def server_log(app_server: tuple[str, Path]) -> Path:
    """The shared app's server log (stdout and stderr)."""
    return app_server[1]


@pytest.fixture(scope="session")
def browser(chromium_requirements):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    """A fresh browser context (= a new Streamlit session) and page."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    yield page
    context.close()


def wait_for_app(page, timeout: int = RERUN_TIMEOUT_MS) -> None:
    """Wait for a rerun to finish, as Streamlit's own e2e suite does."""
    page.wait_for_timeout(250)
    page.wait_for_selector("[data-testid='stApp'][data-test-connection-state='CONNECTED']",
                           timeout=timeout)
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']",
                           timeout=timeout)
    page.wait_for_function("document.querySelectorAll('[data-testid=stSkeleton]').length === 0",
                           timeout=timeout)


def open_page(page, url: str) -> None:
    page.goto(url)
    wait_for_app(page)


SWITCH_TIMES: list[tuple[str, str, float]] = []
"""Every timed page switch of the session: (test, page label, seconds from the click to the
end of the page's script run), printed at the end of the run (never asserted on)."""

# Records the times at which the app's script state changes, from before the click on.
_WATCH_SCRIPT_STATE = """() => {
  const app = document.querySelector("[data-testid=stApp]");
  if (window.__painpathObserver) window.__painpathObserver.disconnect();
  window.__painpathStates = [];
  window.__painpathObserver = new MutationObserver(() => window.__painpathStates.push(
    [performance.now(), app.getAttribute("data-test-script-state")]));
  window.__painpathObserver.observe(app, {attributes: true,
                                          attributeFilter: ["data-test-script-state"]});
  return performance.now();
}"""


def switch_page(page, label: str) -> float:
    """Click the sidebar link ``label`` (a page switch in the same session), wait for the
    rerun, record and return the seconds from the click to the end of the page's script run
    (the last change of the app's script state to "notRunning")."""
    link = page.get_by_test_id("stSidebar").locator("a").filter(
        has=page.get_by_text(label, exact=True)).first
    link.scroll_into_view_if_needed()
    start = page.evaluate(_WATCH_SCRIPT_STATE)
    link.click()
    wait_for_app(page)
    states = page.evaluate("() => window.__painpathStates")
    done = [t for t, state in states if state == "notRunning"]
    seconds = ((done[-1] if done else start) - start) / 1000
    test = os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0].split("::")[-1]
    SWITCH_TIMES.append((test, label, seconds))
    print(f"page switch to {label}: {seconds:.2f} s")
    return seconds


def pytest_terminal_summary(terminalreporter) -> None:
    """Print the page-switch times of the run (figures only: no test asserts on time)."""
    if not SWITCH_TIMES:
        return
    by_page: dict[str, list[float]] = {}
    for _, label, seconds in SWITCH_TIMES:
        by_page.setdefault(label, []).append(seconds)
    write = terminalreporter.write_line
    terminalreporter.section("page switches (click to end of the script run)")
    write(f"{'page':<20} {'switches':>8} {'median s':>9} {'max s':>7}")
    for label, times in sorted(by_page.items()):
        times.sort()
        median = times[len(times) // 2] if len(times) % 2 else (
            times[len(times) // 2 - 1] + times[len(times) // 2]) / 2
        write(f"{label:<20} {len(times):>8} {median:>9.2f} {max(times):>7.2f}")
    every = sorted(t for _, _, t in SWITCH_TIMES)
    over = sum(t > 1.0 for t in every)
    write(f"all: {len(every)} switches, median {every[len(every) // 2]:.2f} s, "
          f"max {every[-1]:.2f} s, {over} over 1 s")
