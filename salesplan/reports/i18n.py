"""Report language: translations, Chinese number formats and the active language.

The language of a run is chosen once, by the runner: ``salesplan run -p report_language zh``
sets the environment variable ``SALESPLAN_REPORT_LANGUAGE`` for every notebook kernel and
for its own rendering, so the notebooks need no change.  Inside a process
:func:`set_language` overrides the environment (tests, an interactive session).

What is translated, and where:

* phrases (headline labels, table headers and captions, chart titles, the index page,
  the executive summary) come from ``salesplan/reports/translations/<lang>.yaml``:
  ``exact`` entries map a whole text, ``templates`` entries map a text with ``{0}``,
  ``{1}``... placeholders (each placeholder matches any text, which is translated in turn:
  a period ``2027Q1`` becomes ``2027年第1季度``); a text without an entry stays English;
  a text of clauses joined by ``"; "`` that no entry matches whole (a reason written piece
  by piece: ``"days since last contact: 99; revenue, last year: 458,200"``) is translated
  clause by clause and joined by ``；`` when every clause has an entry;
* the notebooks' markdown cells come from ``notebooks/i18n/<lang>/<notebook>.yaml``,
  keyed by cell id with a hash of the English source (:mod:`salesplan.reports.render`);
* amounts are written in 万 (10^4) and 亿 (10^8) with the currency
  (:func:`zh_amount`): ``12,345,678 -> "1,234.6万"``, ``123,456,789 -> "1.23亿"``;
  ¥ in front for CNY, the Chinese name after for the common codes (``1,234.6万美元``),
  a symbol in front or a code after otherwise.

``python -m salesplan.reports.i18n [--lang zh] [--pending]`` lists the markdown cells
without a current translation (``--pending`` writes them to the pending list).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import html as _html
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources as _resources
from pathlib import Path

__all__ = [
    "CURRENCY_ENV",
    "FISCAL_START_ENV",
    "LANGUAGES",
    "LANG_ENV",
    "cell_key",
    "get_currency",
    "get_fiscal_start",
    "get_language",
    "header",
    "language",
    "sheet_name",
    "markdown_status",
    "region_order",
    "set_language",
    "translate",
    "translate_html",
    "zh_amount",
    "zh_month",
    "zh_period",
]

#: Environment variable holding the report language (set by the runner for each kernel).
LANG_ENV = "SALESPLAN_REPORT_LANGUAGE"
#: Environment variable holding the company currency (code or symbol) of a run: shown with
#: every headline amount (set by the runner for each kernel, in every language).
CURRENCY_ENV = "SALESPLAN_CURRENCY"
#: Environment variable holding the first month of the company's fiscal year (1-12) of a
#: run: headlines name quarters in the fiscal calendar (set by the runner).
FISCAL_START_ENV = "SALESPLAN_FISCAL_YEAR_START_MONTH"
LANGUAGES = ("en", "zh")

_override: str | None = None


def _check(lang: str) -> str:
    lang = str(lang).strip().lower()
    if lang not in LANGUAGES:
        raise ValueError(f"report_language={lang!r}: expected one of {list(LANGUAGES)}")
    return lang


def set_language(lang: str | None) -> None:
    """Use ``lang`` (``"en"``/``"zh"``) in this process; ``None`` goes back to the
    environment (``$SALESPLAN_REPORT_LANGUAGE``, default ``"en"``)."""
    global _override
    _override = None if lang is None else _check(lang)


@contextlib.contextmanager
def language(lang: str | None):
    """Use ``lang`` inside the ``with`` block (``None``: leave the language as it is)."""
    global _override
    previous = _override
    if lang is not None:
        _override = _check(lang)
    try:
        yield get_language()
    finally:
        _override = previous


def get_language() -> str:
    """The active report language: :func:`set_language`, else the environment, else
    ``"en"``.  An unknown value in the environment raises (one line, naming it)."""
    if _override is not None:
        return _override
    return _check(os.environ.get(LANG_ENV) or "en")


def get_currency() -> str:
    """The company currency of the run (``$SALESPLAN_CURRENCY``; ``""`` when unset)."""
    return os.environ.get(CURRENCY_ENV, "").strip()


def get_fiscal_start() -> int:
    """First month of the fiscal year of the run (``$SALESPLAN_FISCAL_YEAR_START_MONTH``,
    default 1 = calendar quarters); an unusable value raises one line naming it."""
    text = os.environ.get(FISCAL_START_ENV, "").strip() or "1"
    if not text.isdigit() or not 1 <= int(text) <= 12:
        raise ValueError(f"{FISCAL_START_ENV}={text!r}: expected a month number 1..12")
    return int(text)


# --------------------------------------------------------------------------- numbers

#: Currency codes written after the amount by their Chinese name.
CURRENCY_NAMES_ZH = {"USD": "美元", "EUR": "欧元", "HKD": "港元", "JPY": "日元", "GBP": "英镑",
                     "TWD": "新台币", "SGD": "新加坡元", "AUD": "澳元", "CAD": "加元"}
_YUAN = {"CNY", "RMB", "¥", "￥", "元", "人民币"}


def zh_amount(x, decimals: int | None = None, *, currency: str | None = "") -> str:
    """An amount in Chinese units: 万 (10^4) from 10,000, 亿 (10^8) from 100,000,000.

    Parameters
    ----------
    x : float
        Amount in the company currency; ``None``/NaN gives ``"–"``.
    decimals : int, optional
        Digits of the scaled number (default 1 for 万, 2 for 亿, 0 below 10,000).
    currency : str or None, default ""
        ``"CNY"``/``"¥"`` -> ``¥`` in front; a code with a Chinese name (USD, EUR, ...) ->
        the name after (``1.2万美元``); another symbol in front, another code after;
        ``""`` no currency; ``None`` the company currency (:func:`get_currency`).

    Examples
    --------
    >>> zh_amount(12_345_678)
    '1,234.6万'
    >>> zh_amount(123_456_789, currency="CNY")
    '¥1.23亿'
    >>> zh_amount(-9_876, currency="USD")
    '-9,876美元'
    """
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if math.isnan(v):
        return "–"
    cur = get_currency() if currency is None else str(currency).strip()
    a = abs(v)
    if round(a, 6) >= 1e8:
        d = 2 if decimals is None else decimals
        body = f"{a / 1e8:,.{d}f}亿"
    elif round(a, 6) >= 1e4:
        d = 1 if decimals is None else decimals
        body = f"{a / 1e4:,.{d}f}万"
    else:
        body = f"{a:,.{0 if decimals is None else decimals}f}"
    sign = "-" if v < 0 and body.strip("0.,万亿") != "" else ""
    if not cur:
        return f"{sign}{body}"
    if cur.upper() in _YUAN or cur in _YUAN:
        return f"{sign}¥{body}"
    if cur.upper() in CURRENCY_NAMES_ZH:
        return f"{sign}{body}{CURRENCY_NAMES_ZH[cur.upper()]}"
    if re.fullmatch(r"[A-Za-z]{3}", cur):
        return f"{sign}{body} {cur.upper()}"
    return f"{sign}{cur}{body}"


_CN_QUARTER = {"1": "1", "2": "2", "3": "3", "4": "4"}


def zh_period(period: str) -> str:
    """``"2027Q1"`` -> ``"2027年第1季度"``; other text unchanged."""
    m = re.fullmatch(r"(\d{4})\s*-?Q([1-4])", str(period).strip())
    return f"{m.group(1)}年第{m.group(2)}季度" if m else str(period)


def zh_month(ts) -> str:
    """A month in Chinese: ``2027-01-15`` (date, Timestamp or text) -> ``"2027年1月"``."""
    import pandas as pd

    t = pd.Timestamp(ts)
    return f"{t.year}年{t.month}月"


# --------------------------------------------------------------------------- phrases


def _slot(p: str) -> str:
    """``{0}`` matches any text, ``{0#}`` one token without spaces (a number, an amount)."""
    n = p.strip("{}#")
    return f"(?P<g{n}>\\S+?)" if p.endswith("#}") else f"(?P<g{n}>.+?)"


@functools.cache
def _phrases(lang: str) -> tuple[dict[str, str], list[tuple[re.Pattern, str]], dict[str, str]]:
    import yaml

    path = _resources.files("salesplan.reports") / "translations" / f"{lang}.yaml"
    if not path.is_file():
        return {}, [], {}
    try:
        data = yaml.safe_load(path.read_text("utf-8")) or {}
    except yaml.YAMLError as exc:  # a broken file costs the translation, never the report
        import warnings

        warnings.warn(f"translations/{lang}.yaml is not valid YAML, reports stay English: "
                      f"{str(exc).splitlines()[0]}", stacklevel=2)
        return {}, [], {}
    exact = {str(k): str(v) for k, v in (data.get("exact") or {}).items()}
    templates = []
    for key, value in (data.get("templates") or {}).items():
        parts = re.split(r"(\{\d+#?\})", str(key))
        rx = "".join(_slot(p) if re.fullmatch(r"\{\d+#?\}", p) else re.escape(p) for p in parts)
        templates.append((len(re.sub(r"\{\d+#?\}", "", str(key))), re.compile(rf"^{rx}$", re.S),
                          str(value)))
    templates.sort(key=lambda t: -t[0])  # the most specific (longest fixed text) first
    lower: dict[str, str] = {}  # code names (abc_class) find "ABC class" this way
    for k, v in exact.items():
        lower.setdefault(k.lower(), v)
    return exact, [(rx, value) for _, rx, value in templates], lower


_PERIOD = re.compile(r"^\d{4}Q[1-4]$")
#: an ISO date inside a sentence (a template slot): ``2027-03-31`` -> ``2027年3月31日``
#: a whole number from 10,000 written with thousands separators, inside a sentence
_BIG = re.compile(r"^-?\d{1,3}(,\d{3})+$")
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
#: Where a paragraph splits into sentences: after ". " or "; " before a capital or a digit.
_SENTENCE = re.compile(r"(?<=[.])\s+(?=[A-Z0-9])")
_NUMERIC = re.compile(r"^[\s\d.,:%+\-–/()×x]*$")


def translate(text, lang: str | None = None) -> str:
    """``text`` in ``lang`` (default: the active language); English when no entry fits.

    Tried in order: an ``exact`` entry (also with trailing ``.``/``:`` stripped and put
    back), a plan quarter (``2027Q1``), then the ``templates`` (placeholders translated
    recursively).  Non-text values are returned as ``str(text)``.
    """
    s = str(text)
    lang = get_language() if lang is None else _check(lang)
    if lang == "en" or not s.strip() or _NUMERIC.match(s):
        return s
    return _translate(s, lang, 0)


def _translate(s: str, lang: str, depth: int) -> str:
    exact, templates, lower = _phrases(lang)
    lead, core, trail = re.match(r"^(\s*)(.*?)(\s*)$", s, re.S).groups()
    if core in exact:
        return lead + exact[core] + trail
    if core and core[-1] in ".:" and core[:-1] in exact:
        return lead + exact[core[:-1]] + ("。" if core[-1] == "." else "：") + trail
    if _PERIOD.match(core):
        return lead + zh_period(core) + trail
    if depth > 0 and _BIG.match(core):  # an amount in a sentence: 458,200 -> 45.8万
        return lead + zh_amount(float(core.replace(",", ""))) + trail
    if depth > 0 and _DATE.match(core):  # in a sentence; a table cell keeps its ISO date
        y, mo, d = _DATE.match(core).groups()
        return lead + f"{y}年{int(mo)}月{int(d)}日" + trail
    if depth == 0 and re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)+|[a-z]+", core):
        label = core.replace("_", " ")  # a code name: the entry of its words, any case
        if label in lower:
            return lead + lower[label] + trail
    if depth > 3:
        return s
    sentences = _SENTENCE.split(core) if depth == 0 else [core]
    if len(sentences) > 1:  # a paragraph: sentence by sentence, the untranslated ones stay
        done = [_translate(x, lang, depth + 1) for x in sentences]
        if any(d != x for d, x in zip(done, sentences)):
            return lead + "".join(d if d != x else x + " " for d, x in zip(done, sentences)).rstrip() + trail
    if (", " in core or " and " in core) and "(" not in core:  # a list: each item, joined by 、
        items = re.split(r", (?:and )?| and ", core)
        done = [_translate(i, lang, depth + 1) for i in items]
        if all(d != i for d, i in zip(done, items)):
            return lead + "、".join(done) + trail
    if "; " in core and depth <= 1:  # clauses written piece by piece ("a: 1; b: 2"): each by
        clauses = core.split("; ")    # its entry, joined by "；" when every one has an entry
        done = [_translate(c, lang, depth + 1) for c in clauses]
        if all(d != c for d, c in zip(done, clauses)):
            return lead + "；".join(d.rstrip("。") for d in done) + trail
    for rx, value in templates:
        m = rx.match(core)
        if m:
            groups = {k[1:]: _translate(v, lang, depth + 1) for k, v in m.groupdict().items()}
            return lead + re.sub(r"\{(\d+)#?\}", lambda g, d=groups: d.get(g.group(1), g.group(0)),
                                 value) + trail
    return s


