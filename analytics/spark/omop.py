"""OMOP CDM tables on Spark -> the canonical events and diagnoses, by ingest's own rules.

``--omop SCHEMA_OR_DIR`` names a Spark catalog schema (``cdm`` or ``catalog.cdm``) holding
the tables ``person``, ``drug_exposure``, ``procedure_occurrence``,
``condition_occurrence``, ``death``, ``visit_occurrence`` and ``concept``, or a folder of
them as Parquet files or
folders or CSV files (``DRUG_EXPOSURE.csv``, ``drug_exposure.parquet``, ``drug_exposure/``;
comma-separated UTF-8 with a header).  Only ``drug_exposure`` (or ``procedure_occurrence``)
is required; a missing ``concept`` table leaves concept ids unnamed, as in local ingest.

Every rule is local ingest's (:mod:`analytics.ingest`), applied the way ingest applies
it — to the distinct values of a column, mapped back to the rows:

- the tables' roles and column mappings come from ingest's own functions
  (:func:`analytics.ingest.formats.detect_format`, :func:`analytics.ingest.mapping.
  guess_mapping`, the PHI guard's refused names);
- the vocabulary: the distinct concept ids the event and condition rows use are joined
  to ``concept`` in Spark, their names and codes are classified **on the driver** by
  ingest's :func:`analytics.ingest.classify` and :func:`analytics.indications.
  condition_kind` (the vocabulary a dataset uses is small), and the result is
  broadcast-joined back to the rows; dates, numbers and sex values likewise go through
  ingest's parsers once per distinct value.  No Python function runs per row;
- row rules run as Spark SQL: duplicates, not-relevant rows, the rejection reasons in
  ingest's order, quantities, refills, open orders, death dates closing coverage,
  demographics, ages, each patient's first spinal-pain diagnosis, the extract date.

Not read on Spark (an error names the column): an OMOP event table column that ingest
would map to an indication (``reason``), a diagnosis, a technique label, an injection type,
a region, an age or demographics; and a column refused by the PHI guard for its *values*
(local ingest inspects values; a CDM's columns are refused by name only here).  Rows keep
their table's order (``event_row``: the table's file order, event tables in file-name
order, as ingest concatenates them).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analytics import indications, phi, readers, vocab
from analytics.ingest import classify
from analytics.ingest.classify import INJ_INDEX
from analytics.ingest.formats import detect_format
from analytics.ingest.mapping import guess_mapping
from analytics.ingest.report import REJECT_REASONS
from analytics.ingest.values import sex_values
from analytics.spark.dataset import (
    DIAGNOSIS_FIELDS,
    DIAGNOSIS_ROW,
    EVENT_FIELDS,
    SparkDataset,
    ddl,
    typed,
)

OMOP_TABLES: tuple[str, ...] = ("concept", "person", "death", "visit_occurrence",
                                "condition_occurrence", "drug_exposure", "procedure_occurrence")
"""The tables read, in ingest's order of roles (concept, person, death and visits,
conditions, events)."""
EVENT_TABLES = ("drug_exposure", "procedure_occurrence")
_SUPPORTED_EVENT_KEYS = frozenset({
    "patient_id", "event_date", "end_date", "days_supply", "detail", "code", "quantity",
    "strength", "mme_per_day", "pain_score", "provider_id", "site", "pharmacy_id",
    "refills", "dispenses", "encounter_id"})
_TEXT_KEYS = ("provider_id", "site", "pharmacy_id")
DIAGNOSIS_COLUMNS = tuple(name for name, _ in DIAGNOSIS_FIELDS if name != DIAGNOSIS_ROW)
_REASON = {r: i for i, r in enumerate(REJECT_REASONS)}
_DAYS_MAX = 365
_ROW_SHIFT = 55
"""event_row = table rank << 55 | the row's position id in its table."""


class OmopError(Exception):
    """OMOP tables the Spark reader cannot use (one-line message)."""


@dataclass
class _Table:
    name: str
    role: str
    frame: Any
    columns: list[str]
    refused: set[str]
    mapping: dict[str, str]
    position: int = 0
    rank: int = 0


@dataclass
class _Report:
    files: list[tuple[int, str]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("rows_read", "rejected_rows", "not_relevant_rows", "duplicate_rows"), 0))
    refused: set[str] = field(default_factory=set)

    def add(self, table: _Table, rows: int, rejected: int = 0, not_relevant: int = 0,
            duplicates: int = 0) -> None:
        self.files.append((table.position, table.name))
        for key, value in (("rows_read", rows), ("rejected_rows", rejected),
                           ("not_relevant_rows", not_relevant), ("duplicate_rows", duplicates)):
            self.counts[key] += int(value)
        self.refused.update(table.refused)

    def totals(self) -> dict[str, object]:
        return {"files": [name for _, name in sorted(self.files)], **self.counts,
                "refused_columns": sorted(self.refused)}


