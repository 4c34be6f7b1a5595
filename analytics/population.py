"""The population of an analysis: back-pain patients with their index dates, or all patients.

Definitions (docs/definitions.md, section 2 "Population and index date"):

- A patient's **index date** is the date of the patient's first spinal-pain diagnosis
  (a row of ``diagnoses`` with ``kind == "spinal_pain"``: back or neck, see
  ``analytics.indications``).
- **EHR-wide exports** (``source == "conditions"``: the dataset came with a conditions or
  diagnoses table): the back-pain population is the patients with an index date, and of
  their events those that *start* on or after ``index date - lookback_days`` (30).  An
  older order that is still running on that day is left out, as TreatmentPatterns'
  ``periodPriorToIndex`` keeps only the events that start in the window.
- **A clinic's own export** (``source == "diagnosis_column"``: diagnoses come only from a
  column of the treatment rows): when that column holds a spinal-pain code on any row, the
  population is the patients with one on any row, with every event (no date cut: the
  clinic's rows are its back-pain care).  When it holds none, every patient, with a note.
- **No diagnosis data** (``source == "none"``): every patient, with a note.
- ``population="all"``: every patient and every event.

Rows kept only for their drug class (benzodiazepines, gabapentinoids, naloxone, use-disorder
products: ``schema.treatment_rows`` False) follow their patient and the same date cut in
:attr:`Population.events`, so the population's events are one consistent window.  The
opioid-safety measures read a kept patient's *full* history (no lookback cut):
:meth:`Population.full_history` gives the kept patients' rows without the cut.

Everything is vectorised (Arrow hash lookups and numpy masks): no per-patient loop.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analytics import schema

POPULATIONS: tuple[str, ...] = ("back_pain", "all")
"""Population choices: the back-pain patients (default) or every patient."""

POPULATION_NAMES: dict[str, str] = {"back_pain": "Back-pain patients", "all": "All patients"}

SOURCES: tuple[str, ...] = ("conditions", "diagnosis_column", "none")
"""Where a dataset's diagnoses came from (``IngestResult.population_source``)."""

DEFAULT_LOOKBACK_DAYS = 30

NO_DIAGNOSIS = "no_diagnosis"
BEFORE_LOOKBACK = "before_lookback"
LEFT_OUT_REASONS: dict[str, str] = {
    NO_DIAGNOSIS: "without a back or neck pain diagnosis",
    BEFORE_LOOKBACK: "whose events all start before the lookback",
}
"""Why a patient is left out of the back-pain population (keys of
:attr:`Population.left_out_by_reason`), with the words the note uses."""

INDEX_DATE_COLUMN = "index_date"


def _empty_index_dates() -> pd.Series:
    return pd.Series(
        np.array([], dtype=schema.DATE_DTYPE),
        index=pd.Index([], dtype="string", name="patient_id"),
        name=INDEX_DATE_COLUMN,
    )


@dataclass(frozen=True)
class Population:
    """The events an analysis works on, and what the population left out.

    - ``events``: the kept patients' events (canonical frame; for an EHR-wide export only
      those starting on or after index date - lookback).
    - ``name``: ``"Back-pain patients"`` or ``"All patients"``.
    - ``population``: the choice, ``"back_pain"`` or ``"all"``.
    - ``patients_kept``: distinct patients in ``events``.
    - ``patients_left_out``: distinct patients of the input events not in ``events``
      (``patients_kept + patients_left_out`` = the input's patients).
    - ``note``: one or two sentences for pages, the report and the CLI saying how the
      population was chosen and how many patients it left out, and why.
    - ``rule``: how the population was chosen, without any count (``note`` less its
      counts: what a result shows beside counts it protects itself).
    - ``left_out_by_reason``: the left-out patients by reason (keys of
      :data:`LEFT_OUT_REASONS`; only reasons with patients; adds up to
      ``patients_left_out``).
    - ``index_date``: Series ``patient_id -> index date`` (``datetime64[s]``) of the kept
      patients that have one (empty when the data has no spinal-pain diagnosis).
    - ``patient_ids``: the kept patients' ids (``string`` Index, in order of first appearance
      in the events).
    - ``source``, ``lookback_days``: the inputs, for the record (``lookback_days`` is None
      when no date cut was applied).
    """

    events: pd.DataFrame
    name: str
    population: str
    patients_kept: int
    patients_left_out: int
    note: str
    index_date: pd.Series = field(default_factory=_empty_index_dates)
    patient_ids: pd.Index = field(default_factory=lambda: pd.Index([], dtype="string"))
    source: str = "none"
    lookback_days: int | None = None
    rule: str = ""
    left_out_by_reason: dict[str, int] = field(default_factory=dict)

    def full_history(self, events: pd.DataFrame) -> pd.DataFrame:
        """The kept patients' rows of ``events`` (the same dataset's events), with no date
        cut: what the opioid-safety measures read."""
        if self.patients_left_out == 0:
            return events
        return events.loc[schema.isin_ids(events["patient_id"], self.patient_ids)]

    def summary(self) -> dict[str, object]:
        """The CLI's ``population`` object: name, patients kept, patients left out, note."""
        return {
            "name": self.name,
            "patients_kept": int(self.patients_kept),
            "patients_left_out": int(self.patients_left_out),
            "note": self.note,
        }


