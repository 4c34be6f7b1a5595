"""Access control: who may open PainPath, and what each role sees.

Two modes, chosen by ``.streamlit/secrets.toml``:

* **local** (no ``[auth]`` section): no login; everyone is a physician.  The
  server is meant to listen on ``127.0.0.1`` only (``server.address`` in
  ``.streamlit/config.toml``); the sidebar says so, and every page shows a
  warning when the configured address is not a loopback address.
* **oidc** (an ``[auth]`` section for ``st.login``): every page requires a
  login through the OpenID Connect provider.  The role comes from
  ``[painpath.roles]``::

      [painpath.roles]
      physicians = ["dr.a@clinic.example", "domain:physicians.clinic.example"]
      managers = ["manager@clinic.example"]

  Entries are e-mail addresses (case-insensitive) or ``domain:<domain>``
  (every address of that domain).  A user in both lists is a manager (least
  privilege).  A user in neither list, or whose provider says the e-mail is
  not verified, has no access.

Roles: **physicians** see everything; **managers** see aggregates only — no
patient timeline, no patient-level table or download (see
:func:`patient_level_allowed`).  Both roles may upload and manage datasets on
the Data page (a practice manager usually pulls the EHR export); the upload
preview and the rejected-rows download are physician-only.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import streamlit as st

Mode = Literal["local", "oidc"]
Role = Literal["physician", "manager"]

PATIENT_LEVEL_PAGES: frozenset[str] = frozenset({"Patient timeline"})
"""Page titles (as passed to ``page_setup``) that show one patient's data."""

LOCAL_CAPTION = "Local mode: no login; served on 127.0.0.1 only."
NO_ACCESS = "You have no access to PainPath; ask an administrator."
ROLE_NOT_ALLOWED = ("The {page} is not available for your role ({role}): it shows "
                    "patient-level data.")


@dataclass(frozen=True)
class Access:
    """The current session's access: ``mode`` "local" | "oidc", the logged-in ``user``'s
    e-mail (None in local mode or when logged out) and ``role`` ("physician", "manager",
    or None = no access)."""

    mode: Mode
    user: str | None
    role: Role | None

    @property
    def patient_level(self) -> bool:
        """Whether this access may see patient-level views and downloads."""
        return self.role == "physician"


def _secrets() -> Mapping[str, Any]:
    """``st.secrets`` as a plain mapping; empty when no secrets file exists."""
    try:
        return st.secrets.to_dict()
    except FileNotFoundError:  # StreamlitSecretNotFoundError: no (readable) secrets file
        return {}


def auth_configured(secrets: Mapping[str, Any] | None = None) -> bool:
    """Whether an ``[auth]`` section (``st.login``) is configured."""
    secrets = _secrets() if secrets is None else secrets
    return isinstance(secrets.get("auth"), Mapping) and bool(secrets["auth"])


def providers(secrets: Mapping[str, Any]) -> list[str | None]:
    """Login providers of the ``[auth]`` section: ``[None]`` for the unnamed default provider
    (``client_id`` directly under ``[auth]``), else the names of the ``[auth.<name>]``
    sections.  ``[painpath] login_provider = "<name>"`` picks one explicitly."""
    chosen = secrets.get("painpath", {}).get("login_provider")
    if chosen:
        return [str(chosen)]
    auth = secrets.get("auth", {})
    if "client_id" in auth:
        return [None]
    return [name for name, value in auth.items() if isinstance(value, Mapping)] or [None]


def _entries(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, Sequence):
        return []
    return [str(v).strip().lower() for v in value if str(v).strip()]


def _matches(email: str, entries: Sequence[str]) -> bool:
    domain = email.rsplit("@", 1)[-1] if "@" in email else None
    for entry in entries:
        if entry == email:
            return True
        if domain and entry.startswith("domain:") and entry[len("domain:"):].lstrip("@") == domain:
            return True
    return False