def translate_many(values: Iterable, lang: str | None = None) -> list[str]:
    return [translate(v, lang) for v in values]


_SKIP_BLOCKS = re.compile(r"(<(script|style|code|pre)\b[^>]*>.*?</\2\s*>)", re.S | re.I)
_TEXT = re.compile(r">([^<>]+)<")
#: Attributes a reader sees or hears: tooltips, image descriptions, labels of regions.
_ATTR = re.compile(r'(?<=\s)((?:title|aria-label|alt|placeholder)=)"([^"<>]*)"')


def translate_html(page: str, lang: str | None = None) -> str:
    """Translate the text between tags of an HTML page (not inside script, style, code or
    pre) and the ``title``, ``aria-label``, ``alt`` and ``placeholder`` attributes, sets
    ``<html lang>``; an untranslated text node stays as it was.  English
    returns ``page`` unchanged."""
    lang = get_language() if lang is None else _check(lang)
    if lang == "en":
        return page

    def node(m: re.Match) -> str:
        raw = m.group(1)
        text = _html.unescape(raw)
        # a full stop alone after a bold figure ("... <b>1.4万</b>.") ends a Chinese sentence
        out = text.replace(".", "。") if text.strip() == "." else translate(text, lang)
        return ">" + (raw if out == text else _html.escape(out, quote=False)) + "<"

    kept: list[str] = []

    def keep(m: re.Match) -> str:
        kept.append(m.group(0))
        return f"<!--sp-kept-{len(kept) - 1}-->"

    def attr(m: re.Match) -> str:
        text = _html.unescape(m.group(2))
        out = translate(text, lang)
        return m.group(0) if out == text else f'{m.group(1)}"{_html.escape(out, quote=True)}"'

    body = _TEXT.sub(node, _SKIP_BLOCKS.sub(keep, page))
    body = _ATTR.sub(attr, body)
    result = re.sub(r"<!--sp-kept-(\d+)-->", lambda m: kept[int(m.group(1))], body)
    return re.sub(r'<html lang="en"', '<html lang="zh-CN"', result, count=1)


