"""The Spark engine (analytics.spark) gives what the local engine gives, field by field.

One SparkSession (``local[2]``) serves the whole module.  The module is skipped only when
Java is absent (it says why); ``make test`` installs pyspark, so a missing pyspark fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analytics import schema
from analytics.event_files import EventFolderWriter, read_event_folder
from analytics.ingest import ingest, ingest_exports
from analytics.spark.session import java_executable

ROOT = Path(__file__).resolve().parents[1]
SMALL = ROOT / "tests" / "fixtures" / "small_clinic.csv"
SAMPLE = ROOT / "sample_data" / "painpath_sample.csv"
EXPORTS = ROOT.parent / "shared" / "exports"
OMOP = EXPORTS / "omop-synthea27nj"

if java_executable() is None:
    print("tests/test_spark.py skipped: Java is not installed (make test installs "
          "openjdk-17-jre-headless when run as root)", file=sys.stderr)
    pytest.skip("Java is not installed: the Spark engine cannot start",
                allow_module_level=True)


@pytest.fixture(scope="session")
def spark():
    from analytics.spark.engine import quiet_pandas_warning
    from analytics.spark.session import SparkOptions, spark_session

    quiet_pandas_warning()
    session = spark_session(SparkOptions(master="local[2]", shuffle_partitions=2,
                                         driver_memory="1g"))
    yield session
    session.stop()


def _folder(sources, out: Path) -> Path:
    writer = EventFolderWriter(out, buckets=4)
    for result in ingest_exports(sources):
        writer.add(result)
    writer.close()
    return out


# ------------------------------------------------------------------ the Arrow boundary


def test_types_cross_the_pandas_arrow_spark_boundary(spark):
    """datetime64[s], nullable ints, pandas strings, categoricals and flags survive
    pandas -> Arrow -> Spark -> a Python worker -> Spark -> pandas."""
    from analytics.spark.dataset import ddl
    from analytics.spark.engine import arrow_ready, restore_dtypes, spark_fields

    frame = pd.DataFrame({
        "patient_id": pd.Series(["p1", None, "p\u00e9"], dtype="string"),
        "day": pd.Series(pd.to_datetime(["2024-02-29", None, "1999-12-31"]))
        .astype("datetime64[s]"),
        "count": pd.Series([3, None, -1], dtype="Int64"),
        "whole": np.array([1, 2, 3], dtype=np.int64),
        "share": [0.5, np.nan, 1e-12],
        "technique": pd.Categorical(["narcotic", None, "injection"],
                                    categories=list(schema.TECHNIQUES)),
        "flag": [True, False, True],
    })
    template = frame.iloc[:0].astype({"count": "float64"})
    fields = spark_fields(template)
    assert dict(fields) == {"patient_id": "string", "day": "timestamp_ntz", "count": "double",
                            "whole": "bigint", "share": "double", "technique": "string",
                            "flag": "boolean"}
    sent = arrow_ready(frame.astype({"count": "float64"}))
    data = spark.createDataFrame(sent, ddl(fields))

    def echo(rows: pd.DataFrame) -> pd.DataFrame:
        # what a worker receives: plain dtypes, then the engine's own conversion back
        assert str(rows["day"].dtype).startswith("datetime64")
        return arrow_ready(rows)

    back = data.groupBy("flag").applyInPandas(echo, ddl(fields)).toPandas()
    back = restore_dtypes(back.sort_values("whole").reset_index(drop=True), template)
    expected = frame.astype({"count": "float64"})
    pd.testing.assert_frame_equal(back, expected)
    assert back["technique"].cat.categories.tolist() == list(schema.TECHNIQUES)


def test_event_folder_rows_become_the_canonical_events(spark, tmp_path):
    """The canonical frame a bucket rebuilds from Spark rows is the ingest's."""
    from analytics.spark.dataset import read_event_folder as spark_folder
    from analytics.spark.engine import canonical_events

    folder = _folder(SAMPLE, tmp_path / "sample")
    rows = spark_folder(spark, folder).events.toPandas()
    rebuilt = canonical_events(rows)
    pd.testing.assert_frame_equal(rebuilt, read_event_folder(folder).events)


