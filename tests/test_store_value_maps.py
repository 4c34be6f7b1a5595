"""The store keeps each dataset's value map (in the catalog since schema version 3, its rows
numbered since 4): saved by create / add / replace, kept when a write gives none, deleted
with the dataset; a version-2 store gains the empty table, a version-3 store (maps and rows
in the DuckDB file) keeps its maps in their order and its rows move to data files."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from analytics.store import DATA_DIRNAME, DB_FILENAME, SCHEMA_VERSION, Store
from tests.test_store import full_frame

MAP = pd.DataFrame({"kind": ["technique", "description"],
                    "value": ["Rückenschule", "Novaminsulfon 500 mg"],
                    "maps_to": ["physical_therapy", "not_relevant"]})


def test_value_map_is_saved_with_the_dataset(tmp_path: Path) -> None:
    with Store(tmp_path) as st:
        did = st.create_dataset("X", full_frame(), {}, ["a.csv"], value_map=MAP)
        pd.testing.assert_frame_equal(st.load_value_map(did), MAP.astype("string"))
        other = st.create_dataset("Y", full_frame(), {}, ["b.csv"])
        assert st.load_value_map(other).empty
        assert list(st.load_value_map(other).columns) == ["kind", "value", "maps_to"]


def test_add_and_replace_keep_or_replace_the_map(tmp_path: Path) -> None:
    with Store(tmp_path) as st:
        did = st.create_dataset("X", full_frame(), {}, ["a.csv"], value_map=MAP)
        st.add_to_dataset(did, full_frame(), {}, ["a.csv"])  # no map given: kept
        assert len(st.load_value_map(did)) == 2
        assert st.dataset_version(did) == 1  # the add inserted nothing: no new version
        bigger = pd.concat([MAP, pd.DataFrame({"kind": ["technique"], "value": ["PRT"],
                                               "maps_to": ["epidural_steroid"]})])
        st.add_to_dataset(did, full_frame(), {}, ["a.csv"], value_map=bigger)
        assert st.load_value_map(did)["value"].tolist() == [
            "Rückenschule", "Novaminsulfon 500 mg", "PRT"]
        st.replace_dataset(did, full_frame(), {}, ["b.csv"], value_map=MAP.iloc[:1])
        assert st.load_value_map(did)["value"].tolist() == ["Rückenschule"]
        st.replace_dataset(did, full_frame(), {}, ["b.csv"])
        assert st.load_value_map(did)["value"].tolist() == ["Rückenschule"]
    with Store(tmp_path) as st:  # persisted
        assert st.load_value_map(did)["maps_to"].tolist() == ["physical_therapy"]


def test_delete_removes_the_map(tmp_path: Path) -> None:
    with Store(tmp_path) as st:
        did = st.create_dataset("X", full_frame(), {}, ["a.csv"], value_map=MAP)
        st.delete_dataset(did)
        again = st.create_dataset("X", full_frame(), {}, ["a.csv"])
        assert st.load_value_map(again).empty
        with pytest.raises(KeyError):
            st.load_value_map(did)


def test_a_bad_map_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    with Store(tmp_path) as st:
        with pytest.raises(ValueError, match="lacks column"):
            st.create_dataset("X", full_frame(), {}, [], value_map=MAP.drop(columns="kind"))
        with pytest.raises(ValueError, match="empty kind, value or maps_to"):
            st.create_dataset("X", full_frame(), {}, [],
                              value_map=MAP.assign(maps_to=[None, "narcotic"]))
        assert st.list_datasets().empty


# The catalog as PainPath's store schema 2 and 3 left it: events and diagnoses in the DuckDB
# file; schema 3 added value_maps (no position: its rows in the order saved).
V2_DDL = """
CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL);
CREATE SEQUENCE dataset_id_seq START 1;
CREATE SEQUENCE upload_id_seq START 1;
CREATE TABLE datasets (
    dataset_id BIGINT PRIMARY KEY, name VARCHAR NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL, updated_at TIMESTAMP NOT NULL, version BIGINT NOT NULL,
    events BIGINT NOT NULL, patients BIGINT NOT NULL, source_files VARCHAR NOT NULL,
    extract_date DATE, population_source VARCHAR NOT NULL DEFAULT 'none'
);
CREATE TABLE events (
    dataset_id BIGINT NOT NULL,
    row_hash UBIGINT NOT NULL,
    "patient_id" VARCHAR NOT NULL,
    "event_date" DATE NOT NULL,
    "technique" ENUM('physical_therapy', 'muscle_relaxant', 'narcotic', 'injection', 'surgery',
                     'other') NOT NULL,
    "end_date" DATE,
    "days_supply" DOUBLE,
    "detail" VARCHAR,
    "code" VARCHAR,
    "quantity" DOUBLE,
    "strength" DOUBLE,
    "mme_per_day" DOUBLE,
    "injection_type" ENUM('epidural_steroid', 'facet', 'radiofrequency_ablation', 'sacroiliac',
                          'trigger_point', 'nerve_block', 'other'),
    "provider_id" VARCHAR,
    "site" VARCHAR,
    "sex" VARCHAR,
    "birth_year" DOUBLE,
    "age" DOUBLE,
    "diagnosis" VARCHAR,
    "pain_score" DOUBLE,
    "reason" VARCHAR,
    "region" ENUM('cervical_thoracic', 'lumbar_sacral'),
    "pharmacy_id" VARCHAR,
    "dispenses" DOUBLE,
    "drug_class" ENUM('opioid', 'muscle_relaxant', 'benzodiazepine', 'gabapentinoid', 'naloxone',
                      'oud_treatment'),
    "death_year" DOUBLE,
    "open_order" BOOLEAN NOT NULL,
    "ends_at_death" BOOLEAN NOT NULL
);
CREATE TABLE diagnoses (
    dataset_id BIGINT NOT NULL, patient_id VARCHAR NOT NULL, diagnosis_date DATE,
    code VARCHAR, description VARCHAR, kind VARCHAR NOT NULL
);
CREATE TABLE uploads (
    upload_id BIGINT PRIMARY KEY, dataset_id BIGINT NOT NULL, uploaded_at TIMESTAMP NOT NULL,
    action VARCHAR NOT NULL, source_files VARCHAR NOT NULL, rows_added BIGINT NOT NULL,
    report VARCHAR NOT NULL
);
INSERT INTO datasets VALUES
    (nextval('dataset_id_seq'), 'X', '2024-01-01 10:00:00', '2024-01-02 10:00:00', 3, 4, 3,
     '["a.csv"]', '2024-02-29', 'conditions'),
    (nextval('dataset_id_seq'), 'Y', '2024-02-01 10:00:00', '2024-02-01 10:00:00', 1, 4, 3,
     '["b.csv"]', '2024-02-29', 'none');