# ------------------------------------------------------------------ reading the tables


def _functions():
    from pyspark.sql import functions as F

    return F


def _as_text(frame: Any) -> Any:
    """Every column as text (ingest reads every value as text)."""
    F = _functions()
    return frame.select(*[F.col(f"`{c}`").cast("string").alias(c) for c in frame.columns])


def _read_file(spark: Any, path: Path) -> Any:
    if path.is_dir() or path.suffix.lower() in (".parquet", ".pq"):
        return spark.read.parquet(str(path))
    sep = "\t" if path.suffix.lower() == ".tsv" else ","
    with path.open(encoding="utf-8-sig", newline="") as fh:  # the header, without a job
        header = next(csv.reader(fh, delimiter=sep), [])
    schema = ddl(tuple((name, "string") for name in header))
    return spark.read.csv(str(path), header=True, sep=sep, quote='"', escape='"',
                          schema=schema, encoding="UTF-8", enforceSchema=True)


def _candidates(source: Path) -> list[Path]:
    return sorted(p for p in source.iterdir() if not p.name.startswith(".")
                  and (p.is_dir() or p.suffix.lower() in readers.EXPORT_SUFFIXES))


def _open(spark: Any, source: str) -> list[tuple[str, Any]]:
    """(name, frame) of each OMOP table of the folder or catalog schema ``source``."""
    folder = Path(source)
    if folder.is_dir():
        found = []
        for path in _candidates(folder):
            frame = _read_file(spark, path)
            found.append((path.name, frame))
        return found
    found = []
    for table in OMOP_TABLES:
        name = f"{source}.{table}"
        try:
            exists = spark.catalog.tableExists(name)
        except Exception as exc:  # an unknown catalog or schema raises in some versions
            raise OmopError(f"--omop {source!r} is neither a folder nor a readable Spark "
                            f"schema: {str(exc).splitlines()[0][:200]}") from exc
        if exists:
            found.append((table, spark.table(name)))
    if not found:
        raise OmopError(f"--omop {source!r}: no folder of that name, and no OMOP table "
                        f"({', '.join(OMOP_TABLES)}) in a Spark schema of that name")
    return found


def _tables(spark: Any, source: str) -> dict[str, _Table]:
    tables: dict[str, _Table] = {}
    ranks = 0
    for position, (name, frame) in enumerate(_open(spark, source)):
        columns = list(frame.columns)
        fmt, role = detect_format(name, columns)
        if fmt != "omop" or role not in OMOP_TABLES:
            continue
        if role in tables:
            raise OmopError(f"--omop {source!r}: two {role} tables ({tables[role].name}, "
                            f"{name})")
        refused = set(phi.refused_by_name(columns))
        mapping = guess_mapping(fmt, role, columns, refused)
        table = _Table(name, role, _as_text(frame), columns, refused, mapping, position)
        if role in EVENT_TABLES:
            table.rank = ranks
            ranks += 1
        tables[role] = table
    if not any(t in tables for t in EVENT_TABLES):
        raise OmopError(f"--omop {source!r}: no drug_exposure or procedure_occurrence table")
    for role in EVENT_TABLES:
        if role in tables:
            extra = sorted(set(tables[role].mapping) - _SUPPORTED_EVENT_KEYS)
            if extra:
                names = ", ".join(tables[role].mapping[k] for k in extra)
                raise OmopError(
                    f"{tables[role].name}: column(s) {names} map to {', '.join(extra)}, "
                    "which the Spark OMOP reader does not read; ingest the export locally")
    return tables


# ------------------------------------------------------------------ per-value lookups


def _strip(column: Any) -> Any:
    """A text column stripped of surrounding white space, blank -> null (ingest's
    :class:`analytics.ingest.columns.Columns`)."""
    F = _functions()
    stripped = F.regexp_replace(column, r"(?U)^\s+|\s+$", "")
    return F.when(stripped == "", F.lit(None)).otherwise(stripped)


