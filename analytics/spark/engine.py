"""The Spark engine: the single-machine measure code, run on buckets of whole patients.

Every measure is patient-local, so the engine changes where the code runs, never what it
computes:

1. **Buckets.** Each patient's bucket is ``pmod(xxhash64(patient_id), B)``; events and
   diagnoses are grouped by bucket (``groupBy(bucket).cogroup(...)``), so a bucket holds
   whole patients with all their rows, in the order ingest gave them (``event_row``).
   ``B`` is at least the shuffle partitions and large enough that a bucket holds about
   :data:`BUCKET_EVENTS` events: many patients per call, so the vectorised code stays
   vectorised, and a bounded Python worker.
2. **The same code per bucket** (``applyInPandas``): the bucket's rows become the
   canonical frames (:func:`canonical_events`), the population and lookback rules run
   on them (:func:`analytics.population.apply_population`, told whether the *dataset*
   has a spinal-pain diagnosis, the one decision that is not patient-local), and
   :class:`analytics.results.measures.CohortMeasures` computes the per-patient tables.
3. **Back in Spark.** A bucket returns per-patient rows (a ``table``) or its part of the
   summary's aggregates; counts add, and medians come from Spark SQL's exact
   ``percentile`` over per-value counts: only small aggregated tables reach the driver,
   never events.

The dataset's extract date is fixed before any bucket runs (the option, else the one
ingest fixed), so open orders and ongoing courses are judged on one date everywhere.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from analytics import event_files, schema
from analytics.indications import SPINAL_PAIN
from analytics.ingest import diagnoses as diagnoses_table
from analytics.results.measures import (
    CohortMeasures,
    DatasetFacts,
    Definitions,
    PopulationMeasures,
)
from analytics.spark.dataset import DIAGNOSIS_ROW, SparkDataset

BUCKET = "bucket"
BUCKET_EVENTS = 100_000
"""Events per bucket the engine aims at (a Python worker holds one bucket's frames)."""
RANK = "_rank"
"""Position of a row in its bucket's output: a patient's rows keep the local order."""
PANDAS_WARNING = "PySpark does not yet fully support pandas >= 3"
"""pyspark 4.3's warning about pandas 3: the types PainPath sends through Arrow are
tested (tests/test_spark.py), so the engine does not repeat it."""


def quiet_pandas_warning() -> None:
    """Silence pyspark's pandas-3 warning in this process."""
    warnings.filterwarnings("ignore", message=PANDAS_WARNING, category=FutureWarning)


@dataclass(frozen=True)
class Analysis:
    """What to compute: the ``definitions``, the ``population`` (``back_pain`` | ``all``)
    and ``lookback_days``, the ``extract_date`` (None: the dataset's), the
    ``pathway_mode`` of pathway steps and the summary's ``strata``
    (:data:`analytics.results.strata.STRATA` names)."""

    definitions: Definitions = Definitions()
    population: str = "back_pain"
    lookback_days: int = 30
    extract_date: pd.Timestamp | None = None
    pathway_mode: str = "first"
    strata: tuple[str, ...] = ()


@dataclass(frozen=True)
class BucketSpec:
    """What every bucket is told (pickled into the Python workers): the analysis, the
    dataset's population source, extract date, whether it has a spinal-pain diagnosis and
    (for the summary) its population's :class:`DatasetFacts`."""

    analysis: Analysis
    source: str
    extract: pd.Timestamp | None
    spinal_in_dataset: bool
    facts: DatasetFacts | None = None


def bucket_count(events: int, shuffle_partitions: int) -> int:
    """Buckets for ``events`` rows: at least ``shuffle_partitions``, about
    :data:`BUCKET_EVENTS` events each."""
    return max(int(shuffle_partitions), math.ceil(events / BUCKET_EVENTS), 1)


def with_bucket(frame: Any, buckets: int) -> Any:
    """``frame`` with its patients' bucket (column :data:`BUCKET`)."""
    from pyspark.sql import functions as F

    return frame.withColumn(BUCKET, F.pmod(F.xxhash64("patient_id"), F.lit(buckets)))


# ------------------------------------------------------------------ the pandas side


def canonical_events(rows: pd.DataFrame) -> pd.DataFrame:
    """A bucket's event rows as the canonical event table, in ingest's order (as
    :func:`analytics.event_files.read_event_folder` gives them)."""
    if event_files.ROW in rows.columns:
        rows = rows.sort_values(event_files.ROW, kind="stable")
    present = [c for c in schema.CANONICAL_COLUMNS if c in rows.columns]
    return schema.conform(rows[present].reset_index(drop=True))


def canonical_diagnoses(rows: pd.DataFrame) -> pd.DataFrame:
    """A bucket's diagnosis rows as ``IngestResult.diagnoses`` (exact duplicates dropped,
    as ingest drops them)."""
    if DIAGNOSIS_ROW in rows.columns:
        rows = rows.sort_values(DIAGNOSIS_ROW, kind="stable")
    if len(rows) == 0:
        return diagnoses_table.empty()
    dates = pd.Series(rows["diagnosis_date"]).to_numpy(dtype="datetime64[s]")
    frame = diagnoses_table.frame(
        pd.Series(rows["patient_id"], dtype="string").to_numpy(dtype=object, na_value=None),
        dates, pd.Series(rows["code"], dtype="string"),
        pd.Series(rows["description"], dtype="string"),
        pd.Series(rows["kind"], dtype="string").to_numpy(dtype=object, na_value=None))
    return frame.drop_duplicates(ignore_index=True)


def bucket_measures(events: pd.DataFrame, diagnoses: pd.DataFrame, spec: BucketSpec):
    """``(population, measures)`` of one bucket: the population rules on its patients and
    the :class:`CohortMeasures` of the population's events, with the measures of their
    whole records (:class:`PopulationMeasures`: safety over the full history, outcomes)
    told the dataset's facts, as the command line builds them."""
    from analytics.population import apply_population

    a = spec.analysis
    accepted, dx = canonical_events(events), canonical_diagnoses(diagnoses)
    population = apply_population(accepted, dx, spec.source, a.population, a.lookback_days,
                                  spinal_in_dataset=spec.spinal_in_dataset)
    whole = PopulationMeasures(
        population.events, a.definitions, spec.extract,
        history=population.full_history(accepted), accepted=accepted, diagnoses=dx,
        index_dates=population.index_date, facts=spec.facts)
    return population, CohortMeasures(population.events, a.definitions, spec.extract,
                                      population=whole)


def arrow_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` in the dtypes PySpark turns into Arrow without guessing: categories and
    strings as object (None = missing), dates as ``datetime64[us]``, integers as int64,
    floats as float64, flags as bool."""
    out = {}
    for name in frame.columns:
        col = frame[name]
        if (isinstance(col.dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(col)
                or pd.api.types.is_object_dtype(col)):
            out[name] = pd.Series(col.astype("string").to_numpy(dtype=object, na_value=None),
                                  dtype=object)
        elif pd.api.types.is_datetime64_any_dtype(col):
            out[name] = col.to_numpy(dtype="datetime64[us]")
        elif pd.api.types.is_bool_dtype(col):
            out[name] = col.to_numpy(dtype=bool)
        elif pd.api.types.is_integer_dtype(col):
            out[name] = col.to_numpy(dtype=np.int64)
        else:
            out[name] = col.to_numpy(dtype="float64")
    return pd.DataFrame(out, index=pd.RangeIndex(len(frame)))


def spark_fields(template: pd.DataFrame) -> tuple[tuple[str, str], ...]:
    """(column, Spark SQL type) of a pandas table, from its dtypes."""
    fields = []
    for name, dtype in template.dtypes.items():
        if pd.api.types.is_datetime64_any_dtype(dtype):
            kind = "timestamp_ntz"
        elif pd.api.types.is_bool_dtype(dtype):
            kind = "boolean"
        elif pd.api.types.is_integer_dtype(dtype):
            kind = "bigint"
        elif pd.api.types.is_float_dtype(dtype):
            kind = "double"
        else:
            kind = "string"
        fields.append((str(name), kind))
    return tuple(fields)


def restore_dtypes(frame: pd.DataFrame, template: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (collected from Spark) with the dtypes of ``template`` (the local table
    without rows): strings, categories with their categories, ``datetime64[s]``."""
    out = {}
    for name, dtype in template.dtypes.items():
        col = frame[name]
        if isinstance(dtype, pd.CategoricalDtype):
            values = col.astype("object").where(col.notna(), None)
            out[name] = pd.Categorical(values, categories=dtype.categories,
                                       ordered=dtype.ordered)
        elif pd.api.types.is_datetime64_any_dtype(dtype):
            out[name] = pd.Series(col).astype(dtype)
        elif pd.api.types.is_bool_dtype(dtype):
            out[name] = pd.Series(col).fillna(False).astype(bool)
        else:
            out[name] = pd.Series(col).astype(dtype)
    return pd.DataFrame(out, index=pd.RangeIndex(len(frame)))


# ------------------------------------------------------------------ per-patient tables


def _table_rows(events: pd.DataFrame, diagnoses: pd.DataFrame, *, spec: BucketSpec,
                name: str) -> pd.DataFrame:
    quiet_pandas_warning()
    _, measures = bucket_measures(events, diagnoses, spec)
    table = measures.patient_table(name, spec.analysis.pathway_mode)
    out = arrow_ready(table)
    out[RANK] = np.arange(len(out), dtype=np.int64)
    return out


def local_template(name: str, analysis: Analysis) -> pd.DataFrame:
    """The local engine's table ``name`` without rows (its columns and dtypes)."""
    measures = CohortMeasures(schema.empty_events(), analysis.definitions, None)
    return measures.patient_table(name, analysis.pathway_mode)


@dataclass(frozen=True)
class SparkTable:
    """A per-patient table computed by Spark: ``frame`` (a Spark DataFrame, rows in the
    local table's order once sorted by ``patient_id`` and :data:`RANK`) and ``template``
    (the local table without rows: columns and dtypes)."""

    frame: Any
    template: pd.DataFrame

    def ordered(self) -> Any:
        """The Spark rows sorted as the local table is (``patient_id``, then the
        per-patient order), without the rank column."""
        return self.frame.orderBy("patient_id", RANK).drop(RANK)

    def to_pandas(self) -> pd.DataFrame:
        """The whole table on the driver, identical to the local engine's."""
        collected = self.ordered().toPandas()
        return restore_dtypes(collected, self.template)

    def batches(self, rows: int = 100_000) -> Iterator[pd.DataFrame]:
        """The table in order, ``rows`` at a time (for printing or writing a large
        table without holding it)."""
        chunk: list = []
        columns = list(self.template.columns)
        for row in self.ordered().toLocalIterator(prefetchPartitions=True):
            chunk.append(tuple(row))
            if len(chunk) >= rows:
                yield restore_dtypes(pd.DataFrame(chunk, columns=columns), self.template)
                chunk = []
        if chunk or not columns:
            yield restore_dtypes(pd.DataFrame(chunk, columns=columns), self.template)


def _cogrouped(dataset: SparkDataset, buckets: int) -> Any:
    events = with_bucket(dataset.events, buckets).groupBy(BUCKET)
    diagnoses = with_bucket(dataset.diagnoses, buckets).groupBy(BUCKET)
    return events.cogroup(diagnoses)


def _spinal_in_dataset(dataset: SparkDataset) -> bool:
    """Whether a diagnosis of the dataset is a dated spinal-pain one with a patient id (as
    recorded with the dataset, else looked up)."""
    from pyspark.sql import functions as F

    if dataset.spinal_diagnosis is not None:
        return dataset.spinal_diagnosis
    spinal = dataset.diagnoses.where((F.col("kind") == SPINAL_PAIN)
                                     & F.col("patient_id").isNotNull()
                                     & F.col("diagnosis_date").isNotNull())
    return bool(spinal.limit(1).count())


def bucket_spec(dataset: SparkDataset, analysis: Analysis) -> BucketSpec:
    """The :class:`BucketSpec` of an analysis of a dataset (its extract date: the
    analysis's, else the dataset's)."""
    extract = (pd.Timestamp(analysis.extract_date).normalize()
               if analysis.extract_date is not None else dataset.extract_date)
    needs_spinal = analysis.population == "back_pain" and dataset.population_source != "none"
    return BucketSpec(analysis, dataset.population_source, extract,
                      _spinal_in_dataset(dataset) if needs_spinal else False)


def run_buckets(dataset: SparkDataset, spec: BucketSpec, function: Callable[..., pd.DataFrame],
                fields: tuple[tuple[str, str], ...], shuffle_partitions: int) -> Any:
    """``function(events, diagnoses)`` on every bucket of ``dataset``; the Spark DataFrame
    of all buckets' rows (``fields``: their columns and Spark types)."""
    from analytics.spark.dataset import ddl

    buckets = bucket_count(dataset.events_count, shuffle_partitions)
    wrapped = partial(_drop_bucket_key, function=function)
    return _cogrouped(dataset, buckets).applyInPandas(wrapped, ddl(fields))


def _drop_bucket_key(events: pd.DataFrame, diagnoses: pd.DataFrame, *,
                     function: Callable[..., pd.DataFrame]) -> pd.DataFrame:
    return function(events.drop(columns=[BUCKET], errors="ignore"),
                    diagnoses.drop(columns=[BUCKET], errors="ignore"))


def patient_table(dataset: SparkDataset, analysis: Analysis, name: str,
                  shuffle_partitions: int) -> SparkTable:
    """The per-patient table ``name`` (``steps``, ``eras``, ``sessions``, ``courses``) of
    the analysis, computed on Spark."""
    template = local_template(name, analysis)
    spec = bucket_spec(dataset, analysis)
    fields = (*spark_fields(template), (RANK, "bigint"))
    frame = run_buckets(dataset, spec, partial(_table_rows, spec=spec, name=name), fields,
                        shuffle_partitions)
    return SparkTable(frame, template)


# ------------------------------------------------------------------ dataset facts


def dataset_facts(dataset: SparkDataset, spec: BucketSpec) -> DatasetFacts:
    """The :class:`DatasetFacts` of the analysis, in Spark, from one row per patient (first
    and last event date, whether a narcotic fill has a ``pharmacy_id``): the dataset's first
    event date and pharmacy data over every accepted event, and whether a patient of the
    population — those :func:`analytics.population.apply_population` keeps (everyone; those
    with a spinal-pain diagnosis; those with an index date and an event from the index date
    − the lookback on) — has an index date."""
    from pyspark.sql import functions as F

    a = spec.analysis
    events = dataset.events.where(F.col("patient_id").isNotNull()
                                  & F.col("event_date").isNotNull())
    pharmacy = (F.col("technique") == "narcotic") & F.col("pharmacy_id").isNotNull()
    patients = events.groupBy("patient_id").agg(
        F.min("event_date").alias("_first"), F.max(F.to_date("event_date")).alias("_last"),
        F.max(pharmacy.cast("int")).alias("_pharmacy"))
    spinal = dataset.diagnoses.where((F.col("kind") == SPINAL_PAIN)
                                     & F.col("patient_id").isNotNull())
    index = (spinal.where(F.col("diagnosis_date").isNotNull()).groupBy("patient_id")
             .agg(F.min("diagnosis_date").alias("_index")))
    source = dataset.population_source
    if a.population == "all" or source == "none" or not spec.spinal_in_dataset and \
            source == "diagnosis_column":
        kept = patients
    elif source == "diagnosis_column":
        kept = patients.join(spinal.select("patient_id").distinct(), "patient_id", "left_semi")
    elif not spec.spinal_in_dataset:
        kept = patients.where(F.lit(False))
    else:
        cut = F.date_sub(F.to_date("_index"), int(a.lookback_days))
        kept = patients.join(index, "patient_id").where(F.col("_last") >= cut).drop("_index")
    kept = kept.join(index.select("patient_id", F.lit(1).alias("_has_index")), "patient_id",
                     "left")
    # the data start and the pharmacy data are the dataset's (every accepted event), as the
    # local engine takes them; index dates are the population's
    whole = patients.agg(F.min("_first").alias("start"),
                         F.max("_pharmacy").alias("pharmacy")).first()
    row = kept.agg(F.max("_has_index").alias("index")).first()
    start = pd.Timestamp(whole["start"]).normalize() if whole["start"] is not None else None
    return DatasetFacts(start, bool(whole["pharmacy"]), bool(row["index"]))


# ------------------------------------------------------------------ the summary

SUMMARY_FIELDS: tuple[tuple[str, str], ...] = (
    ("kind", "string"), ("key", "string"), ("key2", "string"), ("key3", "string"),
    ("value", "double"), ("flag", "boolean"), ("n", "bigint"), ("n2", "bigint"))
"""A bucket's part of the summary, one row each (unused fields null):

- ``count``: ``key`` a count's name, ``n`` its value;
- ``pathway``: ``key`` the pathway string, ``value`` its steps, ``n`` its patients;
- ``interval`` / ``course``: ``value`` a repeat interval's or a course's days, ``n`` how
  many have it;
- ``safety_year`` / ``safety_month``: a row of :func:`analytics.safety.safety_rates` —
  ``key`` the measure, ``key2`` the physician (null: the clinic), ``key3`` the note,
  ``value`` the period (days since 1970-01-01), ``flag`` partial, ``n`` the denominator,
  ``n2`` the numerator (null: not available);
- ``outcome``: ``key`` the grouping, ``key2`` the outcome, ``key3`` the group (null: no
  value), ``value`` the days, ``flag`` observed, ``n`` how many rows;
- ``strata``: ``key`` the stratum name, ``key2`` the stratum, ``key3`` the pathway,
  ``value`` its steps, ``n`` its patients.
"""
_MEDIANS = ("interval", "course")
_SUMMED = ("count", "pathway", *_MEDIANS)
OUTCOMES_PREFIX = "outcomes."
TAPER_PREFIX = "safety.tapers."


def _frame(kind: str, n: object, **columns: object) -> pd.DataFrame:
    """Rows of one kind in the types Arrow takes without guessing: text as object (None
    missing), ``value`` float64, ``n`` int64, ``flag`` and ``n2`` as objects (None
    missing)."""
    frame = pd.DataFrame({"kind": kind, "n": n, **columns})
    rows = len(frame)
    out = {}
    for name, kind_of in SUMMARY_FIELDS:
        col = frame[name] if name in frame.columns else pd.Series([None] * rows, dtype=object)
        if kind_of == "double":
            out[name] = pd.to_numeric(col, errors="coerce").to_numpy(dtype="float64")
        elif name == "n":
            out[name] = col.to_numpy(dtype=np.int64)
        else:
            cast = {"boolean": bool, "bigint": int}.get(kind_of, str)
            out[name] = np.array([None if pd.isna(v) else cast(v) for v in col], dtype=object)
    return pd.DataFrame({name: pd.Series(values, dtype=values.dtype)  # no inferred str
                         for name, values in out.items()}, index=pd.RangeIndex(rows))


def _values(kind: str, values: np.ndarray) -> pd.DataFrame:
    distinct, counts = np.unique(np.asarray(values, dtype="float64"), return_counts=True)
    return _frame(kind, counts.astype(np.int64), value=distinct)


def _days(periods: pd.Series) -> np.ndarray:
    return (pd.to_datetime(periods).to_numpy(dtype="datetime64[D]")
            .astype(np.int64).astype("float64"))


def _safety_frames(measures: CohortMeasures) -> list[pd.DataFrame]:
    from analytics.results.safety import taper_totals
    from analytics.safety import safety_rates

    safety = measures.safety
    frames = [_frame("count", list(taper_totals(safety).values()),
                     key=[TAPER_PREFIX + k for k in taper_totals(safety)])]
    for kind, period, physicians in (("safety_year", "year", True),
                                     ("safety_month", "month", False)):
        rates = safety_rates(safety, period, by_physician=physicians)
        frames.append(_frame(
            kind, rates["denominator"].to_numpy(dtype=np.int64),
            key=rates["measure"].to_numpy(dtype=object),
            key2=rates["provider_id"].astype("string").to_numpy(dtype=object, na_value=None),
            key3=rates["note"].astype("string").to_numpy(dtype=object, na_value=None),
            value=_days(rates["period"]), flag=rates["partial"].to_numpy(dtype=bool),
            n2=rates["numerator"].astype("Int64").to_numpy(dtype=object, na_value=None)))
    return frames


def outcome_groupings(analysis: Analysis) -> tuple[str, ...]:
    """The outcome groupings the summary shows: by first step, and one per stratum."""
    from analytics.results.strata import OUTCOME_GROUPING

    return tuple(dict.fromkeys(["stratum", *(OUTCOME_GROUPING[s] for s in analysis.strata)]))


def _outcome_frames(measures: CohortMeasures, analysis: Analysis) -> list[pd.DataFrame]:
    from analytics.outcomes import outcome_counts

    data = measures.outcomes
    frames = [_frame("count", [data.patients, data.left_out_no_index,
                               data.left_out_surgery_first],
                     key=[OUTCOMES_PREFIX + k for k in ("patients", "left_out_no_index",
                                                         "left_out_surgery_first")])]
    for by in outcome_groupings(analysis):
        counted = outcome_counts(data, by)
        group = counted[by].astype(object)
        frames.append(_frame(
            "outcome", counted["rows"].to_numpy(dtype=np.int64), key=by,
            key2=counted["outcome"].astype(object).to_numpy(),
            key3=np.array([None if pd.isna(v) else str(v) for v in group], dtype=object),
            value=counted["days"].to_numpy(dtype="float64"),
            flag=counted["observed"].to_numpy(dtype=bool)))
    return frames


def _strata_frames(measures: CohortMeasures, analysis: Analysis) -> list[pd.DataFrame]:
    from analytics.results.strata import strata_counts, strata_rows

    frames = []
    for name in analysis.strata:
        rows = strata_rows(strata_counts(measures, name, analysis.pathway_mode))
        frames.append(_frame(
            "strata", rows["patients"].to_numpy(dtype=np.int64), key=name,
            key2=rows["stratum"].astype(object).to_numpy(),
            key3=rows["pathway"].astype(object).to_numpy(),
            value=rows["n_steps"].to_numpy(dtype="float64")))
    return frames


def _summary_rows(events: pd.DataFrame, diagnoses: pd.DataFrame, *,
                  spec: BucketSpec) -> pd.DataFrame:
    from analytics.results.summary import summary_parts

    quiet_pandas_warning()
    population, measures = bucket_measures(events, diagnoses, spec)
    parts = summary_parts(measures, spec.analysis.pathway_mode, population)
    frames = [
        _frame("count", np.fromiter(parts.counts.values(), dtype=np.int64,
                                    count=len(parts.counts)), key=list(parts.counts)),
        _frame("pathway", parts.pathways["patients"].to_numpy(dtype=np.int64),
               key=parts.pathways["pathway"].to_numpy(dtype=object),
               value=parts.pathways["n_steps"].to_numpy(dtype="float64")),
        _values("interval", parts.interval_days), _values("course", parts.course_days),
        *_safety_frames(measures), *_outcome_frames(measures, spec.analysis),
        *_strata_frames(measures, spec.analysis),
    ]
    kept = [f for f in frames if len(f)]
    return pd.concat(kept, ignore_index=True) if kept else _frame("count", [], key=[])


@dataclass(frozen=True)
class SummaryAggregates:
    """What the builders take, aggregated over all buckets: ``counts`` (summed),
    ``pathways`` (``pathway``, ``n_steps``, ``patients`` summed per pathway string), the
    medians (NaN when there is nothing to take one of), and the summed rows of the other
    kinds of :data:`SUMMARY_FIELDS` (``rows``: a pandas frame of those fields)."""

    counts: dict[str, int]
    pathways: pd.DataFrame
    median_interval_days: float
    median_course_days: float
    rows: pd.DataFrame


def summary_aggregates(dataset: SparkDataset, spec: BucketSpec,
                       shuffle_partitions: int) -> SummaryAggregates:
    """Run the summary's part on every bucket and aggregate in Spark: counts and patients
    per pathway summed, medians by Spark SQL's exact ``percentile`` over the per-value
    counts, every other row summed per key.  Only these small tables reach the driver."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    rows = run_buckets(dataset, spec, partial(_summary_rows, spec=spec), SUMMARY_FIELDS,
                       shuffle_partitions).persist(StorageLevel.MEMORY_AND_DISK)
    try:  # one job: the summed kinds by (kind, key) with the medians, the others by all keys
        distributed = F.col("kind").isin(*_MEDIANS)
        summed = rows.where(F.col("kind").isin(*_SUMMED)).groupBy("kind", "key").agg(
            F.sum("n").alias("n"), F.max("value").alias("value"),
            F.percentile(F.when(distributed, F.col("value")), F.lit(0.5),
                         F.when(distributed, F.col("n")).otherwise(F.lit(1))).alias("median"),
        )
        keys = ["kind", "key", "key2", "key3", "value", "flag"]
        others = (rows.where(~F.col("kind").isin(*_SUMMED)).groupBy(*keys)
                  .agg(F.sum("n").alias("n"), F.sum("n2").alias("n2"),
                       F.lit(None).cast("double").alias("median")))
        for name, kind in SUMMARY_FIELDS:
            if name not in summed.columns:
                summed = summed.withColumn(name, F.lit(None).cast(kind))
        collected = summed.unionByName(others).toPandas()
    finally:
        rows.unpersist()
    mine = collected["kind"].isin(_SUMMED).to_numpy()
    first, others_frame = collected.loc[mine], collected.loc[~mine].reset_index(drop=True)
    medians = {k: m for k, m in zip(first["kind"], first["median"], strict=True)
               if k in _MEDIANS}
    is_count = (first["kind"] == "count").to_numpy()
    counts = dict(zip(first["key"].loc[is_count], first["n"].loc[is_count].astype(int),
                      strict=True))
    paths = first.loc[(first["kind"] == "pathway").to_numpy()]
    pathways = pd.DataFrame({"pathway": paths["key"].astype(object).to_numpy(),
                             "n_steps": paths["value"].to_numpy(dtype="float64")
                             .astype(np.int64),
                             "patients": paths["n"].to_numpy(dtype=np.int64)})
    def median(kind: str) -> float:
        value = medians.get(kind)
        return float(value) if value is not None and not pd.isna(value) else np.nan

    return SummaryAggregates(
        {str(k): int(v) for k, v in counts.items()},
        pathways.sort_values("pathway", kind="stable").reset_index(drop=True),
        median("interval"), median("course"), others_frame)
