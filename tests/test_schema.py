import numpy as np
import pandas as pd
import pytest

from analytics.schema import CANONICAL_COLUMNS, conform, empty_events, isin_ids, present_columns


def test_conform_adds_missing_columns_with_dtypes():
    out = conform(pd.DataFrame({"patient_id": ["a"], "event_date": ["2024-01-02"],
                                "technique": ["narcotic"], "extra": [1]}))
    assert list(out.columns) == list(CANONICAL_COLUMNS)
    assert str(out["patient_id"].dtype) == "string" and out["patient_id"].dtype.na_value is pd.NA
    assert out["event_date"].dtype == "datetime64[s]"
    assert out["event_date"].iloc[0] == pd.Timestamp("2024-01-02")
    assert out["days_supply"].dtype == "float64" and np.isnan(out["days_supply"].iloc[0])
    assert list(out["technique"].cat.categories)[0] == "physical_therapy"
    assert not out["open_order"].iloc[0]
    assert present_columns(out) == set()


def test_conform_drops_time_and_zone():
    out = conform(pd.DataFrame({"patient_id": ["a"], "technique": ["narcotic"],
                                "event_date": pd.to_datetime(["2020-01-28T14:36:08Z"])}))
    assert out["event_date"].iloc[0] == pd.Timestamp("2020-01-28")


def test_conform_requires_the_required_columns():
    with pytest.raises(KeyError, match="event_date, technique"):
        conform(pd.DataFrame({"patient_id": ["a"]}))


def test_unknown_technique_becomes_missing():
    out = conform(pd.DataFrame({"patient_id": ["a"], "event_date": ["2024-01-02"],
                                "technique": ["acupuncture"]}))
    assert out["technique"].isna().all()


def test_empty_events_has_every_column():
    assert list(empty_events().columns) == list(CANONICAL_COLUMNS)
    assert len(empty_events()) == 0


def test_isin_ids_matches_pandas_isin_and_handles_missing():
    values = pd.Series(["p1", "p2", None, "p3"], dtype="string")
    assert isin_ids(values, ["p3", "p1", "zz"]).tolist() == [True, False, False, True]
    assert isin_ids(pd.Index(["a", "b"]), pd.Index(["b"])).tolist() == [False, True]
    assert isin_ids(values, []).tolist() == [False] * 4
    assert isin_ids(pd.Series([], dtype="string"), ["a"]).tolist() == []