def _prepared(table: _Table, keys: tuple[str, ...]) -> Any:
    """The table with ``_order`` (its row order), ``_dup`` (a row identical in every
    column to an earlier one: ingest compares the raw values) and ``_{key}`` = the
    stripped text of each mapped key's column; kept (persisted) for the few passes that
    read it."""
    from pyspark import StorageLevel
    from pyspark.sql import Window

    F = _functions()
    frame = table.frame.withColumn("_order", F.monotonically_increasing_id())
    window = Window.partitionBy(*[F.col(f"`{c}`") for c in table.columns]).orderBy("_order")
    frame = frame.withColumn("_dup", F.row_number().over(window) > 1)
    for key in keys:
        if key in table.mapping:
            frame = frame.withColumn(f"_{key}", _strip(F.col(f"`{table.mapping[key]}`")))
    return frame.persist(StorageLevel.MEMORY_AND_DISK)


def _distinct_values(frame: Any, columns: list[str]) -> dict[str, np.ndarray]:
    """The distinct non-missing values of each column (one pass over ``frame``)."""
    F = _functions()
    if not columns:
        return {}
    row = frame.agg(*[F.collect_set(c).alias(c) for c in columns]).first()
    return {c: np.array(sorted(row[c]), dtype=object) for c in columns}


def _lookup(spark: Any, frame: Any, column: str, values: np.ndarray,
            results: dict[str, np.ndarray], fields: tuple[tuple[str, str], ...]) -> Any:
    """``frame`` left-joined (broadcast) with a table of per-value ``results``."""
    F = _functions()
    key = f"{column}_value"
    data = pd.DataFrame({key: values, **results})
    rows = [tuple(None if (isinstance(v, float) and np.isnan(v)) or v is pd.NaT else v
                  for v in row) for row in data.itertuples(index=False, name=None)]
    lookup = spark.createDataFrame(rows, ddl(((key, "string"), *fields)))
    joined = frame.join(F.broadcast(lookup), frame[column] == lookup[key], "left")
    return joined.drop(key)


def _dates(spark: Any, frame: Any, column: str, values: np.ndarray, prefix: str) -> Any:
    """Columns ``{prefix}_date`` (date) and ``{prefix}_status`` (``readers.DATE_*``; null
    when the value is missing) of a stripped text column whose distinct values are
    ``values``, parsed by ingest's date parser with the column's own day/month order."""
    order = readers.date_order(values)
    parsed, status = readers.parse_dates(values, excel_serial=False, day_first=order.day_first)
    dates = np.array([None if np.isnat(d) else pd.Timestamp(d).date() for d in parsed],
                     dtype=object)
    return _lookup(spark, frame, column, values,
                   {f"{prefix}_date": dates, f"{prefix}_status": status.astype(np.int64)},
                   ((f"{prefix}_date", "date"), (f"{prefix}_status", "bigint")))


def _numbers(spark: Any, frame: Any, column: str, values: np.ndarray, out: str) -> Any:
    """Column ``out`` (double) of a stripped text column, by ingest's number parser."""
    return _lookup(spark, frame, column, values, {out: readers.parse_numbers(values)},
                   ((out, "double"),))


def _status(column: str) -> Any:
    F = _functions()
    return F.coalesce(F.col(column), F.lit(readers.DATE_EMPTY))


def _counts(frame: Any, *extra: Any) -> Any:
    """rows, duplicates, rejected (``_reason`` set), not relevant (``_not_relevant``) and
    any ``extra`` aggregates of a prepared table, in one pass."""
    F = _functions()
    nr = (F.sum(F.col("_not_relevant").cast("int")) if "_not_relevant" in frame.columns
          else F.lit(0))
    return frame.agg(F.count(F.lit(1)).alias("rows"),
                     F.sum(F.col("_dup").cast("int")).alias("dup"),
                     F.sum(F.col("_reason").isNotNull().cast("int")).alias("rej"),
                     nr.alias("nr"), *extra).first()


def _report(report: _Report, table: _Table, counts: Any) -> None:
    report.add(table, counts["rows"] or 0, counts["rej"] or 0, counts["nr"] or 0,
               counts["dup"] or 0)


# ------------------------------------------------------------------ vocabulary


def _concepts(table: _Table | None, report: _Report) -> Any | None:
    """concept_id -> concept_name, concept_code (stripped; the first row of an id)."""
    if table is None:
        return None
    from pyspark.sql import Window

    F = _functions()
    by_norm = {vocab.normalise_name(c): c for c in table.columns}
    table.mapping = {"concept_id": by_norm["conceptid"], "concept_name": by_norm["conceptname"],
                     **({"concept_code": by_norm["conceptcode"]} if "conceptcode" in by_norm
                        else {})}
    frame = _prepared(table, ("concept_id", "concept_name", "concept_code"))
    if "_concept_code" not in frame.columns:
        frame = frame.withColumn("_concept_code", F.lit(None).cast("string"))
    frame = frame.withColumn("_reason", F.when(~F.col("_dup") & F.col("_concept_id").isNull(),
                                               _REASON["missing concept id"]))
    _report(report, table, _counts(frame))
    kept = frame.where(~F.col("_dup") & F.col("_concept_id").isNotNull())
    first = Window.partitionBy("_concept_id").orderBy("_order")
    kept = kept.withColumn("_n", F.row_number().over(first)).where("_n = 1")
    return kept.select(F.col("_concept_id").alias("concept_id"),
                       F.col("_concept_name").alias("concept_name"),
                       F.col("_concept_code").alias("concept_code"))


