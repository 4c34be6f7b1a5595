"""The dataset store of PainPath: a small DuckDB catalog and immutable Parquet files per
dataset version, shared by every PainPath process on one folder.

Location: ``<data_dir>``, the constructor argument, else the setting
:func:`analytics.settings.data_dir` (``PAINPATH_DATA_DIR``, default the checkout's
``data/`` folder); it is created when missing.  It holds:

- ``painpath.duckdb`` — the **catalog** (DuckDB, ``schema_version`` 4): which datasets
  exist, their metadata and value maps, which data files make up each version, the upload
  reports;
- ``painpath.data/`` — the **data files**: per dataset version one Parquet file of its
  canonical events and one of its diagnoses, written once and never changed
  (``<dataset_id>-<version>-<random>.events.parquet`` / ``.diagnoses.parquet``);
- ``painpath.lock`` — the writers' cross-process lock (``flock``; empty);
- ``painpath.generation`` — a random token that every write replaces after its commit:
  the cheap cross-process "has anything changed?" check of the readers.

Catalog tables:

- ``meta(key, value)`` — ``schema_version`` and ``generation`` (the token of the last
  committed write, equal to ``painpath.generation`` except after a crash between the two,
  which the next open or write repairs).
- ``datasets(dataset_id, name UNIQUE, created_at, updated_at, version, events, patients,
  source_files, extract_date, population_source)`` — the current version of each dataset.
  ``source_files`` is a JSON list of the file names whose rows make up the dataset now (a
  replace starts the list again); times are UTC.  ``extract_date`` (``DATE``, NULL when
  unknown) is the dataset version's extract date as ingest fixed it before any filter
  (when a write gives none: the latest event or diagnosis date it writes);
  ``population_source`` is where its diagnoses came from: ``conditions``,
  ``diagnosis_column`` or ``none`` (``analytics.population``).
- ``versions(dataset_id, version, events_file, diagnoses_file, superseded_at)`` — the data
  files of every version still kept: the current one (``superseded_at`` NULL) and those
  superseded less than :data:`KEEP_SUPERSEDED` ago (a reader that looked the version up
  just before a write can still read it).  A version whose events did not change (a
  rename, a diagnoses-only add) shares the previous version's events file.
- ``value_maps(dataset_id, position, kind, value, maps_to)`` — the dataset's value map (what
  the clinic's own technique labels, injection-type labels and descriptions mean; see
  ``analytics.ingest.value_map``): the rows as the last write that gave one left them, in
  their order (``position`` from 0).  A few rows per dataset, so they live in the catalog.
- ``uploads(upload_id, dataset_id, uploaded_at, action, source_files, rows_added, report)``
  — one row per write that came with an ingest report (``create`` / ``add`` /
  ``replace``); ``report`` is the report dict as JSON text.  Kept as an audit trail
  across replaces.

Data files: events in the columns of :data:`analytics.schema.CANONICAL_COLUMNS` (dates
``DATE``, ``technique`` / ``injection_type`` text of the schema vocabularies, numbers
``DOUBLE``, text ``VARCHAR``), in insertion order; diagnoses in
:data:`DIAGNOSIS_COLUMNS`.

Definitions:

- **Idempotent add.** :meth:`Store.add_to_dataset` inserts only the incoming rows that have
  no identical row (equal in every canonical column, NULL equal to NULL) already in the
  dataset; the same rows uploaded twice change nothing.  Rows repeated *within* one frame are
  kept as given (ingest already folds an export's exact duplicates into one event).
- **Version.** ``version`` starts at 1 on create and increases by one on every write that
  changes the dataset (an add that inserts at least one row, a replace, a rename).  An add
  that inserts nothing still records its upload report but keeps the version (and
  ``updated_at``, counts and file list), so caches keyed on the version stay valid.
- **Diagnoses, extract date, population source.** ``create`` and ``replace`` store the ones
  given (``replace`` drops the old diagnoses).  ``add`` inserts only the diagnoses rows not
  already stored (equal in every column), keeps the later of the two extract dates, and the
  stronger source: ``conditions`` over ``diagnosis_column`` over ``none``.  An add counts as
  a change (new version) when it inserts an event or a diagnosis or changes the extract date
  or the source.
- **Value map.** ``create``, ``add`` and ``replace`` store the ``value_map`` they are given
  as the dataset's map (replacing the stored one; ``None`` keeps it); the map is what
  ingest applied to the rows of that write and is applied again to the next add or
  replace.  Saving a map alone does not change the events and is not a new version.
- **Writes.** A write builds the new version in a private in-memory DuckDB (the current
  version's rows, then the incoming ones with the same ``NOT NULL`` and vocabulary checks
  as before: a frame breaking one is refused whole), writes the new data files under
  temporary names, flushes them to disk (``fsync``) and renames them into place, and only
  then commits the catalog in one DuckDB transaction (``BEGIN`` … ``COMMIT``, ``ROLLBACK``
  on any error).  Until that commit nobody sees the new files; after it everybody does.
- **Migration.** A store of schema version 1 is first brought to version 2 in place, in one
  transaction: the new canonical event columns are added (NULL; FALSE for
  ``ends_at_death``), ``row_hash`` is recomputed over the new column set, the ``diagnoses``
  table and the two dataset columns are created.  A version-1 dataset kept diagnoses only as
  the events' ``diagnosis`` column, so its diagnoses are read from that column (each
  distinct patient, date and value, classified by ``analytics.indications``), its source
  becomes ``diagnosis_column`` when that column holds a value (else ``none``), and its
  extract date the latest ``event_date``.  A store of schema version 2 or 3 (events and
  diagnoses in the DuckDB file; 3 added the ``value_maps`` table without ``position``) gets,
  in the same transaction, each dataset's events (in insertion order) and diagnoses written
  to data files of its current version, the ``versions`` table, and the two tables
  dropped; a version-2 store gains the empty ``value_maps`` table, a version-3 store's maps
  keep their rows, numbered in the order they were saved.  The version numbers do not
  change.

Several processes (:doc:`README` "Several app processes behind nginx"): DuckDB lets one
process write a database file or several read it, never both.  So no process keeps the
catalog open: each catalog read opens it read-only for a few milliseconds, and each write
opens it read-write only for its final transaction.  When another process has it open at
that moment, the open is retried every few milliseconds (up to ``wait_seconds``, default
:data:`LOCK_WAIT_SECONDS`; only a program holding it that long, e.g. a DuckDB shell, gives
:class:`StoreInUseError`).  The data files need no lock at all: they never change once
written.  Writers serialise on ``painpath.lock`` (an exclusive ``flock``, held for the
whole write, including the minutes a large upload may take) and, within a process, on a
lock per store file shared by every ``Store`` on it; readers never take either, so a
write never makes a reader wait for more than one catalog commit.  Concurrent uploads to
one dataset from any processes thus run one after the other (an idempotent add sees the
rows the other committed).  Readers keep the catalog in memory and read it again only when
``painpath.generation`` holds another token: checking costs one small file read, so a rerun
of the app can ask for the dataset versions every time and see an upload made through
another process at once.  Within a process, one ``Store`` may be shared by threads
(Streamlit sessions).

Durability: the data files are durable before the catalog commit refers to them; the
commit goes through DuckDB's write-ahead log (``painpath.duckdb.wal``), and the catalog is
checkpointed when the write closes it.  A process killed at any point (while building the
files, mid-COMMIT, mid-checkpoint) leaves the last committed state, which the next open
replays; data files of a write that never committed, and those of versions superseded
more than :data:`KEEP_SUPERSEDED` ago, are deleted by the next write.  A catalog file
that DuckDB cannot read (random bytes, truncated, checksum failure), or a data file that
cannot be read, raises :class:`StoreDamagedError`; :func:`move_aside` renames the catalog
(with its WAL and data folder) to ``painpath.duckdb.broken-<UTC time>`` (and
``painpath.data.broken-<same time>``) so that a new, empty store can be started without
deleting anything.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analytics import indications, schema, settings

# 2 added reason, region, pharmacy_id, dispenses, drug_class, death_year, ends_at_death;
# the diagnoses table; datasets.extract_date and datasets.population_source
# 3 added the value_maps table
# 4 moved events and diagnoses to immutable Parquet files per version (the versions table)
#   and numbered the value maps' rows (value_maps.position)
SCHEMA_VERSION = 4
DB_FILENAME = "painpath.duckdb"
DATA_DIRNAME = "painpath.data"
LOCK_FILENAME = "painpath.lock"
GENERATION_FILENAME = "painpath.generation"
DATA_DIR_ENV = settings.DATA_DIR_ENV
SAMPLE_DATASET_NAME = "Sample clinic"
LOCK_WAIT_SECONDS = 120.0
"""How long an open of the catalog is retried while another program holds it."""
KEEP_SUPERSEDED = timedelta(minutes=10)
"""How long the data files of a superseded (or deleted) version are kept for readers."""

DATASET_COLUMNS: tuple[str, ...] = (
    "dataset_id",
    "name",
    "created_at",
    "updated_at",
    "source_files",
    "events",
    "patients",
    "version",
    "extract_date",
    "population_source",
)

POPULATION_SOURCES: tuple[str, ...] = ("conditions", "diagnosis_column", "none")
"""Where a dataset's diagnoses came from, strongest first (an add keeps the strongest)."""

