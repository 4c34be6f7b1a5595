"""Tests of the DuckDB dataset store (analytics/store.py)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from analytics import schema, settings
from analytics.store import (
    DB_FILENAME,
    SAMPLE_DATASET_NAME,
    SCHEMA_VERSION,
    Store,
    resolve_data_dir,
)

NA = pd.NA
NaT = pd.NaT
nan = np.nan


def frame(rows: list[dict]) -> pd.DataFrame:
    raw = pd.DataFrame(rows)
    text = [c for c in schema.STRING_COLUMNS if c in raw.columns]
    # text as pandas "string" (pd.NA for missing), as the schema docstring states
    return schema.conform(raw.astype({c: pd.StringDtype() for c in text}))


def full_frame() -> pd.DataFrame:
    """Four events using every canonical column, with NaN / NaT / NA in places."""
    return frame(
        [
            {
                "patient_id": "P1", "event_date": "2023-01-02", "technique": "narcotic",
                "end_date": "2023-01-08", "days_supply": 7.0,
                "detail": "Tramadol Hydrochloride 50 MG Oral Tablet", "code": "835603",
                "quantity": 28.0, "strength": 50.0, "mme_per_day": 40.0,
                "injection_type": None, "provider_id": "DR01", "site": "North Clinic",
                "sex": "F", "birth_year": 1960.0, "age": 62.0, "diagnosis": "M54.50",
                "pain_score": nan, "open_order": False,
            },
            {
                "patient_id": "P1", "event_date": "2023-02-10", "technique": "injection",
                "end_date": None, "days_supply": nan, "detail": None, "code": "64483",
                "quantity": nan, "strength": nan, "mme_per_day": nan,
                "injection_type": "epidural_steroid", "provider_id": "DR01", "site": None,
                "sex": "F", "birth_year": 1960.0, "age": 63.0, "diagnosis": "M54.16",
                "pain_score": 7.0, "open_order": False,
            },
            {
                "patient_id": "P2", "event_date": "2022-12-31", "technique": "muscle_relaxant",
                "end_date": None, "days_supply": 10.0, "detail": "Baclofen 10 MG Oral Tablet",
                "code": None, "quantity": 30.0, "strength": 10.0, "mme_per_day": nan,
                "injection_type": None, "provider_id": None, "site": "South Clinic",
                "sex": None, "birth_year": nan, "age": 90.0, "diagnosis": None,
                "pain_score": 0.0, "open_order": True,
            },
            {
                "patient_id": "P3", "event_date": "2024-02-29", "technique": "other",
                "end_date": None, "days_supply": nan, "detail": "", "code": "",
                "quantity": nan, "strength": nan, "mme_per_day": nan,
                "injection_type": "other", "provider_id": "DR08", "site": "North Clinic",
                "sex": "M", "birth_year": 1934.0, "age": 90.0, "diagnosis": "M96.1",
                "pain_score": 10.0, "open_order": False,
            },
        ]
    )


def simple(rows: list[tuple]) -> pd.DataFrame:
    """Events from (patient_id, event_date, technique, days_supply, pain_score)."""
    return frame(
        [
            {"patient_id": p, "event_date": d, "technique": t, "days_supply": ds,
             "pain_score": ps}
            for p, d, t, ds, ps in rows
        ]
    )


A = ("P1", "2023-01-01", "physical_therapy", nan, 5.0)
B = ("P1", "2023-01-03", "physical_therapy", nan, 4.0)
C = ("P2", "2023-01-05", "narcotic", 7.0, nan)


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path / "d") as st:
        yield st


def state(st: Store, dataset_id: int) -> tuple:
    meta = st.get_dataset(dataset_id)
    return (
        meta["version"], meta["events"], meta["patients"], meta["updated_at"],
        tuple(meta["source_files"]), len(st.ingest_reports(dataset_id)),
        st.load_events(dataset_id).to_csv(index=False),
    )


def test_round_trip_preserves_every_column_and_dtype(store: Store) -> None:
    events = full_frame()
    did = store.create_dataset("Clinic A", events, {"rows_read": 4}, ["a.csv"])
    loaded = store.load_events(did)
    assert list(loaded.columns) == list(schema.CANONICAL_COLUMNS)
    pd.testing.assert_frame_equal(loaded, events.reset_index(drop=True))
    assert loaded["event_date"].dtype == "datetime64[s]"
    assert loaded["patient_id"].dtype == "string"
    assert pd.isna(loaded.loc[1, "detail"]) and loaded.loc[3, "detail"] == ""
    assert pd.isna(loaded.loc[1, "end_date"])
    assert loaded["open_order"].tolist() == [False, False, True, False]


def test_round_trip_of_the_generated_sample(store: Store) -> None:
    from sample_data.generate import BAD_DATE, generate_events

    raw = generate_events(200)
    raw = raw[raw["patient_id"].notna() & (raw["event_date"] != BAD_DATE)]
    raw = raw[raw["technique"] != "unknown"]
    events = schema.conform(
        raw.assign(
            event_date=pd.to_datetime(raw["event_date"].astype(str)),
            end_date=pd.to_datetime(raw["end_date"].astype(str)),
            **{c: raw[c].astype("string") for c in ("patient_id", "detail", "code", "sex",
                                                     "provider_id", "site", "diagnosis")},
        )
    ).reset_index(drop=True)
    did = store.create_dataset("Sample", events, {}, ["s.csv"])
    pd.testing.assert_frame_equal(store.load_events(did), events)


def test_list_and_get_dataset(store: Store) -> None:
    assert list(store.list_datasets().columns) == [
        "dataset_id", "name", "created_at", "updated_at", "source_files", "events",
        "patients", "version", "extract_date", "population_source",
    ]
    assert store.list_datasets().empty
    did = store.create_dataset("Clinic A", full_frame(), {}, ["a.csv", "b.csv"])
    listed = store.list_datasets()
    assert listed["name"].tolist() == ["Clinic A"]
    assert listed["source_files"].tolist() == ["a.csv; b.csv"]
    assert listed["events"].tolist() == [4]
    assert listed["patients"].tolist() == [3]
    assert listed["version"].tolist() == [1]
    # no extract date given: the latest event_date (2024-02-29); no diagnoses: source "none"
    assert listed["extract_date"].tolist() == [pd.Timestamp("2024-02-29")]
    assert listed["extract_date"].dtype == "datetime64[s]"
    assert listed["population_source"].tolist() == ["none"]
    meta = store.get_dataset(did)
    assert meta["source_files"] == ["a.csv", "b.csv"]
    assert meta["extract_date"] == pd.Timestamp("2024-02-29")
    assert meta["population_source"] == "none"
    assert meta["created_at"] == meta["updated_at"]
    assert store.find_dataset("Clinic A") == did
    assert store.find_dataset("nope") is None
    with pytest.raises(KeyError):
        store.get_dataset(did + 100)


def test_add_same_rows_twice_changes_nothing(store: Store) -> None:
    did = store.create_dataset("X", simple([A, B]), {"n": 1}, ["jan.csv"])
    assert store.add_to_dataset(did, simple([C]), {"n": 2}, ["feb.csv"]) == 1
    before = store.get_dataset(did)
    assert before["version"] == 2 and before["events"] == 3 and before["patients"] == 2
    loaded = store.load_events(did)

    assert store.add_to_dataset(did, simple([C]), {"n": 3}, ["feb-again.csv"]) == 0
    assert store.add_to_dataset(did, simple([A, B, C]), {"n": 4}, ["all.csv"]) == 0
    after = store.get_dataset(did)
    assert after == before  # version, counts, file list, updated_at unchanged
    pd.testing.assert_frame_equal(store.load_events(did), loaded)
    reports = store.ingest_reports(did)
    assert [r["action"] for r in reports] == ["create", "add", "add", "add"]
    assert [r["rows_added"] for r in reports] == [2, 1, 0, 0]
    assert [r["report"] for r in reports] == [{"n": 1}, {"n": 2}, {"n": 3}, {"n": 4}]
    assert reports[3]["source_files"] == ["all.csv"]


def test_add_partially_overlapping_rows_is_null_safe(store: Store) -> None:
    did = store.create_dataset("X", simple([A, B, C]), {}, ["one.csv"])
    a_no_pain = ("P1", "2023-01-01", "physical_therapy", nan, nan)  # differs from A by a NULL
    c_other_supply = ("P2", "2023-01-05", "narcotic", 8.0, nan)  # differs from C
    d_new = ("P3", "2023-01-05", "narcotic", 7.0, nan)
    # B and C are already stored; three rows are new
    added = store.add_to_dataset(
        did, simple([B, C, a_no_pain, c_other_supply, d_new]), {}, ["two.csv"]
    )
    assert added == 3
    meta = store.get_dataset(did)
    assert meta["events"] == 6 and meta["patients"] == 3 and meta["version"] == 2
    assert meta["source_files"] == ["one.csv", "two.csv"]
    # NULL pain score stored as NULL and matched as equal on the next upload
    assert store.add_to_dataset(did, simple([a_no_pain, d_new]), {}, ["two.csv"]) == 0
    loaded = store.load_events(did)
    assert loaded["pain_score"].isna().sum() == 4  # C, a_no_pain, c_other_supply, d_new


def test_rows_repeated_within_one_frame_are_kept_and_idempotent(store: Store) -> None:
    did = store.create_dataset("X", simple([A]), {}, [])
    assert store.add_to_dataset(did, simple([C, C]), {}, []) == 2
    assert store.add_to_dataset(did, simple([C, C]), {}, []) == 0
    assert store.get_dataset(did)["events"] == 3


def test_datasets_are_independent(store: Store) -> None:
    one = store.create_dataset("one", simple([A]), {}, [])
    two = store.create_dataset("two", simple([B]), {}, [])
    assert store.add_to_dataset(two, simple([A]), {}, []) == 1  # A is only in "one"
    assert store.get_dataset(one)["events"] == 1
    assert store.get_dataset(two)["events"] == 2
    assert store.list_datasets()["name"].tolist() == ["one", "two"]


def test_replace(store: Store) -> None:
    did = store.create_dataset("X", simple([A, B]), {"n": 1}, ["old.csv"])
    store.replace_dataset(did, simple([C]), {"n": 2}, ["new.csv"])
    meta = store.get_dataset(did)
    assert meta["version"] == 2 and meta["events"] == 1 and meta["patients"] == 1
    assert meta["source_files"] == ["new.csv"]
    assert meta["name"] == "X"
    assert store.load_events(did)["patient_id"].tolist() == ["P2"]
    assert [r["action"] for r in store.ingest_reports(did)] == ["create", "replace"]
    # replacing with the same rows is still a write: version grows
    store.replace_dataset(did, simple([C]), {"n": 3}, ["new.csv"])
    assert store.dataset_version(did) == 3
    assert store.get_dataset(did)["events"] == 1


def test_delete(store: Store) -> None:
    keep = store.create_dataset("keep", simple([A]), {}, [])
    did = store.create_dataset("X", simple([A, B]), {}, [])
    store.delete_dataset(did)
    assert store.list_datasets()["name"].tolist() == ["keep"]
    with pytest.raises(KeyError):
        store.load_events(did)
    with pytest.raises(KeyError):
        store.ingest_reports(did)
    with pytest.raises(KeyError):
        store.delete_dataset(did)
    assert store.get_dataset(keep)["events"] == 1
    # the name is free again, with a new id
    again = store.create_dataset("X", simple([C]), {}, [])
    assert again != did
    assert store.get_dataset(again)["events"] == 1


def test_name_clash_and_rename(store: Store) -> None:
    did = store.create_dataset("Clinic", simple([A]), {}, [])
    other = store.create_dataset("Other", simple([B]), {}, [])
    with pytest.raises(ValueError, match="already exists"):
        store.create_dataset("Clinic", simple([C]), {}, [])
    with pytest.raises(ValueError, match="already exists"):
        store.rename_dataset(other, "Clinic")
    with pytest.raises(ValueError):
        store.create_dataset("  ", simple([C]), {}, [])
    assert len(store.list_datasets()) == 2
    store.rename_dataset(did, "North")
    assert store.find_dataset("North") == did and store.find_dataset("Clinic") is None
    assert store.dataset_version(did) == 2
    store.rename_dataset(did, "North")  # same name: nothing to do
    assert store.dataset_version(did) == 2


def test_data_dir_from_env_and_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_dir = tmp_path / "from-env"
    monkeypatch.setenv("PAINPATH_DATA_DIR", str(env_dir))
    with Store() as st:
        assert st.path == env_dir / DB_FILENAME
        st.create_dataset("X", simple([A]), {}, [])
    assert (env_dir / DB_FILENAME).exists()
    # an explicit argument wins over the environment
    with Store(tmp_path / "explicit") as st:
        assert st.path == tmp_path / "explicit" / DB_FILENAME
        assert st.list_datasets().empty
    # without the variable: the checkout's data/ folder, whatever the working directory
    monkeypatch.delenv("PAINPATH_DATA_DIR")
    monkeypatch.chdir(tmp_path)
    assert resolve_data_dir() == Path(__file__).resolve().parents[1] / "data"
    monkeypatch.setattr(settings, "DEFAULT_DATA_DIR", tmp_path / "default")
    with Store() as st:
        assert st.path == tmp_path / "default" / DB_FILENAME
    assert (tmp_path / "default" / DB_FILENAME).exists()
    assert not (tmp_path / "data").exists()


def test_persists_across_reopen(tmp_path: Path) -> None:
    with Store(tmp_path) as st:
        did = st.create_dataset("X", full_frame(), {"k": [1, 2]}, ["a.csv"])
    with Store(tmp_path) as st:
        assert st.schema_version() == SCHEMA_VERSION == 3
        pd.testing.assert_frame_equal(st.load_events(did), full_frame())
        assert st.ingest_reports(did)[0]["report"] == {"k": [1, 2]}


def test_failed_add_leaves_previous_state(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    did = store.create_dataset("X", simple([A, B]), {}, ["a.csv"])
    before = state(store, did)

    def boom(*args, **kwargs):  # runs after the events were inserted
        raise RuntimeError("disk full")

    monkeypatch.setattr(Store, "_finish_write", staticmethod(boom))
    with pytest.raises(RuntimeError, match="disk full"):
        store.add_to_dataset(did, simple([C]), {}, ["b.csv"])
    with pytest.raises(RuntimeError, match="disk full"):
        store.replace_dataset(did, simple([C]), {}, ["b.csv"])  # after its DELETE
    with pytest.raises(RuntimeError, match="disk full"):
        store.create_dataset("Y", simple([C]), {}, ["b.csv"])
    monkeypatch.undo()
    assert state(store, did) == before
    assert store.list_datasets()["name"].tolist() == ["X"]
    # the store still works afterwards
    assert store.add_to_dataset(did, simple([C]), {}, ["b.csv"]) == 1


def test_frame_violating_a_rule_is_refused_whole(store: Store) -> None:
    did = store.create_dataset("X", simple([A]), {}, [])
    before = state(store, did)
    bad = simple([B, C])
    bad.loc[1, "event_date"] = pd.NaT  # required column: NOT NULL in the store
    with pytest.raises(Exception, match="(?i)not null|constraint"):
        store.add_to_dataset(did, bad, {}, [])
    with pytest.raises(Exception, match="(?i)not null|constraint"):
        store.replace_dataset(did, bad, {}, [])
    with pytest.raises(KeyError):
        store.add_to_dataset(did, pd.DataFrame({"patient_id": ["P9"]}), {}, [])
    assert state(store, did) == before


def test_unknown_dataset(store: Store) -> None:
    with pytest.raises(KeyError):
        store.add_to_dataset(42, simple([A]), {}, [])
    with pytest.raises(KeyError):
        store.replace_dataset(42, simple([A]), {}, [])
    with pytest.raises(KeyError):
        store.rename_dataset(42, "x")
    assert store.list_datasets().empty


def test_empty_dataset(store: Store) -> None:
    did = store.create_dataset("Empty", schema.empty_events(), {}, [])
    loaded = store.load_events(did)
    pd.testing.assert_frame_equal(loaded, schema.empty_events())
    meta = store.get_dataset(did)
    assert meta["events"] == 0 and meta["patients"] == 0 and meta["version"] == 1
    assert store.add_to_dataset(did, schema.empty_events(), {}, []) == 0
    assert store.dataset_version(did) == 1


def test_ensure_sample_dataset(store: Store, tmp_path: Path) -> None:
    calls: list[Path] = []

    def fake_ingest(path):
        calls.append(path)
        return SimpleNamespace(
            events=simple([A, B, C]),
            report=SimpleNamespace(to_dict=lambda: {"rows_read": 3, "rejected": 0}),
        )

    csv = tmp_path / "painpath_sample.csv"
    did = store.ensure_sample_dataset(csv, fake_ingest)
    assert calls == [csv]
    assert store.find_dataset(SAMPLE_DATASET_NAME) == did
    meta = store.get_dataset(did)
    assert meta["events"] == 3 and meta["source_files"] == ["painpath_sample.csv"]
    assert store.ingest_reports(did)[0]["report"] == {"rows_read": 3, "rejected": 0}
    # second call: the store is not empty, ingest is not run again
    assert store.ensure_sample_dataset(csv, fake_ingest) == did
    assert calls == [csv]
    # once the user has their own dataset, the latest one is returned
    own = store.create_dataset("Mine", simple([A]), {}, [])
    assert store.ensure_sample_dataset(csv, fake_ingest) == own
    assert len(calls) == 1


def test_reports_are_json_text_with_times(store: Store) -> None:
    report = {"files": [{"name": "a.csv", "rows_read": 10}], "refused_columns": ["SSN"]}
    did = store.create_dataset("X", simple([A]), report, ["a.csv"])
    (entry,) = store.ingest_reports(did)
    assert entry["report"] == report
    assert entry["source_files"] == ["a.csv"]
    assert entry["rows_added"] == 1
    assert entry["uploaded_at"] == store.get_dataset(did)["created_at"]


# ---- diagnoses, extract date, population source (schema 2) ------------------------------


def diagnoses(rows: list[tuple]) -> pd.DataFrame:
    """Diagnoses from (patient_id, diagnosis_date or None, code, description, kind)."""
    raw = pd.DataFrame(rows, columns=["patient_id", "diagnosis_date", "code", "description",
                                      "kind"])
    return raw.astype({"patient_id": "string", "code": "string", "description": "string",
                       "kind": "string"}).assign(
        diagnosis_date=pd.to_datetime(raw["diagnosis_date"]).astype("datetime64[s]"))


D1 = ("P1", "2022-11-01", "278860009", "Chronic low back pain (finding)", "spinal_pain")
D2 = ("P2", "2022-12-01", "82423001", "Chronic pain (finding)", "general_pain")
D3 = ("P1", None, "F11.20", None, "opioid_use_disorder")


def test_diagnoses_extract_date_and_source_round_trip(store: Store) -> None:
    did = store.create_dataset(
        "X", simple([A, B, C]), {}, ["conditions.csv"], diagnoses=diagnoses([D1, D2, D3]),
        extract_date=pd.Timestamp("2023-03-31"), population_source="conditions",
    )
    loaded = store.load_diagnoses(did)
    assert list(loaded.columns) == ["patient_id", "diagnosis_date", "code", "description",
                                    "kind"]
    assert loaded["diagnosis_date"].dtype == "datetime64[s]"
    assert all(loaded[c].dtype == "string" for c in ("patient_id", "code", "description",
                                                     "kind"))
    # sorted by patient, then date (undated last)
    assert loaded["kind"].tolist() == ["spinal_pain", "opioid_use_disorder", "general_pain"]
    assert loaded["diagnosis_date"].tolist()[0] == pd.Timestamp("2022-11-01")
    assert pd.isna(loaded["diagnosis_date"].iloc[1]) and pd.isna(loaded["description"].iloc[1])
    meta = store.get_dataset(did)
    assert meta["extract_date"] == pd.Timestamp("2023-03-31")
    assert meta["population_source"] == "conditions"


def test_extract_date_accepts_text_and_dates(store: Store) -> None:
    import datetime as dt

    a = store.create_dataset("a", simple([A]), {}, [], extract_date="2023-05-06")
    b = store.create_dataset("b", simple([A]), {}, [], extract_date=dt.date(2023, 5, 7))
    c = store.create_dataset("c", schema.empty_events(), {}, [])
    assert store.get_dataset(a)["extract_date"] == pd.Timestamp("2023-05-06")
    assert store.get_dataset(b)["extract_date"] == pd.Timestamp("2023-05-07")
    assert store.get_dataset(c)["extract_date"] is None
    # none given: the latest date among events (2023-01-05) and diagnoses (2023-02-01)
    d = store.create_dataset("d", simple([C]), {}, [], diagnoses=diagnoses(
        [("P2", "2023-02-01", "R52", None, "general_pain")]))
    assert store.get_dataset(d)["extract_date"] == pd.Timestamp("2023-02-01")
    assert pd.isna(store.list_datasets()["extract_date"].iloc[2])
    assert store.list_datasets()["extract_date"].iloc[3] == pd.Timestamp("2023-02-01")


def test_add_keeps_the_later_extract_date_and_the_stronger_source(store: Store) -> None:
    did = store.create_dataset("X", simple([A]), {}, ["a.csv"], extract_date="2023-02-01",
                               population_source="none")
    # an earlier extract date and source "none": nothing changes, version kept
    store.add_to_dataset(did, simple([A]), {}, ["a.csv"], extract_date="2023-01-15")
    meta = store.get_dataset(did)
    assert (meta["extract_date"], meta["population_source"], meta["version"]) == (
        pd.Timestamp("2023-02-01"), "none", 1)
    # diagnosis_column beats none; a later date wins; that alone is a change (version 2)
    store.add_to_dataset(did, simple([A]), {}, [], extract_date="2023-03-01",
                         population_source="diagnosis_column")
    meta = store.get_dataset(did)
    assert (meta["extract_date"], meta["population_source"], meta["version"]) == (
        pd.Timestamp("2023-03-01"), "diagnosis_column", 2)
    # conditions beats diagnosis_column
    store.add_to_dataset(did, schema.empty_events(), {}, [], population_source="conditions")
    assert store.get_dataset(did)["population_source"] == "conditions"
    assert store.dataset_version(did) == 3
    # and is kept against a weaker one
    store.add_to_dataset(did, schema.empty_events(), {}, [], population_source="diagnosis_column")
    assert store.get_dataset(did)["population_source"] == "conditions"
    assert store.dataset_version(did) == 3
    # no extract date given: the latest event_date of the added events (2023-01-05 < 03-01)
    store.add_to_dataset(did, simple([C]), {}, [])
    assert store.get_dataset(did)["extract_date"] == pd.Timestamp("2023-03-01")


def test_add_inserts_only_new_diagnoses_and_a_diagnoses_only_add_is_a_change(
    store: Store,
) -> None:
    did = store.create_dataset("X", simple([A, C]), {}, [], diagnoses=diagnoses([D1]),
                               population_source="conditions")
    assert store.dataset_version(did) == 1
    # the same diagnosis again, and a duplicate within the frame: nothing new
    store.add_to_dataset(did, schema.empty_events(), {}, [], diagnoses=diagnoses([D1, D1]),
                         population_source="conditions")
    assert len(store.load_diagnoses(did)) == 1
    assert store.dataset_version(did) == 1
    # a conditions file alone (no events) changes the population: new version
    assert store.add_to_dataset(did, schema.empty_events(), {}, ["c.csv"],
                                diagnoses=diagnoses([D2, D3]),
                                population_source="conditions") == 0
    assert len(store.load_diagnoses(did)) == 3
    assert store.dataset_version(did) == 2
    assert store.get_dataset(did)["source_files"] == ["c.csv"]


def test_replace_and_delete_drop_the_diagnoses(store: Store) -> None:
    did = store.create_dataset("X", simple([A]), {}, [], diagnoses=diagnoses([D1, D2]),
                               extract_date="2023-06-30", population_source="conditions")
    keep = store.create_dataset("Y", simple([A]), {}, [], diagnoses=diagnoses([D1]))
    store.replace_dataset(did, simple([C]), {}, [], diagnoses=diagnoses([D3]))
    meta = store.get_dataset(did)
    assert store.load_diagnoses(did)["kind"].tolist() == ["opioid_use_disorder"]
    # replace sets extract date (none given: latest event 2023-01-05) and source anew
    assert (meta["extract_date"], meta["population_source"]) == (
        pd.Timestamp("2023-01-05"), "none")
    store.delete_dataset(did)
    with pytest.raises(KeyError):
        store.load_diagnoses(did)
    assert len(store.load_diagnoses(keep)) == 1


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"population_source": "somewhere"}, "population_source must be one of"),
        ({"diagnoses": diagnoses([("P1", "2023-01-01", "X", "Y", "back_pain")])},
         "diagnosis kinds must be"),
        ({"diagnoses": diagnoses([(None, "2023-01-01", "M54.5", None, "spinal_pain")])},
         "no patient id"),
        ({"diagnoses": pd.DataFrame({"patient_id": ["P1"]})}, "lack column"),
    ],
)
def test_bad_diagnoses_or_source_are_refused_whole(store: Store, kwargs, message) -> None:
    did = store.create_dataset("X", simple([A]), {}, [])
    before = state(store, did)
    with pytest.raises(ValueError, match=message):
        store.add_to_dataset(did, simple([C]), {}, [], **kwargs)
    with pytest.raises(ValueError, match=message):
        store.create_dataset("Y", simple([C]), {}, [], **kwargs)
    assert state(store, did) == before
    assert store.list_datasets()["name"].tolist() == ["X"]


def test_ensure_sample_dataset_stores_diagnoses_when_ingest_gives_them(
    store: Store, tmp_path: Path,
) -> None:
    def fake_ingest(path):
        return SimpleNamespace(events=simple([A, C]), report={}, diagnoses=diagnoses([D1]),
                               extract_date=pd.Timestamp("2023-12-31"),
                               population_source="diagnosis_column")

    did = store.ensure_sample_dataset(tmp_path / "s.csv", fake_ingest)
    assert len(store.load_diagnoses(did)) == 1
    meta = store.get_dataset(did)
    assert (meta["extract_date"], meta["population_source"]) == (
        pd.Timestamp("2023-12-31"), "diagnosis_column")


# ---- migration of a schema-version-1 store ------------------------------------------------

V1_DDL = """
CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL);
CREATE SEQUENCE dataset_id_seq START 1;
CREATE SEQUENCE upload_id_seq START 1;
CREATE TABLE datasets (
    dataset_id BIGINT PRIMARY KEY, name VARCHAR NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL, updated_at TIMESTAMP NOT NULL, version BIGINT NOT NULL,
    events BIGINT NOT NULL, patients BIGINT NOT NULL, source_files VARCHAR NOT NULL
);
CREATE TABLE uploads (
    upload_id BIGINT PRIMARY KEY, dataset_id BIGINT NOT NULL, uploaded_at TIMESTAMP NOT NULL,
    action VARCHAR NOT NULL, source_files VARCHAR NOT NULL, rows_added BIGINT NOT NULL,
    report VARCHAR NOT NULL
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
    "open_order" BOOLEAN NOT NULL
);
INSERT INTO meta VALUES ('schema_version', '1');
INSERT INTO datasets VALUES
    (nextval('dataset_id_seq'), 'Clinic', '2024-01-01 10:00:00', '2024-01-02 10:00:00', 2, 4, 3,
     '["clinic.csv"]'),
    (nextval('dataset_id_seq'), 'Plain', '2024-02-01 10:00:00', '2024-02-01 10:00:00', 1, 1, 1,
     '["plain.csv"]');
