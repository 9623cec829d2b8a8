"""Customer segments: ABC classes, RFM scores, lifecycle stages, new-customer alerts.

Implements the customer practice of ``domain.md`` sections 2 and 5:

* **ABC** (Pareto) classes by trailing-12-month revenue at an ``as_of`` date;
* **RFM** (recency, frequency, monetary) scores in quintiles;
* **lifecycle** stage (introduction / growth / maturity / decline) from tenure and
  revenue trend;
* per-region **new-customer counts** by month with the "fell two months in a row" alert.

Conventions
-----------
``as_of`` is the last observed day and is *inclusive*: an order dated ``as_of`` is known
at ``as_of``; rows dated after it are ignored (no look-ahead).  Windows of ``m`` months end
at ``as_of`` and start after ``as_of - m months`` (``(as_of - m months, as_of]``).
Money is in the company currency (``orders.amount``, net of returns).

Every function reads only ``orders`` (and optionally ``customers``) as described in
:mod:`salesplan.data.schema`; parameters are frozen dataclasses that validate themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from salesplan.data.checks import as_date, bad_parameter, check_as_of, check_number, require_columns
from salesplan.data.orders import count_orders, lines_until, purchase_lines
from salesplan.models._text import str_codes

__all__ = [
    "LIFECYCLE_STAGES",
    "ABCParams",
    "LifecycleParams",
    "NewCustomerParams",
    "RFMParams",
    "abc_classes",
    "alerts_of_counts",
    "check_abc_frame",
    "customer_segments",
    "lifecycle_stages",
    "new_customer_alerts",
    "new_customer_counts",
    "rfm_scores",
]

LIFECYCLE_STAGES: tuple[str, ...] = ("introduction", "growth", "maturity", "decline")

#: the columns the segment models read; ``order_id``, when present, names the lines of an error
_ORDER_COLUMNS = ("order_date", "customer_id", "amount")


# ----------------------------------------------------------------------------- helpers






def _prepare_orders(orders: pd.DataFrame, as_of) -> tuple[pd.DataFrame, np.ndarray, pd.Timestamp]:
    """Orders known at ``as_of`` (``order_date <= as_of``), typed; errors on bad input.

    Returns the lines (``customer_id`` as integer codes, :func:`~salesplan.models._text.str_codes`:
    the group-bys hash integers, and code order is id order), the ids of the codes and ``as_of``.
    """
    require_columns(orders, "orders", _ORDER_COLUMNS)
    ts = as_date(as_of)
    codes, names = str_codes(orders["customer_id"])
    o = pd.DataFrame(
        {
            "order_date": pd.to_datetime(orders["order_date"]).dt.normalize().to_numpy(),
            "customer_id": codes,
            "amount": pd.to_numeric(orders["amount"]).astype(float).to_numpy(),
        }
    )
    if o.empty:
        raise ValueError("table 'orders' is empty: no customer has any order")
    bad_dates = o["order_date"].isna().to_numpy()
    if bad_dates.any():  # the line ids (when loaded) are read for this message only
        rows = np.flatnonzero(bad_dates)[:5]
        where = (f"order_id(s) {[str(v) for v in orders['order_id'].to_numpy()[rows]]}"
                 if "order_id" in orders.columns
                 else f"row(s) {rows.tolist()} of the table as read (from 0; `salesplan validate` names them)")
        raise ValueError(f"table 'orders', column 'order_date': missing dates in {int(bad_dates.sum())} "
                         f"line(s), first {where}")
    check_as_of(ts, o["order_date"], "orders", "order")
    return lines_until(o, ts).reset_index(drop=True), names, ts  # o: this function's own frame


def _named(by_code: pd.Series | pd.Index, names: np.ndarray) -> pd.Series | pd.Index:
    """A Series (or Index) of customer codes re-indexed (or spelt) by ``customer_id``."""
    if isinstance(by_code, pd.Index):
        return pd.Index(names[by_code.to_numpy()], dtype=object)
    return by_code.set_axis(pd.Index(names[by_code.index.to_numpy()], dtype=object, name=by_code.index.name))


def _window(o: pd.DataFrame, as_of: pd.Timestamp, months: int, lag: int = 0) -> pd.DataFrame:
    """Rows in ``(as_of - (lag+months) months, as_of - lag months]``."""
    end = as_of - pd.DateOffset(months=lag)
    start = as_of - pd.DateOffset(months=lag + months)
    return o[(o["order_date"] > start) & (o["order_date"] <= end)]


def _quantile_score(values: pd.Series, n: int, higher_is_better: bool = True) -> pd.Series:
    """Equal-count score 1..n: ``ceil(n * rank / N)`` with average ranks (ties share)."""
    v = values if higher_is_better else -values
    rank = v.rank(method="average")
    score = np.ceil(n * rank / len(v)).clip(1, n)
    return score.astype("int64")


# ----------------------------------------------------------------------------- ABC
@dataclass(frozen=True)
class ABCParams:
    """Thresholds of the ABC (Pareto) classification.

    Parameters
    ----------
    a_share : float
        Cumulative revenue share covered by class A (default 0.80: the customers that
        make the first 80% of revenue).
    b_share : float
        Cumulative share covered by A and B together (default 0.95: B = the next 15%).
    window_months : int
        Length of the trailing revenue window in months (default 12).
    """

    a_share: float = 0.80
    b_share: float = 0.95
    window_months: int = 12

    def __post_init__(self):
        if not (0 < self.a_share < 1):
            raise bad_parameter("a_share", self.a_share, "a share in (0, 1)")
        if not (self.a_share <= self.b_share <= 1):
            raise bad_parameter("b_share", self.b_share, f"a share in [a_share={self.a_share}, 1]")
        check_number("window_months", self.window_months, 1, integer=True, what=" (months)")


def abc_classes(
    orders: pd.DataFrame,
    as_of,
    params: ABCParams = ABCParams(),
    customers: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """ABC class of each customer by trailing revenue at ``as_of``.

    Customers are sorted by revenue in the window ``(as_of - window_months, as_of]``
    (descending; ties by ``customer_id``).  With ``R_i`` the revenue of the i-th customer
    and ``T = sum_i max(R_i, 0)``, the share *before* customer i is
    ``S_{i-1} = sum_{j<i} R_j / T``.  A customer is

    * **A** if ``S_{i-1} < a_share`` (it takes part in making the first ``a_share`` of
      revenue, so the customer crossing the line is A),
    * **B** if ``a_share <= S_{i-1} < b_share``,
    * **C** otherwise, and always when ``R_i <= 0``.

    Parameters
    ----------
    orders : DataFrame
        ``orders`` table (``order_date, customer_id, amount``; ``order_id``, when present,
        names the lines of an error).
    as_of : date-like
        Last observed day (inclusive).
    params : ABCParams
        Thresholds and window.
    customers : DataFrame, optional
        ``customers`` table; when given, every customer in it appears (those without
        revenue in the window as class C with revenue 0) and its ``region`` is added.

    Returns
    -------
    DataFrame
        One row per customer, sorted by revenue: ``customer_id, revenue`` (company
        currency), ``share`` (of total revenue), ``cum_share`` (including this customer),
        ``abc_class`` (``"A"``/``"B"``/``"C"``) and ``region`` when ``customers`` is given.
        ``attrs`` records how it was made (``as_of`` as ISO date text, ``window_months``,
        ``a_share``, ``b_share``) so that a caller handed the frame can check it
        (:func:`check_abc_frame`).
    """
    return _abc_of(*_prepare_orders(orders, as_of), params, customers)


def _abc_of(o: pd.DataFrame, names: np.ndarray, ts: pd.Timestamp, params: ABCParams, customers) -> pd.DataFrame:
    """:func:`abc_classes` of orders already prepared (``_prepare_orders``)."""
    win = _window(o, ts, params.window_months)
    rev = _named(win.groupby("customer_id")["amount"].sum(), names)
    ids = _named(pd.Index(np.unique(o["customer_id"].to_numpy())), names)
    if customers is not None:
        require_columns(customers, "customers", ("customer_id",))
        ids = ids.union(pd.Index(customers["customer_id"].astype(str).unique()))
    rev = rev.reindex(ids, fill_value=0.0)
    out = pd.DataFrame({"customer_id": rev.index.astype(str), "revenue": rev.to_numpy(float)})
    out = out.sort_values(["revenue", "customer_id"], ascending=[False, True], kind="mergesort")
    out = out.reset_index(drop=True)
    total = out["revenue"].clip(lower=0).sum()
    if total <= 0:
        raise ValueError(
            f"no positive revenue in the {params.window_months} months up to as_of={ts.date()}: "
            "ABC classes are undefined"
        )
    positive = out["revenue"].clip(lower=0)
    out["share"] = out["revenue"] / total
    out["cum_share"] = positive.cumsum() / total
    before = out["cum_share"] - positive / total
    tol = 1e-12
    cls = np.where(
        before < params.a_share - tol, "A", np.where(before < params.b_share - tol, "B", "C")
    )
    cls = np.where(out["revenue"] <= 0, "C", cls)
    out["abc_class"] = pd.array(cls, dtype="str")
    if customers is not None and "region" in customers.columns:
        reg = customers.assign(customer_id=customers["customer_id"].astype(str)).set_index(
            "customer_id"
        )["region"]
        out["region"] = out["customer_id"].map(reg)
    out.attrs.update(as_of=ts.date().isoformat(), window_months=int(params.window_months),
                     a_share=float(params.a_share), b_share=float(params.b_share))
    return out


def check_abc_frame(classes, as_of, params: ABCParams = ABCParams(), what: str = "classes") -> pd.Series:
    """The ``customer_id -> abc_class`` Series of a frame :func:`abc_classes` made for ``as_of``.

    A caller that takes the classes already computed (to compute them once per run) checks
    with this that they are the ones it would compute: the frame's ``attrs`` (set by
    :func:`abc_classes`) must name the same ``as_of`` (a day) and the same ``params``.

    Raises
    ------
    ValueError
        One line: not a frame of :func:`abc_classes`, or made for another day, window or
        thresholds.
    """
    if not isinstance(classes, pd.DataFrame) or not {"customer_id", "abc_class"} <= set(classes.columns):
        raise ValueError(f"{what} must be the frame of segments.abc_classes (columns customer_id, abc_class), "
                         f"got {type(classes).__name__}")
    want = {"as_of": as_date(as_of).date().isoformat(), "window_months": int(params.window_months),
            "a_share": float(params.a_share), "b_share": float(params.b_share)}
    got = {k: classes.attrs.get(k) for k in want}
    if got != want:
        diff = ", ".join(f"{k}={got[k]!r} (expected {want[k]!r})" for k in want if got[k] != want[k])
        raise ValueError(f"{what} were made with {diff}: compute them with segments.abc_classes for "
                         f"as_of={want['as_of']} and the default thresholds, or leave {what} out")
    return classes.set_index("customer_id")["abc_class"]


# ----------------------------------------------------------------------------- RFM
@dataclass(frozen=True)
class RFMParams:
    """RFM scoring parameters.

    Parameters
    ----------
    n_bins : int
        Number of equal-count score classes (default 5: quintiles, scores 1..5).
    window_months : int or None
        History used for frequency and monetary value (default None: all history up to
        ``as_of``).
    """

    n_bins: int = 5
    window_months: int | None = None

    def __post_init__(self):
        check_number("n_bins", self.n_bins, 2, 100, integer=True)
        check_number("window_months", self.window_months, 1, integer=True, allow_none=True,
                     what=" (months)")


def rfm_scores(orders: pd.DataFrame, as_of, params: RFMParams = RFMParams()) -> pd.DataFrame:
    """Recency, frequency and monetary scores of every customer with orders up to ``as_of``.

    * ``recency_days`` = ``as_of - last order date`` (days);
    * ``frequency`` = number of orders in the window (:mod:`salesplan.data.orders`: one
      customer's non-negative lines of one day; ``order_id`` is a line id, and returns are
      not orders);
    * ``monetary`` = net revenue in the window (returns netted, company currency).

    Each is turned into a score 1..n (5 = best: most recent, most frequent, highest
    spend) by equal-count classes: ``score = ceil(n * rank / N)`` where ``rank`` is the
    average rank (1 = worst) among the ``N`` customers, so ties share a score.

    Returns
    -------
    DataFrame
        ``customer_id, recency_days, frequency, monetary, r_score, f_score, m_score,
        rfm_cell`` (e.g. ``"545"``) and ``rfm_total`` (R+F+M), sorted by ``customer_id``.
        Customers without any order up to ``as_of`` (only returns) are not scored.
    """
    return _rfm_of(*_prepare_orders(orders, as_of), params)


def _rfm_of(o: pd.DataFrame, names: np.ndarray, ts: pd.Timestamp, params: RFMParams) -> pd.DataFrame:
    """:func:`rfm_scores` of orders already prepared (``_prepare_orders``)."""
    last = purchase_lines(o).groupby("customer_id")["order_date"].max()
    hist = o if params.window_months is None else _window(o, ts, params.window_months)
    freq = count_orders(hist, "customer_id").reindex(last.index, fill_value=0)
    mon = hist.groupby("customer_id")["amount"].sum().reindex(last.index, fill_value=0.0)
    out = pd.DataFrame(
        {
            "customer_id": _named(last.index, names),
            "recency_days": (ts - last).dt.days.to_numpy().astype("int64"),
            "frequency": freq.to_numpy().astype("int64"),
            "monetary": mon.to_numpy(float),
        }
    )
    n = params.n_bins
    out["r_score"] = _quantile_score(out["recency_days"], n, higher_is_better=False)
    out["f_score"] = _quantile_score(out["frequency"], n)
    out["m_score"] = _quantile_score(out["monetary"], n)
    out["rfm_cell"] = (
        out["r_score"].astype(str) + out["f_score"].astype(str) + out["m_score"].astype(str)
    )
    out["rfm_total"] = out["r_score"] + out["f_score"] + out["m_score"]
    return out.sort_values("customer_id", kind="mergesort").reset_index(drop=True)


# ----------------------------------------------------------------------------- lifecycle
@dataclass(frozen=True)
class LifecycleParams:
    """Thresholds of the lifecycle stages.

    Parameters
    ----------
    intro_months : int
        A customer whose first order is less than this many months before ``as_of`` is in
        *introduction* (default 6).
    trend_months : int
        Length of the two windows compared for the revenue trend (default 6: the last six
        months against the six before).
    growth_threshold : float
        Trend at or above which a customer is in *growth* (default +0.20 = +20%).
    decline_threshold : float
        Trend at or below which a customer is in *decline* (default -0.20 = -20%).
    """

    intro_months: int = 6
    trend_months: int = 6
    growth_threshold: float = 0.20
    decline_threshold: float = -0.20

    def __post_init__(self):
        for name in ("intro_months", "trend_months"):
            check_number(name, getattr(self, name), 1, integer=True, what=" (months)")
        check_number("growth_threshold", self.growth_threshold, 0, lo_open=True)
        if not (-1 <= self.decline_threshold < 0):
            raise bad_parameter("decline_threshold", self.decline_threshold, "a number in [-1, 0)")


def lifecycle_stages(
    orders: pd.DataFrame, as_of, params: LifecycleParams = LifecycleParams()
) -> pd.DataFrame:
    """Lifecycle stage of each customer at ``as_of`` from tenure and revenue trend.

    With ``recent`` = revenue in ``(as_of - m, as_of]`` and ``prior`` = revenue in
    ``(as_of - 2m, as_of - m]`` (``m = trend_months``), the trend is
    ``(recent - prior) / prior`` (``+inf`` when ``prior <= 0 < recent``, ``-1`` when
    both are ``<= 0``).  The stage is, in this order:

    1. **introduction** if ``tenure_months < intro_months`` (first order is recent);
    2. **decline** if ``trend <= decline_threshold``;
    3. **growth** if ``trend >= growth_threshold``;
    4. **maturity** otherwise.

    Returns
    -------
    DataFrame
        ``customer_id, first_order, tenure_months`` (whole months between the first
        order and ``as_of``), ``recent_revenue, prior_revenue, trend, stage``.
    """
    return _lifecycle_of(*_prepare_orders(orders, as_of), params)


def _lifecycle_of(o: pd.DataFrame, names: np.ndarray, ts: pd.Timestamp, params: LifecycleParams) -> pd.DataFrame:
    """:func:`lifecycle_stages` of orders already prepared (``_prepare_orders``)."""
    m = params.trend_months
    first = o.groupby("customer_id")["order_date"].min()
    recent = _window(o, ts, m).groupby("customer_id")["amount"].sum()
    prior = _window(o, ts, m, lag=m).groupby("customer_id")["amount"].sum()
    recent = recent.reindex(first.index, fill_value=0.0).to_numpy(float)
    prior = prior.reindex(first.index, fill_value=0.0).to_numpy(float)
    fd = first.dt
    tenure = ((ts.year - fd.year.to_numpy("int64")) * 12 + (ts.month - fd.month.to_numpy("int64"))
              - (ts.day < fd.day.to_numpy("int64"))).astype("int64")
    with np.errstate(divide="ignore", invalid="ignore"):
        trend = np.where(
            prior > 0,
            (recent - prior) / np.where(prior > 0, prior, 1.0),
            np.where(recent > 0, np.inf, -1.0),
        )
    stage = np.where(
        tenure < params.intro_months,
        "introduction",
        np.where(
            trend <= params.decline_threshold,
            "decline",
            np.where(trend >= params.growth_threshold, "growth", "maturity"),
        ),
    )
    out = pd.DataFrame(
        {
            "customer_id": _named(first.index, names),
            "first_order": first.to_numpy(),
            "tenure_months": tenure,
            "recent_revenue": recent,
            "prior_revenue": prior,
            "trend": trend,
            "stage": pd.Categorical(stage, categories=list(LIFECYCLE_STAGES)),
        }
    )
    return out.sort_values("customer_id", kind="mergesort").reset_index(drop=True)


# ----------------------------------------------------------------------------- new customers
@dataclass(frozen=True)
class NewCustomerParams:
    """Parameters of the new-customer monitor (``domain.md`` section 5).

    Parameters
    ----------
    falls_in_a_row : int
        Number of consecutive monthly falls that raise the alert (default 2: "if a
        region's new-customer count falls two months in a row, add marketing there").
    complete_months_only : bool
        Drop the month of ``as_of`` when ``as_of`` is not its last day, so that a partial
        month does not look like a fall (default True).
    """

    falls_in_a_row: int = 2
    complete_months_only: bool = True

    def __post_init__(self):
        check_number("falls_in_a_row", self.falls_in_a_row, 1, integer=True)
        if not isinstance(self.complete_months_only, (bool, np.bool_)):
            raise bad_parameter("complete_months_only", self.complete_months_only, "True or False")


def new_customer_counts(
    orders: pd.DataFrame,
    as_of,
    customers: pd.DataFrame | None = None,
    params: NewCustomerParams = NewCustomerParams(),
) -> pd.DataFrame:
    """New customers per region and month, with the "fell N months in a row" alert.

    A customer is *new* in the month of its first order (over all history up to
    ``as_of``).  Its region comes from ``customers.region`` (``"all"`` when
    ``customers`` is not given).  Months without new customers count 0.

    ``falls`` counts the consecutive months, up to and including this one, in which the
    count was strictly lower than the month before; ``alert`` is
    ``falls >= falls_in_a_row``.

    Returns
    -------
    DataFrame
        ``region, month`` (first day of the month), ``new_customers, change`` (vs the
        previous month), ``falls, alert``; sorted by region and month.
    """
    return _new_counts_of(*_prepare_orders(orders, as_of), customers, params)


def _new_counts_of(o: pd.DataFrame, names: np.ndarray, ts: pd.Timestamp, customers,
                   params: NewCustomerParams) -> pd.DataFrame:
    """:func:`new_customer_counts` of orders already prepared (``_prepare_orders``)."""
    first = _named(o.groupby("customer_id")["order_date"].min(), names).rename("first_order").reset_index()
    if customers is not None:
        require_columns(customers, "customers", ("customer_id", "region"))
        reg = customers.assign(customer_id=customers["customer_id"].astype(str)).set_index(
            "customer_id"
        )["region"]
        first["region"] = first["customer_id"].map(reg)
        unknown = first["region"].isna()
        if unknown.any():
            raise ValueError(
                "table 'customers' has no region for customer_id(s) "
                f"{first.loc[unknown, 'customer_id'].head(5).tolist()} that appear in 'orders'"
            )
        regions = sorted(set(customers["region"].dropna().astype(str)))
    else:
        first["region"] = "all"
        regions = ["all"]
    first["month"] = first["first_order"].dt.to_period("M").dt.to_timestamp()
    last_month = ts.to_period("M").to_timestamp()
    if params.complete_months_only and ts != (ts + pd.offsets.MonthEnd(0)):
        last_month = last_month - pd.DateOffset(months=1)
    first_month = first["month"].min()
    if last_month < first_month:
        raise ValueError(
            f"as_of={ts.date()} leaves no complete month of orders (first order month "
            f"{first_month.date()})"
        )
    months = pd.date_range(first_month, last_month, freq="MS")
    counts = first.groupby(["region", "month"]).size()
    idx = pd.MultiIndex.from_product([regions, months], names=["region", "month"])
    counts = counts.reindex(idx, fill_value=0).rename("new_customers").reset_index()
    counts["region"] = counts["region"].astype(str)
    counts["new_customers"] = counts["new_customers"].astype("int64")
    counts["change"] = counts.groupby("region")["new_customers"].diff()
    fell = (counts["change"] < 0).to_numpy()
    falls = np.zeros(len(counts), dtype="int64")
    regs = counts["region"].to_numpy()
    for i in range(len(counts)):
        if fell[i]:
            falls[i] = 1 + (falls[i - 1] if i > 0 and regs[i - 1] == regs[i] else 0)
    counts["falls"] = falls
    counts["alert"] = counts["falls"] >= params.falls_in_a_row
    return counts


def new_customer_alerts(
    orders: pd.DataFrame,
    as_of,
    customers: pd.DataFrame | None = None,
    params: NewCustomerParams = NewCustomerParams(),
) -> pd.DataFrame:
    """Regions whose new-customer count fell ``falls_in_a_row`` months in a row, latest month.

    Returns the rows of :func:`new_customer_counts` for the last complete month with
    ``alert`` set, plus an ``action`` column ("add marketing in <region>").
    """
    return alerts_of_counts(new_customer_counts(orders, as_of, customers, params))


def customer_segments(orders: pd.DataFrame, as_of, abc: ABCParams = ABCParams(),
                      customers: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
    """ABC classes, lifecycle stages, RFM scores and new-customer counts in one pass.

    The same tables as :func:`abc_classes`, :func:`lifecycle_stages`, :func:`rfm_scores`
    and :func:`new_customer_counts` (default parameters but ``abc``), with the orders read
    and typed once instead of four times.

    Returns
    -------
    dict
        ``{"abc", "stages", "rfm", "new_counts"}``.
    """
    o, names, ts = _prepare_orders(orders, as_of)
    return {"abc": _abc_of(o, names, ts, abc, customers), "stages": _lifecycle_of(o, names, ts, LifecycleParams()),
            "rfm": _rfm_of(o, names, ts, RFMParams()),
            "new_counts": _new_counts_of(o, names, ts, customers, NewCustomerParams())}


def alerts_of_counts(counts: pd.DataFrame) -> pd.DataFrame:
    """:func:`new_customer_alerts` from :func:`new_customer_counts` already computed."""
    last = counts["month"].max()
    out = counts[(counts["month"] == last) & counts["alert"]].copy()
    out["action"] = "add marketing in " + out["region"].astype(str)
    return out.reset_index(drop=True)
