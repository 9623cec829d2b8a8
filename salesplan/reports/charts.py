"""Charts for leadership reports: matplotlib (Agg), titles, axis labels with units, CJK.

Every helper returns a :class:`matplotlib.figure.Figure` built without pyplot (no global
figure state; rendered by the Agg rasteriser whatever backend is active) and :func:`show` displays it in a notebook as a
PNG with a readable text form (the chart title), which is what the HTML reports embed.
The PNG is drawn at twice its display size (``SCALE``) and shown at its width, so it is
sharp on high-density screens and on paper; text uses the report page's font
(:data:`PAGE_FONTS`, the CSS ``font-family`` of the reports); legends sit below the
plot, never over the title.  :func:`hbar_chart` draws one named bar per entity with
threshold lines (workload, rates against a floor); :func:`waterfall_chart` a bridge.

Hover without a server: the bar, hbar, line, fan and waterfall helpers give each bar and
point a tooltip text (:func:`add_tooltip`: category, series and value); :func:`chart_output`
then embeds the chart as inline SVG in which every bar/point carries an SVG ``<title>``,
which the browser shows on hover (no JavaScript, nothing fetched).  A chart with more
than :data:`MAX_SVG_TIPS` tooltips, or none, stays a PNG.

Chinese (and Japanese/Korean) names need a CJK font.  :func:`configure_fonts` picks the
first installed of :data:`CJK_FONTS` and puts it after matplotlib's default font, so
Latin text keeps its look and CJK glyphs come from the CJK font.  Without any CJK font
installed, CJK characters are drawn as empty boxes ("tofu") and a single
:class:`CJKFontWarning` says so when a chart really draws CJK text (install e.g. Debian's ``fonts-noto-cjk``).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import re
import textwrap
import warnings
from collections.abc import Sequence

import matplotlib
import matplotlib.text
import matplotlib.ticker as mticker
import pandas as pd
from matplotlib import font_manager
from matplotlib.figure import Figure

__all__ = [
    "MAX_SVG_TIPS",
    "add_tooltip",
    "tooltips",
    "to_svg",
    "CJK_FONTS",
    "CJKFontWarning",
    "PAGE_FONTS",
    "bar_chart",
    "chart_output",
    "configure_fonts",
    "fan_chart",
    "has_cjk",
    "hbar_chart",
    "line_chart",
    "money_axis",
    "new_figure",
    "pct_axis",
    "show",
    "to_png",
    "warn_if_tofu",
    "waterfall_chart",
]

#: Preferred CJK fonts, first available wins.
CJK_FONTS: tuple[str, ...] = (
    "Noto Sans CJK SC",
    "Noto Sans CJK JP",
    "Noto Sans CJK TC",
    "Noto Sans CJK KR",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC",
    "Hiragino Sans GB",
    "Noto Serif CJK SC",
    "AR PL UMing CN",
)

#: The reports' page fonts in the order of their CSS ``font-family`` (templates/salesplan.css);
#: charts draw Latin text in the first one installed, as the browser does.
PAGE_FONTS: tuple[str, ...] = (
    "Noto Sans", "Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei",
    "Segoe UI", "Roboto", "Helvetica", "Arial", "DejaVu Sans",
)
#: PNG pixels per display pixel (2: sharp on high-density screens and on paper)
SCALE = 2.0
#: Charts with more hover tooltips than this are embedded as PNG (an SVG would be heavy)
MAX_SVG_TIPS = 1500
#: Horizontal bars instead of vertical ones when a bar chart has more categories than this
AUTO_HORIZONTAL = 20

#: Colours: one calm palette for every report (colour-blind friendly, Okabe-Ito based).
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")

_configured: str | None | bool = False


class CJKFontWarning(UserWarning):
    """No CJK font is installed: Chinese names will be drawn as boxes."""


def configure_fonts(preferred: Sequence[str] = CJK_FONTS) -> str | None:
    """Make matplotlib draw CJK text; return the font used or ``None``.

    Picks the first family of ``preferred`` that :mod:`matplotlib.font_manager` knows and
    sets ``font.family`` to ``[<page font>, <that font>, DejaVu Sans]``, so matplotlib's
    per-glyph fallback draws Latin text in the report page's font (the first installed
    of :data:`PAGE_FONTS`) and CJK in the CJK font.  Idempotent and
    silent: a missing CJK font is a fact about the machine, not about the data, so it is
    reported only when a chart actually draws CJK text (:func:`to_png`, one
    :class:`CJKFontWarning` per process).
    """
    global _configured
    if _configured is not False:
        return _configured  # type: ignore[return-value]
    available = {f.name for f in font_manager.fontManager.ttflist}
    chosen = next((name for name in preferred if name in available), None)
    if chosen is None and _rebuild_font_cache():
        available = {f.name for f in font_manager.fontManager.ttflist}
        chosen = next((name for name in preferred if name in available), None)
    rc = matplotlib.rcParams
    page = next((name for name in PAGE_FONTS if name in available), "DejaVu Sans")
    # an explicit family list: matplotlib falls back glyph by glyph along it (Latin from
    # the page font, CJK from the CJK font); "sans-serif" alone would not
    family = list(dict.fromkeys([page, *([chosen] if chosen else []), "DejaVu Sans"]))
    rc["font.family"] = family
    rc["font.sans-serif"] = [*family, *(f for f in rc["font.sans-serif"] if f not in family)]
    rc["axes.unicode_minus"] = False
    rc["svg.hashsalt"] = "salesplan"
    _configured = chosen
    return chosen


#: CJK Unified Ideographs (+ extension A, compatibility), kana, hangul, CJK punctuation
_CJK_TEXT = re.compile("[\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]")
_warned_tofu = False


def has_cjk(text: str) -> bool:
    """True when ``text`` holds a Chinese, Japanese or Korean character."""
    return bool(_CJK_TEXT.search(text or ""))


def warn_if_tofu(fig: Figure) -> bool:
    """Warn once per process when ``fig`` draws CJK text and no CJK font is installed.

    Returns True when the figure's CJK text will show as empty boxes ("tofu").  Figures
    without CJK text never warn, whatever fonts the machine has.
    """
    global _warned_tofu
    if configure_fonts() is not None:
        return False
    texts = (t.get_text() for t in fig.findobj(matplotlib.text.Text))
    if not any(has_cjk(t) for t in texts):
        return False
    if not _warned_tofu:
        _warned_tofu = True
        warnings.warn(
            "no CJK font found (looked for " + ", ".join(CJK_FONTS[:3]) + ", ...): "
            "Chinese/Japanese/Korean names in charts will show as empty boxes; "
            "install one, e.g. `apt-get install fonts-noto-cjk`",
            CJKFontWarning,
            stacklevel=3,
        )
    return True


def _rebuild_font_cache() -> bool:
    """Add installed CJK font files that matplotlib's cached font list predates.

    matplotlib caches the system font list on first use; a CJK font installed later
    (e.g. by apt) is not seen until the cache is rebuilt.  Uses the public
    ``findSystemFonts`` + ``FontManager.addfont``.
    """
    try:
        files = font_manager.findSystemFonts()
    except (OSError, RuntimeError, ValueError):  # pragma: no cover - exotic systems
        return False
    known = {f.fname for f in font_manager.fontManager.ttflist}
    hints = ("cjk", "sourcehan", "source-han", "wqy", "wenquanyi", "simhei", "yahei", "msyh",
             "pingfang", "hiragino", "uming", "ukai")
    added = False
    for path in sorted(files):
        if path not in known and any(h in path.lower() for h in hints):
            with contextlib.suppress(OSError, RuntimeError, ValueError):
                font_manager.fontManager.addfont(path)
                added = True
    return added


def money_axis(axis, unit: str = "") -> None:
    """Format an axis as money: 1.2M / 350k / 1.2bn, with ``unit`` added to the label."""

    def fmt(v, _pos):
        if _zh():
            return _zh_tick(v)
        a = abs(v)
        for scale, suffix in ((1e9, "bn"), (1e6, "M"), (1e3, "k")):
            if a >= scale:
                s = f"{v / scale:,.1f}".rstrip("0").rstrip(".")
                return f"{s}{suffix}"
        return f"{v:,.0f}"

    axis.set_major_formatter(mticker.FuncFormatter(fmt))


def _zh() -> bool:
    from salesplan.reports.i18n import get_language

    return get_language() == "zh"


def _zh_tick(v: float) -> str:
    """An axis tick in 万/亿 (``1500000 -> 150万``, ``2.5e8 -> 2.5亿``)."""
    a = abs(v)
    for scale, suffix in ((1e8, "亿"), (1e4, "万")):
        if a >= scale:
            return f"{v / scale:,.1f}".rstrip("0").rstrip(".") + suffix
    return f"{v:,.0f}"


def _tr(text):
    """``text`` in the report language (:mod:`salesplan.reports.i18n`; English: as is)."""
    from salesplan.reports.i18n import translate

    return translate(text)


def add_tooltip(fig: Figure, artist, text: str) -> None:
    """Give ``artist`` (a bar, a point marker) of ``fig`` the hover text ``text``.

    The artist gets the SVG id ``sp-tip-<n>`` (in the SVG: ``sp-tip-<hash>-<n>``, unique in a
    page of charts); :func:`to_svg` puts ``text`` in an SVG ``<title>`` inside it, which
    browsers show as a tooltip.
    """
    tips = fig.__dict__.setdefault("_sp_tips", [])
    gid = f"sp-tip-{len(tips)}"
    artist.set_gid(gid)
    tips.append((gid, str(text)))


def tooltips(fig: Figure) -> list[tuple[str, str]]:
    """The ``(svg id, text)`` hover tooltips of ``fig`` in the order they were added."""
    return list(fig.__dict__.get("_sp_tips", []))


def _value_text(v: float, money: bool = False, percent: bool = False) -> str:
    """A tooltip value: money compact (``1.2 M``), percentages, else ``1,234`` / ``1.25``."""
    from salesplan.reports.format import money as fmt_money

    if v is None or not pd.notna(v):
        return "–"
    if money:
        return fmt_money(v, compact=True)
    if percent:
        return f"{v * 100:.1f}%"
    return f"{v:,.0f}" if float(v).is_integer() or abs(v) >= 100 else f"{v:,.2f}"


def _tip_points(fig: Figure, ax, xs, ys, label: str, *, money: bool = False, percent: bool = False,
                xtexts=None) -> None:
    """One hover target per point (a small, nearly invisible marker) with ``label: x: value``."""
    xtexts = list(xtexts) if xtexts is not None else [_x_text(x) for x in xs]
    for x, y, xt in zip(xs, ys, xtexts):
        if y is None or not pd.notna(y):
            continue
        (pt,) = ax.plot([x], [float(y)], marker="o", markersize=7, alpha=0.01, linestyle="none",
                        label="_nolegend_")
        add_tooltip(fig, pt, f"{label} — {xt}: {_value_text(float(y), money, percent)}")


def _x_text(x) -> str:
    if isinstance(x, pd.Timestamp) or hasattr(x, "strftime"):
        return f"{pd.Timestamp(x):%Y-%m}"
    return str(x)


def pct_axis(axis, decimals: int = 0) -> None:
    """Format an axis holding fractions as percentages (0.15 -> 15%)."""
    axis.set_major_formatter(mticker.PercentFormatter(xmax=1.0, decimals=decimals))


def new_figure(title: str, xlabel: str, ylabel: str, *, size=(8.0, 4.0)):
    """A figure with one axes, title and axis labels set; returns ``(fig, ax)``.

    Labels should carry their unit, e.g. ``ylabel="net revenue (company currency)"``.
    """
    if not title or not xlabel or not ylabel:
        raise ValueError(
            f"charts need a title and both axis labels with units; got title={title!r}, "
            f"xlabel={xlabel!r}, ylabel={ylabel!r}"
        )
    configure_fonts()
    title, xlabel, ylabel = _tr(title), _tr(xlabel), _tr(ylabel)  # the report language
    fig = Figure(figsize=size, dpi=100, layout="constrained")
    ax = fig.add_subplot()
    ax.set_title(title, loc="left", fontsize=12, fontweight="bold")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", color="#dddddd", linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return fig, ax


def bar_chart(
    data: pd.Series | pd.DataFrame,
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    money: bool = False,
    percent: bool = False,
    stacked: bool = False,
    horizontal: bool = False,
    size=(8.0, 4.0),
    auto_horizontal: int | None = AUTO_HORIZONTAL,
) -> Figure:
    """Bars of a Series (one colour) or a DataFrame (one group of bars per row).

    The index gives the categories (any Unicode), columns the series (legend, below the
    plot).  ``money=True`` formats the value axis as money, ``percent=True`` as
    percentages.  ``xlabel`` names the categories and ``ylabel`` the values; with
    ``horizontal=True`` the caller's labels are put on the axes as given (x: values).
    More than ``auto_horizontal`` categories are drawn as horizontal bars (labels
    readable without rotation, one row per category, the figure as tall as needed),
    with ``xlabel``/``ylabel`` moved to the matching axes; ``None`` never switches.
    """
    frame = data.to_frame() if isinstance(data, pd.Series) else data
    n, k = len(frame), max(len(frame.columns), 1)
    switched = not horizontal and auto_horizontal is not None and n > auto_horizontal
    if switched:
        horizontal = True
        xlabel, ylabel = ylabel, xlabel
        size = (size[0], max(size[1], _bar_height(n * (1 if stacked else k))))
    fig, ax = new_figure(title, xlabel, ylabel, size=size)
    labels = [_tr(i) for i in frame.index]
    positions = list(range(n))
    width = 0.8 if (stacked or k == 1) else 0.8 / k
    bottom = [0.0] * n
    for j, col in enumerate(frame.columns):
        vals = frame[col].astype(float).fillna(0.0).tolist()
        if stacked or k == 1:
            pos = positions
        else:
            pos = [p - 0.4 + width * (j + 0.5) for p in positions]
        kw = {"color": PALETTE[j % len(PALETTE)], "label": _tr(col)}
        if horizontal:
            bars = ax.barh(pos, vals, height=width, left=bottom if stacked else None, **kw)
        else:
            bars = ax.bar(pos, vals, width=width, bottom=bottom if stacked else None, **kw)
        raw = frame[col].astype(float).tolist()
        for bar, label, v in zip(bars, labels, raw):
            series = "" if k == 1 and str(col) in ("0", "None") else f" — {_tr(col)}"
            add_tooltip(fig, bar, f"{label}{series}: {_value_text(v, money, percent)}")
        if stacked:
            bottom = [b + v for b, v in zip(bottom, vals)]
    val_axis = ax.xaxis if horizontal else ax.yaxis
    if horizontal:
        ax.set_yticks(positions, labels, fontsize=8 if n > AUTO_HORIZONTAL else None)
        ax.set_ylim(n - 0.5, -0.5)  # first category on top
        ax.grid(axis="y", visible=False)
        ax.grid(axis="x", color="#dddddd", linewidth=0.8)
    else:
        ax.set_xticks(positions, labels, rotation=45 if n > 8 else 0, ha="right" if n > 8 else "center")
    if money:
        money_axis(val_axis)
    elif percent:
        pct_axis(val_axis)
    if k > 1:
        _legend_below(fig)
    return fig


def _bar_height(n_bars: int) -> float:
    """Figure height (inches) for ``n_bars`` horizontal bars: 0.2 in per bar + 1.4 in."""
    return max(2.5, 0.2 * n_bars + 1.4)


def _labels_with_names(index, names) -> list[str]:
    if names is None:
        return [_tr(i) for i in index]
    lookup = dict(names.items()) if isinstance(names, pd.Series) else dict(names)
    out = []
    for i in index:
        name = lookup.get(i)
        out.append(str(i) if name is None or pd.isna(name) or str(name) == str(i) else f"{name} ({i})")
    return out


def hbar_chart(
    values: pd.Series,
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    names=None,
    thresholds=None,
    money: bool = False,
    percent: bool = False,
    sort: bool = True,
    width: float = 8.0,
) -> Figure:
    """One horizontal bar per entity (rep, region ...) with names and threshold lines.

    Parameters
    ----------
    values : Series
        One value per entity, indexed by its id (or name).
    title, xlabel, ylabel : str
        Title; ``xlabel`` names the values with their unit, ``ylabel`` the entities.
    names : mapping or Series, optional
        id -> name; a bar is labelled ``"name (id)"`` (the id alone when it has no name).
    thresholds : mapping, optional
        label -> value, e.g. ``{"idle below 60%": 0.6, "overloaded above 110%": 1.1}``:
        a dashed vertical line each, listed in the legend under the plot.  With two or
        more, bars outside the lowest..highest range are drawn in orange (below) and
        red (above), the others in blue.
    money, percent : bool
        Format the value axis as money / as percentages (values are fractions).
    sort : bool, default True
        Largest value on top; ``False`` keeps the order of ``values``.
    width : float
        Figure width in inches; the height grows with the number of bars (0.2 in each).

    Returns
    -------
    Figure
    """
    if not isinstance(values, pd.Series):
        raise TypeError(f"hbar_chart: values must be a pandas Series, got {type(values).__name__}")
    lines = {str(k): float(v) for k, v in dict(thresholds or {}).items()}
    bad = [k for k, v in lines.items() if not pd.notna(v)]
    if bad:
        raise ValueError(f"hbar_chart: threshold(s) {bad} have no value; expected numbers")
    vals = values.astype(float)
    if sort:
        vals = vals.sort_values(ascending=False, kind="mergesort")
    n = len(vals)
    fig, ax = new_figure(title, xlabel, ylabel, size=(width, _bar_height(n)))
    lo, hi = (min(lines.values()), max(lines.values())) if len(lines) >= 2 else (None, None)
    colors = [PALETTE[0] if lo is None or lo <= v <= hi else (PALETTE[1] if v < lo else PALETTE[5])
              for v in vals.fillna(0.0)]
    pos = list(range(n))
    bars = ax.barh(pos, vals.fillna(0.0).tolist(), height=0.7, color=colors)
    bar_labels = _labels_with_names(vals.index, names)
    for bar, label, v in zip(bars, bar_labels, vals):
        add_tooltip(fig, bar, f"{label}: {_value_text(v, money, percent)}")
    ax.set_yticks(pos, bar_labels, fontsize=8 if n > 25 else 9)
    ax.set_ylim(n - 0.5, -0.5)
    ax.grid(axis="y", visible=False)
    ax.grid(axis="x", color="#dddddd", linewidth=0.8)
    styles = ("--", ":", "-.", (0, (5, 1)))
    for j, (label, x) in enumerate(sorted(lines.items(), key=lambda kv: kv[1])):
        ax.axvline(x, color=PALETTE[7], linewidth=1.2, linestyle=styles[j % len(styles)], label=label)
    if money:
        money_axis(ax.xaxis)
    elif percent:
        pct_axis(ax.xaxis)
    if lines:
        handles, labels = ax.get_legend_handles_labels()
        if lo is not None:  # name the highlight colours the bars use
            from matplotlib.patches import Patch

            for colour, text, used in ((PALETTE[1], "below the lowest line", any(v < lo for v in vals)),
                                       (PALETTE[5], "above the highest line", any(v > hi for v in vals))):
                if used:
                    handles.append(Patch(color=colour))
                    labels.append(text)
        _legend_below(fig, handles, labels)
    return fig


def _legend_below(fig: Figure, handles=None, labels=None) -> None:
    """The figure legend under the plot (constrained layout keeps it clear of the
    title and the axis labels), at most 4 entries per row."""
    if handles is None:
        handles, labels = [], []
        for ax in fig.axes:
            h, lab = ax.get_legend_handles_labels()
            for hh, ll in zip(h, lab):
                if ll not in labels and not ll.startswith("_"):
                    handles.append(hh)
                    labels.append(ll)
    if handles:
        labels = [_tr(x) for x in labels]  # the report language (English: as is)
        fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 4),
                   frameon=False)


def waterfall_chart(
    steps: pd.DataFrame,
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    size=(8.0, 4.0),
    values: bool = True,
) -> Figure:
    """A waterfall (bridge): totals as full bars, changes as floating bars.

    ``steps`` has columns ``step`` (label), ``kind`` (``"total"`` or ``"change"``) and
    ``amount`` (money): a total bar stands on 0 and resets the running sum; a change bar
    floats from the running sum (up: blue-green, down: orange).  The value axis is money;
    dotted connectors join the top of each bar to the next; ``values=True`` writes each
    amount on its bar (compact: ``+1.2 M``); step labels wrap instead of rotating (up to
    8 steps); a legend under the plot names the three colours.

    Raises
    ------
    ValueError
        ``steps`` lacks a column, or a ``kind`` is neither ``total`` nor ``change``.
    """
    from matplotlib.patches import Patch

    from salesplan.reports.format import money as fmt_money

    need = {"step", "kind", "amount"}
    if not need <= set(steps.columns):
        raise ValueError(f"waterfall_chart: steps need columns {sorted(need)}; got {list(steps.columns)}")
    bad = sorted(set(steps["kind"]) - {"total", "change"})
    if bad:
        raise ValueError(f"waterfall_chart: steps.kind has {bad}; expected 'total' or 'change'")
    fig, ax = new_figure(title, xlabel, ylabel, size=size)
    run = 0.0
    labels, tops = [], []
    for i, r in enumerate(steps.itertuples(index=False)):
        v = float(r.amount)
        if r.kind == "total":
            bars = ax.bar(i, v, color=PALETTE[0], width=0.6)
            run = v
            text = fmt_money(v, compact=True)
        else:
            bars = ax.bar(i, v, bottom=run, color=PALETTE[2] if v >= 0 else PALETTE[5], width=0.6)
            run += v
            text = ("+" if v >= 0 else "") + fmt_money(v, compact=True)
        add_tooltip(fig, bars[0], f"{_tr(r.step)}: {text}")
        tops.append(run)
        labels.append(_tr(r.step))
        if values:
            ax.annotate(text, (i, max(run, run - v if r.kind == "change" else run)),
                        xytext=(0, 3), textcoords="offset points", ha="center", va="bottom",
                        fontsize=8)
    for i in range(len(tops) - 1):  # connectors: end of one bar to the start of the next
        ax.plot([i + 0.3, i + 0.7], [tops[i], tops[i]], color="#7b8794", linewidth=0.8,
                linestyle=":")
    if len(labels) <= 8:  # wrap to the bar's share of the width (~8 px per character)
        chars = max(6, int(size[0] * 100 / max(len(labels), 1) / 8))
        ax.set_xticks(range(len(labels)), [textwrap.fill(t, chars) for t in labels], fontsize=9)
    else:
        ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    money_axis(ax.yaxis)
    ax.margins(y=0.12)
    _legend_below(fig, [Patch(color=PALETTE[0]), Patch(color=PALETTE[2]), Patch(color=PALETTE[5])],
                  ["total", "increase", "decrease"])
    return fig


def line_chart(
    data: pd.Series | pd.DataFrame,
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    money: bool = False,
    percent: bool = False,
    markers: bool = True,
    size=(8.0, 4.0),
) -> Figure:
    """Lines over the index (dates, periods or numbers); one line per column."""
    fig, ax = new_figure(title, xlabel, ylabel, size=size)
    frame = data.to_frame() if isinstance(data, pd.Series) else data
    x = frame.index
    if not pd.api.types.is_numeric_dtype(x) and not pd.api.types.is_datetime64_any_dtype(x):
        x = [str(i) for i in x]
    for j, col in enumerate(frame.columns):
        ax.plot(x, frame[col].astype(float), color=PALETTE[j % len(PALETTE)], label=_tr(col),
                marker="o" if markers else None, markersize=3, linewidth=1.8)
        _tip_points(fig, ax, x, frame[col].astype(float).tolist(), _tr(col), money=money, percent=percent)
    if money:
        money_axis(ax.yaxis)
    elif percent:
        pct_axis(ax.yaxis)
    if len(frame.columns) > 1:
        _legend_below(fig)
    return fig


def fan_chart(
    history: pd.Series | pd.DataFrame,
    forecast: pd.DataFrame,
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    money: bool = False,
    levels: Sequence[int] = (80, 95),
    ncols: int = 3,
    size=None,
) -> Figure:
    """History as a line and the forecast as a fan (mean line, shaded intervals).

    Parameters
    ----------
    history : Series or DataFrame
        Observed values indexed by date; a DataFrame gives one panel per column (small
        multiples sharing the title and axis labels), a Series one panel.
    forecast : DataFrame
        Long form ``series, ds, mean, lo-<L>, hi-<L>`` (``series`` optional for a single
        panel; it names the ``history`` column of each panel).
    title, xlabel, ylabel : str
        Figure title and axis labels (with units).
    money : bool
        Format the value axes as money.
    levels : sequence of int
        Interval levels drawn, widest lightest (columns ``lo-L``/``hi-L`` must exist).
    ncols : int
        Panels per row for several series.
    """
    if not title or not xlabel or not ylabel:
        raise ValueError(
            f"charts need a title and both axis labels with units; got title={title!r}, "
            f"xlabel={xlabel!r}, ylabel={ylabel!r}"
        )
    hist = history.to_frame() if isinstance(history, pd.Series) else history
    names = [str(c) for c in hist.columns]
    fc = forecast.copy()
    if "series" not in fc.columns:
        if len(names) != 1:
            raise ValueError("fan_chart: forecast needs a 'series' column for several panels")
        fc["series"] = names[0]
    fc["series"] = fc["series"].astype(str)
    missing = [f"{s}-{lv}" for lv in levels for s in ("lo", "hi") if f"{s}-{lv}" not in fc.columns]
    if missing or "mean" not in fc.columns or "ds" not in fc.columns:
        raise ValueError(f"fan_chart: forecast lacks column(s) {missing or ['ds', 'mean']}")
    configure_fonts()
    title, xlabel, ylabel = _tr(title), _tr(xlabel), _tr(ylabel)  # the report language
    n = len(names)
    cols = max(1, min(ncols, n))
    rows = -(-n // cols)
    if size is None:
        size = (8.0, 4.0) if n == 1 else (3.6 * cols, 2.7 * rows + 0.6)
    fig = Figure(figsize=size, dpi=100, layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False, sharex=True)
    shades = sorted(levels, reverse=True)
    for k, name in enumerate(names):
        ax = axes[k // cols][k % cols]
        h = hist.iloc[:, k].dropna()
        f = fc[fc["series"] == name].sort_values("ds")
        ax.plot(h.index, h.to_numpy(float), color=PALETTE[0], linewidth=1.6, label=_tr("actual"))
        for j, lv in enumerate(shades):
            ax.fill_between(f["ds"], f[f"lo-{lv}"].astype(float), f[f"hi-{lv}"].astype(float),
                            color=PALETTE[1], alpha=0.18 + 0.17 * j, linewidth=0,
                            label=_tr(f"{lv}% interval"))
        if len(h) and len(f):  # join the last actual to the first forecast
            ax.plot([h.index[-1], f["ds"].iloc[0]], [float(h.iloc[-1]), float(f["mean"].iloc[0])],
                    color=PALETTE[5], linewidth=1.2, linestyle=":")
        ax.plot(f["ds"], f["mean"].astype(float), color=PALETTE[5], linewidth=1.8, marker="o",
                markersize=3, label=_tr("forecast (mean)"))
        who = _tr(name)
        _tip_points(fig, ax, list(h.index), h.to_numpy(float).tolist(), f"{who}, {_tr('actual')}", money=money)
        ranges = [(_value_text(float(lo), money), _value_text(float(hi), money))
                  for lo, hi in zip(f[f"lo-{shades[-1]}"], f[f"hi-{shades[-1]}"])]
        _tip_points(fig, ax, list(f["ds"]), f["mean"].astype(float).tolist(),
                    f"{who}, {_tr('forecast (mean)')}", money=money,
                    xtexts=[f"{_x_text(d)} ({shades[-1]}% range {lo} – {hi})"
                            for d, (lo, hi) in zip(f["ds"], ranges)])
        ax.grid(axis="y", color="#dddddd", linewidth=0.8)
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        if n > 1:
            ax.set_title(_tr(name), loc="left", fontsize=10)
        if money:
            money_axis(ax.yaxis)
        ax.tick_params(axis="x", labelrotation=30, labelsize=8)
        ax.set_ylim(bottom=min(0.0, ax.get_ylim()[0]))
    for k in range(n, rows * cols):
        axes[k // cols][k % cols].set_visible(False)
    if n == 1:
        axes[0][0].set_title(title, loc="left", fontsize=12, fontweight="bold")
        axes[0][0].set_xlabel(xlabel)
        axes[0][0].set_ylabel(ylabel)
    else:
        fig.suptitle(title, x=0.01, ha="left", fontsize=12, fontweight="bold")
        for c in range(cols):  # the x label under each column's lowest panel (a figure-wide
            low = max(k for k in range(n) if k % cols == c)  # one would sit on the legend)
            axes[low // cols][c].set_xlabel(xlabel)
            axes[low // cols][c].xaxis.set_tick_params(labelbottom=True)
        fig.supylabel(ylabel)
    handles, labels = axes[0][0].get_legend_handles_labels()
    # below the panels: above them it would run into the figure title
    fig.legend(handles, labels, loc="outside lower center", ncols=len(labels), frameon=False)
    return fig


def to_png(fig: Figure, scale: float = SCALE) -> bytes:
    """PNG bytes of ``fig`` at ``scale`` x 100 dpi (display size: the figure's inches x
    100 px; :func:`show` says so).  No timestamp or software metadata: stable bytes."""
    if not scale > 0:
        raise ValueError(f"to_png: scale={scale!r}, expected a number > 0")
    tofu = warn_if_tofu(fig)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        if tofu:  # said once by warn_if_tofu; not once per missing glyph
            warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from font")
        fig.savefig(buf, format="png", dpi=100 * scale, metadata={"Software": None})
    return buf.getvalue()


def _title(fig: Figure) -> str:
    sup = fig.get_suptitle() if hasattr(fig, "get_suptitle") else ""
    if sup:  # small multiples: the figure title, not the first panel's
        return sup
    for ax in fig.axes:
        t = ax.get_title(loc="left") or ax.get_title()
        if t:
            return t
    return fig.get_suptitle() if hasattr(fig, "get_suptitle") else ""


def to_svg(fig: Figure, alt: str | None = None) -> str:
    """Inline SVG of ``fig`` with a ``<title>`` (hover tooltip) in each tooltip artist.

    Text stays text (``svg.fonttype = "none"``: the page's fonts draw it, CJK included);
    the ``<svg>`` gets the display size of :func:`chart_output` (figure inches x 100 CSS
    px), ``role="img"`` and ``aria-label`` = ``alt`` (default: the chart title), and
    class ``sp-chart``.  Deterministic: no date, fixed ids (``svg.hashsalt``).
    """
    import html as _html

    tofu = warn_if_tofu(fig)
    buf = io.StringIO()
    with warnings.catch_warnings(), matplotlib.rc_context({"svg.fonttype": "none",
                                                          "svg.hashsalt": "salesplan"}):
        if tofu:
            warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from font")
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    svg = buf.getvalue()
    svg = svg[svg.index("<svg"):]  # no XML prolog or DOCTYPE inside an HTML page
    svg = re.sub(r"\s*<metadata>.*?</metadata>", "", svg, count=1, flags=re.S)
    # ids unique in a page of several charts: sp-tip-<hash of this drawing>-<n> (deterministic)
    key = hashlib.sha1(svg.encode("utf-8")).hexdigest()[:8]
    for gid, text in tooltips(fig):
        svg = re.sub(rf'<g id="{re.escape(gid)}"([^>]*)>', lambda m, t=text, g=gid: (
            f'<g id="sp-tip-{key}-{g.rsplit("-", 1)[1]}"{m.group(1)}><title>'
            f"{_html.escape(t, quote=False)}</title>"), svg, count=1)
    w, h = round(fig.get_figwidth() * 100), round(fig.get_figheight() * 100)
    label = _html.escape(alt or _title(fig) or "chart", quote=True)
    svg = re.sub(r'^<svg ([^>]*?)width="[^"]*" height="[^"]*"',
                 lambda m: f'<svg class="sp-chart" role="img" aria-label="{label}" {m.group(1)}'
                           f'width="{w}" height="{h}"', svg, count=1)
    return svg


def chart_output(fig: Figure, alt: str | None = None, *, hover: bool | None = None) -> tuple[dict, dict]:
    """The notebook display bundle of ``fig``: ``(data, metadata)``.

    With hover tooltips (:func:`add_tooltip`; ``hover=None``: when the figure has 1 to
    :data:`MAX_SVG_TIPS` of them, ``True``: always, ``False``: never) ``data`` holds the
    inline SVG of :func:`to_svg`, whose bars/points show their value on hover;
    otherwise the PNG (drawn at :data:`SCALE` x).  Either way the text form is
    ``[chart] <title>``, and the metadata of the image gives the description (``alt``,
    default: the chart title) and the display ``width`` in CSS px (the figure's inches
    x 100), which the HTML report puts on the ``<img>``.
    """
    text = alt or _title(fig) or "chart"
    n_tips = len(tooltips(fig))
    svg = hover if hover is not None else 0 < n_tips <= MAX_SVG_TIPS
    meta = {"alt": text, "width": round(fig.get_figwidth() * 100)}
    if svg:
        return ({"image/svg+xml": to_svg(fig, text), "text/plain": f"[chart] {text}"},
                {"image/svg+xml": meta})
    data = {
        "image/png": base64.b64encode(to_png(fig)).decode("ascii"),
        "text/plain": f"[chart] {text}",
    }
    return data, {"image/png": meta}


def show(fig: Figure, alt: str | None = None, *, hover: bool | None = None) -> None:
    """Display ``fig`` in the notebook: hover SVG or PNG (:func:`chart_output`), text form
    the chart title.

    The HTML report embeds the chart with ``alt`` (default: the chart title) as its
    description, at the figure's display width.  The figure is not kept by pyplot, so
    nothing leaks between cells.
    """
    from IPython.display import display

    data, metadata = chart_output(fig, alt, hover=hover)
    display(data, raw=True, metadata=metadata)