def _vocabulary(spark: Any, concepts: Any | None, ids: np.ndarray) -> dict[str, tuple]:
    """concept id (text) -> (code, description) as ingest names it
    (:func:`analytics.ingest.values.text`): the concept's code (else the id) and name
    (None when the concept is unknown or there is no concept table)."""
    named: dict[str, tuple] = {}
    if concepts is not None and len(ids):
        F = _functions()
        used = spark.createDataFrame([(str(i),) for i in ids], "concept_id string")
        for row in concepts.join(F.broadcast(used), "concept_id").collect():
            named[row["concept_id"]] = (row["concept_code"], row["concept_name"])
    out = {}
    for cid in ids:
        code, name = named.get(cid, (None, None))
        out[cid] = (code if code is not None else cid, name)
    return out


def _by_concept(spark: Any, frame: Any, names: dict[str, tuple],
                derived: dict[str, list], fields: tuple[tuple[str, str], ...]) -> Any:
    """``frame`` with ``_code``, ``_detail`` and the ``derived`` columns of each row's
    concept id ``_cid`` (broadcast join; a missing id gets the values of ``(None, None)``
    at index -1 of each derived list)."""
    F = _functions()
    ids = list(names)
    rows = [(cid, names[cid][0], names[cid][1], *(derived[k][i] for k, _ in fields))
            for i, cid in enumerate(ids)]
    lookup = spark.createDataFrame(rows, ddl((("_cid_value", "string"), ("_code", "string"),
                                             ("_detail", "string"), *fields)))
    joined = frame.join(F.broadcast(lookup), frame["_cid"] == lookup["_cid_value"], "left")
    joined = joined.drop("_cid_value")
    for name, _ in fields:
        missing = derived[name][-1]
        if missing is not None:
            joined = joined.withColumn(name, F.coalesce(F.col(name), F.lit(missing)))
    return joined


# ------------------------------------------------------------------ auxiliary tables


def _visits(table: _Table | None, report: _Report) -> Any | None:
    """encounter_id -> provider_id, site of the accepted visit rows (the first row of an
    id), as ingest reads an encounters table (:func:`analytics.ingest.roles.
    process_encounters`): a row without an id is rejected; the rows are not events."""
    if table is None:
        return None
    from pyspark.sql import Window

    F = _functions()
    m = table.mapping
    frame = _prepared(table, ("encounter_id", "provider_id", "site"))
    if "encounter_id" not in m:
        frame = frame.withColumn("_encounter_id", F.lit(None).cast("string"))
    missing = F.col("_encounter_id").isNull()
    frame = frame.withColumn("_reason", F.when(~F.col("_dup") & missing,
                                               _REASON["missing encounter id"]))
    _report(report, table, _counts(frame))
    kept = frame.where(~F.col("_dup") & ~missing)
    first = Window.partitionBy("_encounter_id").orderBy("_order")
    kept = kept.withColumn("_n", F.row_number().over(first)).where("_n = 1")
    return kept.select(
        F.col("_encounter_id").alias("_visit_id"),
        *[(F.col(f"_{k}") if k in m else F.lit(None).cast("string")).alias(f"_visit_{k}")
          for k in ("provider_id", "site")])


