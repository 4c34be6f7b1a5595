import pandas as pd
import plotly.graph_objects as go

from analytics.exports import ReportSection, html_report, neutralise_formulas, to_csv_bytes


def test_formula_cells_are_escaped_and_numbers_kept():
    table = pd.DataFrame({
        "name": ["=HYPERLINK(\"x\")", "+1", "-cmd", "@SUM(A1)", "\tx", "\rx", "safe", None],
        "value": [-1, 2, 3, 4, 5, 6, 7, 8],
    })
    out = neutralise_formulas(table)
    assert out["name"].tolist()[:7] == [
        "'=HYPERLINK(\"x\")", "'+1", "'-cmd", "'@SUM(A1)", "'\tx", "'\rx", "safe"]
    assert pd.isna(out["name"].iloc[7])
    assert out["value"].tolist() == [-1, 2, 3, 4, 5, 6, 7, 8]


def test_formula_header_is_escaped():
    out = neutralise_formulas(pd.DataFrame({"=cmd": [1]}))
    assert list(out.columns) == ["'=cmd"]


def test_csv_bytes_has_bom_and_suppressed_text():
    data = to_csv_bytes(pd.DataFrame({"patients": ["<11", 12]}))
    assert data.startswith("\ufeff".encode())
    assert data.decode("utf-8-sig").splitlines() == ["patients", "<11", "12"]


def test_html_report_escapes_and_is_self_contained():
    table = pd.DataFrame({"pathway": ["<script>alert(1)</script>"], "patients": ["<11"]})
    fig = go.Figure(go.Bar(x=["a"], y=[1]))
    page = html_report("Report", "sex: F & <b>", [ReportSection("Pathways", figures=[fig],
                                                                tables=[("Top", table)])],
                       min_cell=11)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "sex: F &amp; &lt;b&gt;" in page
    assert "<td>&lt;11</td>" in page
    # plotly.js is inlined: no script is loaded from elsewhere.
    assert "<script src=" not in page and "<script type=\"text/javascript\" src=" not in page
    assert page.count("<h2>") == 1