def _ids(values: pd.Series | pd.Index) -> pa.Array:
    """Patient ids as one Arrow large_string array (no copy for Arrow-backed strings)."""
    arrow = getattr(values.array, "_pa_array", None)
    if arrow is None:
        arrow = pa.array(np.asarray(values.astype("object"), dtype=object),
                         type=pa.large_string(), from_pandas=True)
    if isinstance(arrow, pa.ChunkedArray):
        arrow = arrow.combine_chunks()
    return arrow.cast(pa.large_string())


def _encode(values: pd.Series) -> tuple[np.ndarray, pa.Array]:
    """(row -> distinct-id number as int64, the distinct ids in order of first appearance);
    one hash pass over the ids."""
    encoded = pc.dictionary_encode(_ids(values))
    return np.asarray(encoded.indices, dtype=np.int64), encoded.dictionary


def _string_index(ids: pa.Array) -> pd.Index:
    return pd.Index(pd.array(ids.cast(pa.string()), dtype="string"), name="patient_id")


def index_dates(diagnoses: pd.DataFrame | None) -> pd.Series:
    """Each patient's index date: the earliest ``diagnosis_date`` among the patient's
    diagnoses of kind ``"spinal_pain"`` (rows without a date or patient id are skipped).

    ``diagnoses`` has the columns of ``IngestResult.diagnoses`` (``patient_id``,
    ``diagnosis_date``, ``kind``; others ignored); None or empty gives an empty Series.
    Returns a Series named ``index_date`` (``datetime64[s]``) indexed by ``patient_id``
    (``string``), patients in order of their first spinal-pain row.
    """
    if diagnoses is None or len(diagnoses) == 0:
        return _empty_index_dates()
    missing = {"patient_id", "diagnosis_date", "kind"} - set(diagnoses.columns)
    if missing:
        raise KeyError(f"diagnoses lack column(s): {', '.join(sorted(missing))}")
    kind = np.asarray((diagnoses["kind"].astype("string") == "spinal_pain").fillna(False),
                      dtype=bool)
    dates = np.asarray(diagnoses["diagnosis_date"], dtype=schema.DATE_DTYPE)
    pid = _ids(diagnoses["patient_id"].astype("string"))
    keep = kind & ~np.isnat(dates) & np.asarray(pid.is_valid(), dtype=bool)
    if not keep.any():
        return _empty_index_dates()
    encoded = pc.dictionary_encode(pid.filter(pa.array(keep)))
    codes = np.asarray(encoded.indices, dtype=np.int64)
    first = np.full(len(encoded.dictionary), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first, codes, dates[keep].astype(np.int64))
    return pd.Series(
        first.astype(schema.DATE_DTYPE),
        index=_string_index(encoded.dictionary),
        name=INDEX_DATE_COLUMN,
    )


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def apply_population(
    events: pd.DataFrame,
    diagnoses: pd.DataFrame | None,
    source: str,
    population: str = "back_pain",
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    *,
    spinal_in_dataset: bool | None = None,
) -> Population:
    """Restrict ``events`` to the population (see the module docstring).

    ``events``: canonical event table; ``diagnoses``: the dataset's diagnoses
    (``patient_id``, ``diagnosis_date``, ``kind``; None when there are none); ``source``:
    ``"conditions"``, ``"diagnosis_column"`` or ``"none"``; ``population``: ``"back_pain"``
    or ``"all"``; ``lookback_days`` (>= 0): days before the index date from which an
    event counts (EHR-wide exports only).  Raises ``ValueError`` on an unknown choice.

    ``spinal_in_dataset``: when ``events`` and ``diagnoses`` are some whole patients of a
    larger dataset (a bucket of the Spark engine), whether the *dataset* has a spinal-pain
    diagnosis (with a date, for ``source="conditions"``), the one choice above that is not
    patient-local; None decides it on ``diagnoses``.
    """
    if population not in POPULATIONS:
        raise ValueError(f"population must be one of {', '.join(POPULATIONS)}, not {population!r}")
    if source not in SOURCES:
        raise ValueError(f"source must be one of {', '.join(SOURCES)}, not {source!r}")
    lookback = int(lookback_days)
    if lookback < 0 or lookback != lookback_days:
        raise ValueError(f"lookback_days must be a whole number >= 0, not {lookback_days!r}")

    base = _Inputs(events, index_dates(diagnoses), POPULATION_NAMES[population], population,
                   source)
    if population == "all":
        return base.everyone("Every patient and every event of the dataset (no population "
                             "filter).")
    if source == "none":
        return base.everyone(
            "The data holds no diagnoses, so every patient is counted as a back-pain patient "
            "(a clinic's own treatment export). Add a conditions or diagnoses file to choose "
            "patients by their spinal-pain diagnosis.")
    if source == "diagnosis_column":
        spinal = _spinal_patient_ids(diagnoses)
        if not (len(spinal) > 0 if spinal_in_dataset is None else spinal_in_dataset):
            return base.everyone("The diagnosis column holds no spinal-pain code, so every "
                                 "patient is counted as a back-pain patient.")
        row_patient, patients = _encode(events["patient_id"])
        keep_patient = np.asarray(pc.is_in(patients, value_set=spinal).fill_null(False),
                                  dtype=bool)
        pop = base.restricted(
            row_patient, patients, keep_patient[row_patient],
            "Patients with a back or neck pain diagnosis on any row of the export; all their "
            "events (no date cut).", None)
        return _with_reasons(pop, {NO_DIAGNOSIS: pop.patients_left_out})

    # EHR-wide export: patients with an index date, events from index - lookback on
    row_patient, patients = _encode(events["patient_id"])
    first = base.first
    if not (len(first) > 0 if spinal_in_dataset is None else spinal_in_dataset):
        pop = base.restricted(
            row_patient, patients, np.zeros(len(events), dtype=bool),
            "No patient of the dataset has a back or neck pain diagnosis, so the back-pain "
            "population is empty; choose all patients to see everyone.", lookback)
        return _with_reasons(pop, {NO_DIAGNOSIS: pop.patients_left_out})
    position = pc.index_in(patients, value_set=_ids(first.index))
    has_index = np.asarray(position.is_valid(), dtype=bool)
    if has_index.any():
        cut_by_patient = (first.to_numpy(dtype="datetime64[D]")[
            np.asarray(position.fill_null(0), dtype=np.int64)] - np.timedelta64(lookback, "D"))
        start = np.asarray(events["event_date"], dtype="datetime64[D]")
        keep_row = has_index[row_patient] & (start >= cut_by_patient[row_patient])
    else:  # none of these patients has an index date (a part of a larger dataset)
        keep_row = np.zeros(len(events), dtype=bool)
    note = (f"Patients with a back or neck pain diagnosis (index date: the first one); their "
            f"events from {_plural(lookback, 'day')} before the index date on.")
    pop = base.restricted(row_patient, patients, keep_row, note, lookback)
    without = int((~has_index).sum())
    pop = _with_reasons(pop, {NO_DIAGNOSIS: without,
                              BEFORE_LOOKBACK: pop.patients_left_out - without})
    if pop.patients_left_out:
        reasons = [f"{n:,} {LEFT_OUT_REASONS[key]}" for key, n in pop.left_out_by_reason.items()]
        pop = dataclasses.replace(pop, note=f"{pop.note[:-1]}: {', '.join(reasons)}.")
    return pop


