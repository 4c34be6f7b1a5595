"""The command line's Spark options and runs (``--engine spark`` of ``summary`` and
``table``; :mod:`analytics.cli` owns the parsers and the output).

Options: ``--engine local|spark``, ``--omop SCHEMA_OR_DIR``, ``--spark-master``,
``--shuffle-partitions``, ``--spark-driver-memory``.  Every failure is one line on stderr
and exit status 2: Java or pyspark missing, a master PainPath cannot read or Spark cannot
reach, an input that is not an event folder or usable OMOP tables, a failed Spark job.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from typing import Any

import pandas as pd

from analytics.results.measures import Definitions
from analytics.results.summary import SummaryViews
from analytics.spark.engine import Analysis, quiet_pandas_warning
from analytics.spark.session import (
    DEFAULT_DRIVER_MEMORY,
    DEFAULT_MASTER,
    DEFAULT_SHUFFLE_PARTITIONS,
    SparkOptions,
    SparkUnavailable,
    spark_session,
)

ENGINES = ("local", "spark")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from exc
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def add_engine_options(parser: argparse.ArgumentParser) -> None:
    """The engine options of ``summary`` and ``table``."""
    parser.add_argument("--engine", choices=ENGINES, default="local",
                        help="local (default): this process; spark: Apache Spark, reading an "
                        "event folder (export-events) or --omop tables")
    parser.add_argument("--omop", metavar="SCHEMA_OR_DIR", default=None,
                        help="OMOP CDM tables: a Spark catalog schema (--engine spark) or a "
                        "folder of Parquet/CSV tables")
    parser.add_argument("--spark-master", default=DEFAULT_MASTER,
                        help="local[N], spark://host:port, yarn, k8s://… or databricks "
                        "(Databricks Connect) (default %(default)s)")
    parser.add_argument("--shuffle-partitions", type=_positive,
                        default=DEFAULT_SHUFFLE_PARTITIONS,
                        help="spark.sql.shuffle.partitions (default %(default)s)")
    parser.add_argument("--spark-driver-memory", default=DEFAULT_DRIVER_MEMORY,
                        help="heap of a Spark driver PainPath starts (default %(default)s)")


def analysis_of(args: argparse.Namespace, definitions: Definitions) -> Analysis:
    """The engine's :class:`Analysis` of the command line's options."""
    extract = pd.Timestamp(args.extract_date) if args.extract_date is not None else None
    return Analysis(definitions, args.population, args.lookback_days, extract,
                    args.pathway_mode, tuple(getattr(args, "strata", ())))


def _one_line(exc: BaseException) -> str:
    """A Spark error on one line: a Python worker's error by its last line (the
    exception), any other by its first."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    worker = lines[0].startswith("An exception was thrown from the Python worker")
    return (lines[-1] if worker else lines[0])[:300]


def _spark_errors() -> tuple[type[BaseException], ...]:
    """The exception types a failed Spark job raises in the driver."""
    try:
        from py4j.protocol import Py4JError
        from pyspark.errors import PySparkException
    except ImportError:
        return ()
    return (PySparkException, Py4JError)


def _with_spark(args: argparse.Namespace, fail: Callable[[str], int],
                then: Callable[[Any, Any], int]) -> int:
    quiet_pandas_warning()
    try:
        if args.map or args.map_values:
            raise SparkUnavailable("--map and --map-values do not apply with --engine spark: "
                                   "give them to export-events")
        from analytics.spark import run

        spark = spark_session(SparkOptions(args.spark_master, args.shuffle_partitions,
                                           args.spark_driver_memory))
        dataset = run.open_dataset(spark, args.files, args.omop)
        return then(run, dataset)
    except SparkUnavailable as exc:
        return fail(str(exc))
    except _spark_errors() as exc:
        return fail(f"Spark failed: {_one_line(exc)}")


def run_summary(args: argparse.Namespace, definitions: Definitions,
                print_summary: Callable[[argparse.Namespace, dict, SummaryViews], int],
                fail: Callable[[str], int]) -> int:
    """``summary --engine spark``: the summary computed on Spark, printed as the local
    engine prints it (the report's totals from the event folder or OMOP tables)."""

    def emit(run: Any, dataset: Any) -> int:
        views = run.summary_views(dataset, analysis_of(args, definitions), args.min_cell,
                                  args.shuffle_partitions)
        return print_summary(args, dict(dataset.report), views)

    return _with_spark(args, fail, emit)


def run_table(args: argparse.Namespace, definitions: Definitions,
              print_csv: Callable[[Iterable[pd.DataFrame]], int],
              fail: Callable[[str], int]) -> int:
    """``table --engine spark``: the per-patient table computed on Spark, streamed in the
    local table's order."""

    def emit(run: Any, dataset: Any) -> int:
        table = run.patient_table(dataset, analysis_of(args, definitions), args.table,
                                  args.shuffle_partitions)
        return print_csv(table.batches())

    return _with_spark(args, fail, emit)