def _person(spark: Any, table: _Table | None, report: _Report) -> Any | None:
    """patient_id -> sex, birth_year of the accepted person rows (first row per patient)."""
    if table is None:
        return None
    from pyspark.sql import Window

    F = _functions()
    m = table.mapping
    frame = _prepared(table, ("patient_id", "sex", "birth_year"))
    frame = frame.withColumn("_reason", F.when(~F.col("_dup") & F.col("_patient_id").isNull(),
                                               _REASON["missing patient id"]))
    keys = [f"_{k}" for k in ("sex", "birth_year") if k in m]
    counts = _counts(frame, *[F.collect_set(k).alias(k) for k in keys])
    _report(report, table, counts)
    kept = frame.where(~F.col("_dup") & F.col("_patient_id").isNotNull())
    if "sex" in m:
        values = np.array(sorted(counts["_sex"]), dtype=object)
        kept = _lookup(spark, kept, "_sex", values, {"sex": sex_values(values)},
                       (("sex", "string"),))
    else:
        kept = kept.withColumn("sex", F.lit(None).cast("string"))
    if "birth_year" in m:
        rule = phi.phi_rule(m["birth_year"])
        values = np.array(sorted(counts["_birth_year"]), dtype=object)
        if rule is not None and rule[1] == "birth_year":
            parsed, _ = readers.parse_dates(values)
            years = pd.DatetimeIndex(parsed).year.to_numpy(dtype=float, na_value=np.nan)
        else:
            years = readers.parse_numbers(values)
            years[(years < 1800) | (years > 2100)] = np.nan
        kept = _lookup(spark, kept, "_birth_year", values, {"birth_year": years},
                       (("birth_year", "double"),))
    else:
        kept = kept.withColumn("birth_year", F.lit(None).cast("double"))
    first = Window.partitionBy("_patient_id").orderBy("_order")
    kept = kept.withColumn("_n", F.row_number().over(first)).where("_n = 1")
    return kept.select(F.col("_patient_id").alias("patient_id"),
                       F.col("sex").alias("person_sex"),
                       F.col("birth_year").alias("person_birth_year"))


def _deaths(spark: Any, table: _Table | None, report: _Report) -> Any | None:
    """patient_id -> the earliest death date (date) of the accepted death rows."""
    if table is None:
        return None
    F = _functions()
    m = table.mapping
    frame = _prepared(table, ("patient_id", "death_date"))
    if "death_date" in m:
        values = _distinct_values(frame, ["_death_date"])["_death_date"]
        frame = _dates(spark, frame, "_death_date", values, "d")
    else:
        frame = frame.withColumn("d_date", F.lit(None).cast("date")).withColumn(
            "d_status", F.lit(None).cast("bigint"))
    status = _status("d_status")
    reason = (F.when(F.col("_patient_id").isNull(), _REASON["missing patient id"])
              .when(status == readers.DATE_EMPTY, _REASON["missing death date"])
              .when(status == readers.DATE_UNPARSEABLE, _REASON["unparseable death date"])
              .when(status == readers.DATE_OUT_OF_RANGE, _REASON["death date out of range"]))
    frame = frame.withColumn("_reason", F.when(~F.col("_dup"), reason))
    _report(report, table, _counts(frame))
    kept = frame.where(~F.col("_dup") & F.col("_reason").isNull())
    return kept.groupBy(F.col("_patient_id").alias("patient_id")).agg(
        F.min("d_date").alias("death_date"))


def _conditions(spark: Any, table: _Table | None, concepts: Any | None,
                report: _Report) -> tuple[Any, Any, bool]:
    """(the diagnoses of condition_occurrence by ingest's conditions rules, the latest
    accepted diagnosis date, whether one is a spinal-pain diagnosis)."""
    F = _functions()
    if table is None:
        return spark.createDataFrame([], ddl(DIAGNOSIS_FIELDS)), None, False
    m = table.mapping
    if m.get("code") != m.get("detail") or "code" not in m:
        raise OmopError(f"{table.name}: no condition_concept_id column to read")
    frame = _prepared(table, ("patient_id", "event_date"))
    frame = frame.withColumn("_cid", _strip(F.col(f"`{m['code']}`")))
    if concepts is None:
        source = {vocab.normalise_name(c): c for c in table.columns}.get("conditionsourcevalue")
        if source is not None:
            frame = frame.withColumn("_cid", _strip(F.col(f"`{source}`")))
    dates = ["_event_date"] if "event_date" in m else []
    values = _distinct_values(frame, [*dates, "_cid"])
    names = _vocabulary(spark, concepts, values["_cid"])
    codes = np.array([names[c][0] for c in names] + [None], dtype=object)
    details = np.array([names[c][1] for c in names] + [None], dtype=object)
    kinds = [str(k) for k in indications.condition_kind(codes, details)]
    frame = _by_concept(spark, frame, names, {"kind": kinds}, (("kind", "string"),))
    relevant = ~F.col("_dup") & F.col("kind").isin(list(indications.KINDS))
    if dates:
        frame = _dates(spark, frame, "_event_date", values["_event_date"], "s")
    else:
        frame = frame.withColumn("s_date", F.lit(None).cast("date")).withColumn(
            "s_status", F.lit(None).cast("bigint"))
    status = _status("s_status")
    reason = (F.when(F.col("_patient_id").isNull(), _REASON["missing patient id"])
              .when(status == readers.DATE_EMPTY, _REASON["missing event date"])
              .when(status == readers.DATE_UNPARSEABLE, _REASON["unparseable event date"])
              .when(status == readers.DATE_OUT_OF_RANGE, _REASON["event date out of range"]))
    frame = (frame.withColumn("_reason", F.when(relevant, reason))
             .withColumn("_not_relevant", ~F.col("_dup") & ~relevant))
    accepted = relevant & F.col("_reason").isNull()
    counts = _counts(frame, F.max(F.when(accepted, F.col("s_date"))).alias("latest"),
                     F.max((accepted & (F.col("kind") == indications.SPINAL_PAIN))
                           .cast("int")).alias("spinal"))
    _report(report, table, counts)
    kept = frame.where(accepted)
    diagnoses = kept.select(
        F.col("_patient_id").alias("patient_id"),
        F.col("s_date").cast("timestamp_ntz").alias("diagnosis_date"),
        F.col("_code").alias("code"), F.col("_detail").alias("description"),
        F.col("kind"), F.col("_order").alias(DIAGNOSIS_ROW))
    return diagnoses, counts["latest"], bool(counts["spinal"])


