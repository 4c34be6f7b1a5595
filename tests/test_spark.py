"""The Spark engine (analytics.spark) gives what the local engine gives, field by field.

One SparkSession (``local[2]``) serves the whole module.  The module is skipped only when
Java is absent (it says why); ``make test`` installs pyspark, so a missing pyspark fails.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics import schema
from analytics.cli import main
from analytics.event_files import EventFolderWriter, read_event_folder
from analytics.ingest import IngestReport, IngestResult, ingest, ingest_exports
from analytics.ingest import diagnoses as diagnoses_table
from analytics.results.measures import PATIENT_TABLES
from analytics.spark.session import java_executable
from tests.treatment_patterns_cases import PARAMETERS, cli_arguments, treatment_patterns_cases

ROOT = Path(__file__).resolve().parents[1]
SMALL = ROOT / "tests" / "fixtures" / "small_clinic.csv"
SAMPLE = ROOT / "sample_data" / "painpath_sample.csv"
SPARK = ["--engine", "spark", "--spark-master", "local[2]", "--shuffle-partitions", "2"]
EXPORTS = ROOT.parent / "shared" / "exports"
OMOP = EXPORTS / "omop-synthea27nj"

pytestmark = [
    # pyspark 4.3's own notices about pandas 3 (its deprecated ``copy=`` calls, "not fully
    # supported"): the types PainPath sends are checked at the boundary below instead
    pytest.mark.filterwarnings(r"ignore::DeprecationWarning:pyspark\..*"),
    pytest.mark.filterwarnings(r"ignore::FutureWarning:pyspark\..*"),
]

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


def test_local_workers_run_this_interpreter(spark):
    """``local[N]``: PYSPARK_PYTHON is the interpreter running PainPath (the venv's), and
    the Python workers run it and import this project."""
    assert os.environ["PYSPARK_PYTHON"] == sys.executable

    def where(batches):
        import analytics

        for _ in batches:
            yield pd.DataFrame({"executable": [sys.executable], "prefix": [sys.prefix],
                                "analytics": [str(Path(analytics.__file__).parent)]})

    rows = (spark.range(2, numPartitions=2)
            .mapInPandas(where, "executable string, prefix string, analytics string")
            .distinct().collect())
    assert [tuple(r) for r in rows] == [(sys.executable, sys.prefix, str(ROOT / "analytics"))]



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


def _spark_summary(dataset, *options: str) -> dict:
    """The printed summary (without the report's header) of a Spark dataset, through the
    command line's own options and rendering."""
    from analytics.cli import COMMANDS, definitions_of, render_views
    from analytics.spark import run
    from analytics.spark.cli import analysis_of

    parser = argparse.ArgumentParser()
    COMMANDS["summary"][2](parser)  # the summary command's own options
    args = parser.parse_args([*options, *SPARK])
    views = run.summary_views(dataset, analysis_of(args, definitions_of(args)), args.min_cell,
                              args.shuffle_partitions)
    return json.loads(json.dumps(render_views(views)))


def _local_summary(inputs: list[str], *options: str) -> dict:
    code, out, err = _cli(["summary", *inputs, *options])
    assert code == 0, err
    return json.loads(out)


HAND_MADE_OMOP: dict[str, list[dict[str, str]]] = {
    "CONCEPT.csv": [
        {"concept_id": "900001", "concept_name": "Oxycodone Hydrochloride 5 MG Oral Tablet",
         "concept_code": "1049621", "vocabulary_id": "RxNorm"},
        {"concept_id": "900002",
         "concept_name": "Cyclobenzaprine Hydrochloride 10 MG Oral Tablet",
         "concept_code": "828320", "vocabulary_id": "RxNorm"},
        {"concept_id": "900003", "concept_name": "Injection(s) of diagnostic or therapeutic "
         "substance(s) interlaminar epidural lumbar or sacral", "concept_code": "62323",
         "vocabulary_id": "CPT4"},
        {"concept_id": "900004", "concept_name": "Injection(s) paravertebral facet joint "
         "cervical or thoracic single level", "concept_code": "64490", "vocabulary_id": "CPT4"},
        {"concept_id": "900005", "concept_name": "Physical therapy procedure",
         "concept_code": "91251008", "vocabulary_id": "SNOMED"},
        {"concept_id": "900006", "concept_name": "Amoxicillin 500 MG Oral Capsule",
         "concept_code": "308191", "vocabulary_id": "RxNorm"},
        {"concept_id": "900007", "concept_name": "Chronic low back pain",
         "concept_code": "278860009", "vocabulary_id": "SNOMED"},
        {"concept_id": "900008", "concept_name": "Diazepam 5 MG Oral Tablet",
         "concept_code": "197591", "vocabulary_id": "RxNorm"},
    ],
    "PERSON.csv": [
        {"person_id": "9001", "gender_concept_id": "8507", "year_of_birth": "1950",
         "gender_source_value": "M"},
        {"person_id": "9002", "gender_concept_id": "8532", "year_of_birth": "1925",
         "gender_source_value": "F"},
        {"person_id": "9003", "gender_concept_id": "8532", "year_of_birth": "1980",
         "gender_source_value": "F"},
        {"person_id": "9004", "gender_concept_id": "8507"},
    ],
    "DEATH.csv": [
        {"person_id": "9002", "death_date": "2021-03-15", "death_type_concept_id": "32817"},
        {"person_id": "9002", "death_date": "2021-06-01", "death_type_concept_id": "32817"},
        {"person_id": "", "death_date": "2021-01-01", "death_type_concept_id": "32817"},
        {"person_id": "9003", "death_date": "not a date", "death_type_concept_id": "32817"},
    ],
    "CONDITION_OCCURRENCE.csv": [
        {"condition_occurrence_id": str(900000 + i), "person_id": person,
         "condition_concept_id": concept, "condition_start_date": day}
        for i, (person, concept, day) in enumerate([
            ("9001", "900007", "2020-12-20"), ("9002", "900007", "2020-11-01"),
            ("9003", "900006", "2021-01-01"), ("9004", "900007", "2021-05-01")])
    ],
    "DRUG_EXPOSURE.csv": [
        dict(zip(("drug_exposure_id", "person_id", "drug_concept_id",
                  "drug_exposure_start_date", "drug_exposure_end_date", "days_supply",
                  "quantity", "refills", "provider_id", "visit_occurrence_id"), row,
                 strict=True))
        for row in [
            ("900001", "9001", "900001", "2021-01-05", "2021-02-03", "30", "60", "0", "11",
             "990001"),
            ("900002", "9001", "900001", "2021-02-10", "", "30", "60", "2", "11", ""),
            ("900003", "9001", "900002", "2021-01-05", "2021-01-18", "14", "42", "", "12",
             "990404"),
            ("900004", "9002", "900001", "2021-01-01", "", "", "90", "1", "11", ""),
            ("900005", "9002", "900001", "2021-03-01", "2021-04-30", "60", "120", "0", "11",
             "990002"),
            ("900006", "9002", "900001", "2021-04-01", "2021-04-15", "15", "30", "0", "",
             "990001"),
            ("900007", "9003", "900006", "2021-01-02", "2021-01-12", "10", "30", "0", "13", ""),
            ("900008", "", "900001", "2021-01-02", "2021-01-12", "10", "30", "0", "13", ""),
            ("900009", "9003", "900001", "2021-02-01", "2021-01-12", "10", "30", "0", "13", ""),
            ("900010", "9003", "900001", "2021-02-30", "", "10", "30", "0", "13", ""),
            ("900011", "9004", "900008", "2021-06-01", "2021-06-30", "30", "30", "0", "14", ""),
            ("900012", "9004", "999999", "2021-06-01", "2021-06-30", "30", "30", "0", "14", ""),
            ("900013", "9004", "900001", "2021-06-01", "2021-06-30", "0", "30", "0.5", "14",
             ""),
        ]
    ],
    "VISIT_OCCURRENCE.csv": [
        dict(zip(("visit_occurrence_id", "person_id", "visit_concept_id", "visit_start_date",
                  "provider_id", "care_site_id"), row, strict=True))
        for row in [
            ("990001", "9001", "9202", "2021-01-05", "31", "CS1"),
            ("990001", "9001", "9202", "2021-01-05", "32", "CS2"),
            ("", "9002", "9202", "2021-01-01", "33", "CS3"),
            ("990002", "9002", "9202", "2021-03-01", "", "CS4"),
            ("990001", "9001", "9202", "2021-01-05", "31", "CS1"),
        ]
    ],
    "PROCEDURE_OCCURRENCE.csv": [
        dict(zip(("procedure_occurrence_id", "person_id", "procedure_concept_id",
                  "procedure_date", "quantity", "provider_id"), row, strict=True))
        for row in [
            ("900001", "9001", "900003", "2021-01-20", "1", "21"),
            ("900002", "9001", "900003", "2021-03-20", "1", "21"),
            ("900003", "9001", "900004", "2021-04-02", "2", "21"),
            ("900004", "9004", "900005", "2021-05-03", "", "22"),
            ("900004", "9004", "900005", "2021-05-03", "", "22"),
        ]
    ],
}
"""Hand-made OMOP rows: visits giving a fill's missing provider and site (the first row
of a visit id; one without an id rejected, one duplicated, one id not found), open orders
(no end date among dated ones), refills, a death that closes an order and cuts a fill (the
earlier of two death dates), a row starting after death, an age over 89, rejected rows
(no person, an end before the start, an impossible date, a death without a person or a
readable date), a duplicate, an unknown concept, a lumbar epidural (CPT) and a cervical
facet injection."""


def _write_omop(folder: Path, export: Path | None) -> Path:
    """The hand-made OMOP rows, appended to a copy of ``export``'s tables when given (one
    Spark read then covers both), as CSV files in ``folder``."""
    folder.mkdir()
    names = set(HAND_MADE_OMOP) | ({p.name for p in export.glob("*.csv")} if export else set())
    for name in sorted(names):
        rows = HAND_MADE_OMOP.get(name, [])
        source = export / name if export else None
        if source is not None and source.exists():
            text = source.read_text(encoding="utf-8")
            header = next(csv.reader(io.StringIO(text)))
            out = io.StringIO()
            out.write(text if text.endswith("\n") else text + "\n")
        else:
            header = list(rows[0])
            out = io.StringIO()
            csv.writer(out, lineterminator="\n").writerow(header)
        writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n", restval="")
        writer.writerows(rows)
        (folder / name).write_text(out.getvalue(), encoding="utf-8")
    return folder


def test_omop_tables_give_the_events_diagnoses_and_summary_of_local_ingest(spark, tmp_path):
    """``--omop DIR`` (the shared OMOP export, when present, with the hand-made rows): the
    events, diagnoses, report and summary of local ingest, and the rules by hand."""
    from analytics.spark.engine import canonical_diagnoses, canonical_events
    from analytics.spark.run import open_dataset

    folder = _write_omop(tmp_path / "omop", OMOP if OMOP.is_dir() else None)
    local = ingest(folder)
    data = open_dataset(spark, [], str(folder))  # --omop DIR
    events = canonical_events(data.events.toPandas())
    pd.testing.assert_frame_equal(events, local.events.reset_index(drop=True))
    pd.testing.assert_frame_equal(canonical_diagnoses(data.diagnoses.toPandas()),
                                  local.diagnoses.reset_index(drop=True))
    assert data.extract_date == local.extract_date
    assert data.population_source == local.population_source == "conditions"
    assert data.events_count == len(local.events)
    report = local.report
    header = {"files": [f.name for f in report.files], "rows_read": report.rows_read,
              "rejected_rows": report.rejected, "not_relevant_rows": report.not_relevant,
              "duplicate_rows": report.duplicates, "refused_columns": report.refused_columns}
    assert data.report == header
    assert report.duplicates == 2
    # no person, end before start, 2021-02-30, two deaths, a visit without an id
    assert report.rejected == 6
    options = ("--min-cell", "0")
    expected = _local_summary(["--omop", str(folder)], *options)
    mine = _spark_summary(data, *options)
    _same({k: v for k, v in expected.items() if k in mine}, mine)
    assert expected.keys() - mine.keys() == {*header, "min_cell", "parameters"}
    # what the rules did, by hand: 9002 died 2021-03-15 (the earlier of two dates)
    p2 = events[events["patient_id"] == "9002"]
    assert p2["death_year"].tolist() == [2021.0, 2021.0, 2021.0]
    # the open order (no end date, 1 refill: 2 dispenses) ends at death; the 60-day fill
    # from 2021-03-01 is cut at death; the fill starting after death is kept as exported
    assert p2["end_date"].tolist() == [pd.Timestamp("2021-03-15")] * 2 + [
        pd.Timestamp("2021-04-15")]
    assert p2["ends_at_death"].tolist() == [True, True, False]
    assert p2["open_order"].tolist() == [True, False, False]
    assert p2["dispenses"].tolist() == [2.0, 1.0, 1.0]
    assert set(p2["age"]) == {90.0} and p2["birth_year"].isna().all()  # born 1925
    # visits: 990002 gives its site only; 990001 (its first row) a provider and a site
    assert p2["provider_id"].tolist() == ["11", "11", "31"]
    assert p2["site"].fillna("-").tolist() == ["-", "CS4", "CS1"]
    p1 = events[(events["patient_id"] == "9001") & events["drug_class"].notna()]
    assert p1["site"].fillna("-").tolist()[:3] == ["CS1", "-", "-"]
    mine_injections = events[events["patient_id"].isin(["9001", "9004"])
                             & (events["technique"] == "injection")]
    assert mine_injections["region"].tolist() == ["lumbar_sacral", "lumbar_sacral",
                                                  "cervical_thoracic"]



# ------------------------------------------------------------------ errors


def test_session_errors_are_one_line():
    from analytics.spark.session import SparkOptions, SparkUnavailable, check_master

    with pytest.raises(SparkUnavailable, match="not a Spark master"):
        check_master("lokal[2]")
    for good in ("local", "local[2]", "local[*]", "spark://host:7077", "spark://a:1,b:2",
                 "yarn", "k8s://https://host:443", "databricks"):
        check_master(good)
    assert SparkOptions().master == "local[2]"


def test_only_local_masters_choose_the_workers_python(monkeypatch):
    """A cluster's workers keep the Python the cluster names; a local master's run this
    interpreter whatever PYSPARK_PYTHON said."""
    from analytics.spark import session

    for name in ("PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON", "PYTHONPATH", "SPARK_CONF_DIR"):
        monkeypatch.setenv(name, os.environ.get(name, ""))
    monkeypatch.setenv("PYSPARK_PYTHON", "/opt/cluster/python3")
    for master in ("spark://head:7077", "yarn", "k8s://https://host:443"):
        assert not session.is_local(master)
        session._worker_environment(master)
        assert os.environ["PYSPARK_PYTHON"] == "/opt/cluster/python3"
    for master in ("local", "local[2]", "local[*]", "local[2,3]"):
        assert session.is_local(master)
        monkeypatch.setenv("PYSPARK_PYTHON", "/opt/cluster/python3")
        session._worker_environment(master)
        assert os.environ["PYSPARK_PYTHON"] == sys.executable
    assert str(ROOT) in os.environ["PYTHONPATH"].split(os.pathsep)


# ------------------------------------------------------------------ both engines, compared


def _cli(argv: list[str]) -> tuple[int, bytes, str]:
    """``python -m analytics …`` in this process (the Spark engine reuses the test
    session): (exit status, stdout bytes, stderr text)."""
    out, err = io.BytesIO(), io.StringIO()
    text = io.TextIOWrapper(out, encoding="utf-8", write_through=True)
    with contextlib.redirect_stdout(text), contextlib.redirect_stderr(err):
        code = main(argv)
        text.flush()
    return code, out.getvalue(), err.getvalue()


def _same(local: object, spark: object, where: str = "") -> None:
    """Equal field by field: floats within 1e-9 relative, everything else exactly."""
    if isinstance(local, dict):
        assert isinstance(spark, dict) and local.keys() == spark.keys(), where
        for key in local:
            _same(local[key], spark[key], f"{where}.{key}")
    elif isinstance(local, list):
        assert isinstance(spark, list) and len(local) == len(spark), where
        for i, (a, b) in enumerate(zip(local, spark, strict=True)):
            _same(a, b, f"{where}[{i}]")
    elif isinstance(local, float) and not isinstance(spark, str):
        assert isinstance(spark, float | int), where
        assert (math.isnan(local) and math.isnan(spark)) or math.isclose(
            local, spark, rel_tol=1e-9, abs_tol=0.0), (where, local, spark)
    else:
        assert type(local) is type(spark) and local == spark, (where, local, spark)


def summaries_agree(inputs: list[str], *options: str, spark_inputs: list[str] | None = None):
    """Run ``summary`` with both engines; assert they print the same JSON, field by field;
    return it."""
    code, local, err = _cli(["summary", *inputs, *options])
    assert code == 0, err
    code, spark, err = _cli(["summary", *(spark_inputs or inputs), *options, *SPARK])
    assert code == 0, err
    local_json, spark_json = json.loads(local), json.loads(spark)
    _same(local_json, spark_json)
    return local_json


def tables_agree(name: str, inputs: list[str], *options: str) -> pd.DataFrame:
    """Run ``table NAME`` with both engines; assert the CSVs agree cell by cell (floats
    within 1e-9 relative, every other cell as text); return the table (as text)."""
    code, local, err = _cli(["table", name, *inputs, *options])
    assert code == 0, err
    code, spark, err = _cli(["table", name, *inputs, *options, *SPARK])
    assert code == 0, err
    a = pd.read_csv(io.BytesIO(local), dtype=str, keep_default_na=False)
    b = pd.read_csv(io.BytesIO(spark), dtype=str, keep_default_na=False)
    assert list(a.columns) == list(b.columns) and len(a) == len(b)
    for column in a.columns:
        x, y = a[column], b[column]
        numbers = pd.to_numeric(x, errors="coerce")
        floats = numbers.notna() & x.str.contains(r"[.eE]", regex=True)
        assert (x[~floats] == y[~floats]).all(), (name, column)
        if floats.any():
            np.testing.assert_allclose(pd.to_numeric(y[floats]).to_numpy(),
                                       numbers[floats].to_numpy(), rtol=1e-9, atol=0)
    return a


@pytest.fixture(scope="module")
def sample_folder(tmp_path_factory) -> str:
    return str(_folder(SAMPLE, tmp_path_factory.mktemp("sample") / "events"))


def test_sample_summary_agrees_and_is_the_ingest_summary(spark, sample_folder):
    out = summaries_agree([sample_folder])
    # the folder gives what ingesting the export gives
    code, direct, err = _cli(["summary", str(SAMPLE)])
    assert code == 0, err
    assert json.loads(direct) == out
    assert out["narcotics"]["courses"] > 100 and out["population"]["patients_left_out"] > 0


def test_sample_summary_with_every_option(spark, sample_folder):
    out = summaries_agree([sample_folder], "--population", "all", "--pathway-mode", "eras",
                          "--extract-date", "2025-12-31", "--era-gap-days", "14",
                          "--course-gap-days", "7", "--min-cell", "0", "--max-steps", "3",
                          "--strata", "age,sex,index_year")
    assert out["extract_date"] == "2025-12-31" and out["population"]["patients_left_out"] == 0
    assert list(out["strata"]) == ["age", "sex", "index_year"]
    assert out["outcomes"]["patients"] > 1000 and len(out["strata"]["sex"]["strata"]) >= 2
    # an extract date inside the data: courses ongoing on it, fills after it
    courses = tables_agree("courses", [sample_folder], "--extract-date", "2024-12-31",
                           "--course-gap-days", "7")
    assert (courses["ended_by"] == "extract").sum() > 10


@pytest.mark.parametrize("name", PATIENT_TABLES)
def test_sample_tables_agree(spark, sample_folder, name):
    assert len(tables_agree(name, [sample_folder], "--pathway-mode", "eras")) > 100


# ------------------------------------------------------------------ edge-case fixtures

CLINIC = """\
patient_id,event_date,technique,end_date,days_supply,detail,code,quantity,injection_type,\
provider_id,diagnosis,region,dispenses,death_date
pA,2020-01-01,narcotic,,30,Oxycodone Hydrochloride 5 MG Oral Tablet,1049621,60,,DR1,M54.50,,3,\
2020-03-15
pA,2020-01-10,narcotic,2020-02-08,30,Oxycodone Hydrochloride 10 MG Oral Tablet,1049621,60,,DR1,\
M54.50,,,2020-03-15
pA,2020-02-20,muscle_relaxant,2020-04-30,,Cyclobenzaprine Hydrochloride 10 MG Oral Tablet,\
828320,30,,DR1,M54.50,,,2020-03-15
pA,2020-05-01,narcotic,2020-05-10,10,Tramadol Hydrochloride 50 MG Oral Tablet,835603,40,,DR1,\
M54.50,,,2020-03-15
pB,2020-01-05,injection,,,Lumbar epidural steroid injection,62323,,epidural_steroid,DR2,M51.26,,,
pB,2020-03-05,injection,,,Lumbar epidural steroid injection,62323,,epidural_steroid,DR2,M51.26,,,
pB,2020-05-05,injection,,,Lumbar epidural steroid injection,62323,,epidural_steroid,DR2,M51.26,,,
pB,2020-07-05,injection,,,Lumbar epidural steroid injection,62323,,epidural_steroid,DR2,M51.26,,,
pB,2020-09-05,injection,,,Lumbar epidural steroid injection,62323,,epidural_steroid,DR2,M51.26,,,
pB,2020-09-12,injection,,,Cervical facet joint injection,64490,,facet,DR2,M54.2,,,
pB,2020-09-12,injection,,,Trigger point injection,20552,,trigger_point,DR3,M54.2,lumbar,,
pB,2020-09-20,injection,,,Trigger point injection,20552,,trigger_point,DR3,M54.2,,,
pB,2020-02-01,physical_therapy,,,Therapeutic exercise,97110,,,DR2,M51.26,,,
pC,2020-03-01,physical_therapy,,,Therapeutic exercise,97110,,,DR4,M54.50,,,
pC,2020-03-01,physical_therapy,,,Therapeutic exercise,97110,,,DR4,M54.50,,,
pC,2020-04-01,narcotic,,14,Hydrocodone Bitartrate 5 MG / Acetaminophen 325 MG Oral Tablet,\
857005,56,,DR4,M54.50,,,
pC,2020-04-01,muscle_relaxant,2020-04-14,14,Methocarbamol 500 MG Oral Tablet,197943,56,,DR4,\
M54.50,,,
pC,2020-08-01,surgery,,,Lumbar laminectomy,63047,,,DR5,M54.50,,,
pD,2020-02-01,narcotic,2020-03-01,30,Oxycodone Hydrochloride 5 MG Oral Tablet,1049621,120,,DR1,\
S93.401A,,,
pD,2020-06-01,physical_therapy,,,Therapeutic exercise,97110,,,DR1,S93.401A,,,
pE,2020-06-01,narcotic,2021-06-30,,Morphine Sulfate 15 MG Extended Release Oral Tablet,891881,60,,\
DR6,M54.16,,,
pE,2020-06-15,other,2020-07-15,30,Diazepam 5 MG Oral Tablet,197591,30,,DR6,M54.16,,,
pE,2020-09-30,physical_therapy,,,Therapeutic exercise,97110,,,DR6,M54.16,,,
,2020-01-01,narcotic,,30,Oxycodone Hydrochloride 5 MG Oral Tablet,1049621,60,,DR1,M54.50,,,
"""
"""A clinic's export: open orders (one closed by its 3 dispenses, one by death), a death
that cuts a fill and a relaxant, a row after death, injections over the lumbar epidural
limit, a cervical facet, a trigger point by its region column and one without a region,
same-day duplicates, a patient without a back-pain code (pD), a course running past the
extract date (pE), a benzodiazepine kept only for its drug class, a row without a
patient."""

TREATMENTS = """\
patient_id,event_date,technique,end_date,days_supply,detail,quantity,provider_id
qA,2019-01-01,narcotic,2019-01-30,30,Oxycodone Hydrochloride 5 MG Oral Tablet,60,DR1
qA,2020-02-05,physical_therapy,,,Therapeutic exercise,,DR1
qA,2020-03-10,narcotic,,30,Oxycodone Hydrochloride 5 MG Oral Tablet,60,DR1
qA,2020-04-01,injection,,,Lumbar epidural steroid injection,,DR2
qB,2020-01-01,narcotic,2020-01-30,30,Tramadol Hydrochloride 50 MG Oral Tablet,120,DR3
qC,2020-02-01,physical_therapy,,,Therapeutic exercise,,DR3
qC,2020-02-15,narcotic,2020-03-15,30,Oxycodone Hydrochloride 5 MG Oral Tablet,90,DR3
"""
DIAGNOSES = """\
patient_id,diagnosis_date,diagnosis
qA,2020-03-01,M54.50
qA,2020-05-01,M54.2
qB,2020-06-01,M51.26
qC,2020-01-10,S93.401A
"""
"""An EHR-wide export (a diagnoses table): qA's 2019 fill falls before the lookback, qB's
events all start before it (left out), qC has no back-pain diagnosis (left out)."""


@pytest.fixture(scope="module")
def clinic_folder(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("clinic")
    (root / "clinic.csv").write_text(CLINIC)
    return str(_folder(root / "clinic.csv", root / "events"))


@pytest.fixture(scope="module")
def ehr_folder(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("ehr")
    (root / "export").mkdir()
    (root / "export" / "treatments.csv").write_text(TREATMENTS)
    (root / "export" / "diagnoses.csv").write_text(DIAGNOSES)
    return str(_folder(root / "export", root / "events"))


def test_clinic_edge_cases_agree(spark, clinic_folder):
    out = summaries_agree([clinic_folder], "--min-cell", "0")
    # pD (an ankle sprain, no back-pain code) is left out; pA's open order ends at death
    assert out["population"]["patients_kept"] == 4
    assert out["injections"]["patients_over_limit"] == 1  # 5 lumbar epidurals in 365 days
    assert out["narcotics"]["courses_ended_by_death"] == 1
    assert out["narcotics"]["ongoing_courses"] == 1  # pE's morphine runs past 2020-09-30
    for name in PATIENT_TABLES:
        assert len(tables_agree(name, [clinic_folder])) >= 1


def test_ehr_population_and_lookback_agree(spark, ehr_folder):
    out = summaries_agree([ehr_folder], "--min-cell", "0", "--strata", "index_year")
    assert (out["population"]["patients_kept"], out["population"]["patients_left_out"]) == (1, 2)
    assert out["events"] == 3  # qA's 2019 fill is before 2020-03-01 - 30 days
    out = summaries_agree([ehr_folder], "--min-cell", "0", "--lookback-days", "500")
    # qA's four events from 2018-10-18 on, and qB's fill (from 2019-01-19 on)
    assert out["events"] == 5 and out["population"]["patients_kept"] == 2
    assert len(tables_agree("steps", [ehr_folder])) == 3


PHARMACIES = """\
patient_id,event_date,technique,days_supply,detail,code,quantity,diagnosis,pharmacy_id
x1,2021-03-01,narcotic,30,Oxycodone Hydrochloride 5 MG Oral Tablet,1049621,60,M54.50,
x1,2021-04-01,physical_therapy,,Therapeutic exercise,97110,,M54.50,
y1,2020-01-01,narcotic,30,Oxycodone Hydrochloride 5 MG Oral Tablet,1049621,60,S93.401A,PH1
"""
"""x1 has a back-pain code and no pharmacy; y1 (an ankle sprain) starts the data, with a
pharmacy."""


def _local_facts(folder: str, population: str, lookback: int):
    """The dataset facts as the local engine takes them: the data start and the pharmacy
    data of every accepted event (``PopulationMeasures.dataset_context``), whether the
    population has index dates."""
    from analytics.population import apply_population
    from analytics.results.measures import DatasetFacts

    ingested = read_event_folder(folder).ingest_result()
    pop = apply_population(ingested.events, ingested.diagnoses, ingested.population_source,
                           population, lookback)
    accepted = ingested.events
    start = accepted["event_date"].min()
    pharmacy = (accepted["technique"] == "narcotic") & accepted["pharmacy_id"].notna()
    return DatasetFacts(None if pd.isna(start) else pd.Timestamp(start), bool(pharmacy.any()),
                        len(pop.index_date) > 0)


def test_dataset_facts_are_those_of_the_local_population(spark, ehr_folder, tmp_path):
    """The dataset's earliest event and pharmacy ids and the population's index dates,
    computed in Spark, are the local engine's: by hand for a clinic export (y1, outside
    the back-pain population, still starts the data and records a pharmacy), and for an
    EHR-wide export with its lookback."""
    from analytics.spark import engine
    from analytics.spark.dataset import read_event_folder as spark_folder
    from analytics.spark.engine import Analysis

    (tmp_path / "pharmacies.csv").write_text(PHARMACIES)
    clinic = str(_folder(tmp_path / "pharmacies.csv", tmp_path / "events"))
    cases = [(clinic, "back_pain", 30, (pd.Timestamp("2020-01-01"), True, True)),
             (clinic, "all", 30, (pd.Timestamp("2020-01-01"), True, True)),
             (ehr_folder, "back_pain", 30, None), (ehr_folder, "back_pain", 500, None),
             (ehr_folder, "all", 30, None)]
    for folder, population, lookback, by_hand in cases:
        data = spark_folder(spark, folder)
        spec = engine.bucket_spec(data, Analysis(population=population,
                                                 lookback_days=lookback))
        facts = engine.dataset_facts(data, spec)
        assert facts == _local_facts(folder, population, lookback), (folder, population)
        if by_hand is not None:
            assert (facts.data_start, facts.has_pharmacy, facts.has_index_dates) == by_hand


def _cases_folder(cases, out: Path) -> Path:
    """One event folder holding several cases, each case's patients renamed apart."""
    frames = []
    for i, case in enumerate(cases):
        events = case.events.copy()
        events["patient_id"] = f"case{i}-" + events["patient_id"].astype(str)
        frames.append(events)
    events = schema.conform(pd.concat(frames, ignore_index=True))
    writer = EventFolderWriter(out, buckets=4)
    writer.add(IngestResult(events=events, report=IngestReport(), rejected=pd.DataFrame(),
                            diagnoses=diagnoses_table.empty(),
                            extract_date=events["event_date"].max(),
                            population_source="none"))
    writer.close()
    return out


def test_treatment_patterns_cases_agree(spark, tmp_path):
    """Every TreatmentPatterns case, the cases of one parameter set in one folder: the same
    pathway steps and summary from both engines, and TreatmentPatterns' own paths."""
    groups: dict[tuple, list] = {}
    for case in treatment_patterns_cases():
        groups.setdefault(tuple(case.parameters[p] for p in PARAMETERS), []).append(case)
    for g, cases in enumerate(groups.values()):
        folder = str(_cases_folder(cases, tmp_path / f"group{g}"))
        options = cli_arguments(cases[0].parameters)
        summaries_agree([folder], *options)
        at = options.index("--min-cell")
        steps = tables_agree("steps", [folder], *options[:at], *options[at + 2:])
        for i, case in enumerate(cases):
            mine = steps[steps["patient_id"].str.startswith(f"case{i}-")]
            assert mine["label"].tolist() == case.expected, case.name


# ------------------------------------------------------------------ random datasets

_TECHNIQUE_ROWS = (
    ("physical_therapy", "Therapeutic exercise", "97110"),
    ("narcotic", "Oxycodone Hydrochloride 5 MG Oral Tablet", "1049621"),
    ("narcotic", "Tramadol Hydrochloride 50 MG Oral Tablet", "835603"),
    ("muscle_relaxant", "Cyclobenzaprine Hydrochloride 10 MG Oral Tablet", "828320"),
    ("injection", "Lumbar epidural steroid injection", "62323"),
    ("injection", "Cervical facet joint injection", "64490"),
    ("injection", "Trigger point injection", "20552"),
    ("surgery", "Lumbar laminectomy", "63047"),
    ("other", "Diazepam 5 MG Oral Tablet", "197591"),
)
_rows = st.lists(
    st.tuples(st.integers(0, 7), st.integers(0, 500), st.sampled_from(_TECHNIQUE_ROWS),
              st.one_of(st.none(), st.integers(0, 120)), st.sampled_from(["", "7", "30", "90"]),
              st.sampled_from(["", "1", "3"]), st.sampled_from(["M54.50", "S93.401A", ""]),
              st.sampled_from(["", "lumbar", "cervical"]), st.sampled_from(["", "2020-09-01"])),
    min_size=1, max_size=40)


def _random_export(rows) -> str:
    lines = ["patient_id,event_date,technique,end_date,days_supply,detail,code,quantity,"
             "dispenses,diagnosis,region,provider_id,death_date"]
    start = pd.Timestamp("2020-01-01")
    for pid, day, (technique, detail, code), length, supply, dispenses, dx, region, death in rows:
        date = start + pd.Timedelta(days=day)
        end = "" if length is None else (date + pd.Timedelta(days=length)).date().isoformat()
        death = death if pid % 3 == 0 else ""
        lines.append(f"p{pid},{date.date().isoformat()},{technique},{end},{supply},{detail},"
                     f"{code},30,{dispenses},{dx},{region},DR{pid % 2},{death}")
    return "\n".join(lines) + "\n"


@settings(max_examples=4, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(rows=_rows, table=st.sampled_from(PATIENT_TABLES),
       mode=st.sampled_from(["first", "eras"]))
def test_random_datasets_agree(spark, rows, table, mode):
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "export.csv").write_text(_random_export(rows))
        folder = str(_folder(Path(tmp) / "export.csv", Path(tmp) / "events"))
        summaries_agree([folder], "--min-cell", "0", "--pathway-mode", mode)
        tables_agree(table, [folder], "--pathway-mode", mode)


# ------------------------------------------------------------------ errors on the command line


def test_bad_master_and_bad_input_are_one_line_errors(spark, sample_folder, tmp_path):
    code, _, err = _cli(["summary", sample_folder, "--engine", "spark", "--spark-master",
                         "lokal[2]"])
    assert code == 2 and err.startswith("error: --spark-master 'lokal[2]' is not a Spark master")
    assert err.count("\n") == 1
    code, _, err = _cli(["summary", str(SMALL), *SPARK])
    assert code == 2 and "reads an event folder" in err and err.count("\n") == 1
    code, _, err = _cli(["table", "steps", "--omop", str(tmp_path / "nowhere"), *SPARK])
    assert code == 2 and "--omop" in err and err.count("\n") == 1


def test_missing_java_and_pyspark_are_one_line_errors(tmp_path, sample_folder):
    no_java = {"PATH": str(tmp_path), "JAVA_HOME": str(tmp_path / "none")}
    proc = subprocess.run([sys.executable, "-m", "analytics", "summary", sample_folder,
                           "--engine", "spark"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={**os.environ, **no_java})
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("error: Java is not installed") and proc.stderr.count("\n") == 1
    blocked = ("import sys; sys.modules['pyspark'] = None; from analytics.cli import main; "
               f"sys.exit(main(['summary', {sample_folder!r}, '--engine', 'spark']))")
    proc = subprocess.run([sys.executable, "-c", blocked], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 2
    assert proc.stderr == "error: pyspark is not installed: pip install -r requirements-spark.txt\n"