# ------------------------------------------------------------------ OMOP


@pytest.mark.skipif(not OMOP.is_dir(), reason="../shared/exports is absent")
def test_omop_tables_give_the_events_and_diagnoses_of_local_ingest(spark):
    from analytics.spark.engine import canonical_diagnoses, canonical_events
    from analytics.spark.omop import read_omop

    local = ingest(OMOP)
    data = read_omop(spark, str(OMOP))
    events = canonical_events(data.events.toPandas())
    pd.testing.assert_frame_equal(events, local.events.reset_index(drop=True))
    diagnoses = canonical_diagnoses(data.diagnoses.toPandas())
    pd.testing.assert_frame_equal(diagnoses, local.diagnoses.reset_index(drop=True))
    assert data.extract_date == local.extract_date
    assert data.population_source == local.population_source == "conditions"
    assert data.events_count == len(local.events)
    report = local.report
    assert data.report == {"files": [f.name for f in report.files],
                           "rows_read": report.rows_read, "rejected_rows": report.rejected,
                           "not_relevant_rows": report.not_relevant,
                           "duplicate_rows": report.duplicates,
                           "refused_columns": report.refused_columns}


def _write_omop(folder: Path) -> Path:
    """Hand-made OMOP tables: open orders (no end date among dated ones), refills, a death
    that closes an order and cuts a fill, a row starting after death, ages over 89,
    rejected rows (no person, an end before the start, a bad date), a duplicate, an
    unknown concept, a lumbar epidural (CPT) and a cervical facet injection."""
    folder.mkdir()
    (folder / "CONCEPT.csv").write_text(
        "concept_id,concept_name,concept_code,vocabulary_id\n"
        "1,Oxycodone Hydrochloride 5 MG Oral Tablet,1049621,RxNorm\n"
        "2,Cyclobenzaprine Hydrochloride 10 MG Oral Tablet,828320,RxNorm\n"
        "3,Injection(s) of diagnostic or therapeutic substance(s) interlaminar epidural "
        "lumbar or sacral,62323,CPT4\n"
        "4,Injection(s) paravertebral facet joint cervical or thoracic single level,64490,"
        "CPT4\n"
        "5,Physical therapy procedure,91251008,SNOMED\n"
        "6,Amoxicillin 500 MG Oral Capsule,308191,RxNorm\n"
        "7,Chronic low back pain,278860009,SNOMED\n"
        "8,Diazepam 5 MG Oral Tablet,197591,RxNorm\n")
    (folder / "PERSON.csv").write_text(
        "person_id,gender_concept_id,year_of_birth,gender_source_value\n"
        "1,8507,1950,M\n2,8532,1925,F\n3,8532,1980,F\n4,8507,,\n")
    (folder / "DEATH.csv").write_text(
        "person_id,death_date,death_type_concept_id\n2,2021-03-15,32817\n2,2021-06-01,32817\n"
        ",2021-01-01,32817\n3,not a date,32817\n")
    (folder / "CONDITION_OCCURRENCE.csv").write_text(
        "condition_occurrence_id,person_id,condition_concept_id,condition_start_date\n"
        "1,1,7,2020-12-20\n2,2,7,2020-11-01\n3,3,6,2021-01-01\n4,4,7,2021-05-01\n")
    (folder / "DRUG_EXPOSURE.csv").write_text(
        "drug_exposure_id,person_id,drug_concept_id,drug_exposure_start_date,"
        "drug_exposure_end_date,days_supply,quantity,refills,provider_id\n"
        "1,1,1,2021-01-05,2021-02-03,30,60,0,11\n"
        "2,1,1,2021-02-10,,30,60,2,11\n"
        "3,1,2,2021-01-05,2021-01-18,14,42,,12\n"
        "4,2,1,2021-01-01,,,90,1,11\n"
        "5,2,1,2021-03-01,2021-04-30,60,120,0,11\n"
        "6,2,1,2021-04-01,2021-04-15,15,30,0,11\n"
        "7,3,6,2021-01-02,2021-01-12,10,30,0,13\n"
        "8,,1,2021-01-02,2021-01-12,10,30,0,13\n"
        "9,3,1,2021-02-01,2021-01-12,10,30,0,13\n"
        "10,3,1,2021-02-30,,10,30,0,13\n"
        "11,4,8,2021-06-01,2021-06-30,30,30,0,14\n"
        "12,4,99,2021-06-01,2021-06-30,30,30,0,14\n"
        "13,4,1,2021-06-01,2021-06-30,0,30,0.5,14\n")
    (folder / "PROCEDURE_OCCURRENCE.csv").write_text(
        "procedure_occurrence_id,person_id,procedure_concept_id,procedure_date,quantity,"
        "provider_id\n"
        "1,1,3,2021-01-20,1,21\n2,1,3,2021-03-20,1,21\n3,1,4,2021-04-02,2,21\n"
        "4,4,5,2021-05-03,,22\n4,4,5,2021-05-03,,22\n")
    return folder


