"""What ``python -m analytics summary|table --engine spark`` runs.

:func:`open_dataset` turns the command line's input into a :class:`SparkDataset` (an
event folder, or ``--omop`` tables); :func:`summary_result` builds the summary result with
the local engine's own builder (:mod:`analytics.results.summary`) from the aggregates
computed on Spark, so the privacy threshold is applied once, on the final counts;
:func:`patient_table` gives a per-patient table in the local table's order.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from analytics import event_files, schema
from analytics.ingest import diagnoses as diagnoses_table
from analytics.population import apply_population
from analytics.results.population import PopulationCounts, population_counts_from
from analytics.results.summary import POPULATION_PREFIX, SummaryResult, summary_counts_from
from analytics.spark import engine
from analytics.spark.dataset import SparkDataset, read_event_folder
from analytics.spark.engine import Analysis, SparkTable
from analytics.spark.omop import OmopError, read_omop
from analytics.spark.session import SparkUnavailable


def open_dataset(spark: Any, files: Sequence[str], omop: str | None) -> SparkDataset:
    """The input of a Spark run: ``--omop`` tables, else one event folder.  Raises
    :class:`SparkUnavailable` (one line) for anything else."""
    if omop is not None:
        if files:
            raise SparkUnavailable("give either --omop or an event folder, not both")
        try:
            return read_omop(spark, omop)
        except OmopError as exc:
            raise SparkUnavailable(str(exc)) from exc
    if len(files) != 1 or not event_files.is_event_folder(files[0]):
        raise SparkUnavailable(
            "--engine spark reads an event folder (python -m analytics export-events FILE… "
            "--out DIR) or OMOP tables (--omop SCHEMA_OR_DIR); "
            f"{', '.join(str(Path(f)) for f in files) or 'nothing'} is neither")
    try:
        return read_event_folder(spark, files[0])
    except ValueError as exc:
        raise SparkUnavailable(str(exc)) from exc


def _population(dataset: SparkDataset, spec: engine.BucketSpec,
                counts: dict[str, int]) -> PopulationCounts:
    """The population line from the buckets' summed counts; its rule is the one every
    bucket applied (the population rules on no rows, told the dataset-wide choice)."""
    a = spec.analysis
    applied = apply_population(schema.empty_events(), diagnoses_table.empty(),
                               dataset.population_source, a.population, a.lookback_days,
                               spinal_in_dataset=spec.spinal_in_dataset)
    prefix = POPULATION_PREFIX
    return population_counts_from(applied, {k[len(prefix):]: v for k, v in counts.items()
                                            if k.startswith(prefix)})


def summary_result(dataset: SparkDataset, analysis: Analysis, min_cell: int,
                   shuffle_partitions: int) -> SummaryResult:
    """The protected summary of the dataset's population, computed on Spark."""
    spec = engine.bucket_spec(dataset, analysis)
    agg = engine.summary_aggregates(dataset, spec, shuffle_partitions)
    counts = summary_counts_from(agg.counts, agg.pathways, agg.median_interval_days,
                                 agg.median_course_days, spec.extract, analysis.pathway_mode,
                                 _population(dataset, spec, agg.counts))
    return counts.protect(min_cell)


def patient_table(dataset: SparkDataset, analysis: Analysis, name: str,
                  shuffle_partitions: int) -> SparkTable:
    """The per-patient table ``name`` computed on Spark (see :class:`SparkTable`)."""
    return engine.patient_table(dataset, analysis, name, shuffle_partitions)