def header(name, lang: str | None = None) -> str:
    """A column name as a header in ``lang``: its translation, or that of its words
    (``abc_class`` -> the entry of "ABC class"), else the name unchanged (English: always
    unchanged)."""
    lang = get_language() if lang is None else _check(lang)
    text = str(name)
    if lang == "en":
        return text
    out = translate(text, lang)
    if out == text and re.fullmatch(r"\w[\w ]*", text):
        out = _phrases(lang)[2].get(text.replace("_", " ").lower(), text)
    return out


def sheet_name(text: str, lang: str | None = None) -> str:
    """A workbook sheet name in ``lang``: ``"01 coverage"`` -> ``"01 覆盖情况"`` (a leading
    notebook prefix kept, the rest by :func:`header`); English: unchanged.  The caller
    makes it valid and unique (31 characters)."""
    lang = get_language() if lang is None else _check(lang)
    if lang == "en":
        return str(text)
    m = re.match(r"^(\d+[a-z]?\s+)?(.*)$", str(text), re.S)
    return (m.group(1) or "") + header(m.group(2), lang)


# --------------------------------------------------------------------------- regions

#: The usual order of China's regions in a Chinese sales report (north to south-west).
ZH_REGION_ORDER = ("华北", "东北", "华东", "华中", "华南", "西南", "西北")