# ------------------------------------------------------------------ event tables


def _classification(names: dict[str, tuple], role: str) -> dict[str, list]:
    """Per concept id (and, last, for a row without one) ingest's classification of its
    code and description (:func:`analytics.ingest.classify`)."""
    out: dict[str, list] = {k: [] for k in ("_technique", "_injection", "_drug_class",
                                            "_region")}
    for code, detail in [*names.values(), (None, None)]:
        c = classify(None, code, detail, None, allow_cpt=role == "procedure_occurrence",
                     default_not_relevant=True)
        for key, value in (("_technique", c.technique), ("_injection", c.injection_type),
                           ("_drug_class", c.drug_class), ("_region", c.region)):
            out[key].append(value or None)
    return out


_CLASS_FIELDS = (("_technique", "string"), ("_injection", "string"),
                 ("_drug_class", "string"), ("_region", "string"))
_NUMBER_KEYS = ("days_supply", "quantity", "strength", "mme_per_day", "pain_score", "refills",
                "dispenses")


def _whole(column: str, least: int) -> Any:
    """A count parsed as a number that is whole and >= ``least``, else null."""
    F = _functions()
    value = F.col(column)
    return F.when(value.isNotNull() & (value >= least) & (F.floor(value) == value), value)


def _events(spark: Any, table: _Table, concepts: Any | None, visits: Any | None,
            report: _Report) -> tuple[Any, Any, int]:
    """(the accepted canonical rows of an event table, before death dates and
    demographics, a missing provider or site taken from the row's visit; their latest
    event date; their number)."""
    F = _functions()
    m = table.mapping
    frame = _prepared(table, ("patient_id", "event_date", "end_date", *_NUMBER_KEYS,
                              *_TEXT_KEYS, "encounter_id"))
    concept = m.get("detail")
    frame = frame.withColumn("_cid", _strip(F.col(f"`{concept}`")) if concept
                             else F.lit(None).cast("string"))
    wanted = [f"_{k}" for k in ("event_date", "end_date", *_NUMBER_KEYS) if k in m]
    values = _distinct_values(frame, [*wanted, "_cid"])
    names = _vocabulary(spark, concepts, values["_cid"])
    frame = _by_concept(spark, frame, names, _classification(names, table.role),
                        _CLASS_FIELDS)
    not_relevant = ~F.col("_dup") & (F.col("_technique") == "not_relevant")
    candidate = ~F.col("_dup") & ~not_relevant
    # dates and days supply (analytics.ingest.validate)
    for key, prefix in (("event_date", "s"), ("end_date", "e")):
        if key in m:
            frame = _dates(spark, frame, f"_{key}", values[f"_{key}"], prefix)
        else:
            frame = frame.withColumn(f"{prefix}_date", F.lit(None).cast("date")).withColumn(
                f"{prefix}_status", F.lit(None).cast("bigint"))
    for key in _NUMBER_KEYS:
        if key in m:
            frame = _numbers(spark, frame, f"_{key}", values[f"_{key}"], f"_n_{key}")
        else:
            frame = frame.withColumn(f"_n_{key}", F.lit(None).cast("double"))
    start_status, end_status = _status("s_status"), _status("e_status")
    valid_end = end_status == readers.DATE_OK
    days = F.col("_n_days_supply")
    if "days_supply" in m:
        bad_num = F.col("_days_supply").isNotNull() & days.isNull()
        bad_range = days.isNotNull() & ((days <= 0) | (days > _DAYS_MAX))
    else:
        bad_num = bad_range = F.lit(False)
    checks = [
        (F.col("_patient_id").isNull(), "missing patient id"),
        (start_status == readers.DATE_EMPTY, "missing event date"),
        (start_status == readers.DATE_UNPARSEABLE, "unparseable event date"),
        (start_status == readers.DATE_OUT_OF_RANGE, "event date out of range"),
    ]
    if "end_date" in m:
        checks += [
            (end_status == readers.DATE_UNPARSEABLE, "unparseable end date"),
            (end_status == readers.DATE_OUT_OF_RANGE, "end date out of range"),
            (valid_end & (F.col("e_date") < F.col("s_date")), "end before start"),
        ]
    checks += [(bad_num & ~valid_end, "days supply not a number"),
               (bad_range & ~valid_end, "days supply out of range"),
               (F.col("_technique") == "unknown", "unknown technique")]
    reason = F.lit(None).cast("int")
    for condition, name in reversed(checks):
        reason = F.when(condition, F.lit(_REASON[name])).otherwise(reason)
    frame = (frame.withColumn("_reason", F.when(candidate, reason))
             .withColumn("_not_relevant", not_relevant))
    accepted_row = candidate & F.col("_reason").isNull()
    end_date = F.when(valid_end, F.col("e_date"))
    is_med = F.col("_drug_class").isNotNull()
    counts = _counts(frame,
                     F.max(F.when(accepted_row, F.col("s_date"))).alias("latest"),
                     F.max((accepted_row & is_med & end_date.isNotNull()).cast("int"))
                     .alias("any_end"))
    _report(report, table, counts)
    accepted = frame.where(accepted_row)
    text = {key: F.col(f"_{key}") if key in m else F.lit(None).cast("string")
            for key in _TEXT_KEYS}
    if visits is not None and "encounter_id" in m:  # the row's own values win
        accepted = accepted.join(visits,
                                 accepted["_encounter_id"] == visits["_visit_id"], "left")
        for key in ("provider_id", "site"):
            text[key] = F.coalesce(text[key], F.col(f"_visit_{key}"))
    # values (analytics.ingest.events, analytics.ingest.coverage)
    if "dispenses" in m or "refills" in m:
        dispenses = F.coalesce(_whole("_n_dispenses", 1), _whole("_n_refills", 0) + 1)
    else:
        dispenses = F.lit(None).cast("double")
    is_injection = F.col("_technique") == "injection"
    injection = F.when(is_injection, F.col("_injection"))
    open_order = ((is_med & end_date.isNull()) if "end_date" in m and counts["any_end"]
                  else F.lit(False))
    q, pain = F.col("_n_quantity"), F.col("_n_pain_score")
    columns = {
        "patient_id": F.col("_patient_id"),
        "event_date": F.col("s_date"),
        "technique": F.col("_technique"),
        "end_date": end_date,
        "days_supply": F.when(~(bad_num | bad_range), days),
        "detail": F.col("_detail"),
        "code": F.col("_code"),
        "quantity": F.when(q > 0, q),
        "strength": F.when(F.col("_n_strength") >= 0, F.col("_n_strength")),
        "mme_per_day": F.when(F.col("_n_mme_per_day") >= 0, F.col("_n_mme_per_day")),
        "injection_type": F.when(injection.isin(list(INJ_INDEX)), injection),
        "pain_score": F.when((pain >= 0) & (pain <= 10), pain),
        "region": F.when(is_injection, F.col("_region")),
        "dispenses": dispenses,
        "drug_class": F.col("_drug_class"),
        "open_order": open_order,
        "ends_at_death": F.lit(False),
        **text,
    }
    out = accepted.select(
        *[(columns[name] if name in columns else F.lit(None)).cast(
            "date" if name in ("event_date", "end_date") else kind).alias(name)
          for name, kind in EVENT_FIELDS if name != "event_row"],
        (F.shiftleft(F.lit(table.rank).cast("bigint"), _ROW_SHIFT)
         + F.col("_order")).alias("event_row"))
    accepted_rows = counts["rows"] - counts["dup"] - counts["rej"] - counts["nr"]
    return out, counts["latest"], int(accepted_rows)


