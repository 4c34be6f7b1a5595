"""Ingest: clinic exports -> the canonical event table (``analytics.schema``), with a report.

Public API: :func:`detect` (headers and a sample only, for the upload page),
:func:`ingest`, :func:`ingest_exports` (one export at a time),
:func:`combine_population_sources`, :class:`IngestResult` (``events``, ``report``,
``rejected``, ``not_relevant``, ``diagnoses``, ``extract_date``, ``population_source``),
:class:`IngestReport`, :class:`FileReport`, :class:`FilePlan`, :class:`IngestError`,
:func:`classify`, :func:`english_drug_names`, :func:`missing_required`, the value maps
(:class:`ValueMap`, :func:`value_map_from_frame`, :func:`read_value_map`,
:func:`value_map_targets`, :data:`VALUE_KINDS`) and :data:`MAPPING_KEYS` (every key an
explicit mapping may use).  ``Source`` is a path (file or folder: a folder means every
export file in it) or a ``(file_name, bytes)`` pair.

One module per job, run in this order for each file (docs/definitions.md section 1):

1. **Read** (:mod:`analytics.readers`): CSV/TSV text (encoding decided on the bytes,
   DuckDB's dialect sniffer, PyArrow), ``.xlsx``, Parquet; every value as text.
   Unreadable input gives an :class:`IngestError` with a one-line message.
2. **Format and role** (:mod:`.formats`): OMOP CDM, Synthea or a generic clinic file, and
   what each file is (events, patients, death, conditions / diagnoses, concept, unused).
3. **PHI guard and column mapping** (:mod:`analytics.phi`, :mod:`.mapping`): refused
   columns, the mapping from synonyms and header words or an explicit one, required
   columns.
4. **Event files** (:mod:`.events`): duplicates (:mod:`.columns`), classification with
   drug class and spinal region (:mod:`.classify`, :mod:`.regions`), indication
   (:mod:`.indication`), validation (:mod:`.validate`), typed values (:mod:`.values`),
   dispenses and open orders (:mod:`.coverage`), diagnoses of the diagnosis column.
5. **Auxiliary files** (:mod:`.roles`): patients, death, conditions (:mod:`.diagnoses`),
   concept, encounters / visits (provider and site of each encounter), unused tables.
6. **Report** (:mod:`.report`): every row of every file lands in exactly one bucket, so
   ``rows_read == accepted + rejected + not_relevant + duplicates`` for every file.

:mod:`.pipeline` runs the steps, joins the files of one export (demographics, death dates,
diagnoses, the provider and site of each event's encounter), ends coverage at death, and
computes the extract date, the open-order counts and the population source.
"""

from analytics.ingest.classify import Classification, classify
from analytics.ingest.classify import english_names as english_drug_names
from analytics.ingest.formats import (
    CONDITION_ROLES,
    DEATH_ROLES,
    ENCOUNTER_ROLES,
    EVENT_ROLES,
    PATIENT_ROLES,
)
from analytics.ingest.mapping import AUXILIARY_COLUMNS, MAPPING_KEYS, FilePlan, missing_required
from analytics.ingest.pipeline import (
    combine_population_sources,
    detect,
    ingest,
    ingest_exports,
)
from analytics.ingest.report import (
    REJECT_REASONS,
    FileReport,
    IngestError,
    IngestReport,
    IngestResult,
)
from analytics.ingest.value_map import KINDS as VALUE_KINDS
from analytics.ingest.value_map import ValueMap, read_value_map
from analytics.ingest.value_map import from_frame as value_map_from_frame
from analytics.ingest.value_map import targets as value_map_targets
from analytics.readers import Source

__all__ = [
    "AUXILIARY_COLUMNS",
    "CONDITION_ROLES",
    "DEATH_ROLES",
    "ENCOUNTER_ROLES",
    "EVENT_ROLES",
    "MAPPING_KEYS",
    "PATIENT_ROLES",
    "REJECT_REASONS",
    "VALUE_KINDS",
    "Classification",
    "FilePlan",
    "FileReport",
    "IngestError",
    "IngestReport",
    "IngestResult",
    "Source",
    "ValueMap",
    "classify",
    "combine_population_sources",
    "detect",
    "english_drug_names",
    "ingest",
    "ingest_exports",
    "missing_required",
    "read_value_map",
    "value_map_from_frame",
    "value_map_targets",
]
