"""The runner's own CPU (issue 19): the report layout without CSS selectors or a copy of a
split table's hidden rows gives the page the selectors and the whole copy gave; the runner
starts its first kernel before pandas is imported."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest

bs4 = pytest.importorskip("bs4")

from salesplan.reports import layout  # noqa: E402

ROWS = 40  # > top_rows + min_hidden of the default LayoutParams: the table is split


def _page() -> str:
    rows = "\n".join(f'<tr id="r{i}"><th>{i}</th><td>Rep {i}</td><td>{i * 1000:,}</td>'
                     f'<td>{i}.5%</td><td>–</td></tr>' for i in range(ROWS))
    table = ('<table class="dataframe" id="t1"><thead><tr><th></th><th>rep</th><th>revenue</th>'
             '<th>growth</th><th>note</th></tr></thead>\n<tbody>\n' + rows + '\n</tbody></table>')
    styled = ('<table class="sp-table" data-top-rows="3"><caption>Top reps</caption>'
              '<tr><th>rep</th><th>won</th></tr>'
              + "".join(f"<tr><td>R{i}</td><td>{i}</td></tr>" for i in range(6)) + "</table>")
    return ("<!DOCTYPE html>\n<html><head><title>t</title></head><body><main>"
            '<div class="jp-Notebook"><div class="jp-Cell"><div class="jp-Cell-inputWrapper">in</div>'
            '<div class="jp-OutputArea-output"><img src="a.png"><img src="b.png" alt="chart">'
            f'<h2 id="s1">One<a class="anchor-link" href="#s1">¶</a></h2>{table}</div></div>'
            f'<div class="jp-Cell"><div class="jp-OutputArea-output extra"><h2 id="s2">Two</h2>{styled}'
            '<table class="plain"><tr><td>x</td></tr></table></div></div></div>'
            '<div class="jp-OutputArea-output">outside any notebook</div><img src="c.png">'
            "</main></body></html>")


def _soup(html: str):
    return bs4.BeautifulSoup(html, "html.parser")


def test_accessible_cells_marks_what_the_css_selectors_select():
    ours, theirs = _soup(_page()), _soup(_page())
    missing = layout.accessible_cells(ours)
    # nbconvert's HTMLExporter pass, with its selectors
    no_alt = theirs.select("img:not([alt])")
    for elem in no_alt:
        elem.attrs["alt"] = layout.MISSING_ALT
    for selector in (".jp-Notebook div.jp-Cell-inputWrapper", ".jp-Notebook div.jp-OutputArea-output"):
        for elem in theirs.select(selector):
            elem.attrs["tabindex"] = "0"
    assert missing == len(no_alt) == 2
    assert str(ours) == str(theirs)
    assert str(ours).count('tabindex="0"') == 3  # the div outside .jp-Notebook has none


def test_data_tables_are_the_css_selections_in_document_order():
    soup = _soup(_page())
    main = soup.find("main")
    assert layout._data_tables(main) == main.select("table.sp-table, table.dataframe")
    assert [t.get("id") for t in layout._data_tables(main)] == ["t1", None]


def _arrange_table_by_copy(soup, table, params) -> None:
    """The split as it was made before (eb26216): the whole table copied for the appendix,
    the hidden rows cut out of the parsed one."""
    n_rows = layout._mark_table(table, params)
    block = soup.new_tag("div", attrs={"class": "sp-table-block"})
    if n_rows >= params.filter_rows:
        block["data-filter"] = "rows"
    table.wrap(soup.new_tag("div", attrs={"class": "sp-scroll"})).wrap(block)
    own = str(table.get("data-top-rows", ""))
    top = int(own) if own.isdigit() else params.top_rows
    if top == 0 or n_rows < top + (params.min_hidden if not own.isdigit() else 1):
        return
    full = copy.copy(table)
    layout._strip_ids(full)
    full["class"] = [*full["class"], "sp-full"]
    for tr in layout._body_rows(table)[top:]:
        tr.decompose()
    table["class"] = [*table["class"], "sp-topn"]
    cap = table.find("caption")
    note = f"first {top} of {n_rows:,} rows; all rows in the list below"
    if cap is not None:
        cap.append(soup.new_tag("span", attrs={"class": "sp-topnote"}))
        cap.find("span", class_="sp-topnote").string = f" ({note})"
    details = soup.new_tag("details", attrs={"class": "sp-appendix"})
    summary = soup.new_tag("summary")
    summary.string = f"All {n_rows:,} rows (sortable)"
    details.append(summary)
    scroll = soup.new_tag("div", attrs={"class": "sp-scroll"})
    scroll.append(full)
    details.append(scroll)
    block.append(details)


def test_split_tables_are_the_page_the_whole_copy_gave():
    params = layout.LayoutParams()
    ours, theirs = _soup(_page()), _soup(_page())
    for table in ours.select("table.sp-table, table.dataframe"):
        layout._arrange_table(ours, table, params)
    for table in theirs.select("table.sp-table, table.dataframe"):
        _arrange_table_by_copy(theirs, table, params)
    assert str(ours) == str(theirs)
    shown, full = ours.select("table.dataframe")
    assert len(layout._body_rows(shown)) == params.top_rows and shown.get("id") == "t1"
    assert len(layout._body_rows(full)) == ROWS and full.find(id=True) is None
    small_shown, small_full = ours.select("table.sp-table")  # its own data-top-rows=3
    assert (len(layout._body_rows(small_shown)), len(layout._body_rows(small_full))) == (3, 6)


def test_arrange_report_is_idempotent_on_the_split_page():
    once = layout.arrange_report(_page(), exported=True)
    assert layout.arrange_report(once) == once
    assert once.count('class="sp-appendix"') == 2


def _imported_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(m for m in ('pandas', 'duckdb', 'numpy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_runner_imports_no_pandas_or_duckdb_before_its_first_kernel():
    assert _imported_after("import salesplan.reports.runner") == set()
    assert _imported_after("import salesplan.data.secrets, salesplan.reports.params") == set()


def test_package_names_still_import_on_first_use():
    import salesplan.data as data
    import salesplan.reports as reports
    from salesplan.reports import format as fmt
    from salesplan.reports import money, runner

    assert money is fmt.money
    assert all(getattr(reports, name) is not None for name in reports.__all__)
    assert all(getattr(data, name) is not None for name in data.__all__)
    assert runner.NO_PLAN_SHEETS is not None and runner.PLAN_TABLES is not None
    with pytest.raises(AttributeError):
        reports.no_such_name  # noqa: B018
