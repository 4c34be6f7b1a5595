"""Several app processes behind Debian's nginx (deploy/, `make serve`), sharing one store.

A real deployment per module: two ``streamlit run`` processes on free ports and one
temporary store, nginx in front rendered from deploy/nginx.conf.template.  Which process
served a request is read from nginx's access log (``upstream=``), never guessed.

- nginx sends new clients to the processes in turn and pins each with a cookie naming
  that process, so they spread over both processes although every test client comes from
  127.0.0.1 (``ip_hash`` would not), also when clients already hold websockets on one;
- a client with a cookie stays on its process for plain requests and its websocket, and a
  Streamlit session over that websocket runs the app through nginx; a cookie naming no
  process, or a process that stopped, gets the client a process of the pool, pinned anew;
- an upload saved in a browser served by one process is listed, on its next rerun, by a
  browser session that the other process had already served (and is shown there).

Skipped only when nginx is missing and cannot be installed (``make test`` installs it;
as root this test installs it too), or without Chromium for the browser test; in CI
(``CI`` set) those fail instead.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import time
import urllib.request
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from analytics import settings
from deploy.serve import deployment
from tests.e2e.conftest import free_port, missing, open_page, wait_for_app
from tests.e2e.test_browser import GENERIC_CSV, metrics, no_exception, save_as_new, upload

pytestmark = pytest.mark.e2e

COOKIE = "painpath_affinity"
LOG_LINE = re.compile(r'"(?P<request>[^"]*)" (?P<status>\d+) upstream=(?P<upstream>.+?) '
                      r"affinity=(?P<affinity>\S+) served=(?P<served>\S*)$")


def _nginx() -> None:
    """nginx must be there: installed from Debian when missing and running as root."""
    path = settings.nginx_path()
    if not path.exists() and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "nginx"], env=env,
                       capture_output=True)
    if not path.exists():
        missing(f"nginx not found at {path} (apt-get install nginx)")


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory):
    """Two app processes on one store behind nginx (free ports)."""
    _nginx()
    tmp = tmp_path_factory.mktemp("proxy")
    with deployment(2, port=free_port(), backend_ports=[free_port(), free_port()],
                    run_dir=tmp / "run", data_dir=tmp / "store") as deployed:
        yield deployed


def served(deployed) -> list[dict[str, str]]:
    """The access log's lines: request, status, upstream (the processes tried, the last
    answered), affinity (the request's cookie, ``-`` without), served (the number of the
    process that answered)."""
    return [m.groupdict() for m in map(LOG_LINE.search,
                                        deployed.access_log.read_text().splitlines()) if m]


def get(url: str, cookie: str | None = None) -> tuple[int, str | None]:
    """GET ``url`` (with the affinity cookie when given): status and the affinity cookie
    nginx set, if any."""
    request = urllib.request.Request(url, headers={"Cookie": f"{COOKIE}={cookie}"}
                                     if cookie else {})
    with urllib.request.urlopen(request, timeout=30) as response:
        cookies = [v for k, v in response.getheaders() if k.lower() == "set-cookie"]
        ours = [c.split(";")[0].split("=", 1)[1] for c in cookies if c.startswith(COOKIE)]
        return response.status, (ours[0] if ours else None)


def processes_of(deployed, cookies: list[str]) -> dict[str, set[str]]:
    """Cookie -> the processes (upstream addresses) that served its requests."""
    seen: dict[str, set[str]] = defaultdict(set)
    for line in served(deployed):
        if line["affinity"] in cookies:
            seen[line["affinity"]].add(line["upstream"])
    return seen


def process_of(deployed, cookie: str) -> str:
    """The process that served the cookie's requests (nginx logs a request just after
    answering it: wait for the line)."""
    deadline = time.monotonic() + 10
    while not (where := processes_of(deployed, [cookie]).get(cookie)):
        assert time.monotonic() < deadline, f"no access log line for {cookie}"
        time.sleep(0.05)
    assert len(where) == 1, where
    return next(iter(where))


def clients_on_two_processes(deployed) -> dict[str, str]:
    """Process -> the cookie of a new client nginx placed there, for both processes."""
    placed: dict[str, str] = {}
    for _ in range(8):
        _, cookie = get(f"{deployed.url}/")
        placed.setdefault(process_of(deployed, cookie), cookie)
        if len(placed) == 2:
            return placed
    raise AssertionError("nginx put 8 new clients on one process")


def test_nginx_spreads_new_clients_and_keeps_each_on_one_process(proxied) -> None:
    backends = [u.removeprefix("http://") for u in proxied.backend_urls]
    # 24 new clients, all from 127.0.0.1, one after the other: the pool takes turns
    # (no connection open), and each response pins the client to the process that answered
    cookies = []
    for _ in range(24):
        status, cookie = get(f"{proxied.url}/")
        assert status == 200 and cookie in ("1", "2")
        cookies.append(cookie)
    assert sorted(cookies) == ["1"] * 12 + ["2"] * 12
    # ... and the cookie keeps it there, whatever the path: no new cookie, same process
    for cookie in ("1", "2"):
        for path in ("/", "/_stcore/health", "/_stcore/host-config", "/Pathways"):
            assert get(f"{proxied.url}{path}", cookie) == (200, None)
    deadline = time.monotonic() + 10  # nginx logs a request just after answering it
    while sum(line["affinity"] in ("1", "2") for line in served(proxied)) < 8:
        assert time.monotonic() < deadline, "requests missing from the access log"
        time.sleep(0.05)
    assert processes_of(proxied, ["1", "2"]) == {"1": {backends[0]}, "2": {backends[1]}}
    first = [line for line in served(proxied) if line["affinity"] == "-"]
    assert {(line["upstream"], line["served"]) for line in first} == {
        (backends[0], "1"), (backends[1], "2")}


def test_new_clients_take_turns_while_the_pool_holds_a_websocket(proxied) -> None:
    """New clients while a page's websocket, opened through the pool (no cookie yet),
    stays open on one process: their first requests still take turns.  With
    ``least_conn`` they would all go to the other process, the one without an open
    connection — as a burst of first requests (the whole clinic opening the link at
    once) all went to the process that answered them faster."""
    from websockets.sync.client import connect

    ws_url = proxied.url.replace("http://", "ws://") + "/_stcore/stream"
    with connect(ws_url, subprotocols=["streamlit"], open_timeout=60):
        cookies = [get(f"{proxied.url}/")[1] for _ in range(10)]
    assert sorted(cookies) == ["1"] * 5 + ["2"] * 5


def test_an_unknown_cookie_gets_a_process_of_the_pool(proxied) -> None:
    status, cookie = get(f"{proxied.url}/", "9")  # e.g. a cookie of a larger deployment
    assert status == 200 and cookie in ("1", "2")


async def _run_session(ws_url: str, cookie: str) -> tuple[int, list[str]]:
    """Open a Streamlit session over a websocket through nginx with the cookie, run the
    app once; returns (script_finished status, exceptions and errors shown)."""
    from streamlit.proto.Alert_pb2 import Alert
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ClientState_pb2 import ClientState
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
    from websockets.asyncio.client import connect

    problems: list[str] = []
    async with connect(ws_url, subprotocols=["streamlit"], max_size=None, open_timeout=60,
                       additional_headers={"Cookie": f"{COOKIE}={cookie}"}) as ws:
        await ws.send(BackMsg(rerun_script=ClientState(query_string="")).SerializeToString())
        async with asyncio.timeout(120):
            async for raw in ws:
                msg = ForwardMsg.FromString(raw)
                kind = msg.WhichOneof("type")
                if kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
                    element = msg.delta.new_element
                    if element.WhichOneof("type") == "exception":
                        problems.append(element.exception.message)
                    elif (element.WhichOneof("type") == "alert"
                          and element.alert.format == Alert.ERROR):
                        problems.append(element.alert.body)
                if kind == "script_finished":
                    return msg.script_finished, problems
    raise AssertionError("the websocket closed before the script finished")


def test_a_websocket_session_stays_with_its_process(proxied) -> None:
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    logged = len(served(proxied))  # the other tests' lines before
    chosen = clients_on_two_processes(proxied)  # process -> cookie
    ws_url = proxied.url.replace("http://", "ws://") + "/_stcore/stream"
    for cookie in chosen.values():
        # a thread of its own: Playwright's sync API keeps an event loop running in this one
        with ThreadPoolExecutor(1) as pool:
            finished, problems = pool.submit(asyncio.run, _run_session(ws_url, cookie)).result()
        assert finished == ForwardMsg.FINISHED_SUCCESSFULLY
        assert problems == []
    for upstream, cookie in chosen.items():  # the websocket went where the cookie goes
        assert stream_lines(proxied, cookie, logged) == [(upstream, "101")]


def test_an_upload_through_one_process_appears_in_the_other(proxied, browser,
                                                            tmp_path: Path) -> None:
    """Browser A (served by one process) uploads a CSV; browser B, whose session the other
    process had already served, lists the new dataset on its next rerun and shows it."""
    (process_a, cookie_a), (process_b, cookie_b) = clients_on_two_processes(proxied).items()
    generic = tmp_path / "clinic_from_a.csv"
    generic.write_text(GENERIC_CSV)
    host = proxied.url.removeprefix("http://").split(":")[0]
    contexts = []
    try:
        pages = []
        for cookie in (cookie_a, cookie_b):
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            context.add_cookies([{"name": COOKIE, "value": cookie, "domain": host,
                                  "path": "/"}])
            contexts.append(context)
            pages.append(context.new_page())
        page_a, page_b = pages
        open_page(page_b, f"{proxied.url}/")  # B's session starts before the upload
        no_exception(page_b)
        assert "Clinic from A" not in _dataset_options(page_b)

        open_page(page_a, f"{proxied.url}/Data")
        upload(page_a, [generic])
        assert save_as_new(page_a, "Clinic from A").startswith("Created dataset Clinic from A")

        # B's next rerun (a page switch in the same session) lists and shows it
        page_b.get_by_test_id("stSidebar").locator("a").filter(
            has=page_b.get_by_text("Pathways", exact=True)).first.click()
        wait_for_app(page_b)
        assert "Clinic from A" in _dataset_options(page_b)
        page_b.get_by_test_id("stSelectbox").filter(
            has=page_b.get_by_text("Dataset", exact=True)).locator("input").fill("Clinic from A")
        page_b.get_by_role("option", name="Clinic from A", exact=True).click()
        wait_for_app(page_b)
        no_exception(page_b)
        page_b.get_by_test_id("stSidebar").locator("a").filter(
            has=page_b.get_by_text("Overview", exact=True)).first.click()
        wait_for_app(page_b)
        assert metrics(page_b)["Patients"] == "<11"  # 2 patients, a small cell
    finally:
        for context in contexts:
            context.close()
    # A and B really were served by the two processes, websockets included
    assert process_a != process_b
    assert process_of(proxied, cookie_a) == process_a
    assert process_of(proxied, cookie_b) == process_b
    assert {upstream for upstream, _ in stream_lines(proxied, cookie_a)} == {process_a}
    assert {upstream for upstream, _ in stream_lines(proxied, cookie_b)} == {process_b}


def stream_lines(deployed, cookie: str, after: int = 0) -> list[tuple[str, str]]:
    """(process, status) of the cookie's websocket requests, logged when they closed
    (after the first ``after`` lines of the access log)."""
    deadline = time.monotonic() + 10
    while True:
        lines = [(line["upstream"], line["status"]) for line in served(deployed)[after:]
                 if line["affinity"] == cookie and "/_stcore/stream" in line["request"]]
        if lines or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def _dataset_options(page) -> list[str]:
    """The options of the sidebar's Dataset selectbox (opens and closes the dropdown)."""
    box = page.get_by_test_id("stSelectbox").filter(has=page.get_by_text("Dataset", exact=True))
    box.locator("input").click()
    options = page.get_by_role("option").all_inner_texts()
    page.keyboard.press("Escape")
    return [o.strip() for o in options]


def test_a_client_of_a_stopped_process_is_served_by_the_other(proxied) -> None:
    """The last test of the module (it stops a process): a browser pinned to a process
    that stopped is answered by the other one and pinned to it."""
    stopped = proxied.apps[1]
    stopped.terminate()
    stopped.wait(timeout=30)
    status, cookie = get(f"{proxied.url}/_stcore/health", "2")
    assert (status, cookie) == (200, "1")
    assert get(f"{proxied.url}/_stcore/health", "1") == (200, None)
