"""A Chinese run end to end: ``report_language = "zh"`` through the runner, opened in Chromium.

Runs the real data-health notebook (01) with ``-p report_language zh`` into a temporary
folder, then opens index.html and the report in headless Chromium (Debian's chromium via
Playwright, no download): Chinese headings, amounts in 万, Chinese chart descriptions and
workbook headers.  Screenshots go to tests/artifacts/ (gitignored).  Needs Chromium and a
CJK font (tests/machine.py: skip here, fail in CI).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from machine import chromium_browser, need_chromium, need_cjk_font
from test_reports_browser import DEMO, _open

ROOT = Path(__file__).resolve().parents[1]
CJK = re.compile(r"[\u4e00-\u9fff]")
WAN = re.compile(r"\d[\d,]*\.\d万")

pytestmark = pytest.mark.slow


def _machine() -> None:
    need_chromium()
    need_cjk_font()


@pytest.fixture(scope="module")
def zh_plan(tmp_path_factory):
    _machine()
    if not DEMO.exists():
        pytest.skip("the bundled demo company is missing (make demo-data)")
    from salesplan.reports import run_plan
    from salesplan.reports.i18n import get_language

    tmp = tmp_path_factory.mktemp("zh")
    result = run_plan(
        source=f"duckdb:///{DEMO}",
        params={"report_language": "zh"},
        notebooks=["01_data_health"],
        downstream=False,  # only 01: the others read it
        notebooks_dir=ROOT / "notebooks",
        out_dir=tmp / "reports",
        plan_store=f"duckdb:///{tmp / 'plan_store.duckdb'}",
        timeout=300,
        echo=lambda line: None,
    )
    assert get_language() == "en"  # the run's language does not leak into this process
    return result


@pytest.fixture(scope="module")
def browser():
    _machine()
    with chromium_browser() as b:
        yield b




def test_zh_report_shows_chinese_headings_and_wan_amounts(zh_plan, browser):
    report = zh_plan.notebooks[0].html
    page, problems, _ = _open(browser, report, "zh_01_data_health.png")
    assert problems == []
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    h1 = page.inner_text("main h1")
    assert h1.startswith("数据体检"), h1
    headings = page.eval_on_selector_all("main h2", "els => els.map(e => e.innerText)")
    assert "按季度的收入" in headings and "方法与假设" in headings, headings
    rows = page.eval_on_selector_all(
        "table.headlines tbody tr", "rs => rs.map(r => [r.cells[0].innerText, r.cells[1].innerText])")
    labels = dict(rows)
    assert labels["净收入（最近 4 个季度）"].endswith("万美元"), labels  # demo currency: USD
    assert WAN.search(labels["净收入（最近 4 个季度）"])
    assert CJK.search(page.inner_text(".sp-answer"))
    alts = page.eval_on_selector_all(  # PNG charts (alt) and hover SVG charts (aria-label)
        "img, svg.sp-chart", "els => els.map(e => e.alt || e.getAttribute('aria-label'))")
    assert "按季度和年份的净收入" in alts, alts
    # the year-by-quarter table: amounts in 万, Chinese headers
    text = page.inner_text("main")
    assert "全年合计" in text and len(WAN.findall(text)) >= 8
    # the answer comes first, the methods last
    assert text.index(page.inner_text(".sp-answer")) < text.rindex("方法与假设")
    # CJK glyphs are drawn with a CJK font, not as boxes: the heading's width per glyph is
    # that of a full-width character (about 1 em), as a font without CJK gives 0 or tofu
    em = page.evaluate("""() => { const h = document.querySelector('main h1');
        const r = document.createRange(); r.selectNodeContents(h.firstChild);
        r.setEnd(h.firstChild, 4);  // the first four characters: 数据体检
        return r.getBoundingClientRect().width / 4 / parseFloat(getComputedStyle(h).fontSize); }""")
    assert 0.9 <= em <= 1.1, em
    page.close()


def test_zh_index_and_workbook(zh_plan, browser):
    page, problems, _ = _open(browser, zh_plan.index, "zh_index.png")
    assert problems == []
    assert page.inner_text("main h1") == "2027年第1季度销售计划"
    card = page.inner_text("section.sp-index-card")
    assert "数据体检" in card and WAN.search(card), card
    assert "report_language" in page.inner_text(".sp-banner")
    page.close()
    import openpyxl

    wb = openpyxl.load_workbook(zh_plan.workbook)
    assert wb.sheetnames[:2] == ["核心数据", "运行信息"]
    assert [c.value for c in wb["核心数据"][1]] == ["报告", "指标", "显示值", "数值"]
    figures = [r[1].value for r in wb["核心数据"].iter_rows(min_row=2)]
    assert "净收入（最近 4 个季度）" in figures
