"""The zh demo renders in Chinese end to end (issue 17): every page of a Chinese run, in Chromium.

Runs the whole demo once with ``salesplan run -p report_language zh`` (the real CLI in a
subprocess, a fresh plan store in a temporary folder), then for every report, the executive
summary and the index:

* opens it in headless Chromium (Debian's chromium via Playwright, tests/machine.py), takes a
  full-page screenshot (tests/artifacts/zh_full_*.png, gitignored) and checks it is not blank
  (many distinct colours, a fair share of non-white pixels) and that its Chinese text is drawn
  with a CJK font: a run of CJK characters in the page's first heading is about 1 em wide
  per character (a missing font gives boxes or zero width);
* counts the visible texts that are still English prose
  (:func:`salesplan.reports.language_audit.english_texts`; the allowed words, each with its
  reason, are :data:`salesplan.reports.language_audit.ALLOWED`; customer and rep names come
  from the data): the count is 0 for every page.

Needs Chromium and a CJK font (skip here, fail in CI).  One run of the demo (~1-3 min).
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from machine import chromium_browser, need_chromium, need_cjk_font
from test_reports_browser import DEMO, _open

from salesplan.reports import language_audit

ROOT = Path(__file__).resolve().parents[1]
CJK = re.compile(r"[\u4e00-\u9fff]")
#: the pages of a complete run: the eight reports, the summary and the index
PAGES = ("01_data_health", "02_forecast", "03_customer_risk", "03b_pipeline", "04_quarterly_targets",
         "05_resource_allocation", "06_weekly_review", "07_quarter_review", "summary", "index")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def zh_run(tmp_path_factory) -> Path:
    """The run folder of one Chinese run of the whole demo (the real CLI, a fresh store)."""
    need_chromium()
    if not DEMO.exists():
        pytest.skip("the bundled demo company is missing (make demo-data)")
    need_cjk_font()
    tmp = tmp_path_factory.mktemp("zh_full")
    cli = Path(sys.executable).with_name("salesplan")
    env = {**os.environ, "SALESPLAN_PLAN_STORE": f"duckdb:///{tmp / 'plan_store.duckdb'}"}
    env.pop("SALESPLAN_REPORT_LANGUAGE", None)
    done = subprocess.run(
        [str(cli), "run", "--out", str(tmp / "reports"), "--notebooks-dir", str(ROOT / "notebooks"),
         "-p", "report_language", "zh"],
        cwd=tmp, env=env, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, f"salesplan run failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    run = tmp / "reports" / "latest"
    assert run.is_dir(), sorted(p.name for p in (tmp / "reports").iterdir())
    return run


@pytest.fixture(scope="module")
def browser():
    need_chromium()
    with chromium_browser() as b:
        yield b


def test_every_page_of_the_run_is_there(zh_run):
    found = sorted(p.stem for p in zh_run.glob("*.html"))
    assert found == sorted(PAGES)


#: the width of one CJK character of the first heading, in em (about 1 when a CJK font draws it)
_GLYPH_EM = """() => {
  const h = document.querySelector('main h1') || document.querySelector('h1');
  const walker = document.createTreeWalker(h, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const m = /[\\u4e00-\\u9fff]{2,}/.exec(n.data);
    if (!m) continue;
    const r = document.createRange();
    r.setStart(n, m.index); r.setEnd(n, m.index + m[0].length);
    return [m[0], r.getBoundingClientRect().width / m[0].length / parseFloat(getComputedStyle(h).fontSize)];
  }
  return [h.innerText, null];
}"""


def _not_blank(png: bytes) -> tuple[int, float]:
    """Distinct colours and share of non-white pixels of a screenshot."""
    import numpy as np
    from PIL import Image

    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).reshape(-1, 3)
    return len(np.unique(rgb, axis=0)), float((rgb.min(axis=1) < 200).mean())


@pytest.mark.parametrize("name", PAGES)
def test_page_renders_in_chinese_in_chromium(zh_run, browser, name):
    page, problems, images = _open(browser, zh_run / f"{name}.html", f"zh_full_{name}.png")
    try:
        assert problems == [], problems
        assert page.evaluate("document.documentElement.lang") == "zh-CN"
        assert all(i["complete"] and i["w"] > 0 for i in images), images
        colours, inked = _not_blank(page.screenshot(full_page=False))
        assert colours >= 50 and inked >= 0.02, (colours, inked)
        text = page.inner_text("body")
        cjk, latin = len(CJK.findall(text)), len(re.findall(r"[A-Za-z]", text))
        assert cjk >= 200 and cjk >= latin, (cjk, latin)  # mostly Chinese (names and ids are Latin)
        run, em = page.evaluate(_GLYPH_EM)
        assert em is not None, f"no Chinese in the first heading: {run!r}"
        assert 0.9 <= em <= 1.1, (run, em)  # drawn by a CJK font, not boxes
    finally:
        page.close()


def test_no_english_prose_left_on_any_page(zh_run):
    names = language_audit.data_names(DEMO)
    found = language_audit.audit_run(zh_run, names)
    assert sorted(found) == sorted(f"{p}.html" for p in PAGES)
    left = {page: sorted(set(texts))[:10] for page, texts in found.items() if texts}
    assert left == {}, language_audit.report(found, top=30)


def test_audit_finds_english_and_passes_chinese():
    """The audit's rule on texts whose answer is known (so a 0 above means something)."""
    page = ('<html><head><title>Sales plan</title><style>.a b {}</style></head><body><main>'
            '<h1>销售计划</h1><p>预计 12 个客户流失</p><p>ETS 模型；MinT 调和</p>'
            '<td>Johnson Engineering Corp</td><td>A / B</td><code>report_language = zh</code>'
            '<th title="sort by this column">收入</th><svg><title>decile 3: predicted 20%</title></svg>'
            '<p>no orders in 90 days</p><p>用 `salesplan approve RUN_ID --by NAME` 批准</p>'
            '<td>ahead > 15%</td><td>R0001</td><td>HOUSE:South</td><p>见 benchmarks/RESULTS.md</p></main></body></html>')
    found = language_audit.english_texts(page, names=["Johnson Engineering Corp"])
    assert found == ["sort by this column", "decile 3: predicted 20%", "no orders in 90 days", "ahead > 15%",
                     "HOUSE:South"]