def test_hand_made_omop_tables_read_as_local_ingest_reads_them(spark, tmp_path):
    from analytics.spark.engine import canonical_diagnoses, canonical_events
    from analytics.spark.omop import read_omop

    folder = _write_omop(tmp_path / "omop")
    local = ingest(folder)
    data = read_omop(spark, str(folder))
    events = canonical_events(data.events.toPandas())
    pd.testing.assert_frame_equal(events, local.events.reset_index(drop=True))
    pd.testing.assert_frame_equal(canonical_diagnoses(data.diagnoses.toPandas()),
                                  local.diagnoses.reset_index(drop=True))
    assert data.report["rejected_rows"] == local.report.rejected == 5
    assert data.report["duplicate_rows"] == local.report.duplicates == 1
    assert data.report["not_relevant_rows"] == local.report.not_relevant
    assert data.extract_date == local.extract_date == pd.Timestamp("2021-06-01")
    # what the rules did, by hand: patient 2 died 2021-03-15 (the earlier of two dates)
    p2 = events[events["patient_id"] == "2"].set_index(events.index[events["patient_id"] == "2"])
    assert p2["death_year"].tolist() == [2021.0, 2021.0, 2021.0]
    # the open order (no end date, 1 refill: 2 dispenses) ends at death; the 60-day fill
    # from 2021-03-01 is cut at death; the fill starting after death is kept as exported
    assert p2["end_date"].tolist() == [pd.Timestamp("2021-03-15")] * 2 + [
        pd.Timestamp("2021-04-15")]
    assert p2["ends_at_death"].tolist() == [True, True, False]
    assert p2["open_order"].tolist() == [True, False, False]
    assert p2["dispenses"].tolist() == [2.0, 1.0, 1.0]
    assert set(p2["age"]) == {90.0} and p2["birth_year"].isna().all()  # born 1925
    regions = events.loc[events["technique"] == "injection", "region"].tolist()
    assert regions == ["lumbar_sacral", "lumbar_sacral", "cervical_thoracic"]


# ------------------------------------------------------------------ errors


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "analytics", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


def test_session_errors_are_one_line():
    from analytics.spark.session import SparkOptions, SparkUnavailable, check_master

    with pytest.raises(SparkUnavailable, match="not a Spark master"):
        check_master("lokal[2]")
    for good in ("local", "local[2]", "local[*]", "spark://host:7077", "spark://a:1,b:2",
                 "yarn", "k8s://https://host:443", "databricks"):
        check_master(good)
    assert SparkOptions().master == "local[2]"