DIAGNOSIS_COLUMNS: tuple[str, ...] = (
    "patient_id", "diagnosis_date", "code", "description", "kind",
)
VALUE_MAP_COLUMNS: tuple[str, ...] = ("kind", "value", "maps_to")
_DATASET_SELECT = (
    "SELECT dataset_id, name, created_at, updated_at, source_files, events, patients, "
    "version, extract_date, population_source FROM datasets"
)


class StoreError(RuntimeError):
    """The store cannot be used; the message is one line naming the file and what to do."""

    def __init__(self, message: str, path: Path | None = None) -> None:
        super().__init__(message)
        self.path = path


class StoreInUseError(StoreError):
    """Another program held the catalog file (DuckDB's file lock) longer than the wait."""


class StoreDamagedError(StoreError):
    """The catalog or a data file is not readable (corrupt, truncated, foreign, missing)."""


def _damaged(path: Path, exc: BaseException, data_file: Path | None = None) -> StoreDamagedError:
    reason = " ".join(str(exc).split())[:300]
    what = "" if data_file is None else f" (its data file {data_file.name})"
    return StoreDamagedError(
        f"The PainPath store {path} cannot be read{what}: it is damaged or not a PainPath "
        f"store ({reason}). Move it aside and start a new, empty store (the app offers this; "
        "the files are kept), or restore it from a backup.",
        path,
    )


def _is_lock_conflict(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, duckdb.IOException) and "lock" in text and "conflicting" in text


def _open_error(path: Path, exc: duckdb.Error) -> StoreError:
    """Translate a DuckDB error raised while opening ``path`` into a :class:`StoreError`."""
    text = str(exc)
    if isinstance(exc, duckdb.IOException) and "lock" in text.lower():
        pid = re.search(r"PID (\d+)", text)
        who = f" (PID {pid.group(1)})" if pid else ""
        return StoreInUseError(
            f"The store {path} is held by another program{who} and was not released in "
            f"time; close that program (PainPath processes never hold it) or point "
            f"{DATA_DIR_ENV} at another folder, then try again.",
            path,
        )
    if isinstance(exc, duckdb.IOException) and any(
        m in text for m in ("Permission denied", "Read-only file system", "No space left")
    ):
        reason = " ".join(text.split())[:300]
        return StoreError(
            f"The store {path} cannot be opened ({reason}); check the folder's permissions "
            f"and free space, or point {DATA_DIR_ENV} at another folder.",
            path,
        )
    return _damaged(path, exc)


def _is_corruption(exc: BaseException) -> bool:
    text = str(exc)
    return isinstance(exc, duckdb.Error) and (
        "Corrupt database file" in text or "Could not read enough bytes" in text
    )


def move_aside(path: str | Path, when: datetime | None = None) -> Path:
    """Rename a (damaged) store's catalog file to ``<name>.broken-<UTC yyyymmddThhmmssZ>`` —
    and its WAL, when there is one, to ``<name>.wal.broken-<same time>``, and its data
    folder, when there is one, to ``painpath.data.broken-<same time>`` — so that a new
    store can be created in its place; nothing is deleted.  Returns the new path of the
    catalog file."""
    path = Path(path)
    stamp = (when or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.broken-{stamp}")
    n = 1
    while target.exists():  # two set-asides within one second
        n += 1
        target = path.with_name(f"{path.name}.broken-{stamp}-{n}")
    suffix = target.name[len(path.name):]
    wal = path.with_name(path.name + ".wal")
    if wal.exists():
        wal.rename(wal.with_name(wal.name + suffix))
    folder = path.with_name(DATA_DIRNAME)
    if folder.exists():
        folder.rename(folder.with_name(folder.name + suffix))
    path.rename(target)
    return target


class _WriteLock:
    """The write lock of one store file in this process: a re-entrant thread lock plus,
    while held, an exclusive ``flock`` on ``painpath.lock`` (other processes' writers)."""

    def __init__(self, lock_path: Path) -> None:
        self._path = lock_path
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._fd: int | None = None

    def __enter__(self) -> _WriteLock:
        self._thread_lock.acquire()
        try:
            if self._depth == 0:
                fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX)  # waits for another process's write
                except BaseException:
                    os.close(fd)
                    raise
                self._fd = fd
            self._depth += 1
        except BaseException:
            self._thread_lock.release()
            raise
        return self

    @property
    def depth(self) -> int:
        """How many times the holding thread entered (0 when free)."""
        return self._depth

    def __exit__(self, *exc: object) -> None:
        self._depth -= 1
        if self._depth == 0 and self._fd is not None:
            fd, self._fd = self._fd, None
            with suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        self._thread_lock.release()


# One write lock and one catalog lock per store file, shared by every Store of this
# process on that file.  The catalog lock keeps this process to one catalog connection at a
# time (DuckDB refuses a read-only and a read-write connection to one file in one process).
_WRITE_LOCKS: dict[str, _WriteLock] = {}
_CATALOG_LOCKS: dict[str, threading.RLock] = {}
_LOCKS_GUARD = threading.Lock()


def _locks(path: Path) -> tuple[_WriteLock, threading.RLock]:
    key = os.path.realpath(path)
    with _LOCKS_GUARD:
        write = _WRITE_LOCKS.setdefault(key, _WriteLock(path.with_name(LOCK_FILENAME)))
        catalog = _CATALOG_LOCKS.setdefault(key, threading.RLock())
    return write, catalog


def resolve_data_dir(data_dir: str | Path | None = None) -> Path:
    """The data folder: ``data_dir`` if given, else :func:`analytics.settings.data_dir`."""
    return Path(data_dir) if data_dir is not None else settings.data_dir()


def _sql_type(name: str) -> str:
    if name in schema.STRING_COLUMNS:
        return "VARCHAR"
    if name in schema.DATE_COLUMNS:
        return "DATE"
    if name in schema.NUMBER_COLUMNS:
        return "DOUBLE"
    if name in schema.CATEGORY_COLUMNS:
        values = ", ".join("'" + v.replace("'", "''") + "'" for v in schema.CATEGORY_COLUMNS[name])
        return f"ENUM({values})"
    if name in schema.BOOL_COLUMNS:
        return "BOOLEAN"
    raise KeyError(name)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


