"""The Spark engine's input: canonical events and diagnoses as Spark DataFrames.

A :class:`SparkDataset` comes from an event folder (``python -m analytics
export-events``: :func:`read_event_folder`) or from OMOP CDM tables
(:func:`analytics.spark.omop.read_omop`).  Its frames have the columns of the event
folder's Parquet schema (:data:`analytics.event_files.EVENT_SCHEMA`: text and categories
as strings, dates as timestamps without time zone, numbers as doubles, flags as booleans,
``event_row`` the row's position in ingest's event table) and of its diagnoses table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from analytics import event_files, schema


@dataclass(frozen=True)
class SparkDataset:
    """``events`` and ``diagnoses`` (Spark DataFrames, see the module docstring) and what
    ingest fixed for the whole dataset: ``extract_date`` (the latest date it saw),
    ``population_source``, ``events_count`` (rows of ``events``; sizes the buckets) and
    ``report`` (the upload report's totals: files, rows_read, rejected_rows,
    not_relevant_rows, duplicate_rows, refused_columns) and ``spinal_diagnosis`` (whether a
    diagnosis is a dated spinal-pain one; None: not known yet)."""

    events: Any
    diagnoses: Any
    extract_date: pd.Timestamp | None
    population_source: str
    events_count: int
    report: dict[str, object] = field(default_factory=dict)
    spinal_diagnosis: bool | None = None


def spark_type(name: str) -> str:
    """The Spark SQL type of a canonical column (DDL)."""
    if name in schema.DATE_COLUMNS:
        return "timestamp_ntz"
    if name in schema.NUMBER_COLUMNS:
        return "double"
    if name in schema.BOOL_COLUMNS:
        return "boolean"
    return "string"


EVENT_FIELDS: tuple[tuple[str, str], ...] = (
    *((c, spark_type(c)) for c in schema.CANONICAL_COLUMNS), (event_files.ROW, "bigint"))
"""(column, Spark SQL type) of the events."""
DIAGNOSIS_ROW = "diagnosis_row"
DIAGNOSIS_FIELDS: tuple[tuple[str, str], ...] = (
    ("patient_id", "string"), ("diagnosis_date", "timestamp_ntz"), ("code", "string"),
    ("description", "string"), ("kind", "string"), (DIAGNOSIS_ROW, "bigint"))
"""(column, Spark SQL type) of the diagnoses."""


def ddl(fields: tuple[tuple[str, str], ...]) -> str:
    """A Spark DDL schema string of ``fields``."""
    return ", ".join(f"`{name}` {kind}" for name, kind in fields)


def typed(frame: Any, fields: tuple[tuple[str, str], ...]) -> Any:
    """``frame`` with exactly ``fields``, each cast to its type (in that order)."""
    from pyspark.sql import functions as F

    return frame.select(*[F.col(f"`{name}`").cast(kind).alias(name) for name, kind in fields])


def _parquet(spark: Any, path: Path, fields: tuple[tuple[str, str], ...]) -> Any:
    if not path.is_dir():
        return spark.createDataFrame([], ddl(fields))
    return typed(spark.read.parquet(str(path)), fields)


def read_event_folder(spark: Any, folder: str | Path) -> SparkDataset:
    """An event folder as a :class:`SparkDataset` (``ValueError`` when ``folder`` is not
    one)."""
    folder = Path(folder)
    meta = event_files.read_metadata(folder)
    events = _parquet(spark, folder / event_files.EVENTS, EVENT_FIELDS)
    diagnoses = _parquet(spark, folder / event_files.DIAGNOSES, DIAGNOSIS_FIELDS)
    return SparkDataset(events, diagnoses, meta.extract, meta.population_source, meta.events,
                        dict(meta.report), meta.spinal_diagnosis)