def role_for(email: str | None, roles: Mapping[str, Any]) -> Role | None:
    """The role of ``email`` in the role map ``roles`` (``managers`` / ``physicians`` lists of
    e-mails or ``domain:<domain>`` entries, case-insensitive).  Manager wins over physician
    (least privilege); None when the address is in neither list."""
    if not email or not email.strip():
        return None
    email = email.strip().lower()
    if _matches(email, _entries(roles.get("managers"))):
        return "manager"
    if _matches(email, _entries(roles.get("physicians"))):
        return "physician"
    return None


def _user() -> dict[str, Any]:
    try:
        return dict(st.user.to_dict())
    except Exception:  # no script run context: nobody is logged in
        return {}


def access() -> Access:
    """The current session's :class:`Access` (cheap; reads secrets and ``st.user``)."""
    secrets = _secrets()
    if not auth_configured(secrets):
        return Access("local", None, "physician")
    user = _user()
    if not user.get("is_logged_in"):
        return Access("oidc", None, None)
    email = user.get("email")
    email = str(email).strip() if email else None
    if user.get("email_verified") is False:
        return Access("oidc", email, None)
    roles = secrets.get("painpath", {}).get("roles", {})
    return Access("oidc", email, role_for(email, roles if isinstance(roles, Mapping) else {}))


def is_loopback(address: str | None) -> bool:
    """Whether the server address only accepts connections from this machine.  An empty
    address means every interface (Streamlit's default), so it is not loopback."""
    if not address:
        return False
    address = address.strip().strip("[]")
    if address.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def server_address() -> str | None:
    """The configured ``server.address`` (None or empty: every network interface)."""
    return st.get_option("server.address")


def _login_screen(secrets: Mapping[str, Any]) -> None:
    st.title("PainPath")
    st.info("PainPath shows data about patients of this clinic. Please log in with your clinic "
            "account to continue.", icon="🔒")
    names = providers(secrets)
    for name in names:
        label = "Log in" if len(names) == 1 or name is None else f"Log in with {name}"
        if st.button(label, key=f"login_{name or 'default'}", type="primary"):
            if name is None:
                st.login()
            else:
                st.login(name)


def _logout_button(key: str) -> None:
    # As a callback: the run that follows the click already sees the logged-out user.
    st.button("Log out", key=key, icon=":material/logout:", on_click=st.logout)


def require_access() -> Access:
    """Gate the current page: called by ``page_setup`` on every page, right after
    ``set_page_config``.  With login configured, shows the login screen to a logged-out
    user and the no-access message (with a Log out button) to a user without a role, and
    stops the script in both cases; otherwise returns the session's :class:`Access`."""
    current = access()
    if current.mode == "local" or current.role is not None:
        return current
    if not _user().get("is_logged_in"):
        _login_screen(_secrets())
    else:
        st.title("PainPath")
        st.error(NO_ACCESS + (f" (logged in as {current.user})" if current.user else ""),
                 icon="⛔")
        _logout_button("logout_no_access")
    st.stop()


def show_access(current: Access) -> None:
    """The sidebar's access line: the local-mode notice, or the user's e-mail, role and a
    Log out button.  In local mode on a non-loopback server address, a warning on the page."""
    if current.mode == "local":
        address = server_address()
        if is_loopback(address):
            st.sidebar.caption(LOCAL_CAPTION)
        else:
            st.sidebar.caption("Local mode: no login.")
            st.warning(
                "No login is configured, but the server listens on "
                f"{address or 'all network interfaces'!r}: anyone who can reach it sees the "
                "data. Set `server.address = \"127.0.0.1\"` in .streamlit/config.toml, or "
                "configure login ([auth] in .streamlit/secrets.toml).", icon="⚠️")
        return
    with st.sidebar:
        st.caption(f"Logged in as **{current.user}** · {current.role}")
        _logout_button("logout")


def require_page(page: str, current: Access) -> None:
    """Stop a patient-level page (:data:`PATIENT_LEVEL_PAGES`) for a role that may not see
    patient-level data, with a message saying so."""
    if page in PATIENT_LEVEL_PAGES and not current.patient_level:
        st.title(page)
        st.warning(ROLE_NOT_ALLOWED.format(page=page.lower(), role=current.role), icon="🔒")
        st.stop()


def patient_level_allowed() -> bool:
    """Whether the current session's role may see patient-level views and downloads."""
    return access().patient_level
