"""The dataset store of PainPath: canonical events in a DuckDB file, one dataset per name.

Location: ``<data_dir>/painpath.duckdb``.  ``data_dir`` is the constructor argument, else
the setting :func:`analytics.settings.data_dir` (``PAINPATH_DATA_DIR``, default the
checkout's ``data/`` folder); it is created when missing.

Tables (``schema_version`` 3, kept in ``meta``):

- ``meta(key, value)`` — ``schema_version``.
- ``datasets(dataset_id, name UNIQUE, created_at, updated_at, version, events, patients,
  source_files, extract_date, population_source)`` — ``source_files`` is a JSON list of the
  file names whose rows make up the dataset now (a replace starts the list again); times are
  UTC.  ``extract_date`` (``DATE``, NULL when unknown) is the dataset version's extract date
  as ingest fixed it before any filter (when a write gives none: the latest event or
  diagnosis date it writes); ``population_source`` is where its diagnoses came
  from: ``conditions``, ``diagnosis_column`` or ``none`` (``analytics.population``).
- ``diagnoses(dataset_id, patient_id, diagnosis_date, code, description, kind)`` — the
  dataset's spinal-pain, general-pain and opioid-use-disorder diagnoses
  (``IngestResult.diagnoses``); ``diagnosis_date`` is ``DATE``.
- ``events(dataset_id, row_hash, <every column of analytics.schema.CANONICAL_COLUMNS>)`` —
  dates are ``DATE``, ``technique`` / ``injection_type`` are ``ENUM`` of the schema
  vocabularies, numbers ``DOUBLE``, text ``VARCHAR``.  ``row_hash`` is DuckDB's ``hash`` over
  all canonical columns (NULL-safe) and speeds up the de-duplication join.
- ``value_maps(dataset_id, kind, value, maps_to)`` — the dataset's value map (what the
  clinic's own technique labels, injection-type labels and descriptions mean; see
  ``analytics.ingest.value_map``): the rows as the last write that gave one left them.
- ``uploads(upload_id, dataset_id, uploaded_at, action, source_files, rows_added, report)`` —
  one row per write that came with an ingest report (``create`` / ``add`` / ``replace``);
  ``report`` is the report dict as JSON text.  Kept as an audit trail across replaces.

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
- **Transactions.** Every write is one DuckDB transaction (``BEGIN`` … ``COMMIT``,
  ``ROLLBACK`` on any error): a failure mid-write leaves the previous state.
- **Migration.** A store of schema version 1 is migrated in place when opened, in one
  transaction: the new canonical event columns are added (NULL; FALSE for
  ``ends_at_death``), ``row_hash`` is recomputed over the new column set, the ``diagnoses``
  table and the two dataset columns are created.  A version-1 dataset kept diagnoses only as
  the events' ``diagnosis`` column, so its diagnoses are read from that column (each
  distinct patient, date and value, classified by ``analytics.indications``), its source
  becomes ``diagnosis_column`` when that column holds a value (else ``none``), and its
  extract date the latest ``event_date``.  A store of schema version 2 gains the empty
  ``value_maps`` table.

Concurrency: DuckDB lets one *process* open the file (even read-only opens are refused while
another process holds it); a second process gets :class:`StoreInUseError` ("the store … is
in use by another PainPath process (PID n)").  Within the process, one :class:`Store` holds
one DuckDB connection and every operation runs on its own cursor (a separate DuckDB
connection to the same database), so threads (Streamlit sessions) may share a Store.  Writes
are serialised by a lock per store file, shared by every ``Store`` of this process on that
file, so concurrent uploads to one dataset run one after the other (an idempotent add sees
the rows the other committed) instead of failing with DuckDB's transaction conflict or both
inserting the same rows.  Reads are not locked (DuckDB gives each a consistent snapshot).
Opening several ``Store`` objects on the same file in one process is fine: a second
``duckdb.connect`` to the path is a new connection to the same database instance.

Durability: a write is committed through DuckDB's write-ahead log (``painpath.duckdb.wal``);
a process killed at any point (even mid-COMMIT or mid-checkpoint) leaves the file with the
last committed state, which the next open replays.  A file that DuckDB cannot read (random
bytes, truncated, checksum failure) raises :class:`StoreDamagedError`;
:func:`move_aside` renames it (and its WAL) to ``painpath.duckdb.broken-<UTC time>`` so
that a new, empty store can be started without deleting anything.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, date, datetime
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
SCHEMA_VERSION = 3
DB_FILENAME = "painpath.duckdb"
DATA_DIR_ENV = settings.DATA_DIR_ENV
SAMPLE_DATASET_NAME = "Sample clinic"

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
    """Another process holds the store file (DuckDB's file lock)."""


class StoreDamagedError(StoreError):
    """The store file is not a readable DuckDB database (corrupt, truncated, foreign)."""


def _damaged(path: Path, exc: BaseException) -> StoreDamagedError:
    reason = " ".join(str(exc).split())[:300]
    return StoreDamagedError(
        f"The PainPath store {path} cannot be read: it is damaged or not a PainPath store "
        f"({reason}). Move it aside and start a new, empty store (the app offers this; the "
        "file is kept), or restore it from a backup.",
        path,
    )


def _open_error(path: Path, exc: duckdb.Error) -> StoreError:
    """Translate a DuckDB error raised while opening ``path`` into a :class:`StoreError`."""
    text = str(exc)
    if isinstance(exc, duckdb.IOException) and "lock" in text.lower():
        pid = re.search(r"PID (\d+)", text)
        who = f" (PID {pid.group(1)})" if pid else ""
        return StoreInUseError(
            f"The store {path} is in use by another PainPath process{who}; close that app or "
            f"point {DATA_DIR_ENV} at another folder, then try again.",
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
    """Rename a (damaged) store file to ``<name>.broken-<UTC yyyymmddThhmmssZ>`` — and its
    WAL, when there is one, to ``<name>.wal.broken-<same time>`` — so that a new store can
    be created in its place; nothing is deleted.  Returns the new path of the store file.
    Close every ``Store`` on the file first."""
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
    path.rename(target)
    return target


# One write lock per store file, shared by every Store of this process on that file.
_WRITE_LOCKS: dict[str, threading.RLock] = {}
_WRITE_LOCKS_GUARD = threading.Lock()


def _write_lock(path: Path) -> threading.RLock:
    key = os.path.realpath(path)
    with _WRITE_LOCKS_GUARD:
        return _WRITE_LOCKS.setdefault(key, threading.RLock())


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
_NOT_NULL = set(schema.REQUIRED_COLUMNS) | set(schema.BOOL_COLUMNS)
_EVENT_DDL = ",\n    ".join(
    f"{_quote(c)} {_sql_type(c)}{' NOT NULL' if c in _NOT_NULL else ''}" for c in _COLS
)
# Incoming frame (registered Arrow table) -> stored column types.
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

_DDL = f"""
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
CREATE TABLE IF NOT EXISTS value_maps (
    dataset_id BIGINT NOT NULL,
    kind VARCHAR NOT NULL,
    value VARCHAR NOT NULL,
    maps_to VARCHAR NOT NULL
);
"""
_SAME_DIAGNOSIS = " AND ".join(
    f"d.{c} IS NOT DISTINCT FROM s.{c}" for c in DIAGNOSIS_COLUMNS
)


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


class Store:
    """A DuckDB-backed store of canonical event datasets (see the module docstring).

    ``Store(data_dir=None)`` opens (creating if needed) ``<data_dir>/painpath.duckdb``.
    Use as a context manager or call :meth:`close`.
    """

    def __init__(self, data_dir: str | Path | None = None) -> None:
        self.data_dir = resolve_data_dir(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.data_dir / DB_FILENAME
        self._write_lock = _write_lock(self.path)
        self._cursor_lock = threading.Lock()
        self._con: duckdb.DuckDBPyConnection | None = None
        try:
            self._con = duckdb.connect(str(self.path))
            self._init_schema()
        except StoreError:
            self.close()
            raise
        except duckdb.Error as exc:
            self.close()
            raise _open_error(self.path, exc) from exc

    # ---- life cycle -----------------------------------------------------------------
    def close(self) -> None:
        """Close the connection (idempotent)."""
        if self._con is not None:
            with suppress(duckdb.Error):
                self._con.close()
            self._con = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        with self._cursor_lock:
            if self._con is None:
                raise RuntimeError("the store is closed")
            return self._con.cursor()

    @contextmanager
    def _read(self) -> Iterator[duckdb.DuckDBPyConnection]:
        cur = self._cursor()
        try:
            yield cur
        except duckdb.Error as exc:
            if _is_corruption(exc):
                raise _damaged(self.path, exc) from exc
            raise
        finally:
            cur.close()

    @contextmanager
    def _transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One write transaction: COMMIT on success, ROLLBACK on any exception.  Holds the
        file's write lock, so writes of this process never interleave."""
        with self._write_lock:
            cur = self._cursor()
            try:
                cur.execute("BEGIN TRANSACTION")
                try:
                    yield cur
                except BaseException:
                    with suppress(duckdb.Error):  # keep the original error; closing also aborts
                        cur.execute("ROLLBACK")
                    raise
                cur.execute("COMMIT")
            except duckdb.Error as exc:
                if _is_corruption(exc):
                    raise _damaged(self.path, exc) from exc
                raise
            finally:
                cur.close()

    def _init_schema(self) -> None:
        with self._transaction() as cur:
            cur.execute(_DDL)
            row = _one(cur, "SELECT value FROM meta WHERE key = 'schema_version'")
            if row is None:
                cur.execute("INSERT INTO meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)])
            elif int(row[0]) in (1, 2):
                if int(row[0]) == 1:
                    self._migrate_from_1(cur)
                # 2 -> 3: the value_maps table, created above
                cur.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'",
                            [str(SCHEMA_VERSION)])
            elif int(row[0]) != SCHEMA_VERSION:
                raise StoreError(
                    f"The store {self.path} has store schema version {row[0]}; this PainPath "
                    f"expects {SCHEMA_VERSION}: use a matching PainPath version or point "
                    f"{DATA_DIR_ENV} at another folder.",
                    self.path,
                )

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

    # ---- reads ----------------------------------------------------------------------
    def schema_version(self) -> int:
        """The store schema version recorded in the file."""
        with self._read() as cur:
            row = _one(cur, "SELECT value FROM meta WHERE key = 'schema_version'")
        return int(row[0])

    def list_datasets(self) -> pd.DataFrame:
        """All datasets, oldest first: dataset_id, name, created_at, updated_at (UTC),
        source_files (file names joined with ``"; "``), events, patients, version,
        extract_date (``datetime64[s]``, NaT when unknown) and population_source."""
        with self._read() as cur:
            rows = cur.execute(f"{_DATASET_SELECT} ORDER BY dataset_id").fetchall()
        frame = pd.DataFrame(rows, columns=list(DATASET_COLUMNS))
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

    def get_dataset(self, dataset_id: int) -> dict[str, Any]:
        """Metadata of one dataset (the keys of :meth:`list_datasets`; ``source_files`` as a
        list, ``extract_date`` a ``pd.Timestamp`` or None).  Raises ``KeyError`` for an
        unknown id."""
        with self._read() as cur:
            row = _one(cur, f"{_DATASET_SELECT} WHERE dataset_id = ?", [int(dataset_id)])
        if row is None:
            raise KeyError(f"no dataset with id {dataset_id}")
        return _dataset_meta(row)

    def find_dataset(self, name: str) -> int | None:
        """The id of the dataset called ``name``, or None."""
        with self._read() as cur:
            row = _one(cur, "SELECT dataset_id FROM datasets WHERE name = ?", [name])
        return None if row is None else int(row[0])

    def dataset_version(self, dataset_id: int) -> int:
        """The dataset's version: grows on every write that changes it (cache key)."""
        return int(self.get_dataset(dataset_id)["version"])

    def load_events(self, dataset_id: int) -> pd.DataFrame:
        """The dataset's events as a canonical frame (``schema.conform``ed), in insertion
        order with a fresh RangeIndex.  Raises ``KeyError`` for an unknown id."""
        with self._read() as cur:
            self._require(cur, dataset_id)
            table = cur.sql(
                f"SELECT {_LOAD_SELECT} FROM events WHERE dataset_id = {int(dataset_id)}"
            ).to_arrow_table()
        frame = table.to_pandas(types_mapper={pa.string(): pd.StringDtype()}.get)
        return schema.conform(frame)

    def load_diagnoses(self, dataset_id: int) -> pd.DataFrame:
        """The dataset's diagnoses: ``patient_id``, ``diagnosis_date`` (``datetime64[s]``),
        ``code``, ``description``, ``kind`` (``string``), sorted by patient, date, kind, code,
        description.  Raises ``KeyError`` for an unknown id."""
        with self._read() as cur:
            self._require(cur, dataset_id)
            table = cur.sql(
                "SELECT patient_id, CAST(diagnosis_date AS TIMESTAMP_S) AS diagnosis_date, code, "
                f"description, kind FROM diagnoses WHERE dataset_id = {int(dataset_id)} "
                "ORDER BY patient_id, diagnosis_date NULLS LAST, kind, code NULLS FIRST, "
                "description NULLS FIRST"
            ).to_arrow_table()
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
                "ORDER BY rowid", [int(dataset_id)],
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
        with self._transaction() as cur:
            if _one(cur, "SELECT dataset_id FROM datasets WHERE name = ?", [name]) is not None:
                raise ValueError(f"a dataset called {name!r} already exists; choose another name")
            dataset_id = int(_one(cur, "SELECT nextval('dataset_id_seq')")[0])
            now = _now()
            cur.execute(
                "INSERT INTO datasets (dataset_id, name, created_at, updated_at, version, events, "
                "patients, source_files, extract_date, population_source) "
                "VALUES (?, ?, ?, ?, 1, 0, 0, ?, ?, ?)",
                [dataset_id, name, now, now, json.dumps(files), extract, source],
            )
            added = self._insert(cur, dataset_id, incoming, dedupe=False)
            self._insert_diagnoses(cur, dataset_id, diag, dedupe=False)
            self._save_value_map(cur, dataset_id, values)
            self._finish_write(cur, dataset_id, "create", files, added, report, now, bump=False)
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
        with self._transaction() as cur:
            self._require(cur, dataset_id)
            did = int(dataset_id)
            old_extract, old_source = _one(
                cur, "SELECT extract_date, population_source FROM datasets WHERE dataset_id = ?",
                [did],
            )
            new_extract = max((d for d in (old_extract, extract) if d is not None), default=None)
            new_source = min(old_source, source, key=POPULATION_SOURCES.index)
            added = self._insert(cur, did, incoming, dedupe=True)
            added_diagnoses = self._insert_diagnoses(cur, did, diag, dedupe=True)
            self._save_value_map(cur, did, values)
            changed = (added > 0 or added_diagnoses > 0 or new_extract != old_extract
                       or new_source != old_source)
            if changed:
                cur.execute(
                    "UPDATE datasets SET extract_date = ?, population_source = ? "
                    "WHERE dataset_id = ?",
                    [new_extract, new_source, did],
                )
            self._finish_write(cur, did, "add", files, added, report, _now(), bump=changed)
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
        with self._transaction() as cur:
            self._require(cur, dataset_id)
            did = int(dataset_id)
            cur.execute("DELETE FROM events WHERE dataset_id = ?", [did])
            cur.execute("DELETE FROM diagnoses WHERE dataset_id = ?", [did])
            cur.execute(
                "UPDATE datasets SET source_files = '[]', extract_date = ?, "
                "population_source = ? WHERE dataset_id = ?",
                [extract, source, did],
            )
            added = self._insert(cur, did, incoming, dedupe=False)
            self._insert_diagnoses(cur, did, diag, dedupe=False)
            self._save_value_map(cur, did, values)
            self._finish_write(cur, did, "replace", files, added, report, _now(), bump=True)

    def delete_dataset(self, dataset_id: int) -> None:
        """Delete the dataset, its events, diagnoses and upload reports."""
        with self._transaction() as cur:
            self._require(cur, dataset_id)
            for table in ("events", "diagnoses", "value_maps", "uploads", "datasets"):
                cur.execute(f"DELETE FROM {table} WHERE dataset_id = ?", [int(dataset_id)])

    def rename_dataset(self, dataset_id: int, new_name: str) -> None:
        """Rename the dataset.  Raises ``ValueError`` when the name is empty or taken."""
        new_name = str(new_name).strip()
        if not new_name:
            raise ValueError("a dataset needs a name")
        with self._transaction() as cur:
            self._require(cur, dataset_id)
            other = _one(cur, "SELECT dataset_id FROM datasets WHERE name = ?", [new_name])
            if other is not None and int(other[0]) != int(dataset_id):
                raise ValueError(
                    f"a dataset called {new_name!r} already exists; choose another name"
                )
            if other is None:
                cur.execute(
                    "UPDATE datasets SET name = ?, version = version + 1, updated_at = ? "
                    "WHERE dataset_id = ?",
                    [new_name, _now(), int(dataset_id)],
                )

    def ensure_sample_dataset(self, csv_path: str | Path, ingest_fn: Callable[[Any], Any]) -> int:
        """When the store holds no dataset, create ``"Sample clinic"`` from ``csv_path``.

        ``ingest_fn(csv_path)`` must return an object with ``.events`` (a DataFrame) and
        ``.report`` (with ``.to_dict()``, or a dict); its ``.diagnoses``, ``.extract_date``
        and ``.population_source`` are stored when it has them.  Returns the id of the sample
        dataset when it was just created, else of the most recently updated dataset.
        """
        with self._write_lock:  # check-then-create is atomic among this process's writers
            existing = self.list_datasets()
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
            cur.executemany("INSERT INTO value_maps VALUES (?, ?, ?, ?)",
                            [[int(dataset_id), *row] for row in rows])

    @staticmethod
    def _require(cur: duckdb.DuckDBPyConnection, dataset_id: int) -> None:
        found = _one(cur, "SELECT 1 FROM datasets WHERE dataset_id = ?", [int(dataset_id)])
        if found is None:
            raise KeyError(f"no dataset with id {dataset_id}")

    @staticmethod
    def _insert(
        cur: duckdb.DuckDBPyConnection, dataset_id: int, incoming: pa.Table, dedupe: bool
    ) -> int:
        """Insert ``incoming`` into ``events``; with ``dedupe`` only rows that have no
        identical row in the dataset yet.  Returns the number of rows inserted."""
        before = _one(cur, "SELECT count(*) FROM events WHERE dataset_id = ?", [int(dataset_id)])[0]
        view = "painpath_incoming"
        cur.register(view, incoming)
        try:
            staged = (
                f"SELECT {int(dataset_id)} AS dataset_id, {_HASH} AS row_hash, * FROM "
                f"(SELECT {_STAGE_SELECT} FROM {view})"
            )
            columns = "dataset_id, row_hash, " + ", ".join(_quote(c) for c in _COLS)
            if dedupe:
                sql = (
                    f"INSERT INTO events ({columns}) SELECT s.* FROM ({staged}) s "
                    f"WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.dataset_id = "
                    f"{int(dataset_id)} AND e.row_hash = s.row_hash AND {_SAME_ROW})"
                )
            else:
                sql = f"INSERT INTO events ({columns}) {staged}"
            cur.execute(sql)
        finally:
            with suppress(duckdb.Error):  # fails in an aborted transaction; the cursor closes
                cur.unregister(view)
        after = _one(cur, "SELECT count(*) FROM events WHERE dataset_id = ?", [int(dataset_id)])[0]
        return int(after - before)

    @staticmethod
    def _insert_diagnoses(
        cur: duckdb.DuckDBPyConnection, dataset_id: int, incoming: pa.Table, dedupe: bool
    ) -> int:
        """Insert the distinct rows of ``incoming`` into ``diagnoses``; with ``dedupe`` only
        those not stored for the dataset yet.  Returns the number of rows inserted."""
        if incoming.num_rows == 0:
            return 0
        did = int(dataset_id)
        count = "SELECT count(*) FROM diagnoses WHERE dataset_id = ?"
        before = _one(cur, count, [did])[0]
        view = "painpath_incoming_diagnoses"
        cur.register(view, incoming)
        try:
            staged = (
                f"SELECT DISTINCT {did} AS dataset_id, CAST(patient_id AS VARCHAR) AS patient_id, "
                "CAST(diagnosis_date AS DATE) AS diagnosis_date, CAST(code AS VARCHAR) AS code, "
                "CAST(description AS VARCHAR) AS description, CAST(kind AS VARCHAR) AS kind "
                f"FROM {view}"
            )
            if dedupe:
                sql = (
                    f"INSERT INTO diagnoses SELECT s.* FROM ({staged}) s WHERE NOT EXISTS "
                    f"(SELECT 1 FROM diagnoses d WHERE d.dataset_id = {did} AND {_SAME_DIAGNOSIS})"
                )
            else:
                sql = f"INSERT INTO diagnoses {staged}"
            cur.execute(sql)
        finally:
            with suppress(duckdb.Error):
                cur.unregister(view)
        return int(_one(cur, count, [did])[0] - before)

    @staticmethod
    def _finish_write(
        cur: duckdb.DuckDBPyConnection,
        dataset_id: int,
        action: str,
        files: list[str],
        added: int,
        report: dict[str, Any],
        when: datetime,
        bump: bool,
    ) -> None:
        """Refresh the dataset's counts and file list, bump the version, record the upload."""
        did = int(dataset_id)
        current = json.loads(
            _one(cur, "SELECT source_files FROM datasets WHERE dataset_id = ?", [did])[0]
        )
        merged = current + [f for f in files if f not in current]
        events, patients = _one(
            cur,
            "SELECT count(*), count(DISTINCT patient_id) FROM events WHERE dataset_id = ?",
            [did],
        )
        if bump:
            cur.execute(
                "UPDATE datasets SET events = ?, patients = ?, source_files = ?, "
                "version = version + 1, updated_at = ? WHERE dataset_id = ?",
                [int(events), int(patients), json.dumps(merged), when, did],
            )
        elif action != "add":  # an add that inserted nothing leaves the dataset as it was
            cur.execute(
                "UPDATE datasets SET events = ?, patients = ?, source_files = ? "
                "WHERE dataset_id = ?",
                [int(events), int(patients), json.dumps(merged), did],
            )
        cur.execute(
            "INSERT INTO uploads VALUES (nextval('upload_id_seq'), ?, ?, ?, ?, ?, ?)",
            [did, when, action, json.dumps(files), int(added), _report_json(report)],
        )
