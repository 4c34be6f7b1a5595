"""Settings of PainPath: every ``PAINPATH_*`` environment variable is read here, and only here.

Each setting is a function, so a changed environment (a test, a restarted
process) is read afresh.

App:

- ``PAINPATH_DATA_DIR`` — the store's folder (:func:`data_dir`); default the
  ``data/`` folder of the PainPath checkout, wherever the app is started from.
- ``PAINPATH_PATIENT_VIEWS`` — ``off`` (or ``0``, ``false``, ``no``) hides the
  patient-level views (timeline, patient lists) for everyone
  (:func:`patient_views_enabled`); default on.
- ``PAINPATH_MAX_UPLOAD_MB`` — the largest file accepted at upload, in MB
  (:func:`max_upload_bytes`); default 200; a value that is not a positive
  number is ignored.

Tests and benchmarks:

- ``PAINPATH_CHROMIUM`` — the Chromium the browser tests and the load test
  drive (:func:`chromium_path`); default ``/usr/bin/chromium``.

Deployment (``make serve``, ``deploy/serve.py``):

- ``PAINPATH_NGINX`` — the nginx binary that fronts several app processes
  (:func:`nginx_path`); default Debian's ``/usr/sbin/nginx``.
- ``PAINPATH_FUZZ_SEED`` / ``PAINPATH_FUZZ_EXAMPLES`` — seed and total number of
  generated cases of the ingest fuzz tests (:func:`fuzz_seed`,
  :func:`fuzz_examples`; ``make fuzz`` sets them).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = ROOT / "data"
DATA_DIR_ENV = "PAINPATH_DATA_DIR"
DEFAULT_MAX_UPLOAD_MB = 200
DEFAULT_CHROMIUM = "/usr/bin/chromium"
DEFAULT_NGINX = "/usr/sbin/nginx"
DEFAULT_FUZZ_SEED = 20260526
_OFF = ("off", "0", "false", "no")


def _env(name: str) -> str:
    return os.environ.get(name, "").strip()


def data_dir() -> Path:
    """The store's folder: ``$PAINPATH_DATA_DIR``, else :data:`DEFAULT_DATA_DIR`."""
    value = _env(DATA_DIR_ENV)
    return Path(value) if value else DEFAULT_DATA_DIR


def patient_views_enabled() -> bool:
    """False when ``PAINPATH_PATIENT_VIEWS`` is ``off``, ``0``, ``false`` or ``no``."""
    return _env("PAINPATH_PATIENT_VIEWS").lower() not in _OFF


def max_upload_bytes() -> int:
    """The upload size limit in bytes: ``PAINPATH_MAX_UPLOAD_MB`` MB (2**20 bytes) when it
    is a positive number, else 200 MB."""
    try:
        mb = float(_env("PAINPATH_MAX_UPLOAD_MB") or 0)
    except ValueError:
        mb = 0.0
    if not (mb > 0 and math.isfinite(mb)):
        mb = DEFAULT_MAX_UPLOAD_MB
    return int(mb * 2**20)


def chromium_path() -> Path:
    """The Chromium binary for browser tests: ``PAINPATH_CHROMIUM`` or /usr/bin/chromium."""
    return Path(_env("PAINPATH_CHROMIUM") or DEFAULT_CHROMIUM)


def nginx_path() -> Path:
    """The nginx binary of ``make serve``: ``PAINPATH_NGINX`` or /usr/sbin/nginx."""
    return Path(_env("PAINPATH_NGINX") or DEFAULT_NGINX)


def fuzz_seed() -> int:
    """Seed of the ingest fuzz tests: ``PAINPATH_FUZZ_SEED`` or 20260526."""
    value = _env("PAINPATH_FUZZ_SEED")
    return int(value) if value else DEFAULT_FUZZ_SEED


def fuzz_examples() -> int:
    """Total generated cases asked of the fuzz tests (``PAINPATH_FUZZ_EXAMPLES``); 0: the
    suite's own numbers."""
    value = _env("PAINPATH_FUZZ_EXAMPLES")
    return int(value) if value else 0
