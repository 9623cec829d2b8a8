"""Open the leadership reports in headless Chromium (Debian's chromium package).

Runs a small plan (the data-health notebook) into a temporary folder, then opens
index.html and every report: no console errors, no failed requests, every image loaded
(naturalWidth > 0), the headline table present.  Screenshots go to tests/artifacts/
for review (gitignored).  No browser download: Playwright drives /usr/bin/chromium.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from machine import chromium_browser, need_chromium

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "tests" / "artifacts"
DEMO = ROOT / "data" / "demo" / "salesplan_demo.duckdb"

pytestmark = pytest.mark.slow



@pytest.fixture(scope="module")
def plan(tmp_path_factory):
    need_chromium()
    from salesplan.reports import run_plan

    tmp = tmp_path_factory.mktemp("plan")
    if DEMO.exists():
        source = f"duckdb:///{DEMO}"
    else:  # a fresh clone before `make demo-data`: a small demo company
        from salesplan.data import open_source
        from salesplan.demo.generator import generate

        source = f"duckdb:///{tmp / 'demo.duckdb'}"
        open_source(source).write(generate(seed=7, scale=0.2).data, replace=True)
    return run_plan(
        source=source,
        notebooks=["01_data_health"],
        notebooks_dir=ROOT / "notebooks",
        out_dir=tmp / "reports",
        plan_store=f"duckdb:///{tmp / 'plan_store.duckdb'}",
        timeout=300,
        echo=lambda line: None,
    )


@pytest.fixture(scope="module")
def browser():
    with chromium_browser() as b:
        yield b


def _open(browser, path: Path, shot: str):
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
            if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
    page.goto(path.as_uri(), wait_until="load")
    page.wait_for_load_state("networkidle")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / shot), full_page=True)
    images = page.evaluate(
        "() => Array.from(document.images).map(i => ({src: i.src.slice(0, 40), alt: i.alt,"
        " complete: i.complete, w: i.naturalWidth}))"
    )
    # hover charts are inline SVG (charts.chart_output): drawn when they have a width
    images += page.evaluate(
        "() => Array.from(document.querySelectorAll('svg.sp-chart')).map(s => ({src: 'inline svg',"
        " alt: s.getAttribute('aria-label'), complete: true, w: s.getBoundingClientRect().width}))"
    )
    return page, problems, images


def test_index_opens_cleanly_and_links_every_report(plan, browser):
    page, problems, images = _open(browser, plan.index, "index.png")
    assert problems == []
    assert all(i["complete"] and i["w"] > 0 for i in images), images
    assert page.locator("table.headlines").count() >= 1
    assert page.locator("table.headlines tr").count() >= 3
    hrefs = page.eval_on_selector_all("a", "els => els.map(e => e.getAttribute('href'))")
    for r in plan.notebooks:
        assert r.html.name in hrefs
    assert plan.workbook.name in hrefs
    assert "Sales plan 2027Q1" in page.title()
    page.close()


def test_every_report_renders_with_images_and_headlines(plan, browser):
    assert plan.notebooks, "the plan produced no report"
    for r in plan.notebooks:
        page, problems, images = _open(browser, r.html, f"{r.name}.png")
        assert problems == [], (r.name, problems)
        assert images, f"{r.name}: no chart"
        bad = [i for i in images if not (i["complete"] and i["w"] > 0)]
        assert bad == [], (r.name, bad)
        assert all(i["alt"] and "No description" not in i["alt"] for i in images)
        # the answer and the headline table come first, methods last
        assert page.locator("table.headlines").count() == 1
        assert page.locator("table.headlines tbody tr").count() >= 3
        text = page.inner_text("main")
        assert text.index(page.inner_text(".sp-answer")) < text.rindex("Methods and assumptions")
        # no code, no prompts
        assert page.locator(".jp-InputArea-editor, .jp-InputPrompt").count() == 0
        assert "import " not in text and "In [" not in text
        # back link to the index works
        page.click("a.sp-back")
        assert page.url.endswith("index.html")
        page.close()


def test_run_reports_keep_every_column_at_1400_px_on_a_phone_and_in_print(plan, browser):
    """The reports of this run (runner -> export_html), checked as tests/test_report_layout.py
    checks the committed notebooks: every table's columns inside the page in each mode."""
    from test_report_layout import MODES, lost_columns, open_page

    for r in plan.notebooks:
        for mode, (width, media) in MODES.items():
            page = open_page(browser, r.html, width, media)
            problems, res = lost_columns(page)
            assert res["tables"], (r.name, mode)
            assert problems == [], (r.name, mode, problems)
            assert page.remote_requests == [], (r.name, mode)
            page.close()


def test_index_fits_a_phone(plan, browser):
    from test_report_layout import open_page

    for width in (1400, 420):
        page = open_page(browser, plan.index, width)
        assert page.evaluate("() => document.documentElement.scrollWidth") <= width
        assert page.remote_requests == []
        page.close()
