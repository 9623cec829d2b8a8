"""Report language (issue 17 item 6): Chinese amounts in 万/亿, translations, fallbacks.

Expected strings are written by hand from the rules (1万 = 10^4, 1亿 = 10^8; 万 with one
decimal, 亿 with two), never produced by the code under test.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from salesplan.reports import i18n
from salesplan.reports.format import money, number, pct, styled_table
from salesplan.reports.i18n import (
    language,
    markdown_status,
    translate,
    translate_html,
    zh_amount,
    zh_month,
    zh_period,
)

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


@pytest.fixture(autouse=True)
def _english_environment(monkeypatch):
    monkeypatch.delenv(i18n.LANG_ENV, raising=False)
    monkeypatch.delenv(i18n.CURRENCY_ENV, raising=False)
    i18n.set_language(None)
    yield
    i18n.set_language(None)


# --------------------------------------------------------------------------- numbers


@pytest.mark.parametrize("x, currency, expected", [
    (12_345_678, "", "1,234.6万"),
    (123_456_789, "", "1.23亿"),
    (123_456_789, "CNY", "¥1.23亿"),
    (12_345_678, "¥", "¥1,234.6万"),
    (10_000, "", "1.0万"),
    (9_999, "", "9,999"),
    (-9_876, "USD", "-9,876美元"),
    (-25_000, "CNY", "-¥2.5万"),
    (1_500_000_000_000, "", "15,000.00亿"),
    (50_000, "USD", "5.0万美元"),
    (2_000_000, "GBP", "200.0万英镑"),
    (2_000_000, "CHF", "200.0万 CHF"),
    (2_000_000, "$", "$200.0万"),
    (0.4, "", "0"),
    (None, "", "–"),
    (float("nan"), "CNY", "–"),
])
def test_zh_amount(x, currency, expected):
    assert zh_amount(x, currency=currency) == expected


def test_zh_amount_decimals_and_rounding_edge():
    assert zh_amount(12_345_678, 0) == "1,235万"
    assert zh_amount(99_995_000) == "9,999.5万"  # stays 万 below 1亿
    assert zh_amount(1234.5, 2) == "1,234.50"


def test_money_follows_the_report_language(monkeypatch):
    assert money(12_345_678) == "12,345,678"  # English: unchanged
    assert money(12_345_678, compact=True) == "12.3 M"
    monkeypatch.setenv(i18n.LANG_ENV, "zh")
    monkeypatch.setenv(i18n.CURRENCY_ENV, "CNY")
    v = money(12_345_678)
    assert v == "1,234.6万" and v.raw == 12_345_678  # table cells: no currency
    assert money(123_456_789, compact=True) == "¥1.23亿"  # headline figures: with it
    assert money(1500, symbol="$") == "$1,500"
    assert money(-1234.567, 2) == "-1,234.57"
    assert pct(0.153) == "15.3%" and number(3000) == "3,000"  # unchanged in Chinese
    monkeypatch.setenv(i18n.CURRENCY_ENV, "USD")
    assert money(14_400_000, compact=True) == "1,440.0万美元"


def test_periods_months_and_chart_ticks():
    assert zh_period("2027Q1") == "2027年第1季度"
    assert zh_period("not a period") == "not a period"
    assert zh_month("2027-01-15") == "2027年1月"
    assert zh_month(pd.Timestamp("2026-12-01")) == "2026年12月"
    from salesplan.reports.charts import _zh_tick

    assert (_zh_tick(1_500_000), _zh_tick(250_000_000), _zh_tick(800)) == ("150万", "2.5亿", "800")


def test_unknown_language_is_one_clear_error(monkeypatch):
    with pytest.raises(ValueError, match=r"report_language='fr': expected one of \['en', 'zh'\]"):
        i18n.set_language("fr")
    monkeypatch.setenv(i18n.LANG_ENV, "fr")
    with pytest.raises(ValueError, match="report_language='fr'"):
        money(1)


# --------------------------------------------------------------------------- phrases


def test_translate_exact_template_list_and_fallback():
    assert translate("Headline figures", "zh") == "核心数据"
    assert translate("Data checks:", "zh") == "数据检查："
    assert translate("Net revenue 2026Q1 (same quarter last year)", "zh") == "2026年第1季度净收入（去年同季度）"
    assert translate("East, South, Northeast", "zh") == "华东、华南、东北"
    assert translate("10 of 10", "zh") == "10 / 10"
    assert translate("a sentence nobody translated", "zh") == "a sentence nobody translated"
    assert translate("Headline figures", "en") == "Headline figures"
    assert translate(42, "zh") == "42"


def test_translate_html_keeps_code_and_sets_the_language():
    page = ('<html lang="en"><body><h2>Executive summary</h2><p>Source: <code>Source</code> '
            '&middot; 3 reports</p><script>var a = "Executive summary";</script></body></html>')
    out = translate_html(page, "zh")
    assert '<html lang="zh-CN">' in out
    assert "<h2>执行摘要</h2>" in out and "<p>来源： <code>Source</code>" in out
    assert 'var a = "Executive summary";' in out  # scripts untouched
    assert translate_html(page, "en") == page


def test_region_order_of_a_chinese_report():
    got = i18n.region_order(["Central", "East", "North", "Northeast", "South", "Southwest"], "zh")
    assert got == ["North", "Northeast", "East", "Central", "South", "Southwest"]
    assert i18n.region_order(["South", "East"], "en") == ["South", "East"]


def test_styled_table_in_chinese():
    df = pd.DataFrame({"region": ["Central", "East", "North"], "revenue": [25_000.0, 1_234_567.0, 90.0],
                       "present": [True, False, True]})
    with language("zh"):
        t = styled_table(df, money_cols=["revenue"], caption="Facts about the data")
        html = t.to_html()
    assert list(t._text.columns) == ["大区", "收入", "是否存在"]
    assert t._text["大区"].tolist() == ["华北", "华东", "华中"]  # alphabetical -> Chinese order
    assert t._text["收入"].tolist() == ["90", "123.5万", "2.5万"]
    assert t._text["是否存在"].tolist() == ["是", "否", "是"]
    assert t.caption == "数据基本情况" and "数据基本情况" in html and "123.5万" in html
    english = styled_table(df, money_cols=["revenue"], caption="Facts about the data")
    assert list(english._text.columns) == ["Region", "Revenue", "Present"]
    assert english._text["Revenue"].tolist() == ["25,000", "1,234,567", "90"]


def test_workbook_headers_in_chinese(tmp_path):
    import openpyxl

    from salesplan.reports.workbook import write_plan_workbook

    tables = {"company": pd.DataFrame({"quarter": ["2027Q1"], "target": [14_400_000.0]}),
              "regions": pd.DataFrame({"region": ["East"], "quota": [3_000_000.0]})}
    with language("zh"):
        write_plan_workbook(tables, tmp_path / "zh.xlsx")
    write_plan_workbook(tables, tmp_path / "en.xlsx")
    zh, en = openpyxl.load_workbook(tmp_path / "zh.xlsx"), openpyxl.load_workbook(tmp_path / "en.xlsx")
    assert zh.sheetnames == ["公司", "大区"] and en.sheetnames == ["Company", "Regions"]
    assert [c.value for c in zh["公司"][1]] == ["季度", "目标"]
    assert [c.value for c in zh["大区"][1]] == ["大区", "指标"]
    assert zh["公司"]["B2"].value == 14_400_000.0  # numbers stay numbers
    assert [c.value for c in en["Company"][1]] == ["quarter", "target"]


def test_a_broken_translation_file_warns_and_stays_english(tmp_path, monkeypatch):
    bad = tmp_path / "i18n" / "zh"
    bad.mkdir(parents=True)
    (bad / "x.yaml").write_text("c1: [unclosed\n", "utf-8")
    with pytest.warns(UserWarning, match="not valid YAML"):
        assert i18n.markdown_translations(tmp_path, "x", "zh") == {}


# --------------------------------------------------------------------------- markdown cells


def test_every_markdown_cell_has_a_current_chinese_text_or_is_pending():
    status = markdown_status(NOTEBOOKS, "zh")
    open_cells = status["missing"] + status["changed"]
    assert open_cells == [], (
        "markdown cells without a current Chinese text (translate them in notebooks/i18n/zh/ "
        "or list them with `python -m salesplan.reports.i18n --pending`): " + ", ".join(open_cells))
    assert len(status["translated"]) >= 80


def test_a_changed_or_missing_cell_falls_back_to_english():
    from salesplan.reports.render import localize_notebook

    nb = nbformat.read(str(NOTEBOOKS / "01_data_health.ipynb"), as_version=4)
    md = [c for c in nb.cells if c.cell_type == "markdown"]
    md[1].source += "\n\nA sentence added after the translation."
    md[2].id = "new-cell-id"
    with language("zh"):
        out = localize_notebook(nb, NOTEBOOKS, "01_data_health")
    out_md = [c for c in out.cells if c.cell_type == "markdown"]
    assert out_md[0].source.startswith("# 数据体检")
    assert out_md[1].source == md[1].source and out_md[2].source == md[2].source
    assert localize_notebook(nb, NOTEBOOKS, "01_data_health", "en") is nb


def test_status_command_lists_changed_cells(tmp_path, capsys):
    import shutil

    shutil.copy(NOTEBOOKS / "01_data_health.ipynb", tmp_path / "01_data_health.ipynb")
    (tmp_path / "i18n" / "zh").mkdir(parents=True)
    shutil.copy(NOTEBOOKS / "i18n" / "zh" / "01_data_health.yaml", tmp_path / "i18n" / "zh")
    nb = nbformat.read(str(tmp_path / "01_data_health.ipynb"), as_version=4)
    cell = next(c for c in nb.cells if c.cell_type == "markdown" and c.id == "400c1431")
    cell.source += " Edited."
    nbformat.write(nb, str(tmp_path / "01_data_health.ipynb"))
    assert i18n.main(["--notebooks", str(tmp_path)]) == 1
    assert "changed: 01_data_health/400c1431" in capsys.readouterr().out
    assert i18n.main(["--notebooks", str(tmp_path), "--pending"]) == 0
    assert i18n.main(["--notebooks", str(tmp_path)]) == 0
    assert (tmp_path / "i18n" / "zh" / "PENDING").read_text("utf-8") == "01_data_health/400c1431\n"


# --------------------------------------------------------------------------- runner


def test_runner_refuses_an_unknown_language_before_running(tmp_path):
    from salesplan.reports import ParameterError, run_plan

    with pytest.raises(ParameterError, match="report_language='fr'"):
        run_plan(params={"report_language": "fr"}, notebooks=["01_data_health"],
                 notebooks_dir=NOTEBOOKS, out_dir=tmp_path, echo=lambda line: None)
    assert not list(tmp_path.iterdir())
    assert i18n.get_language() == "en"


def test_english_formatting_is_untouched_by_the_i18n_hooks():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert money(1234567.891) == "1,234,568"
        assert money(-1500, symbol="$") == "-$1,500"
        assert money(12_345_678, compact=True) == "12.3 M"
        t = styled_table(pd.DataFrame({"ok": [True]}))
        assert t._text["Ok"].tolist() == ["yes"]


def test_chinese_paragraph_lines_are_joined_but_lists_and_headings_kept():
    text = ("# 标题\n\n**问题。** 数据是否完整，\n随后是*方法与假设*。\n\n"
            "- **来源。** 数据表从\n  数据源读取，\n  `validate` 检查\n- 第二项")
    assert i18n.join_cjk_lines(text) == (
        "# 标题\n\n**问题。** 数据是否完整，随后是*方法与假设*。\n\n"
        "- **来源。** 数据表从数据源读取，`validate` 检查\n- 第二项")


def test_cli_lists_report_language_and_suggests_it_for_a_typo():
    from typer.testing import CliRunner

    from salesplan.cli import app

    listed = CliRunner().invoke(app, ["params", "--notebooks-dir", str(NOTEBOOKS)])
    assert listed.exit_code == 0 and '  report_language = "en"\n' in listed.output
    typo = CliRunner().invoke(app, ["run", "-p", "report_languge", "zh", "--no-check"])
    assert typo.exit_code == 1
    assert "'report_languge' -> did you mean 'report_language'?" in typo.output


# --------------------------------------------------------------------------- zh review fixes


def test_zh_tables_list_regions_north_first_also_grouped_or_after_a_company_row():
    from salesplan.reports.format import _zh_region_rows

    label = pd.DataFrame({"": ["Company", "Central", "East", "North", "Northeast", "South", "Southwest"],
                          "v": range(7)})
    assert _zh_region_rows(label)[""].tolist() == ["Company", "North", "Northeast", "East", "Central",
                                                   "South", "Southwest"]
    reps = pd.DataFrame({"region": ["Central", "Central", "East", "North"], "rep": ["R2", "R1", "R3", "R4"]})
    out = _zh_region_rows(reps)
    assert out["rep"].tolist() == ["R4", "R3", "R2", "R1"]  # within a region the given order
    ranked = pd.DataFrame({"region": ["North", "Central", "East"], "v": [3, 2, 1]})  # ranked by v: kept
    assert _zh_region_rows(ranked)["region"].tolist() == ["North", "Central", "East"]


def test_zh_sentence_dates_full_stops_and_name_lists():
    with i18n.language("zh"):
        assert i18n.translate("Won value expected from the open pipeline by 2027-03-31") == \
            "截至 2027年3月31日 在途商机的预期赢单额"
        assert i18n.translate("2027-03-31") == "2027-03-31"  # a table cell keeps its ISO date
        # an amount inside a sentence in 万; a smaller number and a table cell stay as written
        assert i18n.translate("days since last contact: 99; revenue, last year: 458,200") == \
            "距上次联系天数：99；收入（最近一年）：45.8万"
        assert i18n.translate("revenue, last year: 9,200") == "收入（最近一年）：9,200"
        assert i18n.translate("458,200") == "458,200"
        assert i18n.translate("Top performers: R0023 A B, R0017 C D, R0038 E F.") == \
            "业绩最佳：R0023 A B、R0017 C D、R0038 E F。"
        page = '<html lang="en"><p>合计 <b>1</b>.</p><code>a.</code></html>'
        assert i18n.translate_html(page) == '<html lang="zh-CN"><p>合计 <b>1</b>。</p><code>a.</code></html>'


def test_zh_workbook_raw_sheets_translate_text_cells_but_not_ids_names_or_quarters():
    import openpyxl

    from salesplan.reports.workbook import add_table_sheet

    frame = pd.DataFrame({"region": ["Central", "North"], "rep_id": ["R0001", "R0002"],
                          "name": ["Anna King", "Mark Lee"], "period": ["2027Q1", "2027Q1"],
                          "growth_vs_ly": [0.1, 0.2]})
    wb = openpyxl.Workbook()
    with i18n.language("zh"):
        ws = add_table_sheet(wb, "04 region", frame)
    rows = [[c.value for c in r] for r in ws.iter_rows()]
    assert rows[0][4] == "较去年同期增长"
    assert [r[:4] for r in rows[1:]] == [["华中", "R0001", "Anna King", "2027Q1"],
                                         ["华北", "R0002", "Mark Lee", "2027Q1"]]
    with i18n.language("en"):
        ws = add_table_sheet(wb, "04 region en", frame)
    assert [c.value for c in ws[2]][:1] == ["Central"]