INSERT INTO uploads VALUES
    (nextval('upload_id_seq'), 1, '2024-01-01 10:00:00', 'create', '["clinic.csv"]', 4,
     '{"rows_read": 4}');
INSERT INTO events VALUES
    (1, 11, 'P1', '2023-01-02', 'narcotic', '2023-01-08', 7, 'Tramadol 50 MG', '835603', 28, 50,
     40, NULL, 'DR01', 'North', 'F', 1960, 62, 'M54.50', NULL, FALSE),
    (1, 12, 'P1', '2023-02-10', 'injection', NULL, NULL, NULL, '64483', NULL, NULL, NULL,
     'epidural_steroid', 'DR01', NULL, 'F', 1960, 63, 'M54.50', 7, FALSE),
    (1, 13, 'P2', '2023-03-01', 'physical_therapy', NULL, NULL, NULL, NULL, NULL, NULL, NULL,
     NULL, NULL, NULL, NULL, NULL, NULL, 'Sprain of ankle (disorder)', NULL, FALSE),
    (1, 14, 'P3', '2022-12-31', 'muscle_relaxant', NULL, 10, 'Baclofen 10 MG', NULL, 30, 10,
     NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'Chronic pain (finding)', NULL, TRUE),
    (2, 21, 'Q1', '2021-05-05', 'narcotic', NULL, 30, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
     NULL, NULL, NULL, NULL, NULL, NULL, FALSE);
