"""The Spark engine: PainPath's measures on Apache Spark, with the local engine's results.

- :mod:`.session` — starting Spark (``local[N]``, a cluster, Databricks Connect) with
  one-line errors (:class:`SparkUnavailable`);
- :mod:`.dataset` — the input as Spark DataFrames (:class:`SparkDataset`) from an event
  folder (``python -m analytics export-events``);
- :mod:`.omop` — the same from OMOP CDM tables, by ingest's rules;
- :mod:`.engine` — the local measure code run on buckets of whole patients, and the
  aggregation of their rows in Spark;
- :mod:`.run` — what the command line runs: the summary result and the per-patient
  tables.

Nothing here imports pyspark at module level: the app never needs it.
"""

from analytics.spark.session import SparkOptions, SparkUnavailable, spark_session

__all__ = ["SparkOptions", "SparkUnavailable", "spark_session"]