def _finish(events: Any, deaths: Any | None, person: Any | None, diagnoses: Any) -> Any:
    """Death dates close coverage, demographics and the first diagnosis fill in, ages
    (ingest's ``_finish_export`` and ``_finish_demographics``)."""
    from pyspark.sql import Window

    F = _functions()
    if deaths is not None:
        events = events.join(deaths, "patient_id", "left")
    else:
        events = events.withColumn("death_date", F.lit(None).cast("date"))
    death = F.col("death_date")
    has = death.isNotNull()
    start = F.col("event_date")
    supply = F.col("days_supply")
    k = F.coalesce(F.col("dispenses"), F.lit(1.0))
    supplied = F.date_add(start, (F.coalesce(supply, F.lit(0.0)) * k).cast("int") - 1)
    last = F.when(supply.isNull(), start).otherwise(F.greatest(supplied, start))
    last = F.when(F.col("end_date").isNull(), last).otherwise(F.col("end_date"))
    after = has & (start > death)
    cut = has & ~after & (F.col("open_order") | (last > death))
    events = (events.withColumn("ends_at_death", cut)
              .withColumn("end_date", F.when(F.col("ends_at_death"), death)
                          .otherwise(F.col("end_date")))
              .withColumn("death_year", F.when(has, F.year(death).cast("double"))
                          .otherwise(F.col("death_year")))
              .drop("death_date"))
    if person is not None:
        events = events.join(person, "patient_id", "left")
        events = (events.withColumn("sex", F.coalesce(F.col("sex"), F.col("person_sex")))
                  .withColumn("birth_year", F.coalesce(F.col("birth_year"),
                                                       F.col("person_birth_year")))
                  .drop("person_sex", "person_birth_year"))
    ranked = diagnoses.where(F.col("kind").isin(indications.SPINAL_PAIN,
                                                indications.GENERAL_PAIN))
    ranked = ranked.withColumn("_text", F.coalesce("description", "code")).where(
        "_text IS NOT NULL")
    ranked = ranked.withColumn("_rank", (F.col("kind") != indications.SPINAL_PAIN).cast("int"))
    first = Window.partitionBy("patient_id").orderBy("_rank", "diagnosis_date", DIAGNOSIS_ROW)
    firsts = (ranked.withColumn("_n", F.row_number().over(first)).where("_n = 1")
              .select("patient_id", F.col("_text").alias("_first_dx")))
    events = events.join(firsts, "patient_id", "left")
    events = events.withColumn("diagnosis", F.coalesce(F.col("diagnosis"), F.col("_first_dx")))
    birth = F.col("birth_year")
    age = F.when(F.col("age").isNull() & birth.isNotNull(),
                 F.year("event_date").cast("double") - birth).otherwise(F.col("age"))
    age = F.when((age < 0) | (age > 130), F.lit(None).cast("double")).otherwise(age)
    age = F.when(age > phi.AGE_CAP - 1, F.lit(float(phi.AGE_CAP))).otherwise(age)
    events = events.withColumn("age", age)
    return events.withColumn("birth_year", F.when(F.col("age") >= phi.AGE_CAP, None)
                             .otherwise(birth))


