"""Report layout: the HTML a notebook export gives, arranged for reading on any screen.

:func:`arrange_report` post-processes the leadership HTML (deterministically, no network):

* a table of contents of the report's sections (``h2``) after the answer block;
* every data table (``table.sp-table`` of :func:`~salesplan.reports.format.styled_table`
  and plain ``table.dataframe``) gets its column label on each cell (``data-label``, for
  the stacked card layout of wide tables on a phone), numeric cells a ``sp-num`` class
  (right-aligned), sortable header cells (``data-col``) and a wrapper that the inline
  script fills with a filter box;
* a long table shows its first ``top_rows`` rows; the full table follows in a collapsed
  ``<details>`` appendix (not printed).

The behaviour (sorting, filtering) is the inline ``templates/salesplan.js``; the layout
at 1400 px, on a phone (420 px) and on A4 paper is ``templates/salesplan.css``.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass

__all__ = ["MISSING_ALT", "LayoutParams", "accessible_cells", "arrange_report", "cell_is_numeric", "column_labels"]

#: a cell holding a number as the report formats it: 1,234 / -5.0% / +3.1% / 12.3 M /
#: ¥1,500 / 0.25 / – (missing)
_NUMERIC = re.compile(
    r"^[+\-−]?[¥$€£]?\s?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?\s?(%|k|M|bn|x|×)?$|^[–—-]$|^[+\-]?∞%?$"
)
_DATA_TABLES = ("sp-table", "dataframe")  # the CSS selector table.sp-table, table.dataframe


def _data_tables(main) -> list:
    """The data tables under ``main`` in document order (``main.select("table.sp-table,
    table.dataframe")``)."""
    return [el for el in _elements(main)
            if el.name == "table" and any(c in _DATA_TABLES for c in _classes(el))]


@dataclass(frozen=True)
class LayoutParams:
    """How a report is arranged.

    Parameters
    ----------
    top_rows : int, default 15
        Rows a long table shows in the report body; the full table goes to a collapsed
        appendix under it.
    min_hidden : int, default 15
        Split a table only when at least this many rows would go to the appendix: with
        the defaults a table of fewer than 30 rows (a week-by-week plan, a scenario
        comparison) is shown whole.  A table made by ``styled_table(..., top_rows=N)``
        carries its own N (``data-top-rows``; 0: never split).
    card_columns : int, default 5
        Tables with at least this many columns are shown as one card per row on a
        phone (``max-width: 640px``); narrower tables stay tables with wrapped text.
    filter_rows : int, default 6
        Tables with at least this many rows get a filter box.
    toc_min : int, default 2
        A table of contents is added when the report has at least this many sections.
    """

    top_rows: int = 15
    min_hidden: int = 15
    card_columns: int = 5
    filter_rows: int = 6
    toc_min: int = 2

    def __post_init__(self):
        for name in ("top_rows", "min_hidden", "card_columns", "filter_rows", "toc_min"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"LayoutParams.{name}={value!r}: expected an integer >= 1")


def cell_is_numeric(text: str) -> bool:
    """True when ``text`` is a formatted number (``1,234``, ``-5.0%``, ``12.3 M``, ``–``)."""
    return bool(_NUMERIC.match(text.strip()))


_SPACE = re.compile(r"\s+")


def _text(el) -> str:
    """Visible text of a heading or cell (without the ``¶`` anchor links of headings)."""
    anchors = el.find_all("a", class_="anchor-link") if el.name and el.name[0] == "h" else []
    if anchors:
        el = copy.copy(el)
        for a in el.find_all("a", class_="anchor-link"):
            a.decompose()
    return _SPACE.sub(" ", el.get_text().replace("\xa0", " ")).strip()


def _children(el, names) -> list:
    """The child elements of ``el`` named one of ``names`` (= ``el.find_all(names,
    recursive=False)``, without bs4's filter machinery: a table's cells are many)."""
    return [c for c in el.contents if c.name in names]


def _classes(el) -> list[str]:
    """The classes of an element (a parsed ``class`` is a list; a set one may be a string)."""
    value = el.get("class")
    if value is None:
        return []
    return value.split() if isinstance(value, str) else list(value)


def _elements(root):
    """Every element under ``root`` in document order (``root.find_all(True)``)."""
    return (el for el in root.descendants if el.name is not None and not isinstance(el, str))


def _body_rows(table) -> list:
    bodies = _children(table, ("tbody",))
    if bodies:
        return [tr for b in bodies for tr in _children(b, ("tr",))]
    return [tr for tr in _children(table, ("tr",)) if tr.find("td")]


def _cells(tr) -> list:
    return _children(tr, ("th", "td"))


def column_labels(table) -> tuple[list[str], list]:
    """Column labels of a table and the header cell carrying each (``None`` if none).

    The header rows are read left to right with ``colspan`` expanded; a column's label
    is its lowest non-empty header cell (pandas puts the index name on a second row).
    """
    head = table.find("thead")
    rows = head.find_all("tr", recursive=False) if head else []
    body = _body_rows(table)
    width = max([len(_cells(r)) for r in body] or [0])
    labels, owners = [""] * width, [None] * width
    for tr in rows:
        j = 0
        for th in _cells(tr):
            span = int(th.get("colspan", 1) or 1)
            text = _text(th)
            for k in range(j, min(j + span, width)):
                if text and (span == 1 or not labels[k]):
                    labels[k] = text
                    owners[k] = th if span == 1 else owners[k]
            j += span
    return labels, owners


def _mark_table(table, params: LayoutParams) -> int:
    """Labels, numeric classes and sort hooks on one table; returns its body row count."""
    labels, owners = column_labels(table)
    for j, th in enumerate(owners):
        if th is not None:
            th["data-col"] = str(j)
            th["tabindex"] = "0"
            th["title"] = "sort by this column"
    rows = _body_rows(table)
    numeric = [True] * len(labels)  # every non-empty cell of the column is a number
    for tr in rows:
        for j, cell in enumerate(_cells(tr)):
            if j < len(labels):
                cell["data-label"] = labels[j]
            text = _text(cell)
            if text and cell_is_numeric(text):
                cell["class"] = [*cell.get("class", []), "sp-num"]
            elif text and j < len(labels):
                numeric[j] = False
    for j, th in enumerate(owners):  # numbers' headers stand over the numbers
        if th is not None and numeric[j] and rows:
            th["class"] = [*th.get("class", []), "sp-num-head"]
    classes = [c for c in table.get("class", []) if c not in ("sp-data", "sp-cards")]
    classes.append("sp-data")
    if len(labels) >= params.card_columns:
        classes.append("sp-cards")
    table["class"] = classes
    table["data-cols"] = str(len(labels))
    return len(rows)


def _strip_ids(table) -> None:
    for el in [table, *_elements(table)]:
        if el.has_attr("id"):
            del el["id"]


def _copy_without(el, dropped: set[int], parents: set[int]):
    """A copy of ``el`` (``copy.copy``) without the descendants whose ``id`` is in
    ``dropped``; ``parents``: the ids of their parents (the elements copied child by child)."""
    clone = el.copy_self()
    for child in el.contents:
        if id(child) not in dropped:
            clone.append(_copy_without(child, dropped, parents) if id(child) in parents
                         else copy.copy(child))
    return clone


def _arrange_table(soup, table, params: LayoutParams) -> None:
    n_rows = _mark_table(table, params)
    block = soup.new_tag("div", attrs={"class": "sp-table-block"})
    if n_rows >= params.filter_rows:
        block["data-filter"] = "rows"
    table.wrap(soup.new_tag("div", attrs={"class": "sp-scroll"})).wrap(block)
    own = str(table.get("data-top-rows", ""))
    top = int(own) if own.isdigit() else params.top_rows
    if top == 0 or n_rows < top + (params.min_hidden if not own.isdigit() else 1):
        return
    # the parsed table (all rows, without ids) goes to the appendix; the body shows a copy
    # of its first `top` rows (the same page as copying the whole table and cutting the
    # rows out of the original, without copying the rows that are cut)
    hidden = _body_rows(table)[top:]
    shown = _copy_without(table, {id(tr) for tr in hidden}, {id(tr.parent) for tr in hidden})
    table.replace_with(shown)
    full = table
    _strip_ids(full)
    full["class"] = [*full["class"], "sp-full"]
    table = shown
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


def _add_toc(soup, main, params: LayoutParams) -> None:
    heads = [h for h in main.find_all("h2") if h.get("id") and not h.find_parent("nav")]
    if len(heads) < params.toc_min:
        return
    nav = soup.new_tag("nav", attrs={"class": "sp-toc", "aria-label": "Contents"})
    title = soup.new_tag("p", attrs={"class": "sp-toc-title"})
    title.string = "Contents"
    nav.append(title)
    ol = soup.new_tag("ol")
    for h in heads:
        li = soup.new_tag("li")
        a = soup.new_tag("a", href=f"#{h['id']}")
        a.string = _text(h).rstrip("¶").strip()
        li.append(a)
        ol.append(li)
    nav.append(ol)
    anchor = main.find("div", class_="sp-headlines")
    if anchor is None:
        anchor = main.find("h1")
    if anchor is None:
        main.insert(0, nav)
        return
    # after the cell output holding the answer block / the title (not inside a table)
    holder = anchor.find_parent("div", class_="jp-Cell") or anchor
    holder.insert_after(nav)


#: nbconvert's HTMLExporter gives an image without alternative text this one
MISSING_ALT = "No description has been provided for this image"


def accessible_cells(soup) -> int:
    """What nbconvert's ``HTMLExporter`` does to its page after the template, on ``soup``:
    an ``alt`` on every image without one (:data:`MISSING_ALT`) and ``tabindex="0"`` on the
    input and output areas.  Returns the number of images that had no ``alt``.

    :func:`~salesplan.reports.render.export_html` renders the template alone and lets
    :func:`arrange_report` do this in its own parse (one parse of the page instead of two:
    the same page, byte for byte)."""
    missing = 0
    focusable = {"jp-Cell-inputWrapper", "jp-OutputArea-output"}
    for elem in _elements(soup):  # one walk for the selectors img:not([alt]) and
        # .jp-Notebook div.jp-Cell-inputWrapper / div.jp-OutputArea-output
        if elem.name == "img" and "alt" not in elem.attrs:
            elem.attrs["alt"] = MISSING_ALT
            missing += 1
        elif (elem.name == "div" and focusable.intersection(_classes(elem))
              and any("jp-Notebook" in _classes(p) for p in elem.parents if p.name is not None)):
            elem.attrs["tabindex"] = "0"
    return missing


def arrange_report(html: str, params: LayoutParams | None = None, *, exported: bool = False) -> str:
    """The report HTML with a table of contents and arranged, interactive tables.

    Parameters
    ----------
    html : str
        A whole page written by :func:`~salesplan.reports.render.export_html`.
    params : LayoutParams, optional
    exported : bool, default False
        ``html`` is the template's output before nbconvert's own pass over it: do that
        pass first (:func:`accessible_cells`), in the same parse.

    Returns
    -------
    str
        The same page; idempotent (arranging twice changes nothing more).
    """
    from bs4 import BeautifulSoup

    params = params or LayoutParams()
    soup = BeautifulSoup(html, "html.parser")
    if exported:
        missing = accessible_cells(soup)
        if missing:
            import logging

            logging.getLogger("salesplan.reports.render").warning(
                "Alternative text is missing on %s image(s).", missing)
    if any(el.get("data-sp-arranged") is not None for el in _elements(soup)):
        return str(soup) if exported else html
    main = soup.find("main") or soup.body or soup
    _add_toc(soup, main, params)
    for table in _data_tables(main):
        if table.find_parent("div", class_="sp-headlines") is None:
            _arrange_table(soup, table, params)
    if soup.body is not None:
        soup.body["data-sp-arranged"] = "1"
    return str(soup)
