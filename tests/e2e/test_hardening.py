"""Hardened deployment, checked against the real server in the real browser.

- Every page loads with no request to any host but the app's own
  ``127.0.0.1:<port>`` (no external fonts, scripts or telemetry): other hosts are
  blocked, recorded and must be none, so the pages also work with no internet.
- The file-upload endpoint (``PUT /_stcore/upload_file/<session>/<file id>`` in
  Streamlit 1.67) refuses a request without the XSRF token (403), while the same
  request with the browser's token is accepted — so the 403 is the XSRF check.
- No page shows a Python traceback, even with hostile URL parameters; and a script
  that raises shows only Streamlit's redacted notice while the traceback goes to
  the server log (``client.showErrorDetails = "none"`` from the project config).
- A file over the upload limit gets a clear message naming the limit, in the
  browser (Streamlit's uploader) and at ingest (``analytics.ingest``).
"""

from __future__ import annotations

import http.client
import time
import tomllib
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import ROOT, VIEWPORT, open_page, streamlit_server, wait_for_app

pytestmark = pytest.mark.e2e

PAGES = {  # sidebar label -> URL path
    "Overview": "/",
    "Pathways": "/Pathways",
    "Injections": "/Injections",
    "Narcotic courses": "/Narcotic_courses",
    "Opioid safety": "/Safety",
    "Outcomes": "/Outcomes",
    "Compare cohorts": "/Compare_cohorts",
    "Patient timeline": "/Patient_timeline",
    "Data": "/Data",
}
# URL parameters a user (or an attacker's link) can type: wrong types, unknown values,
# out-of-range numbers, an unknown dataset.
HOSTILE_QUERY = ("?dataset=nope&providers=%3Cscript%3E&sexes=Q&age_bands=200-300"
                 "&tried=teleportation&min_sessions=-5&max_sessions=abc&date_from=2024-13-45"
                 "&date_to=yesterday&era_gap_days=99999&min_cell=0&extract_date=x"
                 "&surgery_before_injection=maybe&diagnosis=%27%3B%20DROP%20TABLE%20events")
TRACEBACK_MARKERS = ("Traceback (most recent call last)", 'File "/', "site-packages")
LOCAL_SCHEMES = ("data:", "blob:", "about:")
CONFIG = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
MAX_UPLOAD_MB = int(CONFIG["server"]["maxUploadSize"])
FAKE_PHI = "Jane Q. Patient, MRN 0042-1337"


# --- helpers ------------------------------------------------------------------------------

def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}"


def _external(urls: list[str], server: str) -> list[str]:
    """URLs that go anywhere but the app's own host and port (http/https/ws/wss)."""
    own = _origin(server)
    return [u for u in urls if not u.startswith(LOCAL_SCHEMES) and _origin(u) != own]


def _no_traceback(text: str) -> None:
    for marker in TRACEBACK_MARKERS:
        assert marker not in text, f"traceback text {marker!r} on the page:\n{text[:2000]}"


def _status(request: urllib.request.Request) -> int:
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _multipart(name: str, data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"{name}\"\r\nContent-Type: text/csv\r\n\r\n").encode()
    body += data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


# --- fixtures -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def visits(server, browser) -> Iterator[dict[str, object]]:
    """Visit every page (plain, then with hostile URL parameters) in one browser context
    that records every request and blocks any to another host."""
    context = browser.new_context(viewport=VIEWPORT)
    requests: list[str] = []
    context.on("request", lambda r: requests.append(r.url))
    sockets: list[str] = []
    own = _origin(server)

    def guard(route) -> None:
        url = route.request.url
        if url.startswith(LOCAL_SCHEMES) or _origin(url) == own:
            route.continue_()
        else:
            route.abort()

    context.route("**/*", guard)
    page = context.new_page()
    page.on("websocket", lambda ws: sockets.append(ws.url))
    texts: dict[str, str] = {}
    errors: dict[str, int] = {}
    try:
        for label, path in PAGES.items():
            for suffix in ("", HOSTILE_QUERY):
                open_page(page, f"{server}{path}{suffix}")
                page.wait_for_timeout(500)  # lazy chunks (plotly), fonts, images
                key = label + (" (hostile URL)" if suffix else "")
                texts[key] = page.locator("body").inner_text()
                errors[key] = page.get_by_test_id("stException").count()
        # and through the sidebar links, as a user moves around
        open_page(page, server)
        for label in PAGES:
            page.get_by_test_id("stSidebar").locator("a").filter(
                has=page.get_by_text(label, exact=True)).first.click()
            wait_for_app(page)
            texts[f"{label} (sidebar link)"] = page.locator("body").inner_text()
            errors[f"{label} (sidebar link)"] = page.get_by_test_id("stException").count()
        yield {"requests": requests, "sockets": sockets, "texts": texts, "errors": errors}
    finally:
        context.close()


