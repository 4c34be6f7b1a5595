"""Ingest: clinic exports -> the canonical event table of DESIGN.md, with a report.

Public API: :func:`detect` (headers and a sample only, for the upload page),
:func:`ingest`, :class:`IngestResult`, :class:`IngestReport`, :class:`FileReport`,
:class:`FilePlan`, :class:`IngestError`, :func:`classify`.  ``Source`` is a path (file or
folder: a folder means every export file in it) or a ``(file_name, bytes)`` pair.

One module per job, run in this order for each file:

1. **Read** (:mod:`analytics.readers`): CSV/TSV text, ``.xlsx``, Parquet; every value as
   text.  Unreadable input gives an :class:`IngestError` with a one-line message.
2. **Format and role** (:mod:`.formats`): OMOP CDM, Synthea or a generic clinic file, and
   what each file is (events, patients, conditions, concept, not used).
3. **PHI guard and column mapping** (:mod:`analytics.phi`, :mod:`.mapping`): refused
   columns, the guessed or explicit mapping, required columns.
4. **Duplicates, classification, validation and the canonical rows** of event files
   (:mod:`.columns`, :mod:`.classify`, :mod:`.validate`, :mod:`.events`).
5. **Auxiliary files** (:mod:`.roles`): patients, conditions, concept, unused tables.
6. **Report** (:mod:`.report`): every row of every file lands in exactly one bucket, so
   ``rows_read == accepted + rejected + not_relevant + duplicates`` for every file.

:mod:`.pipeline` runs the steps and joins the files of one export.
"""

from analytics.ingest.classify import classify
from analytics.ingest.formats import CONDITION_ROLES, EVENT_ROLES, PATIENT_ROLES
from analytics.ingest.mapping import FilePlan
from analytics.ingest.pipeline import detect, ingest
from analytics.ingest.report import (
    REJECT_REASONS,
    FileReport,
    IngestError,
    IngestReport,
    IngestResult,
)
from analytics.readers import Source

__all__ = [
    "CONDITION_ROLES",
    "EVENT_ROLES",
    "PATIENT_ROLES",
    "REJECT_REASONS",
    "FilePlan",
    "FileReport",
    "IngestError",
    "IngestReport",
    "IngestResult",
    "Source",
    "classify",
    "detect",
    "ingest",
]