def region_order(names: Sequence[str], lang: str | None = None) -> list[str]:
    """``names`` in the order a Chinese sales report lists regions (华北, 东北, 华东, 华中,
    华南, 西南, 西北; English names by their translation), others after them in the given
    order.  English: unchanged."""
    lang = get_language() if lang is None else _check(lang)
    names = list(names)
    if lang == "en":
        return names
    rank = {r: i for i, r in enumerate(ZH_REGION_ORDER)}
    return sorted(names, key=lambda n: (rank.get(translate(n, lang), len(rank)), names.index(n)))


# --------------------------------------------------------------------------- markdown cells


def cell_key(source: str) -> str:
    """Hash of an English markdown cell (first 10 hex of SHA-1 of the stripped source):
    a translation is used only while the English text it was made from is unchanged."""
    return hashlib.sha1(source.strip().encode("utf-8")).hexdigest()[:10]


def translations_dir(notebooks_dir: str | Path, lang: str) -> Path:
    return Path(notebooks_dir) / "i18n" / lang


@functools.lru_cache(maxsize=64)
def _load_cells(path: str, mtime: float) -> dict:
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text("utf-8")) or {}
    except yaml.YAMLError as exc:  # a broken file: the cells stay English
        import warnings

        warnings.warn(f"{path} is not valid YAML, its cells stay English: "
                      f"{str(exc).splitlines()[0]}", stacklevel=2)
        return {}
    return {str(k): v for k, v in data.items() if isinstance(v, Mapping)}


