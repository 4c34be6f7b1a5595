"""Starting Spark for the engine: the master, the checks, the errors a user can act on.

``--spark-master`` takes ``local[N]`` (``local``, ``local[*]``), ``spark://host:port`` (a
standalone cluster; several masters comma-separated), ``yarn``, ``k8s://…``, or
``databricks`` (Databricks Connect: the ``databricks-connect`` package, configured as
its documentation says — a profile in ``~/.databrickscfg`` or the ``DATABRICKS_*``
environment variables).  Everything that stops the engine before it runs is a
:class:`SparkUnavailable` with a one-line message: Java missing, pyspark missing, a
master PainPath cannot read or Spark cannot reach.

With a ``local`` master the Python workers run the interpreter that runs PainPath
(``PYSPARK_PYTHON`` is set to it: the venv's, whatever the environment said), with the
project on their ``PYTHONPATH``.  On a cluster the workers run the cluster's Python
(``PYSPARK_PYTHON`` / ``spark.pyspark.python`` as the cluster sets them: the driver's path
means nothing on another machine) and need PainPath installed, see README "Running on
Spark".
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DATABRICKS = "databricks"
"""The ``--spark-master`` value that uses Databricks Connect."""
DEFAULT_MASTER = "local[2]"
DEFAULT_SHUFFLE_PARTITIONS = 8
DEFAULT_DRIVER_MEMORY = "3g"
"""Heap of the driver JVM (in ``local[N]`` also the executors'): the benchmark's 100M events
ran within it."""
PYSPARK_HINT = "pip install -r requirements-spark.txt"
JAVA_HINT = ("the Spark engine needs Java 17 or 21 (Debian: apt-get install "
             "openjdk-17-jre-headless), on the PATH or in JAVA_HOME")
_MASTER = re.compile(
    r"^(?:local(?:\[(?:\d+|\*)(?:,\d+)?\])?"
    r"|spark://[^\s,/:]+:\d+(?:,[^\s,/:]+:\d+)*"
    r"|yarn|k8s://\S+|" + DATABRICKS + r")$"
)
PROJECT_ROOT = Path(__file__).resolve().parents[2]
CONF_DIR = Path(__file__).with_name("conf")
DAEMON_MODULE = "analytics.spark.daemon"
"""The Python workers' daemon: PySpark's, with the measure code imported once."""


class SparkUnavailable(Exception):
    """The Spark engine cannot run; the message is one line a user can act on."""


@dataclass(frozen=True)
class SparkOptions:
    """How to reach Spark: ``master`` (see the module docstring), ``shuffle_partitions``
    (``spark.sql.shuffle.partitions``), ``driver_memory`` (``spark.driver.memory``, a
    new local JVM only) and extra ``conf`` entries."""

    master: str = DEFAULT_MASTER
    shuffle_partitions: int = DEFAULT_SHUFFLE_PARTITIONS
    driver_memory: str = DEFAULT_DRIVER_MEMORY
    conf: tuple[tuple[str, str], ...] = ()


def java_executable() -> str | None:
    """The ``java`` Spark will start: ``$JAVA_HOME/bin/java``, else the one on the PATH."""
    home = os.environ.get("JAVA_HOME")
    if home:
        candidate = Path(home) / "bin" / "java"
        if candidate.is_file():
            return str(candidate)
    return shutil.which("java")


def check_master(master: str) -> None:
    """Raise :class:`SparkUnavailable` when ``master`` is not a master URL PainPath
    accepts."""
    if not _MASTER.match(master):
        raise SparkUnavailable(
            f"--spark-master {master!r} is not a Spark master: use local[N], "
            "spark://host:port, yarn, k8s://… or databricks")


def require_pyspark() -> None:
    """Raise :class:`SparkUnavailable` when pyspark cannot be imported."""
    try:
        import pyspark  # noqa: F401
    except ImportError as exc:
        raise SparkUnavailable(f"pyspark is not installed: {PYSPARK_HINT}") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]


def _databricks_session() -> Any:
    try:
        from databricks.connect import DatabricksSession
    except ImportError as exc:
        raise SparkUnavailable(
            "--spark-master databricks needs Databricks Connect: pip install "
            "databricks-connect (the version of your cluster's Databricks Runtime)") from exc
    try:
        return DatabricksSession.builder.getOrCreate()
    except Exception as exc:  # the connector's own errors: configuration, network, auth
        raise SparkUnavailable(f"cannot connect to Databricks: {_first_line(exc)}") from exc


def is_local(master: str) -> bool:
    """Whether ``master`` runs Spark inside this machine (``local``, ``local[N]``, …)."""
    return master == "local" or master.startswith("local[")


def _worker_environment(master: str) -> None:
    """A local master's workers run this interpreter (``PYSPARK_PYTHON``); every worker
    may import this project; Spark logs errors only (``conf/log4j2.properties``, unless
    ``SPARK_CONF_DIR`` is set)."""
    os.environ.setdefault("SPARK_CONF_DIR", str(CONF_DIR))
    logging.getLogger("DataFrameQueryContextLogger").setLevel(logging.CRITICAL)
    if is_local(master):
        os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if str(PROJECT_ROOT) not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([str(PROJECT_ROOT), *paths])


def spark_session(options: SparkOptions = SparkOptions()) -> Any:
    """A SparkSession for ``options`` (an existing one in this process is reused, with
    ``shuffle_partitions`` set on it).  Raises :class:`SparkUnavailable` (one line) when
    the master is not valid, pyspark or Java is missing, or Spark does not start."""
    check_master(options.master)
    if options.master == DATABRICKS:
        spark = _databricks_session()
        for key, value in (("spark.sql.shuffle.partitions", str(options.shuffle_partitions)),
                           ("spark.sql.session.timeZone", "UTC"), *options.conf):
            spark.conf.set(key, value)
        return spark
    require_pyspark()
    if java_executable() is None:
        raise SparkUnavailable(f"Java is not installed: {JAVA_HINT}")
    _worker_environment(options.master)
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        active.conf.set("spark.sql.shuffle.partitions", str(options.shuffle_partitions))
        return active
    builder = (
        SparkSession.builder.master(options.master)
        .appName("PainPath")
        .config("spark.sql.shuffle.partitions", str(options.shuffle_partitions))
        .config("spark.driver.memory", options.driver_memory)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.executorEnv.PYTHONPATH", os.environ["PYTHONPATH"])
        .config("spark.python.daemon.module", DAEMON_MODULE)
    )
    for key, value in options.conf:
        builder = builder.config(key, value)
    try:
        spark = builder.getOrCreate()
    except Exception as exc:  # the JVM's errors reach Python as several exception types
        raise SparkUnavailable(
            f"cannot start Spark with master {options.master!r}: {_first_line(exc)}") from exc
    spark.sparkContext.setLogLevel("FATAL")
    return spark
