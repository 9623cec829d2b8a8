"""Report layout: tables that keep every column at 1400 px, on a phone and on A4 paper,
sortable/filterable offline, long tables as top-N + appendix, contents, numbers without
scientific notation, names beside ids, sharp charts with legends clear of titles.

The browser tests open, in headless Chromium (Debian's /usr/bin/chromium, as
tests/test_reports_browser.py), every committed notebook rendered by ``export_html``
(their committed outputs: what ``salesplan run`` renders) and a sample notebook built
here from ``styled_table`` with known data (a 15-column table of 60 rows with long
names, tiny and huge floats).  Expected orders and counts come from the sample's data
in Python, never from the page.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from machine import chromium_browser
from matplotlib.backends.backend_agg import FigureCanvasAgg

from salesplan.reports import charts
from salesplan.reports.format import column_label, decimal, styled_table, with_names
from salesplan.reports.layout import LayoutParams, arrange_report, cell_is_numeric

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
#: A4 portrait minus the 12 mm margins of salesplan.css (@page), in CSS px (96 per inch)
A4_CONTENT_PX = round((210 - 2 * 12) / 25.4 * 96)
MODES = {"1400 px": (1400, "screen"), "phone 420 px": (420, "screen"), "A4 print": (A4_CONTENT_PX, "print")}
#: a number in scientific notation anywhere in a cell (2e-06, 1.5E+07)
SCIENTIFIC = re.compile(r"\d(\.\d+)?[eE][+-]?\d+\b")


# ---------------------------------------------------------------- numbers and labels

def test_decimal_is_fixed_point_never_scientific():
    assert decimal(1234.5678) == "1,234.57"
    assert decimal(2e-06) == "0.00"
    assert decimal(2e-06, significant=2) == "0.0000020"
    assert decimal(-0.004, significant=2) == "-0.0040"
    assert decimal(-0.001) == "0.00"  # no "-0.00"
    assert decimal(float("nan")) == "–" and decimal(float("inf")) == "∞"
    for exp in range(-14, 22):
        for v in (1.5 * 10.0**exp, -7 * 10.0**exp):
            assert "e" not in decimal(v, significant=2).lower(), v


def test_table_cells_never_show_scientific_notation():
    df = pd.DataFrame({
        "tiny": [2e-06, 1e-12, 3.5],
        "huge": [2.5e20, 1e16, 7.0],
        "mixed": [1e-07, 3.0, "text"],  # an object column: str(1e-07) would be '1e-07'
        "counts": [8.0, 2.0, 14.0],  # whole numbers in a float column
        "year": [2026, 0.5, "2027"],  # object: years stay years, fractions as they read
        "big": [2.5e20, 1e16, "x"],
    }, index=pd.Index([2e-06, 1.0, 2.5], name="x"))
    t = styled_table(df)
    cells = [v for col in t._text.columns for v in t._text[col]]
    assert not [c for c in cells if SCIENTIFIC.search(c)], cells
    assert list(t._text["Counts"]) == ["8", "2", "14"]  # integers as integers
    assert list(t._text["Mixed"]) == ["0.00000010", "3", "text"]
    assert list(t._text["Tiny"]) == ["0.00", "0.00", "3.50"]
    assert list(t._text["Year"]) == ["2026", "0.5", "2027"]
    assert list(t._text["Big"]) == ["250,000,000,000,000,000,000.00", "10,000,000,000,000,000.00", "x"]
    html = t.to_html()
    assert not SCIENTIFIC.search(re.sub(r"<[^>]+>|#T_\w+|T_\w+", " ", html))
    t = styled_table(df, index=True)  # the index too
    assert list(t._text["x"]) == ["0.0000020", "1", "2.5"]
    cells = [v for col in t._text.columns for v in t._text[col]]
    assert not [c for c in cells if SCIENTIFIC.search(c)], cells
    html = t.to_html()
    assert not SCIENTIFIC.search(re.sub(r"<[^>]+>|#T_\w+|T_\w+", " ", html))


def test_column_labels_in_words():
    assert column_label("n") == "Count"
    assert column_label("n_E") == "At E"
    assert column_label("class_A") == "Class A"
    assert column_label("p_win") == "P(win)"
    assert column_label("rate_lo") == "Rate low"
    assert column_label("roi") == "ROI" and column_label("r2") == "R²"
    assert column_label("se") == "Std. error"
    assert column_label("rep_name") == "Rep"
    # unchanged: existing labels and names written for people
    assert column_label("need_fte") == "Need FTE" and column_label("abc_class") == "ABC class"
    assert column_label("P(churn)") == "P(churn)"


def test_with_names_puts_the_name_beside_the_id():
    frame = pd.DataFrame({"region": ["East", "West", "East"], "rep_id": ["R2", "R9", "R1"],
                          "revenue": [10.0, 20.0, 30.0]})
    reps = pd.DataFrame({"rep_id": ["R1", "R2"], "name": ["Li Na", "Wang Wei"], "level": ["senior", "junior"]})
    out = with_names(frame, "rep_id", reps)
    assert list(out.columns) == ["region", "rep_id", "rep_name", "revenue"]
    assert out["rep_name"].tolist() == ["Wang Wei", None, "Li Na"]
    assert list(frame.columns) == ["region", "rep_id", "revenue"]  # input untouched
    by_dict = with_names(frame, "rep_id", {"R9": "Zhao Lei"}, name_col="who")
    assert by_dict["who"].tolist() == [None, "Zhao Lei", None]
    by_series = with_names(frame, "region", pd.Series({"East": "东区"}))
    assert list(by_series.columns)[:2] == ["region", "region_name"]
    assert styled_table(out)._text.columns.tolist() == ["Region", "Rep ID", "Rep", "Revenue"]
    assert styled_table(out)._text["Rep"].tolist() == ["Wang Wei", "–", "Li Na"]
    with pytest.raises(KeyError, match="customer_id"):
        with_names(frame, "customer_id", {})
    with pytest.raises(ValueError, match="already has a column 'revenue'"):
        with_names(frame, "rep_id", {}, name_col="revenue")
    with pytest.raises(ValueError, match=r"several names for id\(s\) \['R1'\]"):
        with_names(frame, "rep_id", pd.Series(["a", "b"], index=["R1", "R1"]))


# ---------------------------------------------------------------- layout (no browser)

def _sample_frames(n_rows: int = 60):
    rng = np.random.default_rng(3)
    first = ["Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou"]
    wide = pd.DataFrame({
        "rep_id": [f"R{i:04d}" for i in range(1, n_rows + 1)],
        "region": [["East", "North", "South", "Southwest", "Northeast"][i % 5] for i in range(n_rows)],
        "level": [["senior", "junior", "key_account"][i % 3] for i in range(n_rows)],
        "revenue": np.round(rng.uniform(1e5, 2e6, n_rows), 2),
        "quota": np.round(rng.uniform(1e5, 2e6, n_rows), -2),
        "attainment": rng.uniform(0.3, 2.4, n_rows),
        "growth_yoy": rng.uniform(-0.5, 5.0, n_rows),
        "avg_order": rng.uniform(500, 9000, n_rows),
        "new_customers": rng.integers(0, 20, n_rows).astype(float),
        "retention": rng.uniform(0.5, 1.0, n_rows),
        "collected": rng.uniform(0.6, 1.0, n_rows),
        "regret": rng.uniform(0, 1, n_rows) * 1e-6,
        "visits": rng.integers(0, 400, n_rows),
        "comment": ["accounts concentrated in one industry; follow up the quote backlog"] * n_rows,
    })
    names = {rid: f"{first[i % 10]} {['Wei', 'Na', 'Lei', 'Fang', 'Jing'][i % 5]}xiang"
             for i, rid in enumerate(wide["rep_id"])}
    wide = with_names(wide, "rep_id", names)
    small = pd.DataFrame({"region": ["East", "North", "South"], "revenue": [3.2e6, 1.1e6, 2.4e6]})
    return wide, small


def _sample_notebook(wide, small):
    def table_cell(t):
        cell = nbformat.v4.new_code_cell("styled_table(...)")
        cell.outputs = [nbformat.v4.new_output("execute_result", data={"text/html": t.to_html(),
                                                                      "text/plain": repr(t)},
                                               execution_count=1)]
        return cell

    wide_t = styled_table(wide, money_cols=["revenue", "quota", "avg_order"],
                          pct_cols=["attainment", "growth_yoy", "retention", "collected"],
                          caption="Reps ranked (sample, company currency)")
    small_t = styled_table(small, money_cols=["revenue"], caption="Revenue by region")
    weeks = pd.DataFrame({"week": [f"W{i:02d}" for i in range(1, 26)], "entries": range(25)})
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Sample report\n\nQuestion: does the layout hold?"),
        nbformat.v4.new_markdown_cell("## Reps"),
        table_cell(wide_t),
        nbformat.v4.new_markdown_cell("## Regions"),
        table_cell(small_t),
        table_cell(styled_table(weeks, caption="25 weeks: shown whole")),
        table_cell(styled_table(weeks.head(12), caption="top 5 asked for", top_rows=5)),
        table_cell(styled_table(pd.DataFrame({"n": range(40)}), caption="never split", top_rows=0)),
        nbformat.v4.new_markdown_cell("## Methods and assumptions\n\nNone."),
    ]
    return nb


def test_arrange_report_splits_long_tables_and_adds_contents(tmp_path):
    from bs4 import BeautifulSoup

    from salesplan.reports.render import export_html

    wide, small = _sample_frames(60)
    nb = _sample_notebook(wide, small)
    out = export_html(nb, tmp_path / "sample.html", index_href=None)
    html = out.read_text("utf-8")
    soup = BeautifulSoup(html, "html.parser")
    toc = soup.select("nav.sp-toc a")
    assert [a.get_text() for a in toc] == ["Reps", "Regions", "Methods and assumptions"]
    assert all(soup.find(id=a["href"][1:]) is not None for a in toc)
    top, full, region, weeks, top5, top5_full, whole = soup.select("table.sp-data")
    assert len(top.select("tbody tr")) == 15 and len(full.select("tbody tr")) == 60
    assert len(weeks.select("tbody tr")) == 25 and weeks.find_parent("details") is None
    assert len(top5.select("tbody tr")) == 5 and len(top5_full.select("tbody tr")) == 12
    assert len(whole.select("tbody tr")) == 40 and whole.find_parent("details") is None
    assert "first 5 of 12 rows" in top5.caption.get_text()
    assert full.find_parent("details", class_="sp-appendix") is not None
    assert not full.find_parent("details").has_attr("open")  # collapsed
    assert len(region.select("tbody tr")) == 3 and region.find_parent("details") is None
    assert "sp-cards" in top["class"] and "sp-cards" not in region["class"]  # 16 vs 2 columns
    labels = [th.get_text() for th in top.select("thead th")]
    assert labels[:3] == ["Rep ID", "Rep", "Region"] and len(labels) == len(wide.columns)
    assert [td["data-label"] for td in top.select("tbody tr")[0].find_all("td")] == labels
    assert top.select("tbody tr")[0].find_all("td")[1].get_text() == "Wang Weixiang"
    assert len(soup.select("[id]")) == len({e["id"] for e in soup.select("[id]")})  # ids unique
    assert arrange_report(html) == html  # idempotent
    again = export_html(nb, tmp_path / "again.html", index_href=None)
    assert again.read_text("utf-8") == html  # deterministic
    # scripts and styles are inline: nothing is fetched when the report is opened
    assert soup.select("script[src], link[rel=stylesheet]") == []
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert not re.search(r"@import|url\(\s*['\"]?(https?:)?//", html)
    assert len(soup.select("script")) == 1 and "sortBy" in soup.select("script")[0].get_text()


def test_layout_params_validate_themselves():
    with pytest.raises(ValueError, match="top_rows=-1"):
        styled_table(pd.DataFrame({"x": [1]}), top_rows=-1)
    with pytest.raises(ValueError, match="LayoutParams.top_rows=0"):
        LayoutParams(top_rows=0)
    with pytest.raises(ValueError, match="card_columns"):
        LayoutParams(card_columns=2.5)


def test_numeric_cells_are_recognised():
    for text in ("1,234", "-5.0%", "+3.1%", "12.3 M", "¥1,500", "0.25", "–", "450.0 k", "∞%"):
        assert cell_is_numeric(text), text
    for text in ("R0023", "East", "2026Q4", "key_account", "1,23,4"):
        assert not cell_is_numeric(text), text


# ---------------------------------------------------------------- charts

def _drawn(fig):
    FigureCanvasAgg(fig)
    renderer = fig.canvas.get_renderer()
    fig.draw(renderer)
    return renderer


def _title_box(fig, renderer):
    sup = fig._suptitle
    if sup is not None and sup.get_text():
        return sup.get_window_extent(renderer)
    return fig.axes[0]._left_title.get_window_extent(renderer)


def _history_and_forecast(names):
    idx = pd.date_range("2026-01-01", periods=12, freq="MS")
    hist = pd.DataFrame({n: np.linspace(10, 40, 12) for n in names}, index=idx)
    ds = pd.date_range("2027-01-01", periods=3, freq="MS")
    fc = pd.concat([pd.DataFrame({"series": n, "ds": ds, "mean": 45.0, "lo-80": 35.0, "hi-80": 55.0,
                                  "lo-95": 25.0, "hi-95": 65.0}) for n in names], ignore_index=True)
    return hist, fc


def test_chart_titles_never_overlap_legends():
    hist, fc = _history_and_forecast(["East", "West", "North", "South"])
    two = pd.DataFrame({"reps needed": [5, 7, 3], "reps today": [4, 8, 3]}, index=["East", "West", "North"])
    figs = {
        "fan, small multiples": charts.fan_chart(hist, fc, title="Revenue forecast by region and month, "
                                                  "with the 80% and 95% ranges", xlabel="month", ylabel="revenue"),
        "fan, one series": charts.fan_chart(hist["East"], fc[fc.series == "East"].drop(columns="series"),
                                            title="Company revenue", xlabel="month", ylabel="revenue"),
        "bars": charts.bar_chart(two, title="Reps needed to carry the quarter's target vs reps today " * 2,
                                 xlabel="region", ylabel="reps"),
        "lines": charts.line_chart(two, title="A long line chart title " * 4, xlabel="region", ylabel="reps"),
        "hbar": charts.hbar_chart(pd.Series([0.5, 1.2, 0.9], index=["R1", "R2", "R3"]), title="Workload " * 8,
                                  xlabel="utilisation", ylabel="rep", thresholds={"idle": 0.6, "overloaded": 1.1}),
        "waterfall": charts.waterfall_chart(
            pd.DataFrame({"step": ["last year", "growth", "target"], "kind": ["total", "change", "total"],
                          "amount": [100.0, 20.0, 120.0]}), title="Bridge " * 10, xlabel="step", ylabel="USD"),
    }
    for name, fig in figs.items():
        renderer = _drawn(fig)
        title = _title_box(fig, renderer)
        assert fig.legends, name
        for legend in fig.legends:
            assert not title.overlaps(legend.get_window_extent(renderer)), name


def test_charts_are_drawn_at_twice_their_display_size():
    fig = charts.bar_chart(pd.Series([1.0, 2.0], index=["a", "b"]), title="t", xlabel="x", ylabel="y",
                           size=(8.0, 4.0))
    png = charts.to_png(fig)
    width, height = struct.unpack(">II", png[16:24])  # the IHDR chunk
    assert (width, height) == (1600, 800)  # 8 x 4 inches x 100 px x 2
    with pytest.raises(ValueError, match="scale"):
        charts.to_png(fig, scale=0)


def test_charts_use_the_page_font():
    css = (ROOT / "salesplan" / "reports" / "templates" / "salesplan.css").read_text("utf-8")
    family = re.search(r"body\s*\{[^}]*font-family:\s*([^;]+);", css).group(1)
    listed = [f.strip().strip('"') for f in family.split(",")]
    assert [f for f in listed if f != "sans-serif"] == list(charts.PAGE_FONTS[:-1])
    from matplotlib import font_manager, rcParams

    charts.configure_fonts()
    installed = {f.name for f in font_manager.fontManager.ttflist}
    expected = next((f for f in charts.PAGE_FONTS if f in installed), "DejaVu Sans")
    assert rcParams["font.family"][0] == expected


def test_hbar_chart_names_thresholds_and_colours():
    values = pd.Series([0.5, 1.3, 0.9, 0.2], index=["R1", "R2", "R3", "R4"])
    fig = charts.hbar_chart(values, names={"R1": "Li Na", "R2": "Wang Wei", "R4": "R4"}, title="Workload",
                            xlabel="utilisation", ylabel="rep", percent=True,
                            thresholds={"idle below 60%": 0.6, "overloaded above 110%": 1.1})
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["Wang Wei (R2)", "R3", "Li Na (R1)", "R4"]  # largest on top
    widths = [p.get_width() for p in ax.patches]
    assert widths == [1.3, 0.9, 0.5, 0.2]
    lines = sorted(ln.get_xdata()[0] for ln in ax.lines)
    assert lines == [0.6, 1.1]
    colours = [p.get_facecolor()[:3] for p in ax.patches]
    from matplotlib.colors import to_rgb

    assert colours == [to_rgb(charts.PALETTE[5]), to_rgb(charts.PALETTE[0]), to_rgb(charts.PALETTE[1]),
                       to_rgb(charts.PALETTE[1])]
    assert fig.get_figheight() == pytest.approx(max(2.5, 0.2 * 4 + 1.4))
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [
        "idle below 60%", "overloaded above 110%", "below the lowest line", "above the highest line"]
    with pytest.raises(TypeError, match="Series"):
        charts.hbar_chart([1, 2], title="t", xlabel="x", ylabel="y")


def test_bar_chart_with_many_categories_turns_horizontal():
    values = pd.Series(np.arange(30, dtype=float), index=[f"R{i:02d}" for i in range(30)])
    fig = charts.bar_chart(values, title="t", xlabel="rep", ylabel="utilisation", percent=True)
    ax = fig.axes[0]
    assert ax.get_ylabel() == "rep" and ax.get_xlabel() == "utilisation"
    assert [t.get_text() for t in ax.get_yticklabels()][:2] == ["R00", "R01"]
    assert all(t.get_rotation() == 0 for t in ax.get_yticklabels())
    assert fig.get_figheight() == pytest.approx(0.2 * 30 + 1.4)
    fig = charts.bar_chart(values, title="t", xlabel="rep", ylabel="u", auto_horizontal=None)
    assert fig.axes[0].get_xlabel() == "rep"


def test_waterfall_writes_amounts_and_joins_the_bars():
    steps = pd.DataFrame({"step": ["2026Q1 actual", "organic growth", "lost accounts", "2027Q1 target"],
                          "kind": ["total", "change", "change", "total"],
                          "amount": [14.1e6, 2.2e6, -0.6e6, 15.7e6]})
    fig = charts.waterfall_chart(steps, title="bridge", xlabel="step", ylabel="USD")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.texts] == ["14.1 M", "+2.2 M", "-600.0 k", "15.7 M"]
    connectors = [tuple(ln.get_ydata()) for ln in ax.lines]
    assert connectors == [(14.1e6, 14.1e6), (16.3e6, 16.3e6), (15.7e6, 15.7e6)]
    renderer = _drawn(fig)
    ticks = [t.get_window_extent(renderer) for t in ax.get_xticklabels()]
    assert not any(a.overlaps(b) for a, b in zip(ticks, ticks[1:]))
    with pytest.raises(ValueError, match="'subtotal'"):
        charts.waterfall_chart(steps.assign(kind="subtotal"), title="t", xlabel="x", ylabel="y")


# ---------------------------------------------------------------- in the browser

LOST_COLUMNS_JS = """(openDetails) => {
  if (openDetails) for (const d of document.querySelectorAll('details')) d.open = true;
  const vw = document.documentElement.clientWidth;
  const out = [];
  document.querySelectorAll('table.sp-data').forEach((t, i) => {
    if (!t.checkVisibility()) return;  // not shown (a closed appendix, or not printed)
    const box = t.closest('.sp-scroll') || t.parentElement;
    const right = Math.min(vw, box.getBoundingClientRect().right) + 0.5;
    const inside = (el) => { const r = el.getBoundingClientRect();
      return r.width > 0 && r.height > 0 && r.left >= -0.5 && r.right <= right; };
    const cap = t.caption ? t.caption.textContent.trim().slice(0, 50) : 'table ' + i;
    const headShown = t.tHead && getComputedStyle(t.tHead).display !== 'none';
    const lost = [];
    t.querySelectorAll('thead th[data-col]').forEach(th => {
      if (headShown && !inside(th)) lost.push('header ' + th.textContent.trim()); });
    const row = t.tBodies[0] && Array.from(t.tBodies[0].rows).find(r => !r.hidden);
    if (row) Array.from(row.cells).forEach((c, j) => {
      if (!inside(c)) lost.push('cell ' + j + ' ' + (c.dataset.label || ''));
      if (!headShown) {  // card layout: the label is drawn before each value
        const before = getComputedStyle(c, '::before').content;
        if (before !== JSON.stringify(c.dataset.label || '')) lost.push('label ' + j + ' ' + before);
      }
    });
    out.push({caption: cap, cols: +t.dataset.cols, headShown, lost});
  });
  return {tables: out, pageWidth: document.documentElement.scrollWidth, viewport: vw};
}"""

CELLS_JS = """() => Array.from(document.querySelectorAll('table.sp-data td, table.sp-data th'))
  .map(c => c.textContent.trim())"""


@pytest.fixture(scope="module")
def browser():
    with chromium_browser() as b:
        yield b


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """Every committed notebook and the sample notebook, rendered as leadership HTML."""
    from salesplan.reports.render import export_html

    out = tmp_path_factory.mktemp("layout")
    pages = {nb.stem: export_html(nb, out / f"{nb.stem}.html") for nb in NOTEBOOKS}
    wide, small = _sample_frames(60)
    pages["sample"] = export_html(_sample_notebook(wide, small), out / "sample.html", index_href=None)
    return pages


def open_page(browser, path: Path, width: int, media: str = "screen"):
    """A page at ``width`` CSS px in ``media``; records every request that is not local."""
    page = browser.new_page(viewport={"width": width, "height": 900})
    remote: list[str] = []
    page.on("request", lambda r: remote.append(r.url) if not r.url.startswith(("file:", "data:")) else None)
    page.emulate_media(media=media)
    page.goto(path.as_uri(), wait_until="load")
    page.remote_requests = remote
    return page


def lost_columns(page) -> tuple[list[str], dict]:
    """Columns whose header (or, as cards, label and value) is not inside the page."""
    res = page.evaluate(LOST_COLUMNS_JS, True)
    problems = [f"{t['caption']}: {t['lost']}" for t in res["tables"] if t["lost"]]
    if res["pageWidth"] > res["viewport"] + 1:
        problems.append(f"page is {res['pageWidth']} px wide in a {res['viewport']} px viewport")
    return problems, res


@pytest.mark.slow
@pytest.mark.parametrize("mode", list(MODES))
def test_no_table_loses_a_column(rendered, browser, mode):
    width, media = MODES[mode]
    checked = 0
    for name, path in rendered.items():
        page = open_page(browser, path, width, media)
        problems, res = lost_columns(page)
        assert problems == [], (name, mode, problems)
        assert page.remote_requests == [], (name, page.remote_requests)
        checked += len(res["tables"])
        if mode == "phone 420 px":  # wide tables are cards, narrow ones stay tables
            assert all(t["headShown"] == (t["cols"] < LayoutParams().card_columns) for t in res["tables"])
        if mode == "A4 print":  # the appendix and the filter box are not printed
            assert all(not el.is_visible() for el in page.locator("details.sp-appendix").all())
            assert all(not el.is_visible() for el in page.locator(".sp-tools").all())
        page.close()
    assert checked >= 55, checked  # ~90 tables on screen, ~60 printed (no appendix)


@pytest.mark.slow
def test_no_cell_shows_scientific_notation_and_nothing_is_fetched(rendered, browser):
    for name, path in rendered.items():
        html = path.read_text("utf-8")
        assert not re.search(r"<(script|link)[^>]+(src|href)\s*=\s*[\"']?(https?:)?//", html), name
        page = open_page(browser, path, 1400)
        cells = page.evaluate(CELLS_JS)
        assert cells, name
        assert [c for c in cells if SCIENTIFIC.search(c)] == [], name
        assert page.evaluate("() => Array.from(document.scripts).filter(s => s.src).length") == 0
        assert page.evaluate("() => Array.from(document.styleSheets).filter(s => s.href).length") == 0
        assert page.remote_requests == [], (name, page.remote_requests)
        page.close()


def _column(page, table_sel: str, col: int) -> list[str]:
    """The texts of column ``col`` in the rows the reader sees (displayed, not filtered out)."""
    return page.eval_on_selector(
        table_sel, f"t => Array.from(t.tBodies[0].rows).filter(r => r.checkVisibility())"
                   f".map(r => r.cells[{col}].textContent.trim())")


@pytest.mark.slow
def test_sorting_by_a_header_click_reorders_the_rows(rendered, browser):
    wide, _ = _sample_frames(60)
    page = open_page(browser, rendered["sample"], 1400)
    page.eval_on_selector("details.sp-appendix", "d => d.open = true")
    full = "table.sp-full"
    col = list(wide.columns).index("revenue")
    # the order of the values as shown (ties keep the table's order)
    shown = wide.assign(rev=[float(f"{v:.0f}") for v in wide["revenue"]],
                        att=[float(f"{v * 100:.1f}") for v in wide["attainment"]])
    expected_ids = shown.sort_values("rev", kind="mergesort")["rep_id"].tolist()
    assert _column(page, full, 0) == wide["rep_id"].tolist()  # the table's own order first
    page.click(f"{full} thead th[data-col='{col}']")
    assert _column(page, full, 0) == expected_ids
    page.click(f"{full} thead th[data-col='{col}']")
    assert _column(page, full, 0) == shown.sort_values("rev", ascending=False, kind="mergesort")["rep_id"].tolist()
    assert page.get_attribute(f"{full} thead th[data-col='{col}']", "aria-sort") == "descending"
    # text column: alphabetical, ties in the table's order
    name_col = list(wide.columns).index("rep_name")
    page.click(f"{full} thead th[data-col='{name_col}']")
    assert _column(page, full, name_col) == sorted(wide["rep_name"].tolist())
    # percentages sort by value, not as text ("10.0%" after "9.0%")
    att = list(wide.columns).index("attainment")
    page.focus(f"{full} thead th[data-col='{att}']")
    page.keyboard.press("Enter")
    expected = shown.sort_values("att", kind="mergesort")["rep_id"].tolist()
    assert _column(page, full, 0) == expected
    page.close()
    # a phone: cards have no header row; the menu above them sorts
    page = open_page(browser, rendered["sample"], 420)
    page.eval_on_selector("details.sp-appendix", "d => d.open = true")
    block = ".sp-table-block:has(table.sp-full)"
    assert page.is_visible(f"{block} select.sp-sort")
    page.select_option(f"{block} select.sp-sort", f"{col}:desc")
    assert _column(page, full, 0) == shown.sort_values("rev", ascending=False, kind="mergesort")["rep_id"].tolist()
    assert _column(page, "table.sp-topn", 0) == (
        shown.head(15).sort_values("rev", ascending=False, kind="mergesort")["rep_id"].tolist())
    page.close()
    # a real report: the 60+ rep forecast table of 02 sorts by its forecast column
    page = open_page(browser, rendered["02_forecast"], 1400)
    table = "table.sp-full"
    page.eval_on_selector(table, "t => t.closest('details').open = true")
    heads = page.eval_on_selector(table, "t => Array.from(t.tHead.rows[0].cells).map(c => c.textContent.trim())")
    col = next(i for i, h in enumerate(heads) if h.endswith("forecast"))
    page.click(f"{table} thead th[data-col='{col}']")
    values = [float(v.replace(",", "")) for v in _column(page, table, col)]
    assert values == sorted(values) and len(values) > 20
    page.close()


@pytest.mark.slow
@pytest.mark.parametrize("width", [1400, 420])
def test_filtering_hides_the_rows_that_do_not_match(rendered, browser, width):
    wide, _ = _sample_frames(60)
    page = open_page(browser, rendered["sample"], width)
    assert _column(page, "table.sp-full", 0) == []  # the appendix starts closed
    block = ".sp-table-block:has(table.sp-full)"
    page.fill(f"{block} input.sp-filter", "southwest")
    expected = wide.loc[wide["region"] == "Southwest", "rep_id"].tolist()  # 12 of 60
    assert _column(page, "table.sp-full", 0) == expected
    assert _column(page, "table.sp-topn", 0) == [r for r in wide["rep_id"].head(15) if r in expected]
    assert page.is_visible("table.sp-full")  # the appendix opens to show the matches
    assert page.inner_text(f"{block} .sp-count") == f"{len(expected)} of 60 rows match"
    page.fill(f"{block} input.sp-filter", "")
    assert len(_column(page, "table.sp-full", 0)) == 60 and len(_column(page, "table.sp-topn", 0)) == 15
    page.close()


@pytest.mark.slow
def test_contents_link_to_every_section(rendered, browser):
    for name, path in rendered.items():
        page = open_page(browser, path, 1400)
        links = page.eval_on_selector_all("nav.sp-toc a", "as => as.map(a => a.getAttribute('href'))")
        sections = page.eval_on_selector_all("main h2[id]", "hs => hs.map(h => '#' + h.id)")
        assert links == sections and len(links) >= 2, name
        page.close()


@pytest.mark.slow
def test_charts_show_at_their_width_from_twice_the_pixels(tmp_path, browser):
    from salesplan.reports.render import export_html

    fig = charts.bar_chart(pd.Series([3.0, 5.0], index=["East", "West"]), title="Revenue by region",
                           xlabel="region", ylabel="revenue (USD)", size=(7.0, 3.5))
    data, metadata = charts.chart_output(fig, hover=False)  # the PNG form (charts without tooltips)
    cell = nbformat.v4.new_code_cell("charts.show(fig)")
    cell.outputs = [nbformat.v4.new_output("display_data", data=data, metadata=metadata)]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Chart"), cell])
    path = export_html(nb, tmp_path / "chart.html", index_href=None)
    page = open_page(browser, path, 1400)
    img = page.eval_on_selector("img", "i => ({w: i.width, nw: i.naturalWidth, nh: i.naturalHeight,"
                                " h: i.height, alt: i.alt})")
    assert img == {"w": 700, "nw": 1400, "nh": 700, "h": 350, "alt": "Revenue by region"}
    page.close()
    page = open_page(browser, path, 420)  # a phone: the chart shrinks to the page
    assert page.eval_on_selector("img", "i => i.getBoundingClientRect().right") <= 420
    page.close()


# ---------------------------------------------------------------- names beside ids

#: notebooks whose every table shows a name beside each person/customer id (issue 17);
#: the others join as they get their names
NAMED_NOTEBOOKS = ("01_data_health", "02_forecast", "03_customer_risk", "03b_pipeline", "04_quarterly_targets",
                   "05_resource_allocation", "06_weekly_review", "07_quarter_review")
#: notebooks whose tables have separate rep id columns (the check must see some)
ID_TABLE_NOTEBOOKS = ("03_customer_risk", "03b_pipeline", "05_resource_allocation")
#: column labels of ids of people and customers, and the labels a name column may have
ID_LABELS = {"Rep ID": ("Rep", "Rep name"), "Customer ID": ("Customer", "Customer name", "Prospect name")}


def id_columns_without_names(html: str) -> list[str]:
    """``"<caption>: <id label>"`` of every data table whose rep/customer id column has
    no name column right after it (the body's tables, each appendix copy included)."""
    from bs4 import BeautifulSoup

    from salesplan.reports.layout import column_labels

    soup = BeautifulSoup(html, "html.parser")
    missing = []
    for table in soup.select("table.sp-data"):
        labels, _ = column_labels(table)
        cap = table.find("caption")
        for j, label in enumerate(labels):
            if label in ID_LABELS and (j + 1 >= len(labels) or labels[j + 1] not in ID_LABELS[label]):
                missing.append(f"{cap.get_text(' ', strip=True)[:60] if cap else '?'}: {label}")
    return missing


def test_the_names_check_finds_an_id_without_its_name(tmp_path):
    from salesplan.reports.render import export_html

    named = with_names(pd.DataFrame({"rep_id": ["R1"], "revenue": [5.0]}), "rep_id", {"R1": "Li Na"})
    bare = pd.DataFrame({"customer_id": ["C1"], "revenue": [5.0]})
    cells = []
    for frame, caption in ((named, "named"), (bare, "bare")):
        cell = nbformat.v4.new_code_cell("styled_table(frame)")
        cell.outputs = [nbformat.v4.new_output("execute_result", data={
            "text/html": styled_table(frame, caption=caption).to_html(), "text/plain": caption})]
        cells.append(cell)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Names"), *cells])
    html = export_html(nb, tmp_path / "names.html", index_href=None).read_text("utf-8")
    assert id_columns_without_names(html) == ["bare: Customer ID"]


@pytest.mark.parametrize("name", NAMED_NOTEBOOKS)
def test_every_table_shows_names_beside_rep_and_customer_ids(rendered, name):
    html = rendered[name].read_text("utf-8")
    assert id_columns_without_names(html) == [], name
    if name in ID_TABLE_NOTEBOOKS:  # the others label rows "R0041 <name>" in one column
        assert ">Rep ID<" in html and ">Rep<" in html  # the check saw id columns at all


# ---------------------------------------------------------------- hover charts

def _svg_titles(svg: str) -> list[str]:
    import html as _html

    return [_html.unescape(t) for t in re.findall(r'<g id="sp-tip-[0-9a-f]{8}-\d+"[^>]*><title>([^<]*)</title>', svg)]


def test_bar_hbar_and_line_charts_carry_a_hover_title_per_bar_and_point():
    fig = charts.bar_chart(pd.Series([1_240_000.0, 480_000.0], index=["East", "West"]), title="Revenue by region",
                           xlabel="region", ylabel="net revenue (company currency)", money=True)
    data, meta = charts.chart_output(fig)
    svg = data["image/svg+xml"]
    assert "image/png" not in data and meta["image/svg+xml"] == {"alt": "Revenue by region", "width": 800}
    assert _svg_titles(svg) == ["East: 1.2 M", "West: 480.0 k"]
    assert svg.startswith('<svg class="sp-chart" role="img" aria-label="Revenue by region"')
    assert 'width="800" height="400"' in svg and "<script" not in svg and "<?xml" not in svg
    assert data == charts.chart_output(charts.bar_chart(  # deterministic
        pd.Series([1_240_000.0, 480_000.0], index=["East", "West"]), title="Revenue by region",
        xlabel="region", ylabel="net revenue (company currency)", money=True))[0]
    two = charts.bar_chart(pd.DataFrame({"2026Q1": [3.0, 5.0], "2027Q1": [4.0, 7.0]}, index=["Pumps", "Valves"]),
                           title="Product lines", xlabel="product line", ylabel="units")
    assert _svg_titles(charts.to_svg(two)) == ["Pumps — 2026Q1: 3", "Valves — 2026Q1: 5",
                                               "Pumps — 2027Q1: 4", "Valves — 2027Q1: 7"]
    hb = charts.hbar_chart(pd.Series({"R1": 0.5, "R2": 1.25}), names={"R1": "Li Na"}, title="Workload",
                           xlabel="workload (share of norm)", ylabel="rep", percent=True)
    assert _svg_titles(charts.to_svg(hb)) == ["R2: 125.0%", "Li Na (R1): 50.0%"]  # largest on top
    line = charts.line_chart(pd.Series([2.0, 3.5], index=["2026-11", "2026-12"], name="North"),
                             title="New customers", xlabel="month", ylabel="customers (count)")
    assert _svg_titles(charts.to_svg(line)) == ["North — 2026-11: 2", "North — 2026-12: 3.50"]


def test_fan_chart_points_show_actuals_and_the_forecast_range():
    hist, fc = _history_and_forecast(["Company"])
    fig = charts.fan_chart(hist, fc.drop(columns="series"), title="Company", xlabel="month",
                           ylabel="net revenue (company currency)", money=True)
    titles = _svg_titles(charts.to_svg(fig))
    assert len(titles) == len(hist) + len(fc)
    assert titles[0] == f"Company, actual — {hist.index[0]:%Y-%m}: 10"
    first = fc.iloc[0]
    assert titles[len(hist)] == (f"Company, forecast (mean) — {first['ds']:%Y-%m} (80% range 35 – 55): "
                                 f"{first['mean']:.0f}")


def test_tooltip_ids_are_unique_across_charts_of_a_page():
    ids = []
    for vals in ([1.0, 2.0], [3.0, 4.0]):
        fig = charts.bar_chart(pd.Series(vals, index=["a", "b"]), title="T", xlabel="x", ylabel="y (count)")
        ids += re.findall(r'<g id="(sp-tip-[^"]+)"', charts.to_svg(fig))
    assert len(ids) == 4 == len(set(ids))


def test_charts_with_too_many_points_stay_png():
    many = pd.Series(range(charts.MAX_SVG_TIPS + 1), index=[f"p{i}" for i in range(charts.MAX_SVG_TIPS + 1)],
                     dtype=float, name="x")
    fig = charts.line_chart(many, title="Many", xlabel="point", ylabel="value (count)", markers=False)
    data, meta = charts.chart_output(fig)
    assert "image/svg+xml" not in data and data["image/png"] and meta["image/png"]["alt"] == "Many"


@pytest.mark.slow
def test_hovering_a_bar_shows_its_value_in_chromium(tmp_path, browser):
    from salesplan.reports.render import export_html

    fig = charts.bar_chart(pd.Series([1_240_000.0, 480_000.0, 2_600_000.0], index=["East", "West", "North"]),
                           title="Revenue by region", xlabel="region", ylabel="net revenue (company currency)",
                           money=True)
    data, metadata = charts.chart_output(fig)
    cell = nbformat.v4.new_code_cell("charts.show(fig)")
    cell.outputs = [nbformat.v4.new_output("display_data", data=data, metadata=metadata)]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Chart"), cell])
    path = export_html(nb, tmp_path / "hover.html", index_href=None)
    page = open_page(browser, path, 1400)
    assert page.eval_on_selector("svg.sp-chart", "s => s.getBoundingClientRect().width") == 800
    bars = page.locator('svg.sp-chart g[id^="sp-tip-"]')
    ids = page.eval_on_selector_all('svg.sp-chart g[id^="sp-tip-"]', "gs => gs.map(g => g.id)")
    assert len(ids) == 3 == len(set(ids))
    for i, text in enumerate(["East: 1.2 M", "West: 480.0 k", "North: 2.6 M"]):
        box = bars.nth(i).locator("path").bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        hovered = page.evaluate("""() => { const g = document.querySelector('g[id^="sp-tip-"]:hover');
            return g ? [g.id, g.querySelector(':scope > title').textContent] : null; }""")
        assert hovered == [ids[i], text]
    assert page.remote_requests == []
    page.close()
    page = open_page(browser, path, 420)  # a phone: the chart shrinks to the page
    assert page.eval_on_selector("svg.sp-chart", "s => s.getBoundingClientRect().right") <= 420
    page.close()


def test_reliability_chart_points_show_both_rates():
    from salesplan.reports.reviews import reliability_chart

    fig = reliability_chart(pd.DataFrame({"bin": [1, 2], "predicted": [0.03, 0.5], "observed": [0.06, 0.45]}))
    assert _svg_titles(charts.to_svg(fig)) == ["decile 1: predicted 3.0%, observed 6.0%",
                                               "decile 2: predicted 50.0%, observed 45.0%"]
