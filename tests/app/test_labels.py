"""Human labels everywhere (issue 10, item 6): every page's rendered text — titles,
captions, notes, metrics, widget labels, options and help, table headers and cells, chart
titles, axes, legends and hover texts — in AppTest, checked for PainPath's own internal
names: snake_case technique, injection-type, role and column names (``physical_therapy``,
``not_used``, ``provider_id``, ``pct_narcotic``) and the lowercase format names
(``synthea``, ``omop``).  File names (``painpath_sample.csv``) are the user's and allowed.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.app.conftest import PAGES, run_page

INTERNAL = re.compile(r"(?<![\w.])(?:[a-z][a-z0-9]*(?:_[a-z0-9]+)+|synthea|omop)(?![\w])"
                      r"(?!\.(?:csv|xlsx|xls|parquet|json|txt|html))")
GENERIC_CSV = (b"Patient;Datum;Behandlung;Arzt;Diagnose\n"
               + b"".join(f"K{i:02d};0{1 + i % 9}.02.2024;Physiotherapie;DR{2 + 12 * (i % 2)};"
                          f"M54.5\n".encode() for i in range(14))
               + b"K99;05.03.2024;Unbekannt;DR2;M54.5\n")
"""A clinic export with a technique label PainPath does not know ("Physiotherapie") and one
it cannot read at all, for the Data page's mapping, value editor and upload report."""


def _dataframe_texts(element) -> list[str]:
    """Headers and text cells of a dataframe as shown: labels from its column
    configuration, hidden columns left out."""
    config = json.loads(element.proto.columns or "{}")
    frame = element.value
    out = []
    for column in frame.columns:
        options = config.get(str(column), {})
        if options.get("hidden"):
            continue
        out.append(str(options.get("label", column)))
        values = frame[column]
        if values.dtype == object or str(values.dtype).startswith(("string", "str")):
            out += [str(v) for v in values.dropna().unique()[:500]]
    return out


def _chart_texts(spec: dict) -> list[str]:
    layout = spec["layout"]
    out = [json.dumps({k: layout.get(k) for k in ("title", "xaxis", "yaxis", "yaxis2",
                                                   "annotations", "legend")},
                      ensure_ascii=False)]
    for trace in spec["data"]:
        for key in ("name", "text", "customdata", "labels", "hovertemplate"):
            value = trace.get(key)
            if isinstance(value, (str, list)):
                out.append(json.dumps(value, ensure_ascii=False))
        if trace.get("type") == "sankey":
            out.append(json.dumps(trace["node"].get("label"), ensure_ascii=False))
        for axis in ("x", "y"):  # category axes carry labels
            value = trace.get(axis)
            if isinstance(value, list) and value and isinstance(value[0], str):
                out.append(json.dumps(value, ensure_ascii=False))
    return out


def rendered_texts(at) -> list[tuple[str, str]]:
    """(where, text) of everything the page renders."""
    out: list[tuple[str, str]] = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "info", "warning",
                 "error", "success", "exception", "toast"):
        for element in at.get(kind):
            out.append((kind, str(getattr(element, "value", "") or "")))
    for metric in at.metric:
        out.append(("metric", f"{metric.label} | {metric.value} | {metric.proto.help}"))
    for kind in ("selectbox", "multiselect", "radio", "button_group", "number_input",
                 "text_input", "date_input", "checkbox", "toggle", "slider", "button",
                 "download_button", "file_uploader", "expander", "tab"):
        for element in at.get(kind):
            proto = element.proto
            parts = [getattr(proto, "label", ""), getattr(proto, "help", ""),
                     getattr(proto, "placeholder", "")]
            parts += [str(o) for o in getattr(proto, "options", [])]
            out.append((kind, " | ".join(str(p) for p in parts)))
    for element in at.dataframe:
        out += [("dataframe", t) for t in _dataframe_texts(element)]
    for chart in at.get("plotly_chart"):
        out += [("chart", t) for t in _chart_texts(json.loads(chart.proto.spec))]
    return out


def internal_names(at) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for where, text in rendered_texts(at):
        for name in INTERNAL.findall(text):
            found.setdefault(name, set()).add(where)
    return found


def test_the_check_finds_internal_names():
    assert INTERNAL.findall("Type: epidural_steroid, role not_used, pct_narcotic, synthea") == [
        "epidural_steroid", "not_used", "pct_narcotic", "synthea"]
    assert INTERNAL.findall("painpath_sample.csv · Synthea · Mixed-case OMOP CDM") == []


@pytest.mark.parametrize("page", list(PAGES))
def test_every_page_speaks_in_labels(app, page):
    at = app("overview").run()
    if page != "overview":
        run_page(at, page)
    assert not at.exception
    texts = rendered_texts(at)
    assert len(texts) > 5, page
    assert internal_names(at) == {}, page


@pytest.mark.parametrize("params", [
    {"mode": "Eras (OHDSI: combinations, switches, repeats)", "pathway_strata": "Sex"},
    {"pathway_strata": "Age band"},
])
def test_pathways_variants_speak_in_labels(app, params):
    at = app("pathways")
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception
    assert internal_names(at) == {}


def test_injection_response_by_physician_speaks_in_labels(app):
    at = app("injections")
    at.query_params["response_by"] = "Physician"
    at.run()
    assert not at.exception
    assert internal_names(at) == {}


def test_the_data_page_with_an_upload_speaks_in_labels(app):
    at = app("data").run()
    at.file_uploader(key="uploads").set_value(("praxis.csv", GENERIC_CSV, "text/csv")).run()
    assert not at.exception
    assert len(at.dataframe) >= 3, "the mapping, preview and value editors are shown"
    assert internal_names(at) == {}
    at.button(key="save").click().run()
    assert not at.exception
    assert at.success, "saved, with its upload report"
    assert internal_names(at) == {}
