"""English left in a Chinese run: the visible texts of its pages that are still English prose.

A ``report_language = "zh"`` run should show no English sentence.  This module reads the
HTML pages of a run folder (every report, the executive summary, ``index.html``) and lists
each visible text that still holds English prose, so the missing translations can be found
and counted (``tests/test_zh_end_to_end.py`` asserts the count is 0).

What counts as visible text: the text nodes of the page outside ``<script>``, ``<style>``,
``<head>`` and ``<code>``/``<pre>`` (code and parameter names, never translated), including
inline SVG chart text and hover tooltips (SVG ``<title>``), plus the ``alt``, ``title``,
``aria-label`` and ``placeholder`` attributes a reader sees or hears.

What counts as English prose: one lower-case English word of three letters or more, two
English words of three letters or more anywhere in the text, or two or more consecutive
ASCII words of letters
(``[A-Za-z]{2,}`` or "a", separated by spaces, hyphens or ``/``; a lone capital is a grade
or class such as ``A`` or ``B/C``), after removing quoted code (```...```) and what is not prose and
stays as it is in Chinese reports (:data:`ALLOWED`): model and method names (ETS, ARIMA,
MinT, sMAPE, ...), currency codes, units and the names and ids that come from the data
(customers, reps, products: passed as ``names``).

``python -m salesplan.reports.language_audit RUN_DIR [--top N]`` prints the count per page
and the most frequent English texts.
"""

from __future__ import annotations

import collections
import re
from collections.abc import Iterable, Mapping
from html.parser import HTMLParser
from pathlib import Path

__all__ = ["ALLOWED", "NAME_COLUMNS", "audit_run", "data_names", "english_prose", "english_texts",
           "visible_texts"]

#: Words and phrases that stay as they are in a Chinese report (each a regex, matched
#: case-sensitively as a whole word): model and method names, statistics and units.
ALLOWED = (
    r"ETS", r"ARIMA", r"AutoARIMA", r"AutoETS", r"Theta", r"AutoTheta", r"Croston\w*", r"ADIDA",
    r"IMAPA", r"TSB", r"MinT", r"OLS", r"WLS", r"BottomUp", r"sMAPE", r"MAPE", r"MAE", r"RMSE",
    r"WAPE", r"MASE", r"AUC", r"ROC", r"Brier", r"KS", r"PSI", r"IV", r"WoE", r"BANT", r"SMART",
    r"ABC", r"XYZ", r"RFM", r"FTE", r"KPI", r"CRM", r"ERP", r"P\d+", r"R²", r"CSV", r"HTML",
    r"PDF", r"SVG", r"PNG", r"Excel", r"duckdb", r"DuckDB", r"PostgreSQL", r"SQL",
    r"USD", r"EUR", r"CNY", r"RMB", r"HKD", r"JPY", r"GBP",
    r"salesplan", r"Jupyter", r"papermill", r"nbval",
    # customer-lifetime and regression models named in the methods notes (03, 03b)
    r"BG/NBD", r"Pareto/NBD", r"Gamma-Gamma", r"scikit-learn", r"Fisher",
    # intermittent-demand and pay terms: ADI (average demand interval), SBA (Syntetos-Boylan),
    # CLV (customer lifetime value), OTE (on-target earnings)
    r"ADI", r"SBA", r"sba", r"Syntetos", r"Boylan", r"CLV", r"OTE",
    # the project's word for its report notebooks, kept in the zh notebook texts; the name of
    # the combination forecast model (like ETS); the scorecard's binning library
    r"notebook", r"combo", r"optbinning",
    # a file name (the workbook, the summary PDF, a repository file)
    r"[\w/.-]+\.(?:md|xlsx|pdf|html|csv|ipynb|yaml|duckdb)",
    # the term of art the 03 methods note glosses in Chinese: 买到离开（buy-till-you-die）
    r"buy-till-you-die",
)

_SKIP = {"script", "style", "head", "code", "pre", "title_of_head"}
_ATTRS = ("alt", "title", "aria-label", "placeholder")
_WORD = r"(?:[A-Za-z]{2,}|a)"  # a single capital is a grade or class (A, B/C), not a word
#: Two or more ASCII words of letters in a row (separated by spaces, "-" or "/").
_PROSE = re.compile(rf"(?<![\w.]){_WORD}(?:(?:\s+|\s*[-/]\s*){_WORD})+(?![\w])")
#: An English word of three letters or more (two of them in one text, even apart: "decile 3:
#: predicted 20%", count as prose too).
_LONG_WORD = re.compile(r"(?<![A-Za-z0-9_])[A-Za-z]{3,}(?![A-Za-z0-9_])")
#: A lower-case English word of three letters or more, alone ("ahead > 15%", "role"): a
#: name from the data starts with a capital, an id is upper case or holds digits.
_LOWER_WORD = re.compile(r"(?<![A-Za-z0-9_])[a-z]{3,}(?![A-Za-z0-9_])")


