"""Child process of tests/test_store_durability.py: one large write into a PainPath store.

    python tests/store_writer.py DATA_DIR ACTION UPLOAD_DIR

``ACTION`` is ``create`` (a new dataset "Upload"), ``add`` or ``replace`` (of the dataset
"Clinic A").  ``UPLOAD_DIR`` holds what ingest gave for the upload (ingested once by the
test, so that every run spends its time writing, not parsing), written as the Data page
writes it: ``events.parquet`` (canonical events), ``diagnoses.parquet`` and ``meta.json``
(``extract_date``, ``population_source``).  The script prints one marker line per phase,
flushed at once, so that the test can SIGKILL it at a chosen moment:

- ``READY`` — store open, events loaded; the write starts right after;
- ``BEGIN`` — the write transaction started;
- ``COMMIT`` — the ``COMMIT`` statement is about to run (WAL write, checkpoint);
- ``DONE <rows>`` — the write returned (committed); ``CLOSED`` — the store was closed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analytics.store import Store  # noqa: E402


def mark(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


class _MarkingCursor:
    """A DuckDB cursor that announces BEGIN and COMMIT before running them."""

    def __init__(self, cursor) -> None:
        self._cursor = cursor

    def execute(self, sql: str, *args, **kwargs):
        word = sql.strip().split()[0].upper() if sql.strip() else ""
        if word in ("BEGIN", "COMMIT"):
            mark(word)
        return self._cursor.execute(sql, *args, **kwargs)

    def __getattr__(self, name: str):
        return getattr(self._cursor, name)


class MarkingStore(Store):
    def _cursor(self):
        return _MarkingCursor(super()._cursor())


def write_upload(folder: Path, events: pd.DataFrame, diagnoses: pd.DataFrame,
                 extract_date: pd.Timestamp | None, population_source: str) -> Path:
    """Write an ingested upload into ``folder`` in the form :func:`main` reads."""
    folder.mkdir(parents=True, exist_ok=True)
    events.to_parquet(folder / "events.parquet")
    diagnoses.to_parquet(folder / "diagnoses.parquet")
    (folder / "meta.json").write_text(json.dumps({
        "extract_date": None if extract_date is None else extract_date.date().isoformat(),
        "population_source": population_source}))
    return folder


def main(argv: list[str]) -> int:
    data_dir, action, upload = argv
    folder = Path(upload)
    events = pd.read_parquet(folder / "events.parquet")
    meta = json.loads((folder / "meta.json").read_text())
    fixed = {"diagnoses": pd.read_parquet(folder / "diagnoses.parquet"),
             "extract_date": meta["extract_date"],
             "population_source": meta["population_source"]}
    report = {"rows_read": len(events), "source": "store_writer"}
    store = MarkingStore(data_dir)
    target = store.find_dataset("Clinic A")
    mark("READY")
    if action == "create":
        store.create_dataset("Upload", events, report, ["upload.csv"], **fixed)
        rows = len(events)
    elif action == "add":
        rows = store.add_to_dataset(target, events, report, ["upload.csv"], **fixed)
    elif action == "replace":
        store.replace_dataset(target, events, report, ["upload.csv"], **fixed)
        rows = len(events)
    else:
        raise SystemExit(f"unknown action {action!r}")
    mark(f"DONE {rows}")
    store.close()
    mark("CLOSED")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
