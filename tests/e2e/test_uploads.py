"""Browser tests of uploads a clinic can trust (issue 10, item 3): value mapping end to end
(upload -> map -> save -> the Pathways page shows the techniques), a binary file refused,
an empty file skipped in a batch, and the datasets table fitting the page."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest

from tests.e2e.conftest import open_page, wait_for_app

pytestmark = pytest.mark.e2e

NASTY = Path(__file__).resolve().parents[1] / "fixtures" / "nasty"
MAPPED_NAME = "Praxis Köln"


def praxis_csv(patients: int = 15) -> str:
    """A German clinic export: ``patients`` patients go from "Rückenschule" (back school, a
    label PainPath does not know) to Oxycodon, as many from "PRT" (periradicular therapy,
    unknown too) to an operation; Oxycodon and Operation are in the starter table."""
    rows = ["Patienten-ID;Datum;Behandlung;Medikament"]
    for i in range(patients):
        rows += [f"A{i:02d};05.01.2023;Rückenschule;", f"A{i:02d};19.01.2023;Rückenschule;",
                 f"A{i:02d};01.03.2023;Medikament;Oxycodon 5 mg Tablette"]
        rows += [f"B{i:02d};10.01.2023;PRT;", f"B{i:02d};01.04.2023;Operation;"]
    return "\n".join(rows) + "\n"


# --- helpers ------------------------------------------------------------------------------------


def no_exception(page) -> None:
    errors = page.get_by_test_id("stException")
    assert errors.count() == 0, errors.all_inner_texts()


def choose_files(page, files: list[Path]) -> None:
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files([str(f) for f in files])
    wait_for_app(page)
    no_exception(page)


def alerts(page, kind: str) -> list[str]:
    """The texts of the alerts of one kind (Error, Warning, Success, Info), without their
    icons."""
    texts = page.get_by_test_id(f"stAlertContent{kind}").all_inner_texts()
    return [t.strip().split("\n")[-1].strip() for t in texts]


def map_values(page, editor_key: str, options: list[str], column: int = 3) -> None:
    """In the value editor ``editor_key``, give its rows, from the first, the choices
    ``options`` (the "Means" column, ``column`` cells right of the first), by keyboard as a
    user can: select the first cell, move to the row's "Means" cell, open it (Enter), type
    the choice and take it (Enter).  The mouse moves onto the cell before pressing: after an
    edit re-runs the page the grid ignores a click that does not arrive with a move."""
    grid = page.locator(f".st-key-{editor_key} [data-testid='stDataFrame']")
    grid.scroll_into_view_if_needed()
    box = grid.locator("canvas").first.bounding_box()  # the header row (35 px), then rows
    x, y = box["x"] + 20, box["y"] + 35 + 17
    page.mouse.move(x - 100, y - 100)
    page.mouse.move(x, y, steps=5)
    page.mouse.down()
    page.wait_for_timeout(100)
    page.mouse.up()
    for _ in range(column):
        page.keyboard.press("ArrowRight")
    for i, option in enumerate(options):
        if i:
            page.keyboard.press("ArrowDown")
        page.keyboard.press("Enter")
        page.get_by_role("option").first.wait_for()  # the dropdown is open
        page.keyboard.type(option)
        page.keyboard.press("Enter")
        wait_for_app(page)


def save_as(page, name: str) -> str:
    field = page.get_by_label("Dataset name")
    field.fill(name)
    field.press("Enter")
    wait_for_app(page)
    page.get_by_role("button", name="Ingest and save").click()
    wait_for_app(page)
    no_exception(page)
    (message,) = alerts(page, "Success")
    return message


def slice_labels(page) -> set[str]:
    """The labels written on the slices of the pathways sunburst."""
    sunburst = page.get_by_test_id("stPlotlyChart").filter(
        has=page.locator(".sunburstlayer"))
    return {(t.text_content() or "").strip()
            for t in sunburst.first.locator(".slicetext").all()}


# --- tests --------------------------------------------------------------------------------------


def test_value_mapping_end_to_end(server, page, tmp_path):
    export = tmp_path / "praxis.csv"
    export.write_bytes(praxis_csv().encode("cp1252"))
    open_page(page, f"{server}/Data")
    choose_files(page, [export])
    assert page.get_by_text("3 · Values PainPath does not know").count() == 1
    save = page.get_by_role("button", name="Ingest and save")
    assert save.is_enabled()
    # Rückenschule (30 rows) is physical therapy, PRT (15 rows) an epidural steroid injection
    map_values(page, "values_technique", ["Physical therapy", "Injection: epidural steroid"])
    message = save_as(page, MAPPED_NAME)
    assert message == f"Created dataset {MAPPED_NAME} with 75 events."
    metric_values = dict(zip(
        page.get_by_test_id("stMetricLabel").all_inner_texts(),
        page.get_by_test_id("stMetricValue").all_inner_texts(), strict=True))
    assert metric_values["Rejected"] == "0"
    assert page.get_by_text("Values PainPath did not know").count() == 0

    open_page(page, f"{server}/Pathways?dataset={quote(MAPPED_NAME)}")
    no_exception(page)
    labels = slice_labels(page)
    assert {"Physical therapy", "Injection"} <= labels, labels

    # the map was saved with the dataset: adding the same file again needs no mapping
    open_page(page, f"{server}/Data")
    choose_files(page, [export])
    page.get_by_text("Add to a dataset").click()
    wait_for_app(page)
    target = page.get_by_test_id("stSelectbox").filter(
        has=page.get_by_test_id("stWidgetLabel").get_by_text("Dataset", exact=True))
    target.locator("input").click()
    target.locator("input").fill(MAPPED_NAME)
    page.get_by_role("option", name=MAPPED_NAME, exact=True).click()
    wait_for_app(page)
    assert page.get_by_text("3 · Values PainPath does not know").count() == 0
    assert page.get_by_text("The value map saved with").count() == 1


def test_a_binary_file_is_refused(server, page):
    open_page(page, f"{server}/Data")
    choose_files(page, [NASTY / "png_renamed.csv"])
    assert alerts(page, "Error") == [
        "png_renamed.csv: not a text export (a PNG image); expected CSV/TSV text, an .xlsx "
        "workbook or a Parquet file"]
    assert page.get_by_role("button", name="Ingest and save").count() == 0


def test_an_empty_file_is_skipped_in_a_batch(server, page, tmp_path):
    clinic = tmp_path / "clinic_visits.csv"
    clinic.write_text("Patient,Visit date,CPT,Description\n"
                      "E1,2024-01-05,97110,Therapeutic exercise\n"
                      "E2,2024-01-06,64483,Transforaminal epidural injection\n")
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    open_page(page, f"{server}/Data")
    choose_files(page, [clinic, empty])
    skipped = "Skipped: empty.csv: the file is empty (no header line with column names)"
    assert skipped in alerts(page, "Warning")
    assert save_as(page, "Batch with an empty file") == (
        "Created dataset Batch with an empty file with 2 events.")
    assert skipped in alerts(page, "Warning")  # the report says so too

    # the datasets table fits the page
    main = page.get_by_test_id("stMain").bounding_box()
    table = page.get_by_test_id("stDataFrame").last.bounding_box()
    assert table["x"] >= main["x"] and table["x"] + table["width"] <= main["x"] + main["width"]
