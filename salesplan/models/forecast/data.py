"""Long-format series: building them from orders and checking them.

The forecasting engine reads one table in *long format*::

    unique_id  str             series name, e.g. "region=East"
    ds         datetime64[ns]  period start (month start, quarter start, Monday of the week)
    y          float64         value of the period (revenue in company currency by default)

Every series is on a regular grid of its frequency with no gaps; missing periods are
filled with an explicit 0 by :func:`to_long`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

#: accepted frequency aliases -> canonical pandas offset alias of the period start
_FREQ_ALIASES = {
    "M": "MS", "MS": "MS", "ME": "MS", "MONTH": "MS", "MONTHLY": "MS",
    "Q": "QS", "QS": "QS", "QE": "QS", "QS-JAN": "QS", "QUARTER": "QS", "QUARTERLY": "QS",
    "W": "W-MON", "W-MON": "W-MON", "WEEK": "W-MON", "WEEKLY": "W-MON",
}
#: season length (periods per year) of each canonical frequency
SEASON_LENGTH = {"MS": 12, "QS": 4, "W-MON": 52}
_PERIOD_CODE = {"MS": "M", "QS": "Q", "W-MON": "W-SUN"}


class ForecastInputError(ValueError):
    """Bad input for the forecasting engine (message names the table, column and rows)."""


def canonical_freq(freq: str) -> str:
    """Map a frequency alias to ``"MS"`` (monthly), ``"QS"`` (quarterly) or ``"W-MON"``.

    Parameters
    ----------
    freq : str
        ``"M"``, ``"MS"``, ``"ME"`` (month), ``"Q"``, ``"QS"``, ``"QE"`` (quarter),
        ``"W"``, ``"W-MON"`` (week starting Monday); case-insensitive.
    """
    key = str(freq).upper()
    if key not in _FREQ_ALIASES:
        raise ForecastInputError(
            f"freq={freq!r} is not supported; expected one of 'MS' (monthly), 'QS' (quarterly)"
            " or 'W' (weekly, weeks starting Monday)"
        )
    return _FREQ_ALIASES[key]


def season_length_of(freq: str) -> int:
    """Periods per year of ``freq``: 12 monthly, 4 quarterly, 52 weekly."""
    return SEASON_LENGTH[canonical_freq(freq)]


def period_start(dates: pd.Series | pd.DatetimeIndex, freq: str) -> pd.Series:
    """Start of the period (month, quarter, ISO week from Monday) containing each date."""
    f = canonical_freq(freq)
    s = pd.Series(pd.to_datetime(dates))
    return s.dt.to_period(_PERIOD_CODE[f]).dt.start_time.astype("datetime64[ns]")


def series_id(keys: Sequence[str], values: Sequence, style: str = "key=value") -> str:
    """Name of one series from its key values.

    ``style="key=value"`` gives ``"region=East|rep_id=R07"``; ``style="value"`` gives
    ``"East|R07"``. The company total (no keys) is ``"total"``.
    """
    if len(keys) == 0:
        return "total"
    if style == "value":
        return "|".join(str(v) for v in values)
    if style != "key=value":
        raise ValueError(f"id_style={style!r}; expected 'key=value' or 'value'")
    return "|".join(f"{k}={v}" for k, v in zip(keys, values))


def to_long(
    orders: pd.DataFrame,
    keys: Iterable[str] = ("region",),
    freq: str = "MS",
    value: str = "amount",
    date: str = "order_date",
    start=None,
    end=None,
    id_style: str = "key=value",
    missing_key: str = "(none)",
) -> pd.DataFrame:
    """Aggregate order lines into long-format series, missing periods filled with 0.

    Parameters
    ----------
    orders : DataFrame, SalesData or OrderLines
        Order lines with columns ``date`` (default ``order_date``), ``value`` (default
        ``amount``, company currency) and every column of ``keys``. Other columns are
        ignored. ``orders`` may also be a :class:`salesplan.data.SalesData` bundle, in which
        case its ``orders`` table is used, joined to ``customers`` when a key (e.g.
        ``region``) is a customer attribute, or the lines coded once
        (:func:`order_lines`, with every key of ``keys`` and the same ``freq``; their
        ``value``, ``date`` and ``missing_key`` were fixed then).
    keys : iterable of str
        Columns to aggregate by, e.g. ``("region",)``, ``("region", "rep_id")``,
        ``("product_line",)``; ``()`` gives the company total (``unique_id="total"``).
    freq : str
        ``"MS"`` monthly (default), ``"QS"`` quarterly or ``"W"`` weekly (Monday start).
    value : str
        Column summed per period: ``y = sum(value)`` over the orders of the period.
    start, end : date-like, optional
        Common first / last period. Without ``start`` each series starts at its own
        first period with an order; without ``end`` all series end at the last period
        with any order. Periods with no order inside ``[start, end]`` get ``y = 0``.
    id_style : {"key=value", "value"}
        ``"region=East|rep_id=R07"`` (default) or ``"East|R07"``; see :func:`series_id`.
    missing_key : str
        Label used for a null key value (e.g. ``rep_id`` null = house account).

    Returns
    -------
    DataFrame
        ``unique_id, ds, y`` plus one column per key, sorted by ``unique_id, ds``.
    """
    keys = tuple(keys)
    work = _order_periods(orders, keys, freq, value, date, missing_key)
    return _aggregate_long(work, keys, freq, start, end, id_style)


@dataclass
class OrderLines:
    """Order lines reduced to what aggregation needs (:func:`order_lines`): per line the
    period number (:func:`_period_code`) and the value, per key an integer code into that
    key's distinct texts (``labels[k][codes[k]]`` is the key's text of each line; the
    smallest integer type that holds them) and, when made ``dated``, the order date to cut
    them by (``dates``: ``int32`` day numbers since 1970-01-01 when every line is dated at
    midnight, the contract's dates, else ``datetime64[ns]``).

    Integer codes, not one text per line: at 12M order lines a text column is an array
    of 12M object pointers (and its hashing when grouped), a code column 12M int8 to int32.
    :func:`to_long` and :func:`~salesplan.models.forecast.hierarchy_forecast` take these
    instead of the orders: the same series to the last bit, so a notebook can code its
    lines once and let the lines' frame go.
    """

    period: np.ndarray
    y: np.ndarray
    freq: str
    codes: dict = field(default_factory=dict)
    labels: dict = field(default_factory=dict)
    dates: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.y)

    def until(self, until, *, dated: bool = True) -> OrderLines:
        """The lines dated on or before ``until`` (date-like), in their order: the lines
        of the orders cut at ``until`` (``order_date <= until``); ``dated=False``: without
        their dates (not copied: the cut lines are not cut again).

        Raises
        ------
        ForecastInputError
            When the lines were not made ``dated`` or none is dated on or before ``until``.
        """
        if self.dates is None:
            raise ForecastInputError(_UNDATED)
        cut = pd.Timestamp(until)
        keep = (self.dates <= cut.value // _DAY_NS if self.dates.dtype == np.int32
                else self.dates <= np.datetime64(cut.to_datetime64(), "ns"))  # day <= floor(cut)
        if not keep.any():
            raise ForecastInputError(f"table 'orders': no order line on or before {until}")
        lines = self if dated else replace(self, dates=None)
        return lines if keep.all() else lines.take(keep)

    def take(self, keep: np.ndarray) -> OrderLines:
        """The lines where the boolean ``keep`` is True, in their order."""
        return replace(self, period=self.period[keep], y=self.y[keep],
                       codes={k: c[keep] for k, c in self.codes.items()},
                       dates=None if self.dates is None else self.dates[keep])

    def select(self, keys) -> OrderLines:
        """These lines with the codes of ``keys`` only (the arrays shared, not copied)."""
        return replace(self, codes={k: self.codes[k] for k in keys}, labels={k: self.labels[k] for k in keys})

    def sums(self, keys) -> pd.DataFrame:
        """``y`` summed per key texts and period: ``*keys, ds, y`` sorted by the keys' texts
        and ``ds``, as ``groupby([*keys, "ds"], sort=True)["y"].sum()`` of the lines with
        text key columns (pandas' group sums, which add the rows of a group in their order,
        so the same sums to the last bit)."""
        keys = tuple(keys)
        p0 = int(self.period.min())
        n_periods = int(self.period.max()) - p0 + 1
        gid, width = self.period.astype(np.int64), n_periods
        gid -= p0
        for k in reversed(keys):  # one int64 group number: (code_1, ..., code_K, period)
            c = self.codes[k].astype(np.int64)
            c *= width
            gid += c
            del c
            width *= len(self.labels[k])
        tot = pd.Series(self.y, copy=False).groupby(gid, sort=True).sum()
        g = tot.index.to_numpy(dtype=np.int64)
        p, rest = g % n_periods, g // n_periods
        out = {}
        for k in reversed(keys):
            out[k] = self.labels[k][rest % len(self.labels[k])]
            rest = rest // len(self.labels[k])
        agg = pd.DataFrame({k: out[k] for k in keys})
        agg["ds"] = _period_start_of_code(p + p0, self.freq)
        agg["y"] = tot.to_numpy()
        if keys:
            agg = agg.sort_values([*keys, "ds"], kind="stable", ignore_index=True)
        return agg


def order_lines(orders, keys: Iterable[str], freq: str = "MS", value: str = "amount",
                date: str = "order_date", missing_key: str = "(none)", *,
                dated: bool = False) -> OrderLines:
    """The order lines coded once for aggregation: :class:`OrderLines`.

    Parameters
    ----------
    orders : DataFrame or SalesData
        As :func:`to_long` takes them (a customer attribute such as ``region`` joined from
        ``customers``).
    keys : iterable of str
        Every key any series will be summed by, e.g. ``("region", "rep_id",
        "product_line")``: the series of any subset of them are then made from these lines
        (:func:`to_long`, :func:`~salesplan.models.forecast.hierarchy_forecast`).
    freq, value, date, missing_key
        See :func:`to_long`.
    dated : bool
        Keep each line's date, so the lines can be cut at a date
        (:meth:`OrderLines.until`, ``hierarchy_forecast(until=...)``).

    Returns
    -------
    OrderLines
        12 bytes a line, 1 to 4 a key (by its number of distinct values) and 4 dated (8
        when a date has a time of day); at 12.2M lines with region, rep and product line
        and dates ~0.25 GB, against ~0.7 GB for the lines' frame.
    """
    return _order_periods(orders, keys, freq, value, date, missing_key, dated=dated)


def _order_periods(orders, keys, freq, value="amount", date="order_date", missing_key="(none)",
                   dated=False):
    """The checked order lines as period numbers, values and integer key codes
    (:class:`OrderLines`; a null key is the text ``missing_key``): the input of
    :func:`_aggregate_long`.  Lines already coded (an :class:`OrderLines` with every key
    of ``keys`` and the frequency ``freq``) are returned as they are.

    Computed once for the bottom keys of a hierarchy and aggregated per level (the same
    rows in the same order, so each level sums exactly as :func:`to_long` would)."""
    keys = tuple(keys)
    if isinstance(orders, OrderLines):
        return _coded_lines(orders, keys, freq, dated)
    from_customers = {}
    if hasattr(orders, "orders") and not isinstance(orders, pd.DataFrame):
        orders, from_customers = _customer_key_rows(orders, keys, columns=(date, value))
    if not isinstance(orders, pd.DataFrame):
        raise ForecastInputError(f"orders: expected a DataFrame, got {type(orders).__name__}")
    f = canonical_freq(freq)
    missing = [c for c in (date, value, *keys) if c not in orders.columns and c not in from_customers]
    if missing:
        raise ForecastInputError(
            f"table 'orders' is missing column(s) {missing}; it has {list(orders.columns)}"
        )
    if len(orders) == 0:
        raise ForecastInputError("table 'orders' is empty: no series to build")
    dates = pd.to_datetime(orders[date], errors="coerce")
    bad = dates.isna()
    if bad.any():
        rows = list(orders.index[bad][:5])
        raise ForecastInputError(
            f"table 'orders', column {date!r}: {int(bad.sum())} value(s) are not dates "
            f"(rows {rows}...)"
        )
    vals = pd.to_numeric(orders[value], errors="coerce")
    bad = vals.isna() & orders[value].notna()
    if bad.any():
        rows = list(orders.index[bad][:5])
        raise ForecastInputError(
            f"table 'orders', column {value!r}: {int(bad.sum())} value(s) are not numbers "
            f"(rows {rows}...)"
        )
    lines = OrderLines(_line_periods(dates, f), vals.fillna(0.0).to_numpy(dtype=float), f,
                       dates=_line_dates(dates) if dated else None)
    for k in keys:
        if k in from_customers:
            rows, col = from_customers[k]
            ccodes, labels = _key_codes(col, missing_key)
            none = int(np.flatnonzero(labels == missing_key)[0])
            codes = np.where(rows >= 0, ccodes[rows], none)
        else:
            codes, labels = _key_codes(orders[k], missing_key)
        lines.codes[k], lines.labels[k] = codes.astype(_code_type(len(labels)), copy=False), labels
    return lines


_DAY_NS = 86_400 * 10**9
_UNDATED = ("order lines without their dates cannot be cut at a date; "
            "make them with order_lines(..., dated=True)")


def _code_type(n: int) -> type:
    """The smallest signed integer type that holds the codes ``0 .. n - 1``."""
    return next(t for t in (np.int8, np.int16, np.int32, np.int64) if n <= np.iinfo(t).max + 1)


def _line_dates(dates: pd.Series) -> np.ndarray:
    """The lines' dates as :class:`OrderLines` keeps them: ``int32`` day numbers since
    1970-01-01 when every date is at midnight (4 bytes a line), else ``datetime64[ns]`` (a
    date with a time of day, or with a time zone)."""
    ns = dates.to_numpy("datetime64[ns]")
    if isinstance(dates.dtype, pd.DatetimeTZDtype):
        return ns
    whole = ns.view(np.int64)
    if len(whole) and not (whole % _DAY_NS).any():
        return (whole // _DAY_NS).astype(np.int32)
    return ns


def _coded_lines(lines: OrderLines, keys: tuple[str, ...], freq: str, dated: bool) -> OrderLines:
    """``lines`` with the codes of ``keys`` only (:meth:`OrderLines.select`) when they hold
    every key of ``keys`` at frequency ``freq`` (and dates when ``dated``), else a
    ForecastInputError naming what is missing."""
    missing = [k for k in keys if k not in lines.codes]
    if missing:
        raise ForecastInputError(f"order lines: coded without key(s) {missing}; they have "
                                 f"{list(lines.codes)}: code them with every key the series need")
    if lines.freq != canonical_freq(freq):
        raise ForecastInputError(f"order lines: coded at frequency {lines.freq!r}, asked for "
                                 f"{canonical_freq(freq)!r}")
    if dated and lines.dates is None:
        raise ForecastInputError(_UNDATED)
    return lines.select(keys)


def _line_periods(dates: pd.Series, f: str) -> np.ndarray:
    """Period number (:func:`_period_code`) of the period holding each date; naive
    ``datetime64[ns]`` dates by calendar arithmetic (no Period objects), others as
    :func:`period_start`."""
    arr = dates.to_numpy()
    if arr.dtype == np.dtype("datetime64[ns]"):
        if f == "W-MON":
            return ((arr.astype("datetime64[D]").astype(np.int64) - 4) // 7).astype(np.int32)
        months = arr.astype("datetime64[M]").astype(np.int64)
        return (months // 3 if f == "QS" else months).astype(np.int32)
    return _period_code(period_start(dates.reset_index(drop=True), f), f).astype(np.int32)


def _key_codes(col: pd.Series, missing_key: str) -> tuple[np.ndarray, np.ndarray]:
    """Integer code of each value of a key column and the texts they stand for: ``str`` of
    each distinct value (converted once), ``missing_key`` for a null; values whose texts
    are equal share a code (they are one series, as when grouped by the texts)."""
    codes, uniques = pd.factorize(col, use_na_sentinel=True)
    text = np.array([str(v) for v in uniques] + [missing_key], dtype=object)
    tcodes, labels = pd.factorize(text)
    return tcodes[codes], np.asarray(labels, dtype=object)


def _aggregate_long(work, keys, freq, start=None, end=None, id_style="key=value"):
    """:func:`to_long`'s output from :func:`_order_periods` lines: ``y`` summed per key
    values and period, each series' periods ``[first (or start), end]`` filled with 0."""
    keys = tuple(keys)
    f = canonical_freq(freq)
    agg = work.sums(keys)
    t_end = period_start(pd.Series([pd.Timestamp(end)]), f).iloc[0] if end is not None else agg[
        "ds"].max()
    t_start = period_start(pd.Series([pd.Timestamp(start)]), f).iloc[0] if start is not None \
        else None
    # fill every series' grid [first, t_end] at once (one vectorised pass, no loop per
    # series): periods as integers, y scattered into its grid position
    code = _period_code(agg["ds"], f)
    if keys:
        grp = agg.groupby(list(keys), sort=True)
        gid = grp.ngroup().to_numpy()
        kvals = list(grp.size().index)
    else:
        gid = np.zeros(len(agg), dtype=np.int64)
        kvals = [()]
    n_groups = len(kvals)
    first = np.full(n_groups, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first, gid, code)
    if t_start is not None:
        first[:] = _period_code(pd.Series([t_start]), f)[0]
    last = _period_code(pd.Series([t_end]), f)[0]
    length = np.maximum(last - first + 1, 0)
    if length.sum() == 0:
        raise ForecastInputError(
            f"table 'orders': no periods between start={start!r} and end={end!r}"
        )
    offset = np.concatenate([[0], np.cumsum(length)[:-1]])
    gi = np.repeat(np.arange(n_groups), length)
    grid = first[gi] + (np.arange(len(gi)) - offset[gi])
    y_out = np.zeros(len(gi))
    inside = (code >= first[gid]) & (code <= last)
    y_out[offset[gid[inside]] + code[inside] - first[gid[inside]]] = agg["y"].to_numpy(float)[inside]
    kv_tuples = [kv if isinstance(kv, tuple) else (kv,) for kv in kvals]
    names = np.array([series_id(keys, kv, id_style) for kv in kv_tuples], dtype=object)
    out = pd.DataFrame({"unique_id": names[gi], "ds": _period_start_of_code(grid, f),
                        "y": y_out})
    for j, k in enumerate(keys):
        out[k] = np.array([kv[j] for kv in kv_tuples], dtype=object)[gi]
    out["ds"] = out["ds"].astype("datetime64[ns]")
    out["unique_id"] = out["unique_id"].astype(str)
    return out.sort_values(["unique_id", "ds"], kind="stable").reset_index(drop=True)



def _period_code(ds: pd.Series, f: str) -> np.ndarray:
    """Integer number of the period starting at each (period-start) date: months since
    1970 (``MS``), quarters since 1970 (``QS``) or weeks since Monday 1970-01-05."""
    d = _naive_datetimes(ds)
    d = (pd.to_datetime(pd.Series(ds)).to_numpy() if d is None else d).astype("datetime64[D]")
    if f == "W-MON":
        return (d.astype(np.int64) - 4) // 7
    months = d.astype("datetime64[M]").astype(np.int64)
    return months // 3 if f == "QS" else months


def _naive_datetimes(ds) -> np.ndarray | None:
    """The values of ``ds`` when they are already naive datetimes (``datetime64``), else None.

    ``pd.to_datetime`` of such values returns them unchanged, after boxing up to 10,000 of
    them as Timestamps to decide whether to cache (~50 ms per call on a long frame)."""
    values = ds.to_numpy() if isinstance(ds, (pd.Series, pd.Index)) else ds
    return values if isinstance(values, np.ndarray) and values.dtype.kind == "M" else None


def _period_start_of_code(code: np.ndarray, f: str) -> np.ndarray:
    """Inverse of :func:`_period_code`: the start date of each period number."""
    code = np.asarray(code, dtype=np.int64)
    if f == "W-MON":
        return (code * 7 + 4).astype("datetime64[D]").astype("datetime64[ns]")
    months = code * 3 if f == "QS" else code
    return months.astype("datetime64[M]").astype("datetime64[ns]")


def _customer_key_rows(data, keys: tuple[str, ...], columns=None):
    """``data.orders`` and, for each key that is a customer attribute (e.g. region), the
    customers' row of every order line (-1: no such customer) with the customers' column:
    ``(orders, {key: (rows, column)})``.

    The same key values as :func:`_orders_with_customer_keys`'s left merge, without
    copying the order lines into a merged frame (at 12M lines the merge copied every
    column and the lines' index).  When the customers' ids are not unique, have nulls or
    another dtype than the orders', the merge itself is done: ``(merged orders, {})``.
    """
    orders = data.orders
    customers = getattr(data, "customers", None)
    need = [k for k in keys if k not in orders.columns]
    if not need or customers is None or "customer_id" not in orders.columns:
        return orders, {}
    ids = customers["customer_id"] if "customer_id" in customers.columns else None
    if (ids is None or any(k not in customers.columns for k in need) or ids.isna().any()
            or ids.dtype != orders["customer_id"].dtype or not ids.is_unique):
        return _orders_with_customer_keys(data, keys, columns), {}
    # each distinct id of the lines looked up once (the lines' ids are coded, not hashed as
    # Python strings); a null id has no customer (-1), as in the merge
    codes, uniques = pd.factorize(orders["customer_id"], use_na_sentinel=True)
    rows = np.append(pd.Index(ids).get_indexer(uniques), -1)[codes]
    return orders, {k: (rows, customers[k]) for k in need}


def _orders_with_customer_keys(data, keys: tuple[str, ...], columns=None) -> pd.DataFrame:
    """``data.orders`` with customer attributes (e.g. region) merged in when a key needs them.

    ``columns``: the other order columns wanted; given, only those and the keys are merged
    (the same rows, fewer columns copied)."""
    orders = data.orders
    need = [k for k in keys if k not in orders.columns]
    customers = getattr(data, "customers", None)
    if need and customers is not None and "customer_id" in orders.columns:
        if columns is not None and all(c in orders.columns for c in columns):
            keep = dict.fromkeys([*columns, *keys, "customer_id"])
            orders = orders[[c for c in keep if c in orders.columns]]
        cols = ["customer_id", *[k for k in need if k in customers.columns]]
        orders = orders.merge(customers[cols], on="customer_id", how="left")
    return orders


def _off_period_start(ds: pd.Series, f: str) -> np.ndarray:
    """Whether each date (``datetime64[ns]``, no NaT) is not the start of its period of
    ``f``: ``period_start(ds, f) != ds``, for months and quarters in numpy (the month of a
    date is ``datetime64[M]``, which floors)."""
    d = ds.to_numpy()
    if f not in ("MS", "QS") or d.dtype != np.dtype("datetime64[ns]"):
        return period_start(ds, f).to_numpy() != d
    months = d.astype("datetime64[M]")
    off = months.astype("datetime64[ns]") != d
    if f == "QS":
        off |= months.astype(np.int64) % 3 != 0
    return off


def validate_long(
    df: pd.DataFrame,
    freq: str = "MS",
    allow_negative: bool = True,
    table: str = "df",
) -> pd.DataFrame:
    """Check a long-format frame and return a clean copy (sorted, contract dtypes).

    Raises :class:`ForecastInputError` (a ``ValueError``) naming the table, column and
    offending ids when: the frame is empty; a column of ``unique_id, ds, y`` is missing;
    ``y`` is not numeric or is missing; ``ds`` is not a date; a ``(unique_id, ds)`` pair
    repeats; a date is not the start of a period of ``freq`` or a series has a gap
    (irregular dates); ``y < 0`` while ``allow_negative=False``.

    Parameters
    ----------
    df : DataFrame
        ``unique_id, ds, y`` (other columns are kept).
    freq : str
        Frequency the dates must follow, see :func:`canonical_freq`.
    allow_negative : bool
        Whether ``y < 0`` (returns exceeding sales in a period) is accepted.
    table : str
        Name used in error messages.
    """
    f = canonical_freq(freq)
    if not isinstance(df, pd.DataFrame):
        raise ForecastInputError(f"{table}: expected a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in ("unique_id", "ds", "y") if c not in df.columns]
    if missing:
        raise ForecastInputError(
            f"{table}: missing column(s) {missing}; expected long format with columns "
            f"'unique_id', 'ds', 'y' (got {list(df.columns)})"
        )
    if len(df) == 0:
        raise ForecastInputError(f"{table} is empty: expected at least one row of unique_id, ds, y")
    out = df.copy()
    out["unique_id"] = out["unique_id"].astype(str)
    y = out["y"]
    if not (pd.api.types.is_numeric_dtype(y) and not pd.api.types.is_bool_dtype(y)):
        num = pd.to_numeric(y, errors="coerce")
        bad = num.isna() & y.notna()
        if bad.any():
            ids = sorted(set(out.loc[bad, "unique_id"]))[:5]
            ex = list(y[bad].astype(str)[:3])
            raise ForecastInputError(
                f"{table}, column 'y': {int(bad.sum())} value(s) are not numeric (e.g. {ex}) "
                f"in series {ids}; expected numbers"
            )
        y = num
    out["y"] = y.astype("float64")
    if out["y"].isna().any():
        ids = sorted(set(out.loc[out["y"].isna(), "unique_id"]))[:5]
        raise ForecastInputError(
            f"{table}, column 'y': {int(out['y'].isna().sum())} missing value(s) in series {ids}; "
            "expected a number for every period (fill missing periods with 0 explicitly)"
        )
    if not np.isfinite(out["y"].to_numpy()).all():
        raise ForecastInputError(f"{table}, column 'y': infinite values; expected finite numbers")
    ds = out["ds"] if _naive_datetimes(out["ds"]) is not None else pd.to_datetime(
        out["ds"], errors="coerce")
    if ds.isna().any():
        ids = sorted(set(out.loc[ds.isna(), "unique_id"]))[:5]
        raise ForecastInputError(
            f"{table}, column 'ds': {int(ds.isna().sum())} value(s) are not dates in series {ids}"
        )
    if getattr(ds.dt, "tz", None) is not None:
        ds = ds.dt.tz_localize(None)
    out["ds"] = ds.astype("datetime64[ns]")
    dup = out.duplicated(["unique_id", "ds"], keep=False)
    if dup.any():
        d = out.loc[dup, ["unique_id", "ds"]].drop_duplicates().head(3)
        ex = [f"{u} {t.date()}" for u, t in zip(d["unique_id"], d["ds"])]
        raise ForecastInputError(
            f"{table}: duplicate (unique_id, ds) periods, e.g. {ex} ({int(dup.sum())} rows); "
            "expected one row per series and period (aggregate first, e.g. with to_long)"
        )
    off = _off_period_start(out["ds"], f)
    if off.any():
        ids = sorted(set(out.loc[off, "unique_id"]))[:5]
        ex = [str(t.date()) for t in out.loc[off, "ds"][:3]]
        raise ForecastInputError(
            f"{table}, column 'ds': irregular dates {ex} in series {ids}: freq={f!r} expects "
            "the first day of each period"
        )
    out = out.sort_values(["unique_id", "ds"], kind="stable").reset_index(drop=True)
    # consecutive periods: within a series each period number is the previous one + 1
    # (the dates are period starts, checked above), one vectorised pass over all series
    uid = out["unique_id"].to_numpy()
    code = _period_code(out["ds"], f)
    same = uid[1:] == uid[:-1]
    bad = same & (np.diff(code) != 1)
    gaps = list(dict.fromkeys(uid[1:][bad]))[:5]
    if gaps:
        raise ForecastInputError(
            f"{table}, column 'ds': irregular dates (gaps between periods) in series {gaps}; "
            f"expected consecutive {f!r} periods; fill missing periods with 0 explicitly "
            "(salesplan.models.forecast.to_long does this)"
        )
    if not allow_negative and (out["y"] < 0).any():
        neg = out["y"] < 0
        ids = sorted(set(out.loc[neg, "unique_id"]))[:5]
        raise ForecastInputError(
            f"{table}, column 'y': {int(neg.sum())} negative value(s) in series {ids}; "
            "negative values are not allowed here (allow_negative=False)"
        )
    return out
