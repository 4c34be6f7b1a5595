"""Every PAINPATH_* variable is read in analytics/settings.py."""

import re
from pathlib import Path

import pytest

from analytics import settings

ROOT = Path(__file__).resolve().parents[1]


def test_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.delenv("PAINPATH_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)  # the default does not depend on the working directory
    assert settings.data_dir() == ROOT / "data"
    monkeypatch.setenv("PAINPATH_DATA_DIR", str(tmp_path / "store"))
    assert settings.data_dir() == tmp_path / "store"
    monkeypatch.setenv("PAINPATH_DATA_DIR", "  ")
    assert settings.data_dir() == ROOT / "data"


@pytest.mark.parametrize(("value", "enabled"), [
    (None, True), ("on", True), ("", True), ("off", False), ("OFF ", False), ("0", False),
    ("false", False), ("no", False), ("yes", True)])
def test_patient_views(monkeypatch: pytest.MonkeyPatch, value, enabled):
    if value is None:
        monkeypatch.delenv("PAINPATH_PATIENT_VIEWS", raising=False)
    else:
        monkeypatch.setenv("PAINPATH_PATIENT_VIEWS", value)
    assert settings.patient_views_enabled() is enabled


@pytest.mark.parametrize(("value", "mb"), [
    (None, 200), ("1", 1), ("0.5", 0.5), ("0", 200), ("-3", 200), ("lots", 200),
    ("inf", 200), ("nan", 200)])
def test_max_upload(monkeypatch: pytest.MonkeyPatch, value, mb):
    if value is None:
        monkeypatch.delenv("PAINPATH_MAX_UPLOAD_MB", raising=False)
    else:
        monkeypatch.setenv("PAINPATH_MAX_UPLOAD_MB", value)
    assert settings.max_upload_bytes() == int(mb * 2**20)


def test_test_settings(monkeypatch: pytest.MonkeyPatch):
    for name in ("PAINPATH_CHROMIUM", "PAINPATH_FUZZ_SEED", "PAINPATH_FUZZ_EXAMPLES"):
        monkeypatch.delenv(name, raising=False)
    assert settings.chromium_path() == Path("/usr/bin/chromium")
    assert (settings.fuzz_seed(), settings.fuzz_examples()) == (20260526, 0)
    monkeypatch.setenv("PAINPATH_CHROMIUM", "/opt/chromium")
    monkeypatch.setenv("PAINPATH_FUZZ_SEED", "7")
    monkeypatch.setenv("PAINPATH_FUZZ_EXAMPLES", "200000")
    assert settings.chromium_path() == Path("/opt/chromium")
    assert (settings.fuzz_seed(), settings.fuzz_examples()) == (7, 200000)


def test_no_other_module_reads_a_painpath_variable():
    """The settings module is the one reader (the upload limit in analytics/readers.py
    still reads its own until the ingest package uses settings.max_upload_bytes)."""
    readers = []
    for path in [*ROOT.glob("analytics/**/*.py"), *ROOT.glob("ui/*.py"),
                 *ROOT.glob("pages/*.py"), ROOT / "dashboard.py",
                 *ROOT.glob("benchmarks/*.py"), *ROOT.glob("deploy/*.py"),
                 *ROOT.glob("tests/**/*.py")]:
        text = path.read_text(encoding="utf-8")
        if re.search(r"environ(\.get)?\(\s*[\"']PAINPATH_|getenv\(\s*[\"']PAINPATH_", text):
            readers.append(str(path.relative_to(ROOT)))
    assert set(readers) <= {"analytics/readers.py"}, readers


def test_nginx_path(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("PAINPATH_NGINX", raising=False)
    assert settings.nginx_path() == Path("/usr/sbin/nginx")
    monkeypatch.setenv("PAINPATH_NGINX", "/opt/nginx/sbin/nginx")
    assert settings.nginx_path() == Path("/opt/nginx/sbin/nginx")