_COLS = schema.CANONICAL_COLUMNS
_COLUMN_LIST = ", ".join(_quote(c) for c in _COLS)
_NOT_NULL = set(schema.REQUIRED_COLUMNS) | set(schema.BOOL_COLUMNS)
_EVENT_DDL = ",\n    ".join(
    f"{_quote(c)} {_sql_type(c)}{' NOT NULL' if c in _NOT_NULL else ''}" for c in _COLS
)
# Incoming frame (registered Arrow table) or data file -> stored column types.
_STAGE_SELECT = ",\n        ".join(
    f"CAST({_quote(c)} AS {_sql_type(c)}) AS {_quote(c)}" for c in _COLS
)
_HASH = (
    "hash("
    + ", ".join(
        f"CAST({_quote(c)} AS VARCHAR)" if c in schema.CATEGORY_COLUMNS else _quote(c)
        for c in _COLS
    )
    + ")"
)
_SAME_ROW = " AND ".join(f"e.{_quote(c)} IS NOT DISTINCT FROM s.{_quote(c)}" for c in _COLS)
# Stored -> pandas: dates as TIMESTAMP_S give datetime64[s] directly.
_LOAD_SELECT = ", ".join(
    f"CAST({_quote(c)} AS TIMESTAMP_S) AS {_quote(c)}" if c in schema.DATE_COLUMNS else _quote(c)
    for c in _COLS
)

_VALUE_MAPS_DDL = """
CREATE TABLE IF NOT EXISTS value_maps (
    dataset_id BIGINT NOT NULL,
    position BIGINT NOT NULL,
    kind VARCHAR NOT NULL,
    value VARCHAR NOT NULL,
    maps_to VARCHAR NOT NULL
);
"""
_DDL = _VALUE_MAPS_DDL + """
CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL);
CREATE SEQUENCE IF NOT EXISTS dataset_id_seq START 1;
CREATE SEQUENCE IF NOT EXISTS upload_id_seq START 1;
CREATE TABLE IF NOT EXISTS datasets (
    dataset_id BIGINT PRIMARY KEY,
    name VARCHAR NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version BIGINT NOT NULL,
    events BIGINT NOT NULL,
    patients BIGINT NOT NULL,
    source_files VARCHAR NOT NULL,
    extract_date DATE,
    population_source VARCHAR NOT NULL DEFAULT 'none'
);
CREATE TABLE IF NOT EXISTS uploads (
    upload_id BIGINT PRIMARY KEY,
    dataset_id BIGINT NOT NULL,
    uploaded_at TIMESTAMP NOT NULL,
    action VARCHAR NOT NULL,
    source_files VARCHAR NOT NULL,
    rows_added BIGINT NOT NULL,
    report VARCHAR NOT NULL
);
"""
_VERSIONS_DDL = """
CREATE TABLE IF NOT EXISTS versions (
    dataset_id BIGINT NOT NULL,
    version BIGINT NOT NULL,
    events_file VARCHAR NOT NULL,
    diagnoses_file VARCHAR NOT NULL,
    superseded_at TIMESTAMP,
    PRIMARY KEY (dataset_id, version)
);
"""
# Schema 2 kept the rows in the catalog; only a migration from schema 1 creates them.
_DDL_2_ROWS = f"""
CREATE TABLE IF NOT EXISTS events (
    dataset_id BIGINT NOT NULL,
    row_hash UBIGINT NOT NULL,
    {_EVENT_DDL}
);
CREATE TABLE IF NOT EXISTS diagnoses (
    dataset_id BIGINT NOT NULL,
    patient_id VARCHAR NOT NULL,
    diagnosis_date DATE,
    code VARCHAR,
    description VARCHAR,
    kind VARCHAR NOT NULL
);
"""
# The private in-memory database a write builds a version in.
_STAGE_DDL = f"""
CREATE TABLE events (row_hash UBIGINT NOT NULL, {_EVENT_DDL});
CREATE TABLE diagnoses (
    patient_id VARCHAR NOT NULL,
    diagnosis_date DATE,
    code VARCHAR,
    description VARCHAR,
    kind VARCHAR NOT NULL
);
"""
_SAME_DIAGNOSIS = " AND ".join(
    f"d.{c} IS NOT DISTINCT FROM s.{c}" for c in DIAGNOSIS_COLUMNS
)
_DIAGNOSIS_LIST = ", ".join(DIAGNOSIS_COLUMNS)


