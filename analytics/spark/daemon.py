"""PySpark's Python worker daemon, with the measure code imported once.

Spark starts this module instead of ``pyspark.daemon`` (``spark.python.daemon.module``):
every Python worker is forked from it, so each starts with pandas, pyarrow and PainPath's
measure modules already imported instead of importing them per worker.
"""

import pandas  # noqa: F401
import pyarrow  # noqa: F401
from pyspark import daemon

import analytics.population  # noqa: F401
import analytics.results.summary  # noqa: F401
import analytics.spark.engine  # noqa: F401

if __name__ == "__main__":
    daemon.manager()
