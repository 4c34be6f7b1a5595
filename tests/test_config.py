"""The hardened Streamlit configuration in ``.streamlit/config.toml``.

Two layers: the file itself (parsed with tomllib) and what Streamlit makes of it
(``streamlit config show`` run from the repository root).  The second catches a
misspelt key or section, which Streamlit ignores silently: the effective value
would then be the default (for ``maxUploadSize`` the default is even the same
number), so each value must also be reported as *set in* the project's file.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / ".streamlit" / "config.toml"

HARDENED: dict[tuple[str, str], object] = {
    ("browser", "gatherUsageStats"): False,  # no usage statistics leave the clinic
    ("server", "enableXsrfProtection"): True,  # uploads need the XSRF token
    ("server", "address"): "127.0.0.1",  # loopback only unless deliberately changed
    ("server", "headless"): True,
    ("server", "fileWatcherType"): "none",
    ("client", "showErrorDetails"): "none",  # tracebacks may contain PHI: logs only
    ("runner", "magicEnabled"): False,  # a bare expression never renders data by accident
}
MAX_UPLOAD_MB = 200


@pytest.fixture(scope="module")
def file_config() -> dict:
    with CONFIG.open("rb") as f:
        return tomllib.load(f)


def _parse_config_show(text: str) -> tuple[dict, dict[tuple[str, str], str]]:
    """Values and origins from the output of ``streamlit config show``.

    The output is TOML whose defaults are commented out; an option set somewhere is an
    uncommented ``key = value`` line preceded by a comment "The value below was set in
    <file>".  Returns ``({section: {key: value}}, {(section, key): origin file})``.
    """
    values: dict[str, dict] = {}
    origins: dict[tuple[str, str], str] = {}
    section = ""
    origin = ""
    for line in text.splitlines():
        header = re.fullmatch(r"\[([\w.]+)\]", line.strip())
        if header and not line.startswith((" ", "#")):
            section = header.group(1)
            values.setdefault(section, {})
            continue
        where = re.search(r"The value below was set in (.+?)\s*$", line)
        if where and line.startswith("#"):
            origin = where.group(1)
            continue
        if re.match(r"[A-Za-z]\w* = ", line):
            key = line.split(" = ", 1)[0]
            values[section].update(tomllib.loads(line))
            if origin:
                origins[(section, key)] = origin
            origin = ""
    return values, origins


@pytest.fixture(scope="module")
def show_output() -> str:
    """Output (stdout and stderr) of ``streamlit config show`` in the repository root."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMLIT_")}
    result = subprocess.run(
        [sys.executable, "-m", "streamlit", "config", "show"], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout + "\n" + result.stderr


@pytest.fixture(scope="module")
def effective(show_output: str) -> tuple[dict, dict[tuple[str, str], str]]:
    return _parse_config_show(show_output)


def test_parser_reads_values_and_origins():
    text = ("[server]\n\n# Doc line.\n# Default: \"\"\n# port = 8501\n"
            "# The value below was set in /x/.streamlit/config.toml\naddress = \"127.0.0.1\"\n\n"
            "# maxUploadSize = 200\nmaxMessageSize = 300\n[theme.sidebar]\n# base = \"dark\"\n")
    values, origins = _parse_config_show(text)
    assert values == {"server": {"address": "127.0.0.1", "maxMessageSize": 300},
                      "theme.sidebar": {}}
    assert origins == {("server", "address"): "/x/.streamlit/config.toml"}


@pytest.mark.parametrize(("section", "key"), list(HARDENED))
def test_file_sets_hardened_value(file_config, section, key):
    assert file_config.get(section, {}).get(key) == HARDENED[(section, key)]


def test_file_sets_an_upload_limit(file_config):
    limit = file_config["server"]["maxUploadSize"]
    assert isinstance(limit, int) and 0 < limit <= MAX_UPLOAD_MB


@pytest.mark.parametrize(("section", "key"), [*HARDENED, ("server", "maxUploadSize")])
def test_streamlit_applies_the_value_from_the_project_file(effective, section, key):
    values, origins = effective
    expected = (HARDENED[(section, key)] if (section, key) in HARDENED
                else tomllib.loads(CONFIG.read_text())["server"]["maxUploadSize"])
    assert values[section][key] == expected
    assert Path(origins[(section, key)]).resolve() == CONFIG.resolve()


def test_every_key_in_the_file_is_an_option_streamlit_knows(file_config, effective, show_output):
    _, origins = effective
    assert "is not a valid config option" not in show_output

    def keys(table: dict, prefix: str = ""):
        for name, value in table.items():
            if isinstance(value, dict):
                yield from keys(value, f"{prefix}{name}.")
            else:
                yield prefix.rstrip("."), name

    unknown = [f"{s}.{k}" for s, k in keys(file_config) if (s, k) not in origins]
    assert unknown == [], f"ignored by Streamlit (misspelt?): {unknown}"
