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
def server(requirements, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of ``streamlit run dashboard.py`` with a fresh store."""
    data_dir = tmp_path_factory.mktemp("e2e_store")
    with streamlit_server(data_dir, data_dir.parent / "streamlit.log") as url:
        yield url


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