def markdown_translations(notebooks_dir: str | Path, notebook: str, lang: str) -> dict:
    """``cell id -> {"en": hash, "text": translation}`` of one notebook (``{}`` when none)."""
    path = translations_dir(notebooks_dir, lang) / f"{notebook}.yaml"
    if not path.exists():
        return {}
    return _load_cells(str(path), path.stat().st_mtime)


_CJK = "\u2e80-\u9fff\u3000-\u303f\uff00-\uffef"
#: A line break inside a Chinese paragraph (Markdown would show it as a space).
_SOFT_BREAK = re.compile(rf"(?<=[{_CJK}*`])\n[ \t]*(?=[{_CJK}`]|\*[^\s*])")


def join_cjk_lines(text: str) -> str:
    """Join the lines of a Chinese paragraph (written wrapped in the translation files):
    Markdown turns a line break into a space, which Chinese text does not have.  List
    items, headings and blank lines are kept."""
    return _SOFT_BREAK.sub("", text)


def translated_markdown(cell, entries: Mapping, notebook: str = "") -> str | None:
    """The translation of a markdown ``cell`` or ``None`` (missing, or made from another
    English text)."""
    e = entries.get(str(cell.get("id", "")))
    if not e or e.get("en") != cell_key(cell.get("source", "")) or not e.get("text"):
        return None
    return join_cjk_lines(str(e["text"]))


def pending_cells(notebooks_dir: str | Path, lang: str) -> set[str]:
    """``notebook/cell-id`` entries listed as waiting for a translation (``PENDING``)."""
    path = translations_dir(notebooks_dir, lang) / "PENDING"
    if not path.exists():
        return set()
    return {ln.split("#", 1)[0].strip() for ln in path.read_text("utf-8").splitlines()} - {""}


