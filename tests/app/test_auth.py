"""Access control in AppTest: login on every page, roles from the role map, local mode.

``at.secrets`` configures ``[auth]`` (st.login) and ``[painpath.roles]``; ``at.user``
plays the identity cookie (``is_logged_in`` and the ``email`` claim).
"""

from __future__ import annotations

import pytest

from tests.app.conftest import PAGES, metrics, run_page
from tests.app.test_data_page import GENERIC_CSV
from ui import auth
from ui.auth import LOCAL_CAPTION, NO_ACCESS, Access, is_loopback, providers, role_for

PHYSICIAN = "Dr.Ada@Clinic.example"
MANAGER = "manager@clinic.example"
ROLES = {"physicians": ["dr.ada@clinic.example", "domain:physicians.example"],
         "managers": [MANAGER]}
AUTH = {
    "redirect_uri": "http://127.0.0.1:8501/oauth2callback",
    "cookie_secret": "test-cookie-secret-that-is-long-enough",
    "client_id": "painpath", "client_secret": "secret",
    "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",
}
KPI = "Patients"  # an Overview metric


def _configure(at, user: dict | None):
    at.secrets["auth"] = AUTH
    at.secrets["painpath"] = {"roles": ROLES}
    at.user = user if user is not None else {"is_logged_in": False}
    return at


def _login(email: str) -> dict:
    return {"is_logged_in": True, "email": email}


def _buttons(at) -> list[str]:
    return [b.label for b in at.button]


def _captions(at) -> list[str]:
    return [c.value for c in at.sidebar.caption]


def _windows_expanders(at) -> list[str]:
    return [e.label for e in at.expander if e.label.startswith("Windows over the limit")]


# --- pure helpers ---------------------------------------------------------------------------

def test_role_map_is_case_insensitive_supports_domains_and_prefers_manager():
    assert role_for("DR.ADA@clinic.EXAMPLE", ROLES) == "physician"
    assert role_for("  manager@clinic.example ", ROLES) == "manager"
    assert role_for("anyone@physicians.example", ROLES) == "physician"
    assert role_for("anyone@sub.physicians.example", ROLES) is None
    assert role_for("someone@clinic.example", ROLES) is None
    assert role_for("physicians.example", ROLES) is None  # not an address of the domain
    assert role_for(None, ROLES) is None
    assert role_for("", ROLES) is None
    both = {"physicians": ["x@c.example"], "managers": ["X@C.example"]}
    assert role_for("x@c.example", both) == "manager"
    assert role_for("x@c.example", {"physicians": "x@c.example"}) == "physician"
    assert role_for("x@c.example", {}) is None


def test_loopback_addresses():
    for address in ("127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"):
        assert is_loopback(address), address
    for address in (None, "", "0.0.0.0", "::", "10.0.0.5", "clinic-server"):
        assert not is_loopback(address), address


def test_providers_default_named_and_explicit():
    assert providers({"auth": AUTH}) == [None]
    named = {"auth": {"redirect_uri": "x", "cookie_secret": "y",
                      "okta": {"client_id": "a"}, "entra": {"client_id": "b"}}}
    assert providers(named) == ["okta", "entra"]
    assert providers({**named, "painpath": {"login_provider": "entra"}}) == ["entra"]


def test_access_patient_level_only_for_physicians():
    assert Access("local", None, "physician").patient_level
    assert Access("oidc", "a@b", "physician").patient_level
    assert not Access("oidc", "a@b", "manager").patient_level
    assert not Access("oidc", "a@b", None).patient_level


# --- login required on every page -----------------------------------------------------------

@pytest.mark.parametrize("page", list(PAGES))
def test_logged_out_user_sees_only_the_login_button_on_every_page(app, page):
    at = _configure(app(page), None).run()
    assert not at.exception
    assert _buttons(at) == ["Log in"]
    assert not at.metric
    assert not at.dataframe
    assert not at.get("plotly_chart")
    assert not at.selectbox  # no sidebar: no dataset picker, no filters
    assert not at.file_uploader
    assert [t.value for t in at.title] == ["PainPath"]


def test_named_provider_gets_its_own_login_button(app):
    at = app("overview")
    at.secrets["auth"] = {"redirect_uri": AUTH["redirect_uri"],
                          "cookie_secret": AUTH["cookie_secret"],
                          "clinic": {k: AUTH[k] for k in ("client_id", "client_secret",
                                                          "server_metadata_url")}}
    at.user = {"is_logged_in": False}
    at.run()
    assert not at.exception
    assert _buttons(at) == ["Log in"]
    assert at.button(key="login_clinic")
    assert not at.metric


@pytest.mark.parametrize("page", list(PAGES))
def test_unknown_user_sees_no_access_and_nothing_else_on_every_page(app, page):
    at = _configure(app(page), _login("stranger@elsewhere.example")).run()
    assert not at.exception
    assert [e.value for e in at.error] == [
        NO_ACCESS + " (logged in as stranger@elsewhere.example)"]
    assert _buttons(at) == ["Log out"]
    assert not at.metric
    assert not at.dataframe
    assert not at.get("plotly_chart")
    assert not at.selectbox


def test_unverified_email_has_no_access(app):
    at = _configure(app("overview"), {**_login(PHYSICIAN), "email_verified": False}).run()
    assert not at.exception
    assert at.error and at.error[0].value.startswith(NO_ACCESS)
    assert not at.metric


def test_logged_in_without_role_map_has_no_access(app):
    at = app("overview")
    at.secrets["auth"] = AUTH
    at.user = _login(PHYSICIAN)
    at.run()
    assert not at.exception
    assert at.error and at.error[0].value.startswith(NO_ACCESS)
    assert not at.metric