"""


def test_a_version_1_store_is_migrated_in_place_with_its_events_intact(tmp_path: Path) -> None:
    import duckdb

    with duckdb.connect(str(tmp_path / DB_FILENAME)) as con:
        con.execute(V1_DDL)
    with Store(tmp_path) as st:
        assert st.schema_version() == SCHEMA_VERSION
        listed = st.list_datasets()
        assert listed["name"].tolist() == ["Clinic", "Plain"]
        assert listed["version"].tolist() == [2, 1]  # a migration is not a new version
        # extract date: the latest event_date of each dataset
        assert listed["extract_date"].tolist() == [pd.Timestamp("2023-03-01"),
                                                   pd.Timestamp("2021-05-05")]
        # diagnoses only in the events' diagnosis column: the clinic case
        assert listed["population_source"].tolist() == ["diagnosis_column", "none"]
        events = st.load_events(1)
        assert list(events.columns) == list(schema.CANONICAL_COLUMNS)
        assert events["patient_id"].tolist() == ["P1", "P1", "P2", "P3"]
        assert events["event_date"].tolist() == [pd.Timestamp(d) for d in (
            "2023-01-02", "2023-02-10", "2023-03-01", "2022-12-31")]
        assert events["technique"].astype(str).tolist() == [
            "narcotic", "injection", "physical_therapy", "muscle_relaxant"]
        assert events["mme_per_day"].iloc[0] == 40.0
        assert events["injection_type"].astype(str).iloc[1] == "epidural_steroid"
        assert events["open_order"].tolist() == [False, False, False, True]
        # the new columns: missing / False
        assert events["reason"].isna().all() and events["region"].isna().all()
        assert events["dispenses"].isna().all() and events["drug_class"].isna().all()
        assert events["death_year"].isna().all() and events["pharmacy_id"].isna().all()
        assert events["ends_at_death"].tolist() == [False] * 4
        # diagnoses read from the column: each distinct patient, date and value of a kind;
        # the ankle sprain is another condition and is not kept
        diag = st.load_diagnoses(1)
        assert list(zip(diag["patient_id"], diag["diagnosis_date"].dt.strftime("%Y-%m-%d"),
                        diag["code"].fillna("-"), diag["description"].fillna("-"),
                        diag["kind"], strict=True)) == [
            ("P1", "2023-01-02", "M54.50", "-", "spinal_pain"),
            ("P1", "2023-02-10", "M54.50", "-", "spinal_pain"),
            ("P3", "2022-12-31", "-", "Chronic pain (finding)", "general_pain"),
        ]
        assert st.load_diagnoses(2).empty
        assert st.ingest_reports(1)[0]["report"] == {"rows_read": 4}
        # row hashes were recomputed: re-adding a stored row inserts nothing
        assert st.add_to_dataset(1, events.iloc[[0]], {}, []) == 0
        assert st.dataset_version(1) == 2
        # and the store takes new datasets (sequences continue)
        new = st.create_dataset("New", simple([A]), {}, [])
        assert new == 3
    with Store(tmp_path) as st:  # a second open finds the current version and changes nothing
        assert st.schema_version() == SCHEMA_VERSION
        assert len(st.load_diagnoses(1)) == 3
        assert len(st.load_events(1)) == 4
