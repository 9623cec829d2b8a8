"""Report helpers used by the planning notebooks (salesplan.reports.charts.fan_chart)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from salesplan.reports import charts


def _forecast(series, start="2027-01-01", mean=100.0):
    ds = pd.date_range(start, periods=3, freq="MS")
    return pd.DataFrame({"series": series, "ds": ds, "mean": mean,
                         "lo-80": mean - 10, "hi-80": mean + 10,
                         "lo-95": mean - 20, "hi-95": mean + 20})


def test_fan_chart_one_series_has_title_labels_and_png():
    hist = pd.Series(np.arange(12, dtype=float), index=pd.date_range("2026-01-01", periods=12, freq="MS"),
                     name="company")
    fig = charts.fan_chart(hist, _forecast("company").drop(columns="series"), title="Company revenue",
                           xlabel="month", ylabel="revenue (currency)", money=True)
    ax = fig.axes[0]
    assert ax.get_title(loc="left") == "Company revenue"
    assert ax.get_xlabel() == "month" and ax.get_ylabel() == "revenue (currency)"
    assert charts._title(fig) == "Company revenue"
    png = charts.to_png(fig)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert png == charts.to_png(fig)  # stable bytes


def test_fan_chart_small_multiples_use_the_figure_title():
    idx = pd.date_range("2026-01-01", periods=12, freq="MS")
    hist = pd.DataFrame({"East": 1.0, "West": 2.0, "北区": 3.0}, index=idx)
    fc = pd.concat([_forecast(s) for s in hist.columns], ignore_index=True)
    fig = charts.fan_chart(hist, fc, title="Regions", xlabel="month", ylabel="revenue", ncols=2)
    visible = [a for a in fig.axes if a.get_visible()]
    assert len(visible) == 3
    assert [a.get_title(loc="left") for a in visible] == ["East", "West", "北区"]
    assert charts._title(fig) == "Regions"


def test_fan_chart_rejects_missing_labels_and_columns():
    hist = pd.Series([1.0, 2.0], index=pd.date_range("2026-11-01", periods=2, freq="MS"), name="x")
    with pytest.raises(ValueError, match="axis labels"):
        charts.fan_chart(hist, _forecast("x"), title="t", xlabel="", ylabel="y")
    with pytest.raises(ValueError, match="lo-95"):
        charts.fan_chart(hist, _forecast("x").drop(columns="lo-95"), title="t", xlabel="x", ylabel="y")
    two = pd.DataFrame({"a": [1.0], "b": [2.0]}, index=pd.date_range("2026-12-01", periods=1, freq="MS"))
    with pytest.raises(ValueError, match="series"):
        charts.fan_chart(two, _forecast("a").drop(columns="series"), title="t", xlabel="x", ylabel="y")


def test_headline_amounts_carry_the_run_currency(monkeypatch):
    from salesplan.reports.format import money

    monkeypatch.delenv("SALESPLAN_CURRENCY", raising=False)
    assert str(money(15_429_200, compact=True)) == "15.4 M"
    monkeypatch.setenv("SALESPLAN_CURRENCY", "EUR")
    assert str(money(15_429_200, compact=True)) == "EUR 15.4 M"
    assert str(money(15_429_200)) == "15,429,200"  # table cells: the column says the unit
    assert str(money(1500, compact=True, symbol="$")) == "$1.5 k"  # an explicit symbol wins


def test_headlines_name_quarters_in_the_fiscal_calendar(monkeypatch):
    from salesplan.reports.publish import fiscal_quarter_names

    # fiscal year from April: Jan-Mar 2027 is the 4th quarter of FY2027 (Apr 2026 - Mar 2027)
    assert fiscal_quarter_names("Company target 2027Q1", 4) == "Company target FY27Q4 (2027Q1)"
    # from July: Jan-Mar 2027 is the 3rd quarter of FY2027 (Jul 2026 - Jun 2027)
    assert fiscal_quarter_names("2027Q1", 7) == "FY27Q3 (2027Q1)"
    assert fiscal_quarter_names("2027Q1 and 2026Q4", 1) == "2027Q1 and 2026Q4"
    assert fiscal_quarter_names("2027Q1", 2) == "2027Q1"  # not calendar quarters: kept


def test_a_report_is_parsed_once_and_is_the_page_of_nbconvert_then_the_layout(tmp_path):
    """export_html leaves nbconvert's own BeautifulSoup pass (alt texts, tabindex) to the
    layout's parse: the page is the one nbconvert's HTMLExporter and arrange_report give."""
    import base64

    import nbformat.v4 as v4
    from nbconvert import HTMLExporter

    from salesplan.reports.layout import MISSING_ALT, arrange_report
    from salesplan.reports.render import TEMPLATE_DIR, export_html, prepare_for_report

    png = base64.b64encode(bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                                         "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")).decode()
    rows = "".join(f"<tr><td>r{i}</td><td>{i * 1000:,}</td></tr>" for i in range(40))
    nb = v4.new_notebook(cells=[
        v4.new_markdown_cell("# Title\n\nThe question."),
        v4.new_markdown_cell("## First section"),
        v4.new_code_cell(outputs=[v4.new_output("display_data", {"image/png": png, "text/plain": "<Figure>"})]),
        v4.new_markdown_cell("## Second section"),
        v4.new_code_cell(outputs=[v4.new_output("display_data", {
            "text/html": f'<p><img src="data:image/png;base64,{png}"></p><table class="dataframe"><thead><tr><th>name</th><th>amount</th></tr></thead>'
                         f"<tbody>{rows}</tbody></table>", "text/plain": "table"})]),
    ])
    ours = export_html(nb, tmp_path / "r.html", caption="2027Q1").read_text("utf-8")
    stock = HTMLExporter(template_name="lab", template_file=str(TEMPLATE_DIR / "leadership.html.j2"),
                         exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True,
                         embed_images=True)
    stock.extra_template_paths = [str(TEMPLATE_DIR), *stock.extra_template_paths]
    ready = prepare_for_report(nb)
    ready.metadata["title"] = "Title"
    body, _ = stock.from_notebook_node(ready, resources={
        "metadata": {"name": "Title"}, "salesplan_index": "index.html", "salesplan_caption": "2027Q1"})
    assert ours == arrange_report(body)
    assert f'alt="{MISSING_ALT}"' in ours and 'tabindex="0"' in ours and "sp-appendix" in ours
    assert arrange_report(ours) == ours  # arranged once