def read_omop(spark: Any, source: str) -> SparkDataset:
    """The OMOP CDM tables of ``source`` (a Spark schema or a folder: module docstring) as
    a :class:`SparkDataset` of canonical events and diagnoses.  Raises :class:`OmopError`
    (one line) when the tables cannot be used."""
    from pyspark import StorageLevel
    from pyspark.sql import Window

    F = _functions()
    tables = _tables(spark, source)
    report = _Report()
    concepts = _concepts(tables.get("concept"), report)
    person = _person(spark, tables.get("person"), report)
    deaths = _deaths(spark, tables.get("death"), report)
    visits = _visits(tables.get("visit_occurrence"), report)
    diagnoses, latest_dx, spinal = _conditions(spark, tables.get("condition_occurrence"), concepts,
                                       report)
    same = Window.partitionBy(*DIAGNOSIS_COLUMNS).orderBy(DIAGNOSIS_ROW)
    diagnoses = (diagnoses.withColumn("_n", F.row_number().over(same)).where("_n = 1")
                 .drop("_n"))
    diagnoses = typed(diagnoses, DIAGNOSIS_FIELDS).persist(StorageLevel.MEMORY_AND_DISK)
    parts, latest, count = [], [latest_dx], 0
    for role in sorted((r for r in EVENT_TABLES if r in tables), key=lambda r: tables[r].rank):
        part, last, rows = _events(spark, tables[role], concepts, visits, report)
        parts.append(part)
        latest.append(last)
        count += rows
    events = parts[0]
    for part in parts[1:]:
        events = events.unionByName(part)
    events = _finish(events, deaths, person, diagnoses)
    # kept once computed: a summary reads them twice (the population's facts, the buckets)
    events = typed(events, EVENT_FIELDS).persist(StorageLevel.MEMORY_AND_DISK)
    known = [pd.Timestamp(v) for v in latest if v is not None]
    extract = max(known).normalize() if known else None
    source_kind = "conditions" if "condition_occurrence" in tables else "none"
    return SparkDataset(events, diagnoses, extract, source_kind, int(count), report.totals(),
                        spinal)
