"""Empty and suppressed states (issue 10, item 5), page by page in AppTest.

- A chart whose every value is hidden says "All values here involve fewer than N patients"
  (N = the threshold) instead of drawing empty axes — on every page with charts.
- The high-dose share reads "–" with "13 of 25 courses have no MME" when most courses have
  no MME.
- A dataset without events says so (and where to upload), not "widen the filters".
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from analytics.ingest import ingest
from analytics.schema import conform
from analytics.store import Store
from tests.app.conftest import SAMPLE_CSV, metrics, run_page

TINY = "Tiny clinic"
NO_MME = "No MME clinic"
EMPTY = "Empty dataset"
CHART_PAGES = ("overview", "pathways", "injections", "narcotics", "safety", "outcomes",
               "compare")


def tiny_csv() -> str:
    """Six back-pain patients of DR18, DR2 and DR14, each with physical therapy, two
    oxycodone fills, a muscle relaxant and two injections: every count is under the
    threshold of 11."""
    rows = ["patient_id,event_date,technique,detail,quantity,days_supply,injection_type,"
            "provider_id,diagnosis,pain_score"]
    for i in range(6):
        p, doctor = f"T{i}", ("DR18", "DR2", "DR14")[i % 3]
        rows += [
            f"{p},2024-01-0{i + 1},physical_therapy,Therapeutic exercise,,,,{doctor},M54.50,7",
            f"{p},2024-02-0{i + 1},narcotic,Oxycodone Hydrochloride 5 MG Oral Tablet,60,30,,"
            f"{doctor},M54.50,",
            f"{p},2024-03-0{i + 1},narcotic,Oxycodone Hydrochloride 5 MG Oral Tablet,60,30,,"
            f"{doctor},M54.50,",
            f"{p},2024-02-0{i + 1},muscle_relaxant,Cyclobenzaprine 10 MG Oral Tablet,30,30,,"
            f"{doctor},M54.50,",
            f"{p},2024-04-0{i + 1},injection,Epidural,,,epidural_steroid,{doctor},M54.50,6",
            f"{p},2024-07-0{i + 1},injection,Epidural,,,epidural_steroid,{doctor},M54.50,4",
        ]
    return "\n".join(rows) + "\n"


def no_mme_csv() -> str:
    """25 back-pain patients with one 30-day oxycodone fill each: 12 with a strength and a
    quantity (an MME), 13 without (no MME) — every count at least 11, so all are shown."""
    rows = ["patient_id,event_date,technique,detail,quantity,days_supply,diagnosis"]
    for i in range(25):
        detail, quantity = (("Oxycodone Hydrochloride 5 MG Oral Tablet", "60") if i < 12
                            else ("Oxycodone", ""))
        rows.append(f"M{i:02d},2024-03-01,narcotic,{detail},{quantity},30,M54.50")
    return "\n".join(rows) + "\n"


@pytest.fixture(scope="module")
def datasets(data_dir: Path) -> None:
    """The sample, and three datasets written as the Data page writes uploads."""
    with Store(data_dir) as store:
        store.ensure_sample_dataset(SAMPLE_CSV, lambda path: ingest([path]))
        for name, text in ((TINY, tiny_csv()), (NO_MME, no_mme_csv())):
            result = ingest([(f"{name}.csv", text.encode())])
            assert not result.events.empty
            store.create_dataset(name, result.events, result.report.to_dict(),
                                 [f"{name}.csv"], diagnoses=result.diagnoses,
                                 extract_date=result.extract_date,
                                 population_source=result.population_source)
        nothing = conform(pd.DataFrame({
            "patient_id": pd.Series([], dtype="string"),
            "event_date": pd.Series([], dtype="datetime64[ns]"),
            "technique": pd.Series([], dtype="string")}))
        store.create_dataset(EMPTY, nothing, {}, [])


def charts(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def annotations(spec: dict) -> list[str]:
    return [a.get("text", "") for a in spec["layout"].get("annotations", [])]


def drawn(spec: dict) -> bool:
    """Whether a chart draws any trace."""
    return bool(spec["data"])


def open_on(app, page: str, dataset: str):
    at = app("overview")
    at.query_params["dataset"] = dataset
    at.run()
    assert not at.exception
    if page != "overview":
        run_page(at, page)
        assert not at.exception
    return at


@pytest.mark.parametrize("page", CHART_PAGES)
def test_charts_of_hidden_values_say_why(app, datasets, page):
    at = open_on(app, page, TINY)
    specs = charts(at)
    assert specs, f"{page}: no chart"
    said = [s for s in specs if "All values here involve fewer than 11 patients" in
            " ".join(annotations(s))]
    assert said, f"{page}: no chart says its values are hidden"
    for spec in specs:
        title = spec["layout"].get("title", {}).get("text", "")
        # a chart draws something, or says why it draws nothing: never bare axes
        assert drawn(spec) or annotations(spec), f"{page}: {title!r} is empty and silent"
        if not drawn(spec):
            xaxis = spec["layout"].get("xaxis", {})
            assert xaxis.get("visible") is False, f"{page}: {title!r} shows empty axes"


def test_the_threshold_in_the_message_follows_the_sidebar(app, datasets):
    at = open_on(app, "narcotics", TINY)
    at.number_input(key="min_cell").set_value(20).run()
    assert not at.exception
    texts = [" ".join(annotations(s)) for s in charts(at)]
    assert any("fewer than 20 patients" in t for t in texts)
    assert not any("fewer than 11 patients" in t for t in texts)


def test_high_dose_share_is_a_dash_when_most_courses_have_no_mme(app, datasets):
    at = open_on(app, "narcotics", NO_MME)
    shown = metrics(at)
    assert shown["Courses"] == "25"
    assert shown["High dose (≥ 90 MME/day)"] == "–"
    assert "13 of 25 courses have no MME" in [c.value for c in at.caption]


def test_sample_high_dose_share_is_shown(app, datasets):
    at = open_on(app, "narcotics", "Sample clinic")
    assert metrics(at)["High dose (≥ 90 MME/day)"].endswith("%")
    assert not any("have no MME" in c.value for c in at.caption)


@pytest.mark.parametrize("page", [*CHART_PAGES, "timeline"])
def test_an_empty_dataset_says_so_not_widen_the_filters(app, datasets, page):
    at = open_on(app, page, EMPTY)
    notes = [i.value for i in at.info]
    assert any("This dataset has no events to show" in n and "Data" in n for n in notes), notes
    assert not any("Widen the filters" in n for n in notes)
    assert not at.get("plotly_chart")


def test_a_cohort_without_patients_asks_to_widen_the_filters(app, datasets):
    at = app("overview")
    at.query_params["providers"] = "DR08"
    at.query_params["sexes"] = "X"
    at.query_params["diagnosis"] = "no such diagnosis"
    at.run()
    assert not at.exception
    assert any("Widen the filters" in i.value for i in at.info)


def test_physicians_in_natural_order_in_the_sidebar_and_the_tables(app, datasets):
    at = open_on(app, "overview", TINY)
    assert at.multiselect(key="providers").options == ["DR2", "DR14", "DR18"]
    physicians = at.dataframe[0].value
    assert physicians["Physician"].tolist() == ["DR2", "DR14", "DR18", "All physicians"]
    run_page(at, "narcotics")
    by = at.dataframe[-1].value
    assert by["Physician"].tolist() == ["DR2", "DR14", "DR18", "All physicians"]
