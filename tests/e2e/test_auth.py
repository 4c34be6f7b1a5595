"""Access control end to end: a real OIDC provider, a real browser, a real server.

The tests start ``oidc-provider-mock`` (an OpenID Connect provider from PyPI) on a free
localhost port, write a temporary secrets.toml pointing ``st.login`` at it with a role map,
and start ``streamlit run dashboard.py --secrets.files <that file>``.  In Chromium, every
page shows only the login button; logging in goes through the provider's authorization
form (the test types the e-mail as the subject; the provider returns it as the ``email``
claim) and back to the app.  A physician sees the patient timeline, a manager does not
(no link; the direct URL shows a message), an unknown user sees only the no-access message.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import (
    VIEWPORT,
    free_port,
    missing,
    open_page,
    streamlit_server,
    wait_for_app,
)
from ui.auth import LOCAL_CAPTION, NO_ACCESS

pytestmark = pytest.mark.e2e

PHYSICIAN = "doc@clinic.example"
MANAGER = "Boss@Clinic.example"  # the role map lists it in lower case
STRANGER = "stranger@elsewhere.example"
PAGES = ("/", "/Pathways", "/Injections", "/Narcotic_courses", "/Compare_cohorts",
         "/Patient_timeline", "/Data")
TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def oidc_provider(chromium_requirements) -> Iterator[str]:
    """Base URL of an OIDC provider (oidc-provider-mock) on 127.0.0.1 and a free port."""
    try:
        import oidc_provider_mock
        import werkzeug.serving
    except ImportError:
        missing("oidc-provider-mock is not installed (requirements-dev.txt)")
    try:
        import authlib  # noqa: F401  (st.login needs it on the server side)
    except ImportError:
        missing("Authlib is not installed (requirements.txt)")
    server = werkzeug.serving.make_server("127.0.0.1", 0, oidc_provider_mock.app(),
                                          threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()


@pytest.fixture(scope="module")
def auth_server(oidc_provider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A second PainPath server with [auth] and [painpath.roles] from a temporary
    secrets.toml (never the repository's)."""
    base = tmp_path_factory.mktemp("e2e_auth")
    port = free_port()
    secrets_file = base / "secrets.toml"
    secrets_file.write_text(f"""
[auth]
redirect_uri = "http://127.0.0.1:{port}/oauth2callback"
cookie_secret = "{secrets.token_hex(32)}"
client_id = "painpath-e2e"
client_secret = "{secrets.token_hex(16)}"
server_metadata_url = "{oidc_provider}/.well-known/openid-configuration"

[painpath.roles]
physicians = ["{PHYSICIAN}"]
managers = ["{MANAGER.lower()}"]
""")
    data_dir = base / "store"
    data_dir.mkdir()
    with streamlit_server(data_dir, base / "streamlit.log",
                          ["--secrets.files", str(secrets_file)], port=port) as url:
        yield url


@pytest.fixture
def context(browser):
    """A fresh browser context (no cookies) that may only reach localhost: the provider's
    form links a CSS file on a CDN, and no test may depend on the internet."""
    context = browser.new_context(viewport=VIEWPORT)
    context.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/]|localhost[:/])"),
                  lambda route: route.abort())
    yield context
    context.close()


# --- helpers ------------------------------------------------------------------------------

def no_exception(page) -> None:
    errors = page.get_by_test_id("stException")
    assert errors.count() == 0, errors.all_inner_texts()


def button(page, label: str):
    return page.get_by_test_id("stButton").get_by_role("button", name=label, exact=True)


def log_in(context, app_url: str, email: str):
    """Open the Overview, click "Log in", authorize ``email`` on the provider's form and
    return the page once the app has loaded again."""
    page = context.new_page()
    open_page(page, f"{app_url}/")
    button(page, "Log in").click()
    page.wait_for_url(re.compile(r".*/oauth2/authorize.*"), timeout=TIMEOUT_MS)
    page.locator("input[name=sub]").fill(email)
    page.get_by_role("button", name="Authorize", exact=True).click()
    page.wait_for_url(re.compile(re.escape(app_url) + r"/?$"), timeout=TIMEOUT_MS)
    wait_for_app(page)
    no_exception(page)
    return page


def nav_links(page) -> list[str]:
    """Labels of the sidebar's page links (the icon's ligature text is on its own line)."""
    return [t.strip().splitlines()[-1].strip()
            for t in page.get_by_test_id("stPageLink").all_inner_texts()]


def sidebar_text(page) -> str:
    return page.get_by_test_id("stSidebar").inner_text()


def data_elements(page) -> int:
    """Metrics, charts, tables and dataset pickers on the page."""
    return sum(page.get_by_test_id(t).count()
               for t in ("stMetric", "stPlotlyChart", "stDataFrame", "stSelectbox",
                         "stFileUploaderDropzoneInput"))


# --- tests --------------------------------------------------------------------------------

def test_every_page_requires_login(auth_server, context):
    page = context.new_page()
    for path in PAGES:
        open_page(page, f"{auth_server}{path}")
        no_exception(page)
        assert button(page, "Log in").count() == 1, path
        assert data_elements(page) == 0, path
        assert nav_links(page) == [], path
        assert LOCAL_CAPTION not in page.inner_text("body")


def test_physician_logs_in_and_sees_everything(auth_server, context):
    page = log_in(context, auth_server, PHYSICIAN)
    assert page.get_by_test_id("stMetric").count() >= 8
    assert f"Logged in as {PHYSICIAN} · physician" in sidebar_text(page)
    assert "Patient timeline" in nav_links(page)
    page.get_by_test_id("stPageLink").filter(has_text="Patient timeline").click()
    page.wait_for_url(re.compile(r".*/Patient_timeline.*"), timeout=TIMEOUT_MS)
    wait_for_app(page)
    no_exception(page)
    assert page.get_by_test_id("stPlotlyChart").count() == 1
    assert page.get_by_test_id("stAlertContentWarning").count() == 0
    # a new session in the same browser (cookie): a deep link opens directly
    open_page(page, f"{auth_server}/Injections")
    assert page.get_by_text("Windows over the limit (patient level)").count() == 1


def test_manager_sees_aggregates_only(auth_server, context):
    page = log_in(context, auth_server, MANAGER)
    assert page.get_by_test_id("stMetric").count() >= 8
    assert f"Logged in as {MANAGER} · manager" in sidebar_text(page)
    links = nav_links(page)
    assert "Injections" in links
    assert "Patient timeline" not in links
    open_page(page, f"{auth_server}/Patient_timeline")
    no_exception(page)
    assert "The patient timeline is not available for your role (manager)" in page.inner_text(
        "body")
    assert page.get_by_test_id("stPlotlyChart").count() == 0
    assert page.get_by_test_id("stDataFrame").count() == 0
    open_page(page, f"{auth_server}/Injections")
    no_exception(page)
    assert page.get_by_test_id("stPlotlyChart").count() >= 1
    assert page.get_by_text("Windows over the limit (patient level)").count() == 0


def test_unknown_user_sees_nothing(auth_server, context):
    page = log_in(context, auth_server, STRANGER)
    for path in ("/", "/Injections", "/Data"):
        if path != "/":
            open_page(page, f"{auth_server}{path}")
        no_exception(page)
        assert NO_ACCESS in page.inner_text("body"), path
        assert button(page, "Log out").count() == 1
        assert data_elements(page) == 0, path
        assert nav_links(page) == [], path