@pytest.fixture(scope="module")
def failing_app(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """``streamlit run`` of a script that raises with fake PHI in the message, from the
    repository root so that the project's ``.streamlit/config.toml`` applies (no CLI
    overrides of the error settings).  Yields (URL, server log path)."""
    folder = tmp_path_factory.mktemp("failing_app")
    script = folder / "boom.py"
    script.write_text(
        "import streamlit as st\n\n"
        "st.title('Before the error')\n\n\n"
        "def load(patient):\n"
        "    raise ValueError(f'cannot load {patient}')\n\n\n"
        f"load({FAKE_PHI!r})\n")
    log_path = folder / "streamlit.log"
    with streamlit_server(folder, log_path, script=str(script)) as url:
        yield url, log_path


@pytest.fixture(scope="module")
def upload_request(server, browser, tmp_path_factory) -> Iterator[dict[str, object]]:
    """A real upload from the Data page: the URL the browser PUT to, its XSRF header and
    the XSRF cookie (the session stays open while the tests replay the request)."""
    small = tmp_path_factory.mktemp("xsrf") / "tiny.csv"
    small.write_text("Patient,Visit date,CPT\nX1,2024-01-05,97110\n")
    context = browser.new_context(viewport=VIEWPORT)
    try:
        page = context.new_page()
        open_page(page, f"{server}/Data")
        with page.expect_request(lambda r: "/_stcore/upload_file/" in r.url
                                 and r.method == "PUT") as info:
            page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(small))
        wait_for_app(page)
        request = info.value
        cookies = {c["name"]: c["value"] for c in context.cookies(server)}
        yield {"url": request.url, "header": request.header_value("x-xsrftoken"),
               "cookie": cookies.get("_streamlit_xsrf"), "status": request.response().status}
    finally:
        context.close()


# --- (a) no outbound traffic --------------------------------------------------------------

def test_pages_request_nothing_but_the_app_itself(server, visits):
    requests = visits["requests"]
    assert any("/_stcore/" in u or u.rstrip("/") == server for u in requests)  # recorded
    assert len(visits["texts"]) == 3 * len(PAGES)
    assert _external(requests, server) == []
    assert visits["sockets"] and _external(visits["sockets"], server) == []


def test_external_request_detector():
    server = "http://127.0.0.1:8765"
    urls = ["http://127.0.0.1:8765/static/js/main.js", "ws://127.0.0.1:8765/_stcore/stream",
            "data:image/png;base64,AAAA", "blob:http://127.0.0.1:8765/3f2a",
            "https://fonts.googleapis.com/css2?family=Inter", "http://127.0.0.1:9999/x",
            "http://localhost:8765/", "https://webhooks.fivetran.com/webhooks/x"]
    assert _external(urls, server) == urls[4:]


# --- (b) XSRF on the upload endpoint ------------------------------------------------------

def test_upload_without_xsrf_token_is_refused(upload_request):
    assert upload_request["status"] == 204  # the browser's own upload went through
    assert upload_request["header"] and upload_request["cookie"]
    url = str(upload_request["url"])
    body, content_type = _multipart("evil.csv", b"Patient,Visit date,CPT\nE1,2024-01-01,97110\n")

    def put(headers: dict[str, str], method: str = "PUT") -> int:
        return _status(urllib.request.Request(
            url, data=body, method=method, headers={"Content-Type": content_type, **headers}))

    cookie = f"_streamlit_xsrf={upload_request['cookie']}"
    token = str(upload_request["header"])
    assert put({}) == 403  # no token at all
    assert put({"Cookie": cookie}) == 403  # cookie but no header (what a CSRF page can do)
    assert put({"X-Xsrftoken": token}) == 403  # header without the cookie
    assert put({"Cookie": "_streamlit_xsrf=2|00000000|" + "0" * 32 + "|1",
                "X-Xsrftoken": token}) == 403  # a forged cookie
    assert put({}, method="POST") in (403, 405)  # POST is no upload route at all
    assert _status(urllib.request.Request(url, method="DELETE")) == 403
    # the identical request with the browser's token is accepted: the 403s are the XSRF check
    assert put({"Cookie": cookie, "X-Xsrftoken": token}) == 204