class _Texts(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.texts: list[str] = []

    def handle_starttag(self, tag, attrs):
        skipped = any(t in _SKIP for t in self.stack)
        if not skipped:
            for k, v in attrs:
                if k in _ATTRS and v and v.strip():
                    self.texts.append(v.strip())
        if tag not in ("br", "img", "input", "meta", "link", "hr", "col", "wbr", "source", "area"):
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        if not any(t in _SKIP for t in self.stack):
            self.texts.extend(v.strip() for k, v in attrs if k in _ATTRS and v and v.strip())

    def handle_endtag(self, tag):
        if tag in self.stack:  # close up to the matching tag (tolerates unclosed ones)
            while self.stack and self.stack.pop() != tag:
                pass

    def handle_data(self, data):
        if data.strip() and not any(t in _SKIP for t in self.stack):
            self.texts.append(" ".join(data.split()))


def visible_texts(page: str) -> list[str]:
    """The visible texts of an HTML page, in page order (see the module docstring)."""
    parser = _Texts()
    parser.feed(page)
    parser.close()
    return parser.texts


def _allowed_rx(names: Iterable[str]) -> re.Pattern:
    extra = sorted({re.escape(str(n).strip()) for n in names if str(n).strip()}, key=len, reverse=True)
    alts = "|".join(list(extra) + list(ALLOWED))
    return re.compile(rf"(?<![A-Za-z])(?:{alts})(?![A-Za-z])")


def english_prose(text: str, names: Iterable[str] = (), *, _rx: re.Pattern | None = None) -> bool:
    """Whether ``text`` holds English prose: two or more ASCII words of letters in a row
    once the allowed words (:data:`ALLOWED`) and ``names`` (data names/ids) are removed.

    >>> english_prose("预计 12 个客户流失"), english_prose("ETS 模型"), english_prose("no orders")
    (False, False, True)
    """
    rx = _rx or _allowed_rx(names)
    text = rx.sub("\x00", re.sub(r"`[^`]*`", "\x00", text))  # quoted: a command or a code name
    return (bool(_PROSE.search(text)) or len(_LONG_WORD.findall(text)) >= 2
            or bool(_LOWER_WORD.search(text)))


def english_texts(page: str, names: Iterable[str] = ()) -> list[str]:
    """The visible texts of ``page`` holding English prose (:func:`english_prose`), in page
    order, repeats included."""
    texts = visible_texts(page)
    shown = "\n".join(texts)
    rx = _allowed_rx([n for n in names if str(n).strip() and str(n) in shown])  # the page's own
    return [t for t in texts if english_prose(t, _rx=rx)]


#: The data columns whose values are names shown as they are (table, column).
NAME_COLUMNS = (("customers", "name"), ("reps", "name"), ("leads", "prospect_name"))


def data_names(source: str | Path) -> list[str]:
    """Names from a DuckDB company file (customers, reps, prospects: :data:`NAME_COLUMNS`),
    which a report shows as they are; a missing table or column is skipped."""
    import duckdb

    path = str(source).split(":///", 1)[-1]
    con = duckdb.connect(path, read_only=True)
    try:
        tables = {r[0] for r in con.execute("show tables").fetchall()}
        names: list[str] = []
        for table, column in NAME_COLUMNS:
            if table in tables and column in {r[0] for r in con.execute(f'describe "{table}"').fetchall()}:
                names += [r[0] for r in con.execute(f'select distinct "{column}" from "{table}" '
                                                    f'where "{column}" is not null').fetchall()]
        return names
    finally:
        con.close()


def audit_run(run_dir: str | Path, names: Iterable[str] = ()) -> dict[str, list[str]]:
    """``page name -> English texts`` for every HTML page of a run folder: each report
    (``<notebook>.html``), the summary and ``index.html`` (:func:`english_texts`)."""
    run_dir = Path(run_dir)
    pages = sorted(run_dir.glob("*.html"))
    if not pages:
        raise FileNotFoundError(f"{run_dir}: no .html page (expected a salesplan run folder)")
    names = list(names)
    return {p.name: english_texts(p.read_text("utf-8"), names) for p in pages}


def report(found: Mapping[str, list[str]], top: int = 40) -> str:
    """Counts per page, the total and the ``top`` most frequent English texts."""
    lines = [f"{name:40s} {len(texts):5d}" for name, texts in found.items()]
    total = sum(len(t) for t in found.values())
    lines.append(f"{'total':40s} {total:5d}")
    counts = collections.Counter(t for texts in found.values() for t in texts)
    lines.append(f"\n{len(counts)} distinct texts; the {min(top, len(counts))} most frequent:")
    where = {t: sorted({n.split('.')[0][:3] for n, ts in found.items() if t in ts}) for t in counts}
    for text, n in counts.most_common(top):
        lines.append(f"{n:4d} [{','.join(where[text])}] {text[:300]}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir", type=Path, help="a run folder (reports/<run id> or reports/latest)")
    ap.add_argument("--top", type=int, default=40, help="how many distinct texts to list")
    ap.add_argument("--source", default=None,
                    help="the run's DuckDB company file, whose customer/rep names are allowed "
                         "(default: the bundled demo)")
    args = ap.parse_args(argv)
    source = args.source or Path(__file__).resolve().parents[2] / "data" / "demo" / "salesplan_demo.duckdb"
    names = data_names(source) if Path(str(source).split(":///", 1)[-1]).exists() else []
    print(report(audit_run(args.run_dir, names), args.top))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