def _with_reasons(pop: Population, reasons: dict[str, int]) -> Population:
    return dataclasses.replace(pop, left_out_by_reason={k: int(n) for k, n in reasons.items()
                                                        if n})


@dataclass(frozen=True)
class _Inputs:
    """What every branch of :func:`apply_population` shares."""

    events: pd.DataFrame
    first: pd.Series
    name: str
    population: str
    source: str

    def everyone(self, note: str) -> Population:
        """Every patient, every event (one hash pass over the ids to count the patients)."""
        ids = pc.unique(_ids(self.events["patient_id"]))
        return self._build(self.events, ids, 0, note, None)

    def restricted(self, row_patient: np.ndarray, patients: pa.Array, keep_row: np.ndarray,
                   note: str, lookback: int | None) -> Population:
        """The rows ``keep_row``; a patient is kept when any of its rows is."""
        kept_events = self.events if keep_row.all() else self.events.loc[keep_row]
        keep_patient = np.bincount(row_patient[keep_row], minlength=len(patients)) > 0
        kept_ids = patients.filter(pa.array(keep_patient))
        left_out = len(patients) - len(kept_ids)
        rule = note
        if left_out:
            note += f" {_plural(left_out, 'patient')} of the dataset left out."
        return self._build(kept_events, kept_ids, left_out, note, lookback, rule)

    def _build(self, events: pd.DataFrame, kept_ids: pa.Array, left_out: int, note: str,
               lookback: int | None, rule: str | None = None) -> Population:
        ids_index = _string_index(kept_ids)
        first = self.first
        kept_first = first[schema.isin_ids(first.index, ids_index)] if len(first) else first
        return Population(
            events=events, name=self.name, population=self.population,
            patients_kept=len(kept_ids), patients_left_out=left_out, note=note,
            index_date=kept_first, patient_ids=ids_index, source=self.source,
            lookback_days=lookback, rule=note if rule is None else rule,
        )


def _spinal_patient_ids(diagnoses: pd.DataFrame | None) -> pa.Array:
    """Distinct patient ids with a spinal-pain diagnosis (dated or not)."""
    if diagnoses is None or len(diagnoses) == 0:
        return pa.array([], type=pa.large_string())
    is_spinal = np.asarray(diagnoses["kind"].astype("object") == "spinal_pain", dtype=bool)
    return pc.unique(_ids(diagnoses["patient_id"].astype("string")[is_spinal]).drop_null())
