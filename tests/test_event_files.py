"""Event folders (analytics.event_files): what export-events writes, read back unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from analytics import schema
from analytics.event_files import (
    EVENTS,
    METADATA,
    EventFolderWriter,
    is_event_folder,
    patient_buckets,
    read_event_folder,
    read_metadata,
)
from analytics.ingest import combine_population_sources, ingest, ingest_exports

ROOT = Path(__file__).resolve().parents[1]
SMALL = ROOT / "tests" / "fixtures" / "small_clinic.csv"
EXPORTS = ROOT.parent / "shared" / "exports"


def _write(sources, out: Path, buckets: int = 4):
    writer = EventFolderWriter(out, buckets)
    for result in ingest_exports(sources):
        writer.add(result)
    return writer.close()


def test_patient_buckets_hold_whole_patients_and_are_stable():
    ids = pd.Series(["p1", "p2", "p1", "p3", None, "p2"], dtype="string")
    buckets = patient_buckets(ids, 7)
    assert buckets.dtype == np.int32
    assert ((buckets >= 0) & (buckets < 7)).all()
    assert buckets[0] == buckets[2] and buckets[1] == buckets[5]
    # the hash is pandas' fixed-key SipHash of the id's text: the same id, the same bucket
    # in every process and version of the folder
    assert list(patient_buckets(pd.Series(["p1", "p2", "p3"], dtype="string"), 1000)) == [
        int(h % 1000) for h in pd.util.hash_array(np.array(["p1", "p2", "p3"], dtype=object))]


def test_small_clinic_round_trip(tmp_path):
    meta = _write(SMALL, tmp_path / "out", buckets=2)
    local = ingest(SMALL)
    back = read_event_folder(tmp_path / "out")
    pd.testing.assert_frame_equal(back.events, local.events.reset_index(drop=True))
    assert meta.events == 9 and meta.extract_date == "2024-03-01"
    assert meta.population_source == "none" and meta.spinal_diagnosis is False
    # 11 rows: 9 accepted, 1 rejected (no patient id), 1 not relevant (amoxicillin)
    assert meta.report == {"files": ["small_clinic.csv"], "rows_read": 11, "rejected_rows": 1,
                           "not_relevant_rows": 1, "duplicate_rows": 0,
                           "refused_columns": []}
    assert back.metadata == read_metadata(tmp_path / "out")
    # every bucket folder holds whole patients
    seen: dict[str, str] = {}
    for part in (tmp_path / "out" / EVENTS).glob("bucket=*/*.parquet"):
        for pid in pq.read_table(part).column("patient_id").to_pylist():
            assert seen.setdefault(pid, part.parent.name) == part.parent.name


@pytest.mark.skipif(not EXPORTS.is_dir(), reason="../shared/exports is absent")
def test_exports_one_at_a_time_give_what_one_ingest_gives(tmp_path):
    sources = [EXPORTS / "synthea-27", SMALL, EXPORTS / "omop-synthea27nj"]
    whole = ingest(sources)
    parts = list(ingest_exports(sources))
    assert len(parts) == 3  # the Synthea folder, the clinic file, the OMOP folder
    events = pd.concat([p.events for p in parts], ignore_index=True)
    pd.testing.assert_frame_equal(events, whole.events.reset_index(drop=True))
    assert max(p.extract_date for p in parts) == whole.extract_date
    assert combine_population_sources([p.population_source for p in parts]) == "conditions"
    assert sum(p.report.rows_read for p in parts) == whole.report.rows_read
    assert sum(p.report.rejected for p in parts) == whole.report.rejected
    _write(sources, tmp_path / "out")
    back = read_event_folder(tmp_path / "out")
    pd.testing.assert_frame_equal(back.events, whole.events.reset_index(drop=True))
    dx = back.diagnoses.drop_duplicates(ignore_index=True)
    pd.testing.assert_frame_equal(dx, whole.diagnoses.reset_index(drop=True))
    assert back.metadata.extract == whole.extract_date
    assert back.metadata.population_source == whole.population_source
    assert back.metadata.spinal_diagnosis is True  # chronic low back pain in the exports


def test_combine_population_sources():
    assert combine_population_sources([]) == "none"
    assert combine_population_sources(["none", "diagnosis_column"]) == "diagnosis_column"
    assert combine_population_sources(["diagnosis_column", "conditions", "none"]) == "conditions"


def test_an_empty_ingest_and_an_existing_folder(tmp_path):
    out = tmp_path / "out"
    writer = EventFolderWriter(out)
    meta = writer.close()
    assert (meta.events, meta.extract_date, meta.population_source) == (0, None, "none")
    back = read_event_folder(out)
    assert back.events.empty and list(back.events.columns) == list(schema.CANONICAL_COLUMNS)
    assert back.diagnoses.empty
    EventFolderWriter(out).close()  # an event folder is replaced
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        EventFolderWriter(other)


def test_not_an_event_folder(tmp_path):
    assert not is_event_folder(tmp_path)
    (tmp_path / METADATA).write_text(json.dumps({"format": "something else"}))
    assert not is_event_folder(tmp_path)
    with pytest.raises(ValueError, match="not a PainPath event folder"):
        read_metadata(tmp_path)


def test_a_folder_as_the_ingest_result_it_was_written_from(tmp_path):
    local = ingest(SMALL)
    _write(SMALL, tmp_path / "out")
    result = read_event_folder(tmp_path / "out").ingest_result()
    pd.testing.assert_frame_equal(result.events, local.events.reset_index(drop=True))
    assert result.report.to_dict() == local.report.to_dict()
    assert (result.extract_date, result.population_source) == (local.extract_date,
                                                                local.population_source)
    assert result.rejected.empty  # rejected rows are not exported