def test_log_out_button_logs_out(app):
    at = _configure(app("overview"), _login(MANAGER)).run()
    assert metrics(at)
    at.button(key="logout").click().run()
    assert not at.exception
    assert _buttons(at) == ["Log in"]
    assert not at.metric


# --- manager: aggregates only ---------------------------------------------------------------

def test_manager_sees_overview_metrics_and_who_is_logged_in(app):
    at = _configure(app("overview"), _login(MANAGER)).run()
    assert not at.exception
    assert KPI in metrics(at)
    assert at.dataframe  # the aggregate physician table
    assert f"Logged in as **{MANAGER}** · manager" in _captions(at)
    assert "Log out" in _buttons(at)
    assert LOCAL_CAPTION not in _captions(at)


def test_manager_cannot_open_the_patient_timeline(app):
    at = _configure(app("timeline"), _login(MANAGER)).run()
    assert not at.exception
    assert [w.value for w in at.warning] == [
        "The patient timeline is not available for your role (manager): it shows "
        "patient-level data."]
    assert not at.get("plotly_chart")
    assert not at.dataframe
    assert not at.metric
    assert "patient" not in [s.key for s in at.selectbox]


def test_manager_sees_injection_aggregates_without_the_patient_level_windows(app):
    at = _configure(app("overview"), _login(MANAGER)).run()
    run_page(at, "injections")
    assert not at.exception
    assert at.get("plotly_chart")
    assert not _windows_expanders(at)
    assert not [d for d in at.get("download_button") if "windows" in d.proto.label.lower()]


def test_manager_may_upload_but_gets_no_rejected_rows_download(app):
    at = _configure(app("data"), _login(MANAGER)).run()
    at.file_uploader(key="uploads").set_value(("mgr.csv", GENERIC_CSV, "text/csv")).run()
    # The file's rows are patient-level: no preview for a manager, only the mapping.
    assert not [d for d in at.dataframe if "Patient" in d.value.columns]
    at.button(key="save").click().run()
    assert not at.exception
    assert [s.value for s in at.success] == ["Created dataset **mgr** with 3 events."]
    assert metrics(at)["Rejected"] == "1"
    reasons = [d.value for d in at.dataframe if list(d.value.columns) == ["file", "reason", "rows"]]
    assert [r["rows"].sum() for r in reasons] == [1]  # rejected rows by reason: aggregate
    assert not at.get("download_button")


# --- physician: everything ------------------------------------------------------------------

def test_physician_sees_everything(app):
    user = _login(PHYSICIAN)
    at = _configure(app("overview"), user).run()
    assert not at.exception
    assert KPI in metrics(at)
    assert f"Logged in as **{PHYSICIAN}** · physician" in _captions(at)
    run_page(at, "injections")
    assert not at.exception
    assert _windows_expanders(at)

    at = _configure(app("timeline"), user).run()
    assert not at.exception
    assert not at.warning
    assert len(at.get("plotly_chart")) == 1
    assert at.selectbox(key="patient").value
    assert at.dataframe  # the patient's events, with its download

    at = _configure(app("data"), user).run()
    at.file_uploader(key="uploads").set_value(("doc.csv", GENERIC_CSV, "text/csv")).run()
    assert [d for d in at.dataframe if "Patient" in d.value.columns]  # the preview
    at.button(key="save").click().run()
    assert not at.exception
    assert [d.proto.label for d in at.get("download_button")] == [
        "Download rejected rows (CSV)"]


def test_physician_by_domain_entry(app):
    at = _configure(app("timeline"), _login("New.Doctor@Physicians.example")).run()
    assert not at.exception
    assert not at.warning
    assert len(at.get("plotly_chart")) == 1


# --- local mode (no [auth]) -----------------------------------------------------------------

@pytest.mark.parametrize("page", list(PAGES))
def test_local_mode_has_no_login_and_says_it_is_localhost_only(app, page):
    at = app(page).run()
    assert not at.exception
    assert LOCAL_CAPTION in _captions(at)
    assert "Log in" not in _buttons(at)
    assert "Log out" not in _buttons(at)
    assert not at.warning  # .streamlit/config.toml binds to 127.0.0.1


def test_local_mode_shows_everything(app):
    at = app("overview").run()
    assert KPI in metrics(at)
    run_page(at, "injections")
    assert _windows_expanders(at)
    at = app("timeline").run()
    assert len(at.get("plotly_chart")) == 1


@pytest.mark.parametrize("address", ["0.0.0.0", ""])
def test_local_mode_warns_on_every_page_when_not_bound_to_loopback(app, monkeypatch, address):
    monkeypatch.setattr(auth, "server_address", lambda: address or None)
    for page in PAGES:
        at = app(page).run()
        assert not at.exception
        warnings = [w.value for w in at.warning]
        assert len(warnings) == 1, (page, warnings)
        assert warnings[0].startswith("No login is configured, but the server listens on")
        assert LOCAL_CAPTION not in _captions(at)
        assert "Local mode: no login." in _captions(at)


def test_secrets_template_configures_login_and_roles(app):
    """The documented template (.streamlit/secrets.example.toml) works as written."""
    import tomllib

    from tests.app.conftest import ROOT

    template = tomllib.loads((ROOT / ".streamlit" / "secrets.example.toml").read_text())
    assert {"redirect_uri", "cookie_secret", "client_id", "client_secret",
            "server_metadata_url"} <= set(template["auth"])
    at = app("timeline")
    for section, value in template.items():
        at.secrets[section] = value
    at.user = _login("Practice.Manager@clinic.example")
    at.run()
    assert not at.exception
    assert at.warning[0].value.startswith("The patient timeline is not available")
    at.user = _login("someone@physicians.clinic.example")
    at.run()
    assert not at.exception
    assert len(at.get("plotly_chart")) == 1
