"""The store keeps each dataset's value map (schema version 3): saved by create / add /
replace, kept when a write gives none, deleted with the dataset; a version-2 store gains
the empty table."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from analytics.store import DB_FILENAME, SCHEMA_VERSION, Store
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


def test_a_version_2_store_gains_the_value_maps_table(tmp_path: Path) -> None:
    with Store(tmp_path) as st:
        did = st.create_dataset("X", full_frame(), {}, ["a.csv"])
    with duckdb.connect(str(tmp_path / DB_FILENAME)) as con:  # as schema 2 left it
        con.execute("DROP TABLE value_maps")
        con.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    with Store(tmp_path) as st:
        assert st.schema_version() == SCHEMA_VERSION == 3
        assert st.load_value_map(did).empty
        assert st.dataset_version(did) == 1
        pd.testing.assert_frame_equal(st.load_events(did), full_frame())
        st.add_to_dataset(did, full_frame(), {}, [], value_map=MAP)
        assert len(st.load_value_map(did)) == 2