INSERT INTO uploads VALUES
    (nextval('upload_id_seq'), 1, '2024-01-01 10:00:00', 'create', '["a.csv"]', 4,
     '{"rows_read": 4}');
INSERT INTO diagnoses VALUES
    (1, 'P1', '2023-01-02', 'M54.50', NULL, 'spinal_pain'),
    (1, 'P2', '2022-12-31', NULL, 'Chronic pain (finding)', 'general_pain');
"""
V3_DDL = V2_DDL + """
CREATE TABLE value_maps (
    dataset_id BIGINT NOT NULL, kind VARCHAR NOT NULL, value VARCHAR NOT NULL,
    maps_to VARCHAR NOT NULL
);
INSERT INTO value_maps VALUES
    (2, 'technique', 'Rückenschule', 'physical_therapy'),
    (1, 'technique', 'PRT', 'epidural_steroid'),
    (1, 'description', 'Novaminsulfon 500 mg', 'not_relevant'),
    (2, 'technique', 'Massage', 'physical_therapy'),
    (1, 'technique', 'Rückenschule', 'physical_therapy');
"""


def old_store(folder: Path, version: int) -> pd.DataFrame:
    """A store of schema ``version`` (2 or 3) in ``folder`` holding datasets X and Y, each
    with the events of :func:`full_frame` (in the catalog); returns those events."""
    events = full_frame()
    with duckdb.connect(str(folder / DB_FILENAME)) as con:
        con.execute(V2_DDL if version == 2 else V3_DDL)
        con.execute("INSERT INTO meta VALUES ('schema_version', ?)", [str(version)])
        con.register("incoming", events)
        for dataset_id in (1, 2):
            con.execute(f"INSERT INTO events SELECT {dataset_id}, 0, * FROM incoming")
    return events


def catalog_tables(folder: Path) -> set[str]:
    with duckdb.connect(str(folder / DB_FILENAME), read_only=True) as con:
        return {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}


def test_a_version_2_store_gains_the_value_maps_table(tmp_path: Path) -> None:
    events = old_store(tmp_path, 2)
    with Store(tmp_path) as st:
        assert st.schema_version() == SCHEMA_VERSION == 4
        assert st.load_value_map(1).empty and st.load_value_map(2).empty
        assert st.dataset_version(1) == 3  # a migration is not a new version
        pd.testing.assert_frame_equal(st.load_events(1), events)
        pd.testing.assert_frame_equal(st.load_events(2), events)
        assert st.load_diagnoses(1)["patient_id"].tolist() == ["P1", "P2"]
        assert st.load_diagnoses(2).empty
        assert st.ingest_reports(1)[0]["report"] == {"rows_read": 4}
        st.add_to_dataset(1, full_frame(), {}, [], value_map=MAP)
        assert len(st.load_value_map(1)) == 2
        assert st.dataset_version(1) == 3  # the rows were there: only the map is new
    assert catalog_tables(tmp_path) == {"meta", "datasets", "uploads", "versions",
                                        "value_maps"}


def test_a_version_3_store_keeps_its_value_maps_in_order_and_moves_its_rows(
        tmp_path: Path) -> None:
    events = old_store(tmp_path, 3)
    with Store(tmp_path) as st:
        assert st.schema_version() == SCHEMA_VERSION == 4
        x, y = st.load_value_map(1), st.load_value_map(2)
        assert list(zip(x["kind"], x["value"], x["maps_to"], strict=True)) == [
            ("technique", "PRT", "epidural_steroid"),
            ("description", "Novaminsulfon 500 mg", "not_relevant"),
            ("technique", "Rückenschule", "physical_therapy")]
        assert y["value"].tolist() == ["Rückenschule", "Massage"]
        assert [st.dataset_version(d) for d in (1, 2)] == [3, 1]
        pd.testing.assert_frame_equal(st.load_events(1), events)
        assert len(st.load_diagnoses(1)) == 2
        # the maps go on as before: replaced by a write that gives one, kept otherwise
        st.replace_dataset(2, full_frame(), {}, ["c.csv"], value_map=MAP)
        assert st.load_value_map(2)["value"].tolist() == MAP["value"].tolist()
        st.delete_dataset(1)
        with pytest.raises(KeyError):
            st.load_value_map(1)
    assert catalog_tables(tmp_path) == {"meta", "datasets", "uploads", "versions",
                                        "value_maps"}
    assert len(list((tmp_path / DATA_DIRNAME).glob("*.parquet"))) >= 4
    with Store(tmp_path) as st:  # a second open finds version 4 and changes nothing
        assert st.schema_version() == SCHEMA_VERSION
        assert st.load_value_map(2)["maps_to"].tolist() == MAP["maps_to"].tolist()
        pd.testing.assert_frame_equal(st.load_events(2), full_frame())