def test_upload_over_the_limit_is_refused_by_the_server(upload_request):
    """Even with a valid token, a body announced over ``server.maxUploadSize`` gets 413
    before the server reads it."""
    parts = urlsplit(str(upload_request["url"]))
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.putrequest("PUT", parts.path)
        conn.putheader("Cookie", f"_streamlit_xsrf={upload_request['cookie']}")
        conn.putheader("X-Xsrftoken", str(upload_request["header"]))
        conn.putheader("Content-Type", "multipart/form-data; boundary=x")
        conn.putheader("Content-Length", str(MAX_UPLOAD_MB * 2**20 + 1))
        conn.endheaders()
        assert conn.getresponse().status == 413
    finally:
        conn.close()


# --- (c) no tracebacks for the user -------------------------------------------------------

@pytest.mark.parametrize("label", list(PAGES))
def test_no_page_shows_a_traceback(visits, label):
    for key in (label, f"{label} (hostile URL)", f"{label} (sidebar link)"):
        text = visits["texts"][key]
        assert len(text) > 50, key  # the page rendered something
        _no_traceback(text)
        assert visits["errors"][key] == 0, f"{key}: {text[:2000]}"


def test_an_app_error_is_redacted_for_the_user_and_logged(failing_app, page):
    url, log_path = failing_app
    open_page(page, url)
    assert page.get_by_text("Before the error").count() == 1
    text = page.locator("body").inner_text()
    _no_traceback(text)
    assert "Jane" not in text and "0042-1337" not in text and "cannot load" not in text
    assert "The original error message is redacted" in text
    deadline = time.monotonic() + 10
    log = ""
    while time.monotonic() < deadline and FAKE_PHI not in log:
        time.sleep(0.2)
        log = log_path.read_text(errors="replace")
    assert "Traceback" in log and f"ValueError: cannot load {FAKE_PHI}" in log


# --- (d) upload size limit ----------------------------------------------------------------

@pytest.fixture
def oversized(tmp_path) -> Path:
    """A sparse CSV one byte over the configured limit (no disk blocks, nothing written)."""
    path = tmp_path / "huge_export.csv"
    with path.open("wb") as f:
        f.write(b"Patient,Visit date,CPT\n")
        f.truncate(MAX_UPLOAD_MB * 2**20 + 1)
    return path


def test_browser_upload_over_the_limit_gets_a_clear_message(server, page, oversized):
    open_page(page, f"{server}/Data")
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(oversized))
    wait_for_app(page)
    uploader = page.get_by_test_id("stFileUploader")
    uploader.get_by_text(f"{MAX_UPLOAD_MB}", exact=False).first.wait_for(timeout=10_000)
    message = uploader.inner_text()
    assert "huge_export.csv" in message
    assert f"File must be {MAX_UPLOAD_MB:.1f}MB or smaller" in message, message
    assert page.get_by_test_id("stException").count() == 0
    assert page.get_by_role("button", name="Ingest and save").count() == 0  # nothing taken


def test_ingest_over_the_limit_names_the_limit(oversized, monkeypatch):
    from analytics import readers
    from analytics.ingest import IngestError, ingest

    if not hasattr(readers, "max_file_bytes"):
        pytest.skip("analytics.readers has no upload size limit yet")
    monkeypatch.delenv("PAINPATH_MAX_UPLOAD_MB", raising=False)
    assert readers.max_file_bytes() == MAX_UPLOAD_MB * 2**20  # same limit as the uploader
    with pytest.raises(IngestError) as info:
        ingest([oversized])
    message = str(info.value)
    assert "huge_export.csv" in message and f"the limit is {MAX_UPLOAD_MB} MB" in message