def markdown_status(notebooks_dir: str | Path, lang: str = "zh") -> dict[str, list[str]]:
    """Markdown cells of every notebook by status: ``translated``, ``missing`` (no entry),
    ``changed`` (the English text changed since it was translated), ``pending`` (listed
    in ``PENDING``); each item ``notebook/cell-id``."""
    import nbformat

    out: dict[str, list[str]] = {"translated": [], "missing": [], "changed": [], "pending": []}
    pending = pending_cells(notebooks_dir, lang)
    for nb_path in sorted(Path(notebooks_dir).glob("*.ipynb")):
        nb = nbformat.read(str(nb_path), as_version=4)
        entries = markdown_translations(notebooks_dir, nb_path.stem, lang)
        for cell in nb.cells:
            if cell.cell_type != "markdown":
                continue
            key = f"{nb_path.stem}/{cell.get('id', '')}"
            if translated_markdown(cell, entries) is not None:
                out["translated"].append(key)
            elif key in pending:
                out["pending"].append(key)
            elif str(cell.get("id", "")) in entries:
                out["changed"].append(key)
            else:
                out["missing"].append(key)
    return out


def stamp_new(notebooks_dir: str | Path, lang: str) -> list[str]:
    """Replace ``en: new`` in the translation files by the hash of the English cell of
    the same id (a translator's step, after writing the text); returns ``notebook/id``."""
    import nbformat

    done = []
    for path in sorted(translations_dir(notebooks_dir, lang).glob("*.yaml")):
        nb_path = Path(notebooks_dir) / f"{path.stem}.ipynb"
        if not nb_path.exists():
            continue
        cells = {str(c.get("id")): c for c in nbformat.read(str(nb_path), as_version=4).cells
                 if c.cell_type == "markdown"}
        text = path.read_text("utf-8")

        def put(m: re.Match, cells=cells, path=path) -> str:
            cell = cells.get(m.group(1).strip("'\""))
            if cell is None:
                return m.group(0)
            done.append(f"{path.stem}/{m.group(1)}")
            return f"{m.group(1)}:\n  en: {cell_key(cell.source)}"

        new = re.sub(r"(?m)^(\S+):\n  en: new$", put, text)
        if new != text:
            path.write_text(new, "utf-8")
    return done


def main(argv: Sequence[str] | None = None) -> int:
    """List untranslated markdown cells; exit 1 when some are neither translated nor
    pending (``--pending`` adds them to ``PENDING`` and exits 0)."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m salesplan.reports.i18n")
    ap.add_argument("--lang", default="zh")
    ap.add_argument("--notebooks", default=None, help="notebooks folder (default: the checkout's)")
    ap.add_argument("--pending", action="store_true", help="list the open cells in PENDING")
    ap.add_argument("--stamp", action="store_true",
                    help="set 'en: new' entries to the hash of the current English cell "
                         "(after translating it)")
    args = ap.parse_args(argv)
    # the runner's default: ./notebooks, else the checkout's (no runner import: no cycle)
    folder = Path(args.notebooks) if args.notebooks else (
        Path.cwd() / "notebooks" if (Path.cwd() / "notebooks").is_dir()
        else Path(__file__).resolve().parents[2] / "notebooks")
    if args.stamp:
        for n in stamp_new(folder, args.lang):
            print(f"stamped {n}")
    status = markdown_status(folder, args.lang)
    open_ = status["missing"] + status["changed"]
    print(f"{args.lang}: {len(status['translated'])} markdown cells translated, "
          f"{len(status['pending'])} pending, {len(status['missing'])} missing, "
          f"{len(status['changed'])} changed since translated")
    for kind in ("missing", "changed", "pending"):
        for key in status[kind]:
            print(f"  {kind}: {key}")
    if args.pending and open_:
        path = translations_dir(folder, args.lang) / "PENDING"
        path.parent.mkdir(parents=True, exist_ok=True)
        old = path.read_text("utf-8") if path.exists() else ""
        path.write_text(old + "".join(f"{k}\n" for k in open_), "utf-8")
        print(f"added {len(open_)} cell(s) to {path}")
        return 0
    return 1 if open_ else 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