def _one(cur: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> tuple | None:
    """The first row of a query, reading the result to its end (DuckDB wants results
    finished before ``register`` on the same connection)."""
    rows = cur.execute(sql, params or []).fetchall()
    return rows[0] if rows else None


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _to_arrow(events: pd.DataFrame) -> pa.Table:
    """Conform ``events`` and convert it to Arrow (NaN/NaT/NA become nulls)."""
    frame = schema.conform(events)
    return pa.Table.from_pandas(frame, preserve_index=False)


def _diagnoses_arrow(diagnoses: pd.DataFrame | None) -> pa.Table:
    """``diagnoses`` (the columns of ``IngestResult.diagnoses``; None = none) as an Arrow
    table of :data:`DIAGNOSIS_COLUMNS`; a missing ``code`` / ``description`` column is all
    NULL.  Raises ``ValueError`` for a row without a patient id or of an unknown kind."""
    if diagnoses is None:
        diagnoses = pd.DataFrame({c: [] for c in DIAGNOSIS_COLUMNS})
    missing = {"patient_id", "diagnosis_date", "kind"} - set(diagnoses.columns)
    if missing:
        raise ValueError(f"diagnoses lack column(s): {', '.join(sorted(missing))}")
    n = len(diagnoses)

    def text(name: str) -> pd.Series:
        if name not in diagnoses.columns:
            return pd.Series([None] * n, dtype="string")
        col = diagnoses[name]
        return col.astype("object").where(col.notna(), None).astype("string").reset_index(
            drop=True)

    frame = pd.DataFrame({
        "patient_id": text("patient_id"),
        "diagnosis_date": pd.to_datetime(diagnoses["diagnosis_date"]).reset_index(drop=True)
        .astype(schema.DATE_DTYPE),
        "code": text("code"),
        "description": text("description"),
        "kind": text("kind"),
    })
    if frame["patient_id"].isna().any():
        raise ValueError("a diagnosis row has no patient id")
    bad = sorted(set(frame["kind"].dropna()) - set(indications.KINDS))
    if frame["kind"].isna().any() or bad:
        raise ValueError(
            f"diagnosis kinds must be {', '.join(indications.KINDS)}; got {bad or ['<missing>']}"
        )
    return pa.Table.from_pandas(frame, preserve_index=False)


def _value_map_rows(value_map: pd.DataFrame | None) -> list[tuple[str, str, str]] | None:
    """The rows of a value map frame (columns :data:`VALUE_MAP_COLUMNS`, as text; None
    when no map is given).  Raises ``ValueError`` for missing columns or empty cells."""
    if value_map is None:
        return None
    missing = set(VALUE_MAP_COLUMNS) - set(value_map.columns)
    if missing:
        raise ValueError(f"the value map lacks column(s): {', '.join(sorted(missing))}")
    frame = value_map[list(VALUE_MAP_COLUMNS)]
    if frame.isna().any().any():
        raise ValueError("a value map row has an empty kind, value or maps_to")
    return [tuple(str(v) for v in row) for row in frame.itertuples(index=False, name=None)]


def _extract_value(extract_date: Any) -> date | None:
    """``extract_date`` (Timestamp, date, ISO text or None/NaT) as a date for DuckDB."""
    if extract_date is None or (not isinstance(extract_date, str) and pd.isna(extract_date)):
        return None
    return pd.Timestamp(extract_date).normalize().to_pydatetime().date()


def _extract_or_latest(extract_date: Any, incoming: pa.Table, diagnoses: pa.Table) -> date | None:
    """The given extract date, else the latest ``event_date`` of the incoming events and
    ``diagnosis_date`` of the incoming diagnoses (None when there is none)."""
    given = _extract_value(extract_date)
    if given is not None:
        return given
    latest = [pc.max(incoming.column("event_date")).as_py() if incoming.num_rows else None,
              pc.max(diagnoses.column("diagnosis_date")).as_py() if diagnoses.num_rows else None]
    found = [pd.Timestamp(d).date() for d in latest if d is not None]
    return max(found) if found else None


def _source_value(population_source: str) -> str:
    if population_source not in POPULATION_SOURCES:
        raise ValueError(
            f"population_source must be one of {', '.join(POPULATION_SOURCES)}, not "
            f"{population_source!r}"
        )
    return population_source


def _dataset_meta(row: tuple) -> dict[str, Any]:
    meta = dict(zip(DATASET_COLUMNS, row, strict=True))
    meta["source_files"] = json.loads(meta["source_files"])
    date = meta["extract_date"]
    meta["extract_date"] = None if date is None else pd.Timestamp(date)
    return meta


def _report_json(report: dict[str, Any]) -> str:
    return json.dumps(report, default=str, ensure_ascii=False)


def _names(source_files: list[str] | tuple[str, ...] | str | None) -> list[str]:
    if source_files is None:
        return []
    if isinstance(source_files, str | Path):
        source_files = [source_files]
    return [str(s) for s in source_files]


_DATA_FILE = re.compile(r"[0-9a-f]{16}\.(events|diagnoses)\.parquet(\.tmp)?")


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_data_file(con: duckdb.DuckDBPyConnection, query: str, folder: Path,
                     kind: str) -> str:
    """Write the rows of ``query`` (run on ``con``) to a new Parquet data file in
    ``folder``, durably: a temporary name, ``fsync``, rename, ``fsync`` of the folder.
    Returns the file's name."""
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{secrets.token_hex(8)}.{kind}.parquet"
    final = folder / name
    temporary = folder / (name + ".tmp")
    try:
        literal = "'" + str(temporary).replace("'", "''") + "'"
        con.execute(f"COPY ({query}) TO {literal} (FORMAT parquet)")
        fd = os.open(temporary, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, final)
        _fsync_dir(folder)
    except BaseException:
        temporary.unlink(missing_ok=True)
        final.unlink(missing_ok=True)
        raise
    return name


class _Stage:
    """A dataset version being built: its rows in a private in-memory DuckDB (with the
    catalog's column types and ``NOT NULL`` checks) and the data files written from it.
    :meth:`discard` deletes the files written so far (a write that failed)."""

    def __init__(self, folder: Path, store_path: Path) -> None:
        self.folder = folder
        self.store_path = store_path
        self.written: list[str] = []
        self.con = duckdb.connect()
        self.con.execute(_STAGE_DDL)

    def load(self, events_file: str, diagnoses_file: str) -> None:
        """Start from the rows of a stored version."""
        for name, sql in (
            (events_file, f"INSERT INTO events SELECT {_HASH} AS row_hash, * FROM "
                          f"(SELECT {_STAGE_SELECT} FROM read_parquet(?))"),
            (diagnoses_file, f"INSERT INTO diagnoses SELECT {_DIAGNOSIS_LIST} FROM "
                             "read_parquet(?)"),
        ):
            path = self.folder / name
            try:
                self.con.execute(sql, [str(path)])
            except duckdb.Error as exc:
                raise _damaged(self.store_path, exc, path) from exc

    def count(self, table: str) -> int:
        return int(_one(self.con, f"SELECT count(*) FROM {table}")[0])

    def insert_events(self, incoming: pa.Table, dedupe: bool) -> int:
        """Insert ``incoming``; with ``dedupe`` only rows that have no identical row in the
        version yet.  Returns the number of rows inserted."""
        before = self.count("events")
        self.con.register("painpath_incoming", incoming)
        try:
            staged = (f"SELECT {_HASH} AS row_hash, * FROM "
                      f"(SELECT {_STAGE_SELECT} FROM painpath_incoming)")
            if dedupe:
                self.con.execute(
                    f"INSERT INTO events SELECT s.* FROM ({staged}) s WHERE NOT EXISTS "
                    f"(SELECT 1 FROM events e WHERE e.row_hash = s.row_hash AND {_SAME_ROW})")
            else:
                self.con.execute(f"INSERT INTO events {staged}")
        finally:
            self.con.unregister("painpath_incoming")
        return self.count("events") - before

    def insert_diagnoses(self, incoming: pa.Table, dedupe: bool) -> int:
        """Insert the distinct rows of ``incoming``; with ``dedupe`` only those not in the
        version yet.  Returns the number of rows inserted."""
        if incoming.num_rows == 0:
            return 0
        before = self.count("diagnoses")
        self.con.register("painpath_incoming_diagnoses", incoming)
        try:
            staged = (
                "SELECT DISTINCT CAST(patient_id AS VARCHAR) AS patient_id, "
                "CAST(diagnosis_date AS DATE) AS diagnosis_date, CAST(code AS VARCHAR) AS code, "
                "CAST(description AS VARCHAR) AS description, CAST(kind AS VARCHAR) AS kind "
                "FROM painpath_incoming_diagnoses"
            )
            if dedupe:
                self.con.execute(
                    f"INSERT INTO diagnoses SELECT s.* FROM ({staged}) s WHERE NOT EXISTS "
                    f"(SELECT 1 FROM diagnoses d WHERE {_SAME_DIAGNOSIS})")
            else:
                self.con.execute(f"INSERT INTO diagnoses {staged}")
        finally:
            self.con.unregister("painpath_incoming_diagnoses")
        return self.count("diagnoses") - before

    def event_counts(self) -> tuple[int, int]:
        """(events, distinct patients) of the version."""
        events, patients = _one(self.con,
                                "SELECT count(*), count(DISTINCT patient_id) FROM events")
        return int(events), int(patients)

    def write(self, table: str) -> str:
        """Write ``events`` or ``diagnoses`` to a new data file; returns its name."""
        columns = _COLUMN_LIST if table == "events" else _DIAGNOSIS_LIST
        name = _write_data_file(self.con, f"SELECT {columns} FROM {table}", self.folder, table)
        self.written.append(name)
        return name

    def discard(self) -> None:
        for name in self.written:
            (self.folder / name).unlink(missing_ok=True)

    def close(self) -> None:
        with suppress(duckdb.Error):
            self.con.close()


@dataclass(frozen=True)
class _Catalog:
    """What a reader keeps of the catalog, read again when the generation token changes."""

    token: str | None
    datasets: tuple[tuple, ...]  # rows of _DATASET_SELECT, by dataset_id
    files: dict[tuple[int, int], tuple[str, str]]  # (id, version) -> (events, diagnoses)
    frame: pd.DataFrame | None = None  # list_datasets' frame, built on first use

    def row(self, dataset_id: int) -> tuple | None:
        return next((r for r in self.datasets if r[0] == int(dataset_id)), None)


class Store:
    """The PainPath store (see the module docstring), safe to share between threads and to
    open from several processes at once.

    ``Store(data_dir=None, wait_seconds=LOCK_WAIT_SECONDS)`` opens (creating or migrating
    if needed) the store in ``data_dir``.  Use as a context manager or call :meth:`close`.
    """

    def __init__(self, data_dir: str | Path | None = None, *,
                 wait_seconds: float = LOCK_WAIT_SECONDS) -> None:
        self.data_dir = resolve_data_dir(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.data_dir / DB_FILENAME
        self.files_dir = self.data_dir / DATA_DIRNAME
        self._generation_path = self.data_dir / GENERATION_FILENAME
        self._write_lock, self._catalog_lock = _locks(self.path)
        self._wait_seconds = wait_seconds
        self._cache_lock = threading.Lock()
        self._cached: _Catalog | None = None
        self._closed = False
        self._init_schema()

    # ---- life cycle -----------------------------------------------------------------
    def close(self) -> None:
        """Close the store (idempotent): no file stays open between operations anyway."""
        self._closed = True

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _closed_error(self) -> StoreError:
        return StoreError(f"The store {self.path} was closed (a new one may have replaced "
                          "it); reload the page to use the store again.", self.path)

    def _phase(self, name: str) -> None:
        """Called when a write starts (``BEGIN``, write lock taken) and right before its
        catalog ``COMMIT``; does nothing (a hook for the crash tests)."""

    def _open(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        """Connect to the catalog, retrying while another process holds it."""
        deadline = time.monotonic() + self._wait_seconds
        pause = 0.002
        while True:
            try:
                return duckdb.connect(str(self.path), read_only=read_only)
            except duckdb.Error as exc:
                if _is_lock_conflict(exc) and time.monotonic() < deadline:
                    time.sleep(pause)
                    pause = min(2 * pause, 0.05)
                    continue
                raise _open_error(self.path, exc) from exc

    @contextmanager
    def _connect(self, read_only: bool) -> Iterator[duckdb.DuckDBPyConnection]:
        """A catalog connection for the block only (this process's catalog lock held)."""
        if self._closed:
            raise self._closed_error()
        if read_only and not self.path.exists():  # moved aside by another process
            self._init_schema()
        with self._catalog_lock:
            con = self._open(read_only)
            try:
                yield con
            except duckdb.Error as exc:
                if _is_corruption(exc):
                    raise _damaged(self.path, exc) from exc
                raise
            finally:
                with suppress(duckdb.Error):
                    con.close()  # read-write: checkpoints the committed write

    @contextmanager
    def _read(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._connect(read_only=True) as con:
            yield con

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """Hold the write lock (this process's and, across processes, ``painpath.lock``)."""
        if self._closed:
            raise self._closed_error()
        with self._write_lock:
            if self._write_lock.depth == 1:
                self._phase("BEGIN")
            yield

    @contextmanager
    def _transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One catalog write transaction under the write lock: COMMIT on success (with a new
        generation token, the expired versions dropped), ROLLBACK on any exception.  After
        the commit the token is published and unreferenced data files are deleted."""
        with self._writing():
            with self._connect(read_only=False) as cur:
                cur.execute("BEGIN TRANSACTION")
                try:
                    yield cur
                    token = secrets.token_hex(8)
                    cur.execute("INSERT OR REPLACE INTO meta VALUES ('generation', ?)", [token])
                    kept = self._expire_versions(cur)
                    self._phase("COMMIT")
                    cur.execute("COMMIT")
                except BaseException:
                    with suppress(duckdb.Error):  # keep the original error; closing aborts
                        cur.execute("ROLLBACK")
                    raise
            self._publish(token)
            self._sweep(kept)

    @staticmethod
    def _expire_versions(cur: duckdb.DuckDBPyConnection) -> set[str]:
        """Drop the versions superseded longer than :data:`KEEP_SUPERSEDED` ago; the names of
        the data files the remaining versions use."""
        cur.execute("DELETE FROM versions WHERE superseded_at < ?", [_now() - KEEP_SUPERSEDED])
        rows = cur.execute("SELECT events_file, diagnoses_file FROM versions").fetchall()
        return {name for row in rows for name in row}

    def _publish(self, token: str) -> None:
        """Replace ``painpath.generation`` with ``token`` (atomically, durably)."""
        temporary = self._generation_path.with_name(GENERATION_FILENAME + ".tmp")
        with open(temporary, "w", encoding="ascii") as handle:
            handle.write(token)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self._generation_path)
        _fsync_dir(self.data_dir)

    def _sweep(self, kept: set[str]) -> None:
        """Delete the data files no kept version uses (called under the write lock, after
        a commit, so no other write has files in progress)."""
        if not self.files_dir.is_dir():
            return
        for path in self.files_dir.iterdir():
            if _DATA_FILE.fullmatch(path.name) and path.name not in kept:
                path.unlink(missing_ok=True)

    def _token(self) -> str | None:
        try:
            return self._generation_path.read_text(encoding="ascii").strip() or None
        except (OSError, UnicodeDecodeError):
            return None

    def _catalog(self, fresh: bool = False) -> _Catalog:
        """The catalog's datasets and version files: kept in memory while
        ``painpath.generation`` holds the same token (``fresh``: read it anyway)."""
        token = self._token()
        with self._cache_lock:
            cached = self._cached
        if not fresh and token is not None and cached is not None and cached.token == token:
            return cached
        with self._read() as con:
            rows = con.execute(f"{_DATASET_SELECT} ORDER BY dataset_id").fetchall()
            files = con.execute(
                "SELECT dataset_id, version, events_file, diagnoses_file FROM versions"
            ).fetchall()
        catalog = _Catalog(token, tuple(rows), {(int(d), int(v)): (e, g) for d, v, e, g in files})
        with self._cache_lock:
            self._cached = catalog
        return catalog

    def _init_schema(self) -> None:
        """Create, migrate or check the catalog; repair a generation token a crash left
        stale."""
        with self._writing():
            with self._connect(read_only=False) as cur:
                cur.execute("BEGIN TRANSACTION")
                try:
                    cur.execute(_DDL)
                    row = _one(cur, "SELECT value FROM meta WHERE key = 'schema_version'")
                    if row is None:
                        cur.execute(_VERSIONS_DDL)
                        cur.execute("INSERT INTO meta VALUES ('schema_version', ?)",
                                    [str(SCHEMA_VERSION)])
                    elif int(row[0]) in (1, 2, 3):
                        if int(row[0]) == 1:
                            cur.execute(_DDL_2_ROWS)
                            self._migrate_from_1(cur)
                        if int(row[0]) == 3:
                            self._number_value_maps(cur)
                        self._move_rows_to_files(cur)
                    elif int(row[0]) != SCHEMA_VERSION:
                        raise StoreError(
                            f"The store {self.path} has store schema version {row[0]}; this "
                            f"PainPath expects {SCHEMA_VERSION}: use a matching PainPath "
                            f"version or point {DATA_DIR_ENV} at another folder.",
                            self.path,
                        )
                    stored = _one(cur, "SELECT value FROM meta WHERE key = 'generation'")
                    token = stored[0] if stored else None
                    if token is None or row is None or int(row[0]) != SCHEMA_VERSION:
                        token = secrets.token_hex(8)  # created or migrated: a change
                        cur.execute("INSERT OR REPLACE INTO meta VALUES ('generation', ?)",
                                    [token])
                    self._phase("COMMIT")
                    cur.execute("COMMIT")
                except BaseException:
                    with suppress(duckdb.Error):
                        cur.execute("ROLLBACK")
                    raise
            if self._token() != token:
                self._publish(token)

    @staticmethod
    def _migrate_from_1(cur: duckdb.DuckDBPyConnection) -> None:
        """Schema 1 -> 2 in the open transaction (see the module docstring)."""
        present = {r[0] for r in cur.execute("DESCRIBE events").fetchall()}
        for name in _COLS:
            if name in present:
                continue
            extra = " NOT NULL DEFAULT FALSE" if name in schema.BOOL_COLUMNS else ""
            cur.execute(f"ALTER TABLE events ADD COLUMN {_quote(name)} {_sql_type(name)}{extra}")
        cur.execute(f"UPDATE events SET row_hash = {_HASH}")
        columns = {r[0] for r in cur.execute("DESCRIBE datasets").fetchall()}
        if "extract_date" not in columns:
            cur.execute("ALTER TABLE datasets ADD COLUMN extract_date DATE")
        if "population_source" not in columns:
            cur.execute(
                "ALTER TABLE datasets ADD COLUMN population_source VARCHAR NOT NULL "
                "DEFAULT 'none'"
            )
        cur.execute(
            "UPDATE datasets SET extract_date = (SELECT max(event_date) FROM events e "
            "WHERE e.dataset_id = datasets.dataset_id)"
        )
        values = cur.sql(
            "SELECT DISTINCT dataset_id, patient_id, CAST(event_date AS TIMESTAMP_S) AS "
            "diagnosis_date, trim(diagnosis) AS diagnosis FROM events "
            "WHERE diagnosis IS NOT NULL AND trim(diagnosis) <> ''"
        ).to_df()
        if len(values):
            cur.execute(
                "UPDATE datasets SET population_source = 'diagnosis_column' WHERE dataset_id IN "
                "(SELECT DISTINCT dataset_id FROM events WHERE diagnosis IS NOT NULL AND "
                "trim(diagnosis) <> '')"
            )
            text = values["diagnosis"].astype("string")
            looks_like_code = text.str.fullmatch(r"[A-Za-z]?\d[0-9A-Za-z.]*").fillna(False)
            kind = indications.condition_kind(text, text)
            keep = np.isin(kind, list(indications.KINDS))
            frame = pd.DataFrame({
                "patient_id": values["patient_id"].astype("string"),
                "diagnosis_date": values["diagnosis_date"],
                "code": text.where(looks_like_code),
                "description": text.where(~looks_like_code),
                "kind": kind,
            })[keep]
            table = _diagnoses_arrow(frame)
            dataset_ids = pa.array(values["dataset_id"].to_numpy()[keep], type=pa.int64())
            cur.register("painpath_migrated", table.add_column(0, "dataset_id", dataset_ids))
            try:
                cur.execute(
                    "INSERT INTO diagnoses SELECT dataset_id, patient_id, "
                    "CAST(diagnosis_date AS DATE), code, description, kind "
                    "FROM painpath_migrated"
                )
            finally:
                with suppress(duckdb.Error):
                    cur.unregister("painpath_migrated")
        cur.execute(
            "UPDATE meta SET value = '2' WHERE key = 'schema_version'"
        )

    @staticmethod
    def _number_value_maps(cur: duckdb.DuckDBPyConnection) -> None:
        """Schema 3's value maps (no ``position``: saved in row order) numbered in that
        order, in the open transaction."""
        cur.execute("ALTER TABLE value_maps RENAME TO value_maps_3")
        cur.execute(_VALUE_MAPS_DDL)
        cur.execute(
            "INSERT INTO value_maps SELECT dataset_id, row_number() OVER (PARTITION BY "
            "dataset_id ORDER BY rowid) - 1, kind, value, maps_to FROM value_maps_3")
        cur.execute("DROP TABLE value_maps_3")

    def _move_rows_to_files(self, cur: duckdb.DuckDBPyConnection) -> None:
        """Schema 2 or 3 -> 4 in the open transaction: every dataset's rows to data files of
        its current version (files of a transaction that does not commit are swept later)."""
        cur.execute(_VERSIONS_DDL)
        datasets = cur.execute("SELECT dataset_id, version FROM datasets").fetchall()
        for dataset_id, version in datasets:
            did = int(dataset_id)
            events_file = _write_data_file(
                cur, f"SELECT {_COLUMN_LIST} FROM events WHERE dataset_id = {did}",
                self.files_dir, "events")
            diagnoses_file = _write_data_file(
                cur, f"SELECT {_DIAGNOSIS_LIST} FROM diagnoses WHERE dataset_id = {did}",
                self.files_dir, "diagnoses")
            cur.execute("INSERT INTO versions VALUES (?, ?, ?, ?, NULL)",
                        [did, int(version), events_file, diagnoses_file])
        cur.execute("DROP TABLE events")
        cur.execute("DROP TABLE diagnoses")
        cur.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'",
                    [str(SCHEMA_VERSION)])

    # ---- reads ----------------------------------------------------------------------
    def schema_version(self) -> int:
        """The store schema version recorded in the catalog."""
        with self._read() as cur:
            row = _one(cur, "SELECT value FROM meta WHERE key = 'schema_version'")
        return int(row[0])

    @staticmethod
    def _frame(rows: tuple[tuple, ...]) -> pd.DataFrame:
        frame = pd.DataFrame(list(rows), columns=list(DATASET_COLUMNS))
        frame["source_files"] = ["; ".join(json.loads(s)) for s in frame["source_files"]]
        frame["extract_date"] = pd.to_datetime(frame["extract_date"]).astype(schema.DATE_DTYPE)
        return frame.astype(
            {
                "dataset_id": "int64",
                "events": "int64",
                "patients": "int64",
                "version": "int64",
                "name": "string",
                "source_files": "string",
                "population_source": "string",
            }
        )

    def list_datasets(self) -> pd.DataFrame:
        """All datasets, oldest first: dataset_id, name, created_at, updated_at (UTC),
        source_files (file names joined with ``"; "``), events, patients, version,
        extract_date (``datetime64[s]``, NaT when unknown) and population_source.  Cheap
        when nothing changed since the last call (one small file read): call it on every
        rerun to see the writes of other processes."""
        catalog = self._catalog()
        if catalog.frame is None:  # built once per catalog read; callers get their own copy
            object.__setattr__(catalog, "frame", self._frame(catalog.datasets))
        return catalog.frame.copy(deep=False)

    def get_dataset(self, dataset_id: int) -> dict[str, Any]:
        """Metadata of one dataset (the keys of :meth:`list_datasets`; ``source_files`` as a
        list, ``extract_date`` a ``pd.Timestamp`` or None).  Raises ``KeyError`` for an
        unknown id."""
        row = self._catalog().row(dataset_id)
        if row is None:
            raise KeyError(f"no dataset with id {dataset_id}")
        return _dataset_meta(row)

    def find_dataset(self, name: str) -> int | None:
        """The id of the dataset called ``name``, or None."""
        found = next((r for r in self._catalog().datasets if r[1] == name), None)
        return None if found is None else int(found[0])

    def dataset_version(self, dataset_id: int) -> int:
        """The dataset's version: grows on every write that changes it (cache key)."""
        return int(self.get_dataset(dataset_id)["version"])

    def _version_files(self, dataset_id: int, version: int | None) -> tuple[str, str]:
        """(events file, diagnoses file) of the dataset's current version or of
        ``version`` while it is kept.  Raises ``KeyError`` otherwise."""
        catalog = self._catalog()
        if version is None:
            row = catalog.row(dataset_id)
            if row is None:
                raise KeyError(f"no dataset with id {dataset_id}")
            version = int(row[7])
        files = catalog.files.get((int(dataset_id), int(version)))
        if files is None:  # a version newer than this process has seen
            files = self._catalog(fresh=True).files.get((int(dataset_id), int(version)))
        if files is None:
            raise KeyError(f"dataset {dataset_id} has no version {version} (any more)")
        return files

    def _read_data(self, name: str, query: str) -> pa.Table:
        """``query`` (with one ``?``: the file) over the data file ``name``."""
        path = self.files_dir / name
        con = duckdb.connect()
        try:
            return con.sql(query, params=[str(path)]).to_arrow_table()
        except duckdb.Error as exc:
            raise _damaged(self.path, exc, path) from exc
        finally:
            con.close()

    def load_events(self, dataset_id: int, version: int | None = None) -> pd.DataFrame:
        """The events of the dataset's current version (or of ``version``, which stays
        readable for :data:`KEEP_SUPERSEDED` after a write replaced it) as a canonical frame
        (``schema.conform``ed), in insertion order with a fresh RangeIndex.  Raises
        ``KeyError`` for an unknown id or version."""
        events_file, _ = self._version_files(dataset_id, version)
        table = self._read_data(events_file, f"SELECT {_LOAD_SELECT} FROM read_parquet(?)")
        frame = table.to_pandas(types_mapper={pa.string(): pd.StringDtype()}.get)
        return schema.conform(frame)

    def load_diagnoses(self, dataset_id: int, version: int | None = None) -> pd.DataFrame:
        """The dataset's diagnoses (current version, or ``version`` as in
        :meth:`load_events`): ``patient_id``, ``diagnosis_date`` (``datetime64[s]``),
        ``code``, ``description``, ``kind`` (``string``), sorted by patient, date, kind, code,
        description.  Raises ``KeyError`` for an unknown id or version."""
        _, diagnoses_file = self._version_files(dataset_id, version)
        table = self._read_data(
            diagnoses_file,
            "SELECT patient_id, CAST(diagnosis_date AS TIMESTAMP_S) AS diagnosis_date, code, "
            "description, kind FROM read_parquet(?) "
            "ORDER BY patient_id, diagnosis_date NULLS LAST, kind, code NULLS FIRST, "
            "description NULLS FIRST")
        frame = table.to_pandas(types_mapper={pa.string(): pd.StringDtype()}.get)
        frame["diagnosis_date"] = frame["diagnosis_date"].astype(schema.DATE_DTYPE)
        return frame.astype({c: "string" for c in DIAGNOSIS_COLUMNS if c != "diagnosis_date"})

    def load_value_map(self, dataset_id: int) -> pd.DataFrame:
        """The dataset's value map: ``kind``, ``value``, ``maps_to`` (``string``) in the
        order saved (empty when it has none).  Raises ``KeyError`` for an unknown id."""
        with self._read() as cur:
            self._require(cur, dataset_id)
            rows = cur.execute(
                "SELECT kind, value, maps_to FROM value_maps WHERE dataset_id = ? "
                "ORDER BY position", [int(dataset_id)],
            ).fetchall()
        return pd.DataFrame(rows, columns=list(VALUE_MAP_COLUMNS)).astype("string")

    def ingest_reports(self, dataset_id: int) -> list[dict[str, Any]]:
        """Every upload of the dataset, oldest first: ``upload_id``, ``uploaded_at`` (UTC),
        ``action`` (create/add/replace), ``source_files`` (list), ``rows_added`` and
        ``report`` (the dict as stored)."""
        with self._read() as cur:
            self._require(cur, dataset_id)
            rows = cur.execute(
                "SELECT upload_id, uploaded_at, action, source_files, rows_added, report "
                "FROM uploads WHERE dataset_id = ? ORDER BY upload_id",
                [int(dataset_id)],
            ).fetchall()
        return [
            {
                "upload_id": int(r[0]),
                "uploaded_at": r[1],
                "action": r[2],
                "source_files": json.loads(r[3]),
                "rows_added": int(r[4]),
                "report": json.loads(r[5]),
            }
            for r in rows
        ]

    # ---- writes ---------------------------------------------------------------------
    @contextmanager
    def _staging(self) -> Iterator[_Stage]:
        """A new version being built; its files are deleted when the write fails."""
        stage = _Stage(self.files_dir, self.path)
        try:
            yield stage
        except BaseException:
            stage.discard()
            raise
        finally:
            stage.close()

    def create_dataset(
        self,
        name: str,
        events: pd.DataFrame,
        report: dict[str, Any],
        source_files: list[str],
        *,
        diagnoses: pd.DataFrame | None = None,
        extract_date: pd.Timestamp | date | str | None = None,
        population_source: str = "none",
        value_map: pd.DataFrame | None = None,
    ) -> int:
        """Create dataset ``name`` holding ``events`` and ``diagnoses``; returns its id.

        ``extract_date`` is the one ingest fixed (None: the latest ``event_date`` of
        ``events`` or ``diagnosis_date`` of ``diagnoses``); ``population_source`` one of
        :data:`POPULATION_SOURCES`; ``value_map`` the value map ingest applied (columns
        :data:`VALUE_MAP_COLUMNS`).  Raises ``ValueError`` when the name is empty or already
        taken, or for a bad diagnoses frame, value map or source."""
        name = str(name).strip()
        if not name:
            raise ValueError("a dataset needs a name")
        incoming = _to_arrow(events)
        diag = _diagnoses_arrow(diagnoses)
        values = _value_map_rows(value_map)
        extract = _extract_or_latest(extract_date, incoming, diag)
        source = _source_value(population_source)
        files = _names(source_files)
        with self._writing(), self._staging() as stage:
            if any(row[1] == name for row in self._catalog(fresh=True).datasets):
                raise ValueError(f"a dataset called {name!r} already exists; choose another name")
            added = stage.insert_events(incoming, dedupe=False)
            stage.insert_diagnoses(diag, dedupe=False)
            data_files = (stage.write("events"), stage.write("diagnoses"))
            counts = stage.event_counts()
            with self._transaction() as cur:
                dataset_id = int(_one(cur, "SELECT nextval('dataset_id_seq')")[0])
                now = _now()
                cur.execute(
                    "INSERT INTO datasets (dataset_id, name, created_at, updated_at, version, "
                    "events, patients, source_files, extract_date, population_source) "
                    "VALUES (?, ?, ?, ?, 1, 0, 0, ?, ?, ?)",
                    [dataset_id, name, now, now, json.dumps(files), extract, source],
                )
                self._save_value_map(cur, dataset_id, values)
                self._finish_write(cur, dataset_id, "create", files, added, report, now,
                                   counts=counts, data_files=data_files, bump=False)
        return dataset_id

    def add_to_dataset(
        self,
        dataset_id: int,
        events: pd.DataFrame,
        report: dict[str, Any],
        source_files: list[str],
        *,
        diagnoses: pd.DataFrame | None = None,
        extract_date: pd.Timestamp | date | str | None = None,
        population_source: str = "none",
        value_map: pd.DataFrame | None = None,
    ) -> int:
        """Add the rows of ``events`` and ``diagnoses`` not already in the dataset; returns
        how many events were new.  The dataset keeps the later extract date and the stronger
        population source; a ``value_map`` given becomes the dataset's map.  Idempotent (see
        the module docstring)."""
        incoming = _to_arrow(events)
        diag = _diagnoses_arrow(diagnoses)
        values = _value_map_rows(value_map)
        extract = _extract_or_latest(extract_date, incoming, diag)
        source = _source_value(population_source)
        files = _names(source_files)
        with self._writing(), self._staging() as stage:
            catalog = self._catalog(fresh=True)
            row = catalog.row(dataset_id)
            if row is None:
                raise KeyError(f"no dataset with id {dataset_id}")
            did = int(dataset_id)
            meta = _dataset_meta(row)
            base_events, base_diagnoses = catalog.files[(did, meta["version"])]
            stage.load(base_events, base_diagnoses)
            old_extract = _extract_value(meta["extract_date"])
            old_source = meta["population_source"]
            new_extract = max((d for d in (old_extract, extract) if d is not None), default=None)
            new_source = min(old_source, source, key=POPULATION_SOURCES.index)
            added = stage.insert_events(incoming, dedupe=True)
            added_diagnoses = stage.insert_diagnoses(diag, dedupe=True)
            changed = (added > 0 or added_diagnoses > 0 or new_extract != old_extract
                       or new_source != old_source)
            data_files = None
            if changed:
                data_files = (stage.write("events") if added else base_events,
                              stage.write("diagnoses") if added_diagnoses else base_diagnoses)
            counts = stage.event_counts()
            with self._transaction() as cur:
                if changed:
                    cur.execute(
                        "UPDATE datasets SET extract_date = ?, population_source = ? "
                        "WHERE dataset_id = ?",
                        [new_extract, new_source, did],
                    )
                self._save_value_map(cur, did, values)
                self._finish_write(cur, did, "add", files, added, report, _now(),
                                   counts=counts, data_files=data_files, bump=changed)
        return added

    def replace_dataset(
        self,
        dataset_id: int,
        events: pd.DataFrame,
        report: dict[str, Any],
        source_files: list[str],
        *,
        diagnoses: pd.DataFrame | None = None,
        extract_date: pd.Timestamp | date | str | None = None,
        population_source: str = "none",
        value_map: pd.DataFrame | None = None,
    ) -> None:
        """Replace all events and diagnoses of the dataset, its extract date and population
        source (name, id and upload history kept; ``source_files`` starts again); a
        ``value_map`` given becomes the dataset's map (None keeps the stored one)."""
        incoming = _to_arrow(events)
        diag = _diagnoses_arrow(diagnoses)
        values = _value_map_rows(value_map)
        extract = _extract_or_latest(extract_date, incoming, diag)
        source = _source_value(population_source)
        files = _names(source_files)
        with self._writing(), self._staging() as stage:
            if self._catalog(fresh=True).row(dataset_id) is None:
                raise KeyError(f"no dataset with id {dataset_id}")
            did = int(dataset_id)
            added = stage.insert_events(incoming, dedupe=False)
            stage.insert_diagnoses(diag, dedupe=False)
            data_files = (stage.write("events"), stage.write("diagnoses"))
            counts = stage.event_counts()
            with self._transaction() as cur:
                cur.execute(
                    "UPDATE datasets SET source_files = '[]', extract_date = ?, "
                    "population_source = ? WHERE dataset_id = ?",
                    [extract, source, did],
                )
                self._save_value_map(cur, did, values)
                self._finish_write(cur, did, "replace", files, added, report, _now(),
                                   counts=counts, data_files=data_files, bump=True)

    def delete_dataset(self, dataset_id: int) -> None:
        """Delete the dataset, its value map and upload reports; its data files go after
        :data:`KEEP_SUPERSEDED`."""
        with self._transaction() as cur:
            self._require(cur, dataset_id)
            did = int(dataset_id)
            for table in ("value_maps", "uploads", "datasets"):
                cur.execute(f"DELETE FROM {table} WHERE dataset_id = ?", [did])
            cur.execute("UPDATE versions SET superseded_at = ? WHERE dataset_id = ? AND "
                        "superseded_at IS NULL", [_now(), did])

    def rename_dataset(self, dataset_id: int, new_name: str) -> None:
        """Rename the dataset (a new version with the same data files).  Raises
        ``ValueError`` when the name is empty or taken."""
        new_name = str(new_name).strip()
        if not new_name:
            raise ValueError("a dataset needs a name")
        with self._transaction() as cur:
            self._require(cur, dataset_id)
            did = int(dataset_id)
            other = _one(cur, "SELECT dataset_id FROM datasets WHERE name = ?", [new_name])
            if other is not None and int(other[0]) != did:
                raise ValueError(
                    f"a dataset called {new_name!r} already exists; choose another name"
                )
            if other is None:
                now = _now()
                self._new_version(cur, did, None, now)
                cur.execute("UPDATE datasets SET name = ?, version = version + 1, "
                            "updated_at = ? WHERE dataset_id = ?", [new_name, now, did])

    def ensure_sample_dataset(self, csv_path: str | Path, ingest_fn: Callable[[Any], Any]) -> int:
        """When the store holds no dataset, create ``"Sample clinic"`` from ``csv_path``.

        ``ingest_fn(csv_path)`` must return an object with ``.events`` (a DataFrame) and
        ``.report`` (with ``.to_dict()``, or a dict); its ``.diagnoses``, ``.extract_date``
        and ``.population_source`` are stored when it has them.  Returns the id of the sample
        dataset when it was just created, else of the most recently updated dataset.
        Check and create are atomic across processes (under the write lock).
        """
        with self._writing():
            existing = self._frame(self._catalog(fresh=True).datasets)
            if len(existing):
                latest = existing.sort_values(["updated_at", "dataset_id"]).iloc[-1]
                return int(latest["dataset_id"])
            result = ingest_fn(csv_path)
            report = result.report
            report = report.to_dict() if hasattr(report, "to_dict") else dict(report)
            return self.create_dataset(
                SAMPLE_DATASET_NAME, result.events, report, [Path(csv_path).name],
                diagnoses=getattr(result, "diagnoses", None),
                extract_date=getattr(result, "extract_date", None),
                population_source=getattr(result, "population_source", "none"),
            )

    # ---- internals ------------------------------------------------------------------
    @staticmethod
    def _save_value_map(cur: duckdb.DuckDBPyConnection, dataset_id: int,
                        rows: list[tuple[str, str, str]] | None) -> None:
        """Replace the dataset's value map with ``rows`` (None: keep it)."""
        if rows is None:
            return
        cur.execute("DELETE FROM value_maps WHERE dataset_id = ?", [int(dataset_id)])
        if rows:
            cur.executemany("INSERT INTO value_maps VALUES (?, ?, ?, ?, ?)",
                            [[int(dataset_id), i, *row] for i, row in enumerate(rows)])

    @staticmethod
    def _require(cur: duckdb.DuckDBPyConnection, dataset_id: int) -> None:
        found = _one(cur, "SELECT 1 FROM datasets WHERE dataset_id = ?", [int(dataset_id)])
        if found is None:
            raise KeyError(f"no dataset with id {dataset_id}")

    @staticmethod
    def _new_version(cur: duckdb.DuckDBPyConnection, dataset_id: int,
                     data_files: tuple[str, str] | None, when: datetime) -> None:
        """Record the next version's data files (None: the current version's) and mark the
        current version superseded at ``when``."""
        current = int(_one(cur, "SELECT version FROM datasets WHERE dataset_id = ?",
                           [dataset_id])[0])
        if data_files is None:
            data_files = _one(cur, "SELECT events_file, diagnoses_file FROM versions WHERE "
                              "dataset_id = ? AND version = ?", [dataset_id, current])
        cur.execute("UPDATE versions SET superseded_at = ? WHERE dataset_id = ? AND "
                    "version = ?", [when, dataset_id, current])
        cur.execute("INSERT INTO versions VALUES (?, ?, ?, ?, NULL)",
                    [dataset_id, current + 1, *data_files])

    @classmethod
    def _finish_write(
        cls,
        cur: duckdb.DuckDBPyConnection,
        dataset_id: int,
        action: str,
        files: list[str],
        added: int,
        report: dict[str, Any],
        when: datetime,
        *,
        counts: tuple[int, int],
        data_files: tuple[str, str] | None,
        bump: bool,
    ) -> None:
        """Refresh the dataset's counts and file list, record the version's data files
        (bumping the version), record the upload."""
        did = int(dataset_id)
        current = json.loads(
            _one(cur, "SELECT source_files FROM datasets WHERE dataset_id = ?", [did])[0]
        )
        merged = current + [f for f in files if f not in current]
        events, patients = counts
        if bump:
            cls._new_version(cur, did, data_files, when)
            cur.execute(
                "UPDATE datasets SET events = ?, patients = ?, source_files = ?, "
                "version = version + 1, updated_at = ? WHERE dataset_id = ?",
                [events, patients, json.dumps(merged), when, did],
            )
        elif action != "add":  # a create: version 1
            cur.execute("INSERT INTO versions VALUES (?, 1, ?, ?, NULL)", [did, *data_files])
            cur.execute(
                "UPDATE datasets SET events = ?, patients = ?, source_files = ? "
                "WHERE dataset_id = ?",
                [events, patients, json.dumps(merged), did],
            )
        cur.execute(
            "INSERT INTO uploads VALUES (nextval('upload_id_seq'), ?, ?, ?, ?, ?, ?)",
            [did, when, action, json.dumps(files), int(added), _report_json(report)],
        )
