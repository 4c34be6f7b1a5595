"""What ``python -m analytics summary|table --engine spark`` runs.

:func:`open_dataset` turns the command line's input into a :class:`SparkDataset` (an
event folder, or ``--omop`` tables); :func:`summary_views` builds what ``summary`` prints —
the summary, safety, outcome and strata results — with the local engine's own builders
(:mod:`analytics.results`) from the aggregates computed on Spark, so the privacy threshold
is applied once, on the final counts; :func:`patient_table` gives a per-patient table in
the local table's order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analytics import event_files, schema
from analytics.ingest import diagnoses as diagnoses_table
from analytics.outcomes import outcome_data_from_counts
from analytics.population import apply_population
from analytics.results.measures import PopulationMeasures
from analytics.results.outcomes import OutcomesCounts
from analytics.results.population import PopulationCounts, population_counts_from
from analytics.results.safety import TAPER_TOTALS, SafetyCounts, safety_counts_from
from analytics.results.strata import OUTCOME_GROUPING, StrataCounts, strata_counts_from
from analytics.results.summary import (
    POPULATION_PREFIX,
    SummaryViews,
    summary_counts_from,
)
from analytics.safety import NO_PHARMACY_NOTE, rates_from_counts
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


def _rates(rows: pd.DataFrame, kind: str) -> pd.DataFrame:
    """:func:`analytics.safety.safety_rates`' table from its rows summed over buckets."""
    mine = rows.loc[(rows["kind"] == kind).to_numpy()]
    days = mine["value"].to_numpy(dtype="float64").astype(np.int64)
    return rates_from_counts(pd.DataFrame({
        "measure": mine["key"].astype("string").to_numpy(),
        "period": days.astype("datetime64[D]").astype("datetime64[s]"),
        "partial": mine["flag"].astype(bool).to_numpy(),
        "provider_id": mine["key2"].astype("string").to_numpy(),  # NA: the clinic
        "denominator": mine["n"].to_numpy(dtype=np.int64),
        "numerator": pd.to_numeric(mine["n2"]).astype("Int64").to_numpy(),  # NA: unavailable
        "note": mine["key3"].astype("string").fillna("").to_numpy(),
    }))


def _safety(agg: engine.SummaryAggregates, spec: engine.BucketSpec) -> SafetyCounts:
    """The Safety aggregates from the buckets' rates and taper totals."""
    parameters = PopulationMeasures(schema.empty_events(),
                                    spec.analysis.definitions).safety_parameters
    note = "" if spec.facts is None or spec.facts.has_pharmacy else NO_PHARMACY_NOTE
    tapers = {k: agg.counts.get(engine.TAPER_PREFIX + k, 0) for k in TAPER_TOTALS}
    return safety_counts_from(parameters, note, _rates(agg.rows, "safety_year"),
                              _rates(agg.rows, "safety_month"), tapers)


def _outcomes(agg: engine.SummaryAggregates, spec: engine.BucketSpec, by: str
              ) -> OutcomesCounts:
    """The Outcomes input by ``by`` from the buckets' counted outcome rows."""
    rows = agg.rows
    mine = rows.loc[((rows["kind"] == "outcome") & (rows["key"] == by)).to_numpy()]
    counts = pd.DataFrame({
        "outcome": mine["key2"].to_numpy(dtype=object),
        by: mine["key3"].to_numpy(dtype=object),
        "days": mine["value"].to_numpy(dtype="float64").astype(np.int64),
        "observed": mine["flag"].astype(bool).to_numpy(),
        "rows": mine["n"].to_numpy(dtype=np.int64),
    })
    total = {k: agg.counts.get(engine.OUTCOMES_PREFIX + k, 0)
             for k in ("patients", "left_out_no_index", "left_out_surgery_first")}
    return OutcomesCounts(outcome_data_from_counts(
        counts, by, total["patients"], total["left_out_no_index"],
        total["left_out_surgery_first"], spec.extract), by)


def _strata(agg: engine.SummaryAggregates, name: str, mode: str) -> StrataCounts:
    """The pathway counts of the stratum ``name`` from the buckets' rows."""
    rows = agg.rows
    mine = rows.loc[((rows["kind"] == "strata") & (rows["key"] == name)).to_numpy()]
    return strata_counts_from(name, mode, pd.DataFrame({
        "stratum": mine["key2"].to_numpy(dtype=object),
        "pathway": mine["key3"].to_numpy(dtype=object),
        "n_steps": mine["value"].to_numpy(dtype="float64").astype(np.int64),
        "patients": mine["n"].to_numpy(dtype=np.int64),
    }))


def summary_views(dataset: SparkDataset, analysis: Analysis, min_cell: int,
                  shuffle_partitions: int) -> SummaryViews:
    """What ``summary`` prints of the dataset's population, computed on Spark and
    protected by the local builders: the summary, the safety and outcome results, and
    the ``analysis.strata``."""
    spec = engine.bucket_spec(dataset, analysis)
    spec = dataclasses.replace(spec, facts=engine.dataset_facts(dataset, spec))
    agg = engine.summary_aggregates(dataset, spec, shuffle_partitions)
    counts = summary_counts_from(agg.counts, agg.pathways, agg.median_interval_days,
                                 agg.median_course_days, spec.extract, analysis.pathway_mode,
                                 _population(dataset, spec, agg.counts))
    mode = analysis.pathway_mode
    return SummaryViews(
        counts.protect(min_cell), _safety(agg, spec).protect(min_cell),
        _outcomes(agg, spec, "stratum").protect(min_cell),
        {name: (_strata(agg, name, mode).protect(min_cell),
                _outcomes(agg, spec, OUTCOME_GROUPING[name]).protect(min_cell))
         for name in analysis.strata})


def patient_table(dataset: SparkDataset, analysis: Analysis, name: str,
                  shuffle_partitions: int) -> SparkTable:
    """The per-patient table ``name`` computed on Spark (see :class:`SparkTable`)."""
    return engine.patient_table(dataset, analysis, name, shuffle_partitions)
