"""Customer credit scorecard, credit policy and the overdue early-warning list.

Implements ``domain.md`` section 6: a customer credit score built from payment history
and reputation; low score -> cash before delivery or a deposit, high risk -> lower credit
limit; an invoice overdue by more than 30 days -> collection letter and supply hold.

Pieces
------
* :func:`credit_features` - one row per customer at ``as_of`` from invoices, orders and
  the customer master, with **no look-ahead** (only invoices issued on or before
  ``as_of``; a payment counts only if ``paid_date <= as_of``).
* :func:`credit_target` - ``bad = 1`` when an invoice of the customer reaches ``dpd``
  days past due within the ``months`` after ``as_of``.
* :class:`CreditScorecard` - optimal binning with WoE/IV (optbinning
  ``BinningProcess``), logistic regression, points scaling, PD calibration, risk
  grades, the scorecard table and PSI stability.  scikit-learn estimator contract.
* :class:`CreditPolicy` / :func:`credit_policy` - recommended limit, payment terms and
  conditions per grade.
* :func:`early_warning` - invoices overdue more than ``overdue_days`` at ``as_of``.
* :func:`psi`, :func:`psi_table`, :func:`ks_statistic`, :func:`load_german_credit`.

Conventions
-----------
``as_of`` is the last observed day, inclusive.  Days past due (DPD) of an invoice at date
``t``: ``max(0, paid_date - due_date)`` when it was paid by ``t``, else
``max(0, t - due_date)`` (:mod:`salesplan.data.invoices`).  A ``paid_date`` settles the invoice; a ``paid_amount`` below
``amount`` is a *short payment* (dispute, credit note) reported by the
``short_paid_share`` feature, not an open balance.  Money in the company currency.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from importlib import resources

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from salesplan.data.checks import (
    as_date,
    bad_parameter,
    check_as_of,
    check_feature_frame,
    check_number,
    require_columns,
)
from salesplan.data.invoices import days_past_due, settled_by
from salesplan.data.orders import lines_until
from salesplan.execution import backend_for
from salesplan.models._text import str_codes, str_values

#: fewer rows than this cannot give a scorecard (binning + calibration folds)
MIN_FIT_ROWS = 20

__all__ = [
    "GERMAN_CREDIT_CONFIG",
    "BlendedScorecard",
    "CreditFeatureParams",
    "CreditPolicy",
    "CreditScorecard",
    "EarlyWarningParams",
    "credit_features",
    "credit_policy",
    "credit_target",
    "early_warning",
    "invoice_dpd",
    "ks_statistic",
    "load_german_credit",
    "points_scaling",
    "psi",
    "psi_table",
    "score_credit",
]

_INVOICE_COLUMNS = ("invoice_id", "customer_id", "issue_date", "due_date", "amount", "paid_date")
_ORDER_COLUMNS = ("order_date", "customer_id", "amount")
_CUSTOMER_COLUMNS = ("customer_id", "industry", "credit_limit")


# ============================================================================ helpers






def _dates(s: pd.Series) -> pd.Series:
    """Dates at midnight as ``datetime64[ns]`` (a column of that type is not re-parsed)."""
    if s.dtype != "datetime64[ns]":
        s = pd.to_datetime(s)
    return s.dt.normalize().astype("datetime64[ns]")


def _prepare_invoices(invoices: pd.DataFrame) -> pd.DataFrame:
    """The invoices typed, one row per row of ``invoices`` with its position as the index.

    The invoice ids are not copied (at scale 100, 3.4M Python strings, ~0.2 GB): the few
    that a message or the overdue list names are read by position (:func:`_invoice_ids`).
    """
    require_columns(invoices, "invoices", _INVOICE_COLUMNS)
    inv = pd.DataFrame(
        {
            "customer_id": str_values(invoices["customer_id"]),
            "issue_date": _dates(invoices["issue_date"]).to_numpy(),
            "due_date": _dates(invoices["due_date"]).to_numpy(),
            "amount": pd.to_numeric(invoices["amount"]).astype(float).to_numpy(),
            "paid_date": _dates(invoices["paid_date"]).to_numpy(),
        }
    )
    if "paid_amount" in invoices.columns:
        inv["paid_amount"] = pd.to_numeric(invoices["paid_amount"]).astype(float).to_numpy()
    else:
        inv["paid_amount"] = np.where(inv["paid_date"].notna(), inv["amount"], np.nan)
    if inv.empty:
        raise ValueError("table 'invoices' is empty: no customer has any invoice")
    for col in ("issue_date", "due_date"):
        bad = inv[col].isna().to_numpy()
        if bad.any():
            raise ValueError(
                f"table 'invoices', column {col!r}: missing dates in invoice_id(s) "
                f"{_invoice_ids(invoices, np.flatnonzero(bad)[:5]).tolist()}"
            )
    return inv


def _invoice_ids(invoices: pd.DataFrame, rows) -> np.ndarray:
    """``invoice_id`` of the rows at positions ``rows`` of ``invoices``, as ``str``."""
    return str_values(invoices["invoice_id"].iloc[np.asarray(rows, dtype=np.intp)].reset_index(drop=True))


def _data_end(inv: pd.DataFrame) -> pd.Timestamp:
    return max(inv["issue_date"].max(), inv["paid_date"].max(skipna=True))


def _check_as_of(inv: pd.DataFrame, ts: pd.Timestamp) -> None:
    """The package's ``as_of`` rule on invoice events (issue and payment dates), with 31
    days after the data end at most: later payment states are unknown."""
    check_as_of(ts, pd.concat([inv["issue_date"], inv["paid_date"]]), "invoices",
                "invoice event", max_days_after=31)


def invoice_dpd(invoices: pd.DataFrame, as_of) -> pd.DataFrame:
    """Days past due of every invoice issued on or before ``as_of``, as seen at ``as_of``.

    ``settled`` is ``paid_date <= as_of``.  ``dpd = max(0, paid_date - due_date)`` for
    settled invoices and ``max(0, as_of - due_date)`` for open ones (days);
    ``outstanding`` is ``amount`` for open invoices, else 0 (company currency).

    Returns
    -------
    DataFrame
        The invoice columns plus ``settled, dpd, outstanding``; later invoices dropped.
    """
    ts = as_date(as_of)
    inv = _prepare_invoices(invoices)
    return _dpd_at(inv, ts)


def _dpd_at(inv: pd.DataFrame, ts: pd.Timestamp) -> pd.DataFrame:
    inv = inv[inv["issue_date"] <= ts].copy()
    settled = settled_by(inv["paid_date"], ts)
    inv["settled"] = settled.to_numpy()
    inv["dpd"] = days_past_due(inv["due_date"], inv["paid_date"], ts).astype("int64").to_numpy()
    inv["outstanding"] = np.where(settled, 0.0, inv["amount"].to_numpy())
    return inv



def _quiet_cvxpy_solver_import() -> None:
    """Keep cvxpy's HiGHS import error out of notebooks and logs.

    optbinning imports ortools and cvxpy; ortools' library and the ``highspy`` wheel that
    cvxpy pulls in each bundle HiGHS, so whichever loads second cannot resolve its
    symbols.  cvxpy then logs a time-stamped "Encountered unexpected exception importing
    solver HIGHS" line and carries on with its other solvers; optbinning's binning does
    not use HiGHS.  The line would make every notebook output differ run to run.
    """
    logger = logging.getLogger("__cvxpy__")
    if _solver_import_noise not in logger.filters:
        logger.addFilter(_solver_import_noise)


def _solver_import_noise(record: logging.LogRecord) -> bool:
    return "importing solver" not in record.getMessage()

# ============================================================================ features
@dataclass(frozen=True)
class CreditFeatureParams:
    """Windows of :func:`credit_features`.

    Parameters
    ----------
    lookback_months : int
        Window of recent invoices for the DPD statistics (default 12).
    trend_months : int
        Length of the two order windows compared by ``order_trend`` (default 6).
    grace_days : int
        Days after the due date still counted as on time (default 0).
    """

    lookback_months: int = 12
    trend_months: int = 6
    grace_days: int = 0

    def __post_init__(self):
        for name in ("lookback_months", "trend_months"):
            check_number(name, getattr(self, name), 1, integer=True, what=" (months)")
        check_number("grace_days", self.grace_days, 0, integer=True, what=" (days)")


def credit_features(
    invoices: pd.DataFrame,
    orders: pd.DataFrame,
    customers: pd.DataFrame | None,
    as_of,
    params: CreditFeatureParams = CreditFeatureParams(),
) -> pd.DataFrame:
    """Credit features of every customer known at ``as_of`` (no look-ahead).

    Only invoices with ``issue_date <= as_of`` and orders with ``order_date <= as_of``
    are read; a payment counts only when ``paid_date <= as_of`` (see
    :func:`invoice_dpd`).  "Recent" = issued in ``(as_of - lookback_months, as_of]``.

    Features (one row per customer, index ``customer_id``):

    ``n_invoices``            recent invoices (count)
    ``dpd_mean``              mean DPD of recent invoices (days)
    ``dpd_max``               worst delinquency: max DPD of recent invoices (days)
    ``dpd_max_ever``          max DPD over all invoices up to ``as_of`` (days)
    ``dpd_open_max``          max DPD of invoices still open at ``as_of`` (days, 0 if none)
    ``share_paid_late``       recent invoices due by ``as_of`` with DPD > grace_days /
                              recent invoices due by ``as_of``
    ``days_to_pay``           mean ``paid_date - issue_date`` of recent settled invoices
    ``short_paid_share``      recent settled invoices with ``paid_amount < amount``
    ``overdue_share``         open overdue amount / open amount at ``as_of``
    ``utilisation``           open amount at ``as_of`` / ``credit_limit`` (NaN without a
                              positive limit)
    ``tenure_months``         months since the first order (or invoice)
    ``revenue_12m``           order revenue in the last 12 months (currency)
    ``order_trend``           ``(R - P) / max(R, P)`` in [-1, 1]; R, P = revenue of the last
                              and previous ``trend_months`` (NaN when both are 0)
    ``industry``              from ``customers`` (text, may be missing)

    Customers with neither an order nor an invoice up to ``as_of`` are left out.

    Raises
    ------
    ValueError
        Missing columns (named), ``as_of`` before the first invoice or after the end of
        the data, no customer with orders or invoices up to ``as_of``.
    """
    ts = as_date(as_of)
    inv = _prepare_invoices(invoices)
    _check_as_of(inv, ts)
    return _credit_features_of(inv, _prepare_orders(orders), customers, ts, params)


def _prepare_orders(orders: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """The order lines of :func:`credit_features`, the customers as integer codes, and the ids.

    ``customer_id`` holds :func:`salesplan.models._text.str_codes` (code order = id order):
    the group-bys over millions of lines then hash integers, not strings.
    """
    require_columns(orders, "orders", _ORDER_COLUMNS)
    codes, names = str_codes(orders["customer_id"])
    o = pd.DataFrame(
        {
            "customer_id": codes,
            "order_date": _dates(orders["order_date"]).to_numpy(),
            "amount": pd.to_numeric(orders["amount"]).astype(float).to_numpy(),
        }
    )
    return o, names


def _named(by_code: pd.Series, names: np.ndarray) -> pd.Series:
    """A Series indexed by customer code, indexed by ``customer_id`` instead."""
    return by_code.set_axis(pd.Index(names[by_code.index.to_numpy()], name="customer_id"))


def _credit_features_of(inv: pd.DataFrame, orders: tuple[pd.DataFrame, np.ndarray], customers, ts: pd.Timestamp,
                        params: CreditFeatureParams = CreditFeatureParams()) -> pd.DataFrame:
    """:func:`credit_features` of invoices (``_prepare_invoices``, checked against ``ts``) and
    orders (``_prepare_orders``) already read."""
    o, names = orders
    o = lines_until(o, ts)
    d = _dpd_at(inv, ts)
    codes, billed = str_codes(d["customer_id"])  # the invoices' group-bys hash integers, not ids
    d["customer_id"] = codes
    ordered = names[np.flatnonzero(np.bincount(o["customer_id"].to_numpy(), minlength=len(names)))]
    ids = pd.Index(sorted(set(billed) | set(ordered)), name="customer_id")
    if len(ids) == 0:
        raise ValueError(
            f"no customer has an order or an invoice on or before as_of={ts.date()}"
        )

    def per_customer(by_code: pd.Series, **fill) -> pd.Series:
        return _named(by_code, billed).reindex(ids, **fill)

    start = ts - pd.DateOffset(months=params.lookback_months)
    rec = d[d["issue_date"] > start]
    g = rec.groupby("customer_id")
    out = pd.DataFrame(index=ids)
    out["n_invoices"] = per_customer(g.size(), fill_value=0).astype("int64")
    out["dpd_mean"] = per_customer(g["dpd"].mean())
    out["dpd_max"] = per_customer(g["dpd"].max())
    out["dpd_max_ever"] = per_customer(d.groupby("customer_id")["dpd"].max())
    open_ = d[~d["settled"]]
    out["dpd_open_max"] = per_customer(open_.groupby("customer_id")["dpd"].max()).fillna(0)
    due = rec[rec["due_date"] <= ts]
    late = (due["dpd"] > params.grace_days).groupby(due["customer_id"]).mean()
    out["share_paid_late"] = per_customer(late)
    st = rec[rec["settled"]]
    out["days_to_pay"] = per_customer((st["paid_date"] - st["issue_date"]).dt.days.groupby(st["customer_id"]).mean())
    short = st["paid_amount"].notna() & (st["paid_amount"] < st["amount"] * (1 - 1e-9))
    out["short_paid_share"] = per_customer(short.groupby(st["customer_id"]).mean())
    open_amt = per_customer(open_.groupby("customer_id")["outstanding"].sum(), fill_value=0.0)
    overdue_amt = per_customer(open_[open_["dpd"] > 0].groupby("customer_id")["outstanding"].sum(), fill_value=0.0)
    out["overdue_share"] = (overdue_amt / open_amt.where(open_amt > 0)).fillna(0.0)
    first_o = _named(o.groupby("customer_id")["order_date"].min(), names).reindex(ids)
    first_i = per_customer(d.groupby("customer_id")["issue_date"].min())
    first = pd.concat([first_o, first_i], axis=1).min(axis=1)
    out["tenure_months"] = ((ts - first).dt.days / 30.4375).to_numpy()
    r12 = o[o["order_date"] > ts - pd.DateOffset(months=12)]
    out["revenue_12m"] = _named(r12.groupby("customer_id")["amount"].sum(), names).reindex(ids, fill_value=0.0)
    m = params.trend_months
    last = o[o["order_date"] > ts - pd.DateOffset(months=m)]
    prev = o[(o["order_date"] > ts - pd.DateOffset(months=2 * m))
             & (o["order_date"] <= ts - pd.DateOffset(months=m))]
    r = _named(last.groupby("customer_id")["amount"].sum(), names).reindex(ids, fill_value=0.0).clip(lower=0)
    p = _named(prev.groupby("customer_id")["amount"].sum(), names).reindex(ids, fill_value=0.0).clip(lower=0)
    denom = np.maximum(r, p)
    out["order_trend"] = ((r - p) / denom.where(denom > 0)).to_numpy()
    if customers is not None:
        require_columns(customers, "customers", _CUSTOMER_COLUMNS)
        c = customers.assign(customer_id=customers["customer_id"].astype(str)).set_index(
            "customer_id"
        )
        limit = pd.to_numeric(c["credit_limit"]).astype(float).reindex(ids)
        out["utilisation"] = (open_amt / limit.where(limit > 0)).to_numpy()
        out["industry"] = c["industry"].reindex(ids).astype(object).to_numpy()
    else:
        out["utilisation"] = np.nan
        out["industry"] = None
    out["industry"] = out["industry"].astype(object)
    return out


def credit_target(invoices: pd.DataFrame, as_of, dpd: int = 90, months: int = 12,
                  data_end=None) -> pd.Series:
    """Bad flag: an invoice of the customer reaches ``dpd`` days past due in the next months.

    An invoice reaches ``dpd`` DPD on ``t = due_date + dpd days`` unless paid by then
    (``paid_date < t``; open invoices never paid count as unpaid).  The customer is **bad**
    (1) when some invoice issued on or before ``as_of + months`` has ``t`` in
    ``(as_of, as_of + months]`` and is unpaid at ``t``; else good (0).

    The population is the customers with an invoice issued on or before ``as_of`` that
    are *not already bad at* ``as_of`` (an invoice unpaid at ``as_of`` with
    ``t <= as_of``): they are known defaulters, not scoring cases.

    Parameters
    ----------
    invoices : DataFrame
        ``invoices`` table.
    as_of : date-like
        Scoring date (features use data up to it).
    dpd : int
        Days past due that define a default (default 90).
    months : int
        Outcome window in months (default 12).
    data_end : date-like, optional
        Last day covered by the invoice data (default: latest issue or payment date).

    Returns
    -------
    Series
        ``bad`` (int64, 0/1) indexed by ``customer_id``.

    Raises
    ------
    ValueError
        If the outcome window ``(as_of, as_of + months]`` ends after ``data_end`` or
        ``as_of`` is before the first invoice.
    """
    check_number("dpd", dpd, 1, integer=True, what=" (days)")
    check_number("months", months, 1, integer=True, what=" (months)")
    return _credit_target_of(_prepare_invoices(invoices), as_date(as_of), dpd, months, data_end)


def _credit_target_of(inv: pd.DataFrame, ts: pd.Timestamp, dpd: int = 90, months: int = 12,
                      data_end=None) -> pd.Series:
    """:func:`credit_target` of invoices already read (``_prepare_invoices``)."""
    end = _data_end(inv) if data_end is None else as_date(data_end, "data_end")
    horizon = ts + pd.DateOffset(months=months)
    if ts < inv["issue_date"].min():
        raise ValueError(
            f"as_of={ts.date()} is before the first invoice ({inv['issue_date'].min().date()})"
        )
    if horizon > end:
        raise ValueError(
            f"the outcome window ({ts.date()}, {horizon.date()}] ends after the invoice data "
            f"({end.date()}): choose as_of <= data end - {months} months or pass data_end"
        )
    t = inv["due_date"] + pd.Timedelta(days=int(dpd))
    unpaid_at_t = inv["paid_date"].isna() | (inv["paid_date"] >= t)
    population = pd.Index(sorted(inv.loc[inv["issue_date"] <= ts, "customer_id"].unique()))
    already = inv[(inv["issue_date"] <= ts) & (t <= ts) & unpaid_at_t
                  & (inv["paid_date"].isna() | (inv["paid_date"] > ts))]["customer_id"].unique()
    hit = inv[(t > ts) & (t <= horizon) & unpaid_at_t & (inv["issue_date"] <= horizon)]
    bad = pd.Series(0, index=population, dtype="int64", name="bad")
    bad.loc[bad.index.intersection(pd.Index(hit["customer_id"].unique()))] = 1
    bad = bad.drop(pd.Index(already), errors="ignore")
    bad.index.name = "customer_id"
    return bad


# ============================================================================ metrics
def points_scaling(base_score: float = 600.0, base_odds: float = 50.0, pdo: float = 20.0):
    """Offset and factor of the points scale.

    ``score = offset + factor * ln(odds)`` with ``odds = P(good) / P(bad)``,
    ``factor = pdo / ln 2`` and ``offset = base_score - factor * ln(base_odds)``: the
    score is ``base_score`` at odds ``base_odds`` and doubling the odds adds ``pdo``.

    Returns
    -------
    (offset, factor) : tuple of float
    """
    if not (math.isfinite(pdo) and pdo > 0):
        raise bad_parameter("pdo", pdo, "points to double the odds, a finite number > 0")
    if not (math.isfinite(base_odds) and base_odds > 0):
        raise bad_parameter("base_odds", base_odds, "good:bad odds, a finite number > 0")
    if not math.isfinite(base_score):
        raise bad_parameter("base_score", base_score, "a finite number")
    factor = pdo / math.log(2.0)
    return base_score - factor * math.log(base_odds), factor


def ks_statistic(y_true, score) -> float:
    """Kolmogorov-Smirnov: max |F_bad(s) - F_good(s)| over thresholds of ``score``."""
    y = np.asarray(y_true).astype(int)
    s = np.asarray(score, dtype=float)
    order = np.argsort(s, kind="mergesort")
    y, s = y[order], s[order]
    cb = np.cumsum(y) / max(y.sum(), 1)
    cg = np.cumsum(1 - y) / max((1 - y).sum(), 1)
    last = np.r_[s[1:] != s[:-1], True]  # evaluate only at the end of tied runs
    return float(np.max(np.abs(cb - cg)[last]))


def psi_table(expected, actual, n_bins: int = 10, edges=None, eps: float = 1e-4) -> pd.DataFrame:
    """Population stability index by bin.

    ``PSI = sum_i (a_i - e_i) * ln(a_i / e_i)`` with ``e_i`` and ``a_i`` the shares of
    the expected (reference) and actual populations in bin ``i`` (shares floored at
    ``eps``).  Numeric inputs are cut at the expected sample's quantiles (``n_bins``
    equal-count bins) unless ``edges`` is given; non-numeric inputs use their categories.
    Rule of thumb: < 0.10 stable, 0.10-0.25 watch, > 0.25 shifted.

    Returns
    -------
    DataFrame
        ``bin, expected_share, actual_share, psi`` (contribution per bin).
    """
    e = pd.Series(np.asarray(expected)).reset_index(drop=True)
    a = pd.Series(np.asarray(actual)).reset_index(drop=True)
    if len(e) == 0 or len(a) == 0:
        raise ValueError("psi needs non-empty expected and actual samples")
    if pd.api.types.is_numeric_dtype(e) and pd.api.types.is_numeric_dtype(a):
        if edges is None:
            qs = np.unique(np.nanquantile(e.astype(float), np.linspace(0, 1, n_bins + 1)[1:-1]))
            edges = np.r_[-np.inf, qs, np.inf]
        eb = pd.cut(e.astype(float), edges, right=True).astype(str)
        ab = pd.cut(a.astype(float), edges, right=True).astype(str)
        labels = pd.cut(pd.Series(edges[1:]), edges, right=True).astype(str).tolist()
    else:
        eb, ab = e.astype(str), a.astype(str)
        labels = sorted(set(eb) | set(ab))
    es = eb.value_counts(normalize=True).reindex(labels, fill_value=0.0).clip(lower=eps)
    as_ = ab.value_counts(normalize=True).reindex(labels, fill_value=0.0).clip(lower=eps)
    contrib = (as_ - es) * np.log(as_ / es)
    return pd.DataFrame({"bin": labels, "expected_share": es.to_numpy(),
                         "actual_share": as_.to_numpy(), "psi": contrib.to_numpy()})


def psi(expected, actual, n_bins: int = 10, edges=None) -> float:
    """Population stability index between two samples (see :func:`psi_table`)."""
    return float(psi_table(expected, actual, n_bins=n_bins, edges=edges)["psi"].sum())


# ============================================================================ scorecard
DEFAULT_GRADES: tuple[str, ...] = ("A", "B", "C", "D", "E")
DEFAULT_GRADE_EDGES: tuple[float, ...] = (0.02, 0.05, 0.10, 0.20)


def _logit(p):
    p = np.clip(np.asarray(p, dtype=float), 1e-12, 1 - 1e-12)
    return np.log(p / (1 - p))


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=float)))


class CreditScorecard(ClassifierMixin, BaseEstimator):
    """Points scorecard: optimal binning -> WoE -> logistic regression -> points.

    1. **Binning**: every feature is binned by optbinning's ``BinningProcess``
       (mixed-integer optimal binning maximising IV; numeric bins follow
       ``monotonic_trend``, categorical bins are ordered by event rate) and replaced by
       its weight of evidence ``WoE_k = ln(share of goods in bin k / share of bads in
       bin k)``.  Features with IV below ``min_iv`` are dropped.
    2. **Model**: L2 logistic regression of ``bad`` on the WoE columns (and on the
       standardised raw values of ``linear_features``), ``C`` fixed or chosen by inner
       stratified CV over ``Cs`` (ROC AUC).
    3. **Points**: ``score = offset + factor * ln(odds_good)``, ``factor = pdo / ln 2``,
       ``offset = base_score - factor * ln(base_odds)`` (:func:`points_scaling`).  As
       ``ln(odds_good) = -(b0 + sum_j b_j z_j)``, the score splits into a base row
       ``offset - factor * b0`` (+ centring of linear terms) and ``-factor * b_j * WoE``
       points per bin; see :meth:`scorecard_table`.
    4. **PD calibration**: ``"platt"`` refits the whole pipeline on ``calibration_cv``
       folds and regresses the outcome on the out-of-fold log-odds
       (``PD = sigmoid(a + b * logit_raw)``); ``None`` keeps the regression's PD.
       ``central_tendency`` then shifts the log-odds so that the mean PD on the training
       sample equals that long-run default rate.
    5. **Grades**: PD cut at ``grade_edges`` into ``grades`` (best first).

    Parameters
    ----------
    categorical_features : list of str, optional
        Features binned as categories (default: every non-numeric column).
    linear_features : tuple of str
        Numeric features also entered as standardised raw values (points per unit).
    monotonic_trend : str or None
        optbinning trend for numeric features: ``"auto"`` (trend detected from data,
        may be peak/valley), ``"auto_asc_desc"``, ``"ascending"``, ``"peak"``...
    max_n_bins, min_bin_size, max_n_prebins, min_prebin_size : optbinning settings.
    min_iv : float or None
        Drop features with information value below this.
    C : float
        Inverse L2 strength of the logistic regression.
    Cs : sequence of float, optional
        When given, ``C`` is chosen among them by ``inner_cv``-fold stratified CV (AUC).
    inner_cv : int
        Folds of the inner CV.
    base_score, base_odds, pdo : float
        Points scaling (defaults: 600 points at 50:1 good:bad odds, 20 points to double).
    calibration : {None, "platt"}
    calibration_cv : int
    central_tendency : float or None
        Long-run default rate the mean PD is anchored to.
    grades : tuple of str
    grade_edges : tuple of float
        Increasing PD edges, ``len(grades) - 1`` of them.
    random_state : int

    Attributes
    ----------
    binning_ : optbinning.BinningProcess
    features_ : list of str   binned features kept (IV >= min_iv)
    iv_ : Series              information value of every feature
    coef_ : Series            logistic coefficients by model column
    intercept_ : float
    C_ : float                regularisation used
    offset_, factor_ : float  points scaling
    calibration_ : tuple      (a, b) of ``PD = sigmoid(a + b * logit_raw)``
    classes_ : ndarray        ``[0, 1]``
    """

    def __init__(
        self,
        categorical_features=None,
        linear_features=(),
        monotonic_trend="auto",
        max_n_bins=None,
        min_bin_size=0.05,
        max_n_prebins=20,
        min_prebin_size=0.05,
        min_iv=None,
        C=0.1,
        Cs=None,
        inner_cv=5,
        base_score=600.0,
        base_odds=50.0,
        pdo=20.0,
        calibration=None,
        calibration_cv=3,
        central_tendency=None,
        grades=DEFAULT_GRADES,
        grade_edges=DEFAULT_GRADE_EDGES,
        random_state=0,
    ):
        self.categorical_features = categorical_features
        self.linear_features = linear_features
        self.monotonic_trend = monotonic_trend
        self.max_n_bins = max_n_bins
        self.min_bin_size = min_bin_size
        self.max_n_prebins = max_n_prebins
        self.min_prebin_size = min_prebin_size
        self.min_iv = min_iv
        self.C = C
        self.Cs = Cs
        self.inner_cv = inner_cv
        self.base_score = base_score
        self.base_odds = base_odds
        self.pdo = pdo
        self.calibration = calibration
        self.calibration_cv = calibration_cv
        self.central_tendency = central_tendency
        self.grades = grades
        self.grade_edges = grade_edges
        self.random_state = random_state

    # ------------------------------------------------------------------ checks
    def _check_params(self):
        if self.calibration not in (None, "platt"):
            raise bad_parameter("calibration", self.calibration, 'None or "platt"')
        if not (np.isfinite(self.C) and self.C > 0):
            raise bad_parameter("C", self.C, "a finite number > 0")
        edges = tuple(self.grade_edges)
        if len(edges) != len(self.grades) - 1 or any(
            not (0 < e < 1) for e in edges
        ) or list(edges) != sorted(set(edges)):
            raise bad_parameter(
                "grade_edges", self.grade_edges,
                f"{len(self.grades) - 1} increasing PDs in (0, 1) for grades {self.grades}",
            )
        if self.central_tendency is not None and not (0 < self.central_tendency < 1):
            raise bad_parameter("central_tendency", self.central_tendency, "a PD in (0, 1)")
        points_scaling(self.base_score, self.base_odds, self.pdo)

    @staticmethod
    def _check_X(X) -> pd.DataFrame:
        if not isinstance(X, pd.DataFrame):
            raise TypeError(f"X: expected a pandas DataFrame of features, got {type(X).__name__}")
        if X.shape[0] == 0 or X.shape[1] == 0:
            raise ValueError(f"X is empty (shape {X.shape})")
        return X

    @staticmethod
    def _check_y(y, n) -> np.ndarray:
        arr = np.asarray(y)
        if arr.shape[0] != n:
            raise ValueError(f"y has {arr.shape[0]} rows, X has {n}")
        if pd.isna(arr).any():
            raise ValueError("y (target 'bad') has missing values")
        values = set(np.unique(arr).tolist())
        if not values <= {0, 1}:
            raise ValueError(f"y (target 'bad') must be 0/1, got values {sorted(values)[:5]}")
        if len(values) < 2:
            raise ValueError(
                f"y (target 'bad') has one class only ({sorted(values)}): a scorecard needs "
                "both good (0) and bad (1) cases; lengthen the outcome window or the history"
            )
        return arr.astype(int)

    # ------------------------------------------------------------------ fitting
    def _categoricals(self, X):
        if self.categorical_features is not None:
            missing = [c for c in self.categorical_features if c not in X.columns]
            if missing:
                raise ValueError(f"X is missing categorical feature column(s) {missing}")
            return list(self.categorical_features)
        return [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]

    def _fit_core(self, X, y, C):
        """Binning + regression on (X, y); returns a dict of fitted state."""
        _quiet_cvxpy_solver_import()
        from optbinning import BinningProcess

        cats = self._categoricals(X)
        names = list(X.columns)
        fit_params = {}
        if self.monotonic_trend is not None:
            for c in names:
                if c not in cats:
                    fit_params[c] = {"monotonic_trend": self.monotonic_trend}
        sel = {"iv": {"min": float(self.min_iv)}} if self.min_iv else None
        Xb = X.copy()
        for c in cats:
            Xb[c] = Xb[c].astype(object).where(Xb[c].notna(), np.nan)
        bp = BinningProcess(
            names,
            categorical_variables=cats,
            max_n_prebins=self.max_n_prebins,
            min_prebin_size=self.min_prebin_size,
            min_bin_size=self.min_bin_size,
            max_n_bins=self.max_n_bins,
            selection_criteria=sel,
            binning_fit_params=fit_params or None,
        )
        bp.fit(Xb, y)
        feats = list(bp.get_support(names=True))
        lin = list(self.linear_features)
        missing = [c for c in lin if c not in X.columns]
        if missing:
            raise ValueError(f"X is missing linear feature column(s) {missing}")
        if lin:
            raw = X[lin].astype(float)
            mu = raw.mean().to_numpy()
            sd = raw.std(ddof=0).replace(0, 1.0).to_numpy()
        else:
            mu = sd = np.zeros(0)
        state = {"bp": bp, "feats": feats, "cats": cats, "lin": lin, "mu": mu, "sd": sd}
        Z = self._design(state, X)
        if Z.shape[1] == 0:
            raise ValueError(
                f"no feature kept: every information value is below min_iv={self.min_iv}"
            )
        lr = LogisticRegression(C=C, max_iter=5000).fit(Z, y)
        state["lr"] = lr
        return state

    def _design(self, state, X) -> np.ndarray:
        parts = []
        if state["feats"]:
            Xb = X[state["feats"]].copy()
            for c in state["cats"]:
                if c in Xb:
                    Xb[c] = Xb[c].astype(object).where(Xb[c].notna(), np.nan)
            parts.append(state["bp"].transform(Xb, metric="woe").to_numpy(dtype=float))
        if state["lin"]:
            raw = X[state["lin"]].astype(float).to_numpy()
            raw = np.where(np.isnan(raw), state["mu"], raw)
            parts.append((raw - state["mu"]) / state["sd"])
        return np.hstack(parts) if parts else np.zeros((len(X), 0))

    def _raw_logit(self, state, X) -> np.ndarray:
        """Log-odds of *bad* from a fitted state (before calibration)."""
        return state["lr"].decision_function(self._design(state, X))

    def fit(self, X, y):
        """Fit binning, regression, scaling and calibration on features ``X`` and 0/1 ``y``."""
        self._check_params()
        X = self._check_X(X)
        check_feature_frame(X, "X", min_rows=MIN_FIT_ROWS)
        y = self._check_y(y, len(X))
        C = float(self.C)
        if self.Cs is not None:
            C = self._choose_C(X, y)
        state = self._fit_core(X, y, C)
        self.state_ = state
        self.binning_ = state["bp"]
        self.features_ = state["feats"]
        self.linear_features_ = state["lin"]
        self.C_ = C
        cols = state["feats"] + state["lin"]
        self.coef_ = pd.Series(state["lr"].coef_[0], index=cols, name="coefficient")
        self.intercept_ = float(state["lr"].intercept_[0])
        summary = self.binning_.summary().set_index("name")
        self.iv_ = summary["iv"].astype(float).rename("iv")
        self.offset_, self.factor_ = points_scaling(self.base_score, self.base_odds, self.pdo)
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = X.shape[1]
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        a, b = 0.0, 1.0
        if self.calibration == "platt":
            oof = np.zeros(len(X))
            skf = StratifiedKFold(self.calibration_cv, shuffle=True,
                                  random_state=self.random_state)
            for tr, te in skf.split(X, y):
                st = self._fit_core(X.iloc[tr], y[tr], C)
                oof[te] = self._raw_logit(st, X.iloc[te])
            cal = LogisticRegression(C=1e6, max_iter=1000).fit(oof[:, None], y)
            a, b = float(cal.intercept_[0]), float(cal.coef_[0, 0])
        if self.central_tendency is not None:
            from scipy.optimize import brentq

            lo = a + b * self._raw_logit(state, X)
            target = float(self.central_tendency)
            shift = brentq(lambda s: _sigmoid(lo + s).mean() - target, -30, 30)
            a += shift
        self.calibration_ = (a, b)
        return self

    def _choose_C(self, X, y) -> float:
        skf = StratifiedKFold(self.inner_cv, shuffle=True, random_state=self.random_state)
        Cs = [float(c) for c in self.Cs]
        aucs = np.zeros(len(Cs))
        for tr, te in skf.split(X, y):
            st = self._fit_core(X.iloc[tr], y[tr], Cs[0])
            Ztr, Zte = self._design(st, X.iloc[tr]), self._design(st, X.iloc[te])
            for k, c in enumerate(Cs):
                lr = LogisticRegression(C=c, max_iter=5000).fit(Ztr, y[tr])
                aucs[k] += roc_auc_score(y[te], lr.decision_function(Zte))
        return Cs[int(np.argmax(aucs))]

    # ------------------------------------------------------------------ prediction
    def _check_fitted(self):
        if not hasattr(self, "state_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("CreditScorecard is not fitted yet; call fit(X, y) first")

    def _prepare(self, X) -> pd.DataFrame:
        self._check_fitted()
        X = self._check_X(X)
        need = list(dict.fromkeys(self.features_ + self.linear_features_))
        missing = [c for c in need if c not in X.columns]
        if missing:
            raise ValueError(f"X is missing feature column(s) {missing} used by the scorecard")
        return X

    def decision_function(self, X) -> np.ndarray:
        """Uncalibrated log-odds of bad, ``b0 + sum_j b_j z_j``."""
        return self._raw_logit(self.state_, self._prepare(X))

    def predict_proba(self, X) -> np.ndarray:
        """Calibrated PD: column 1 = ``sigmoid(a + b * logit_raw)``, column 0 = 1 - PD."""
        a, b = self.calibration_
        pd_ = _sigmoid(a + b * self.decision_function(X))
        return np.column_stack([1 - pd_, pd_])

    def predict(self, X) -> np.ndarray:
        """1 where the calibrated PD is at least 0.5."""
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

    def points(self, X) -> np.ndarray:
        """Score in points: ``offset + factor * ln(odds_good)`` (higher = safer).

        Uses the regression's (uncalibrated) odds, so it equals the sum of the points of
        :meth:`scorecard_table` for each row's bins.
        """
        return self.offset_ - self.factor_ * self.decision_function(X)

    def score(self, X, y, sample_weight=None) -> float:
        """ROC AUC of the calibrated PD against the bad flags ``y`` (higher is better).

        scikit-learn's ``score(X, y)`` contract (one number, higher = better, used by model
        selection); AUC instead of :class:`~sklearn.base.ClassifierMixin`'s accuracy because
        PDs rarely cross 0.5, so accuracy would not rank scorecards.  A customer's score
        in points is :meth:`points`.
        """
        return float(roc_auc_score(np.asarray(y).astype(int), self.predict_proba(X)[:, 1],
                                   sample_weight=sample_weight))

    def grade(self, X) -> pd.Series:
        """Risk grade from the calibrated PD cut at ``grade_edges`` (best grade first)."""
        pd_ = self.predict_proba(X)[:, 1]
        idx = np.searchsorted(np.asarray(self.grade_edges, dtype=float), pd_, side="right")
        labels = np.asarray(self.grades, dtype=object)[idx]
        return pd.Series(pd.Categorical(labels, categories=list(self.grades), ordered=True),
                         index=X.index, name="grade")

    # ------------------------------------------------------------------ reporting
    def scorecard_table(self) -> pd.DataFrame:
        """The scorecard as a credit manager reads it: variable, bin, points.

        One ``(base)`` row with the points everybody starts from, then for each binned
        variable one row per bin (including ``Special`` / ``Missing``) with
        ``points = -factor * b_j * WoE_bin``, and for linear features one
        ``per unit`` row with ``-factor * b_j / sd_j``.  A customer's score is the base
        points plus the points of his bins (and per-unit points times his values).

        Returns
        -------
        DataFrame
            ``variable, bin, count, event_rate, woe, iv, coefficient, points``.
        """
        self._check_fitted()
        st = self.state_
        f = self.factor_
        lin_const = sum(
            f * self.coef_[c] * st["mu"][k] / st["sd"][k] for k, c in enumerate(st["lin"])
        )
        rows = [{"variable": "(base)", "bin": "all customers", "count": np.nan,
                 "event_rate": np.nan, "woe": np.nan, "iv": np.nan, "coefficient": self.intercept_,
                 "points": self.offset_ - f * self.intercept_ + lin_const}]
        for v in st["feats"]:
            bt = self.binning_.get_binned_variable(v).binning_table.build()
            bt = bt.drop(index="Totals", errors="ignore")
            b = float(self.coef_[v])
            for _, r in bt.iterrows():
                label = r["Bin"]
                if isinstance(label, (list, np.ndarray)):
                    label = ", ".join(str(x) for x in label)
                woe = float(r["WoE"]) if r["WoE"] != "" else 0.0
                rows.append({"variable": v, "bin": str(label), "count": int(r["Count"]),
                             "event_rate": float(r["Event rate"]) if r["Count"] else np.nan,
                             "woe": woe, "iv": float(r["IV"]), "coefficient": b,
                             "points": -f * b * woe})
        for k, c in enumerate(st["lin"]):
            b = float(self.coef_[c])
            rows.append({"variable": c, "bin": "per unit", "count": np.nan, "event_rate": np.nan,
                         "woe": np.nan, "iv": np.nan, "coefficient": b,
                         "points": -f * b / st["sd"][k]})
        return pd.DataFrame(rows)

    def stability(self, X_reference, X_current, n_bins: int = 10) -> pd.DataFrame:
        """PSI of the score and of every binned variable between two periods.

        Variables are compared on the scorecard's own bins; the score on ``n_bins``
        quantile bins of the reference period.  Returns ``variable, psi, status``
        (``stable`` < 0.10 <= ``watch`` < 0.25 <= ``shifted``).
        """
        X_reference, X_current = self._prepare(X_reference), self._prepare(X_current)
        rows = [("score", psi(self.points(X_reference), self.points(X_current), n_bins=n_bins))]
        for v in self.features_:
            ob = self.binning_.get_binned_variable(v)
            e = ob.transform(X_reference[v].to_numpy(), metric="bins")
            a = ob.transform(X_current[v].to_numpy(), metric="bins")
            rows.append((v, psi(pd.Series(e).astype(str), pd.Series(a).astype(str))))
        out = pd.DataFrame(rows, columns=["variable", "psi"])
        out["status"] = np.where(out["psi"] < 0.10, "stable",
                                 np.where(out["psi"] < 0.25, "watch", "shifted"))
        return out


class BlendedScorecard(CreditScorecard):
    """A points scorecard that blends the WoE scorecard with a smooth fine-bin additive model.

    Both parts are additive in the variables, so their weighted sum is a points scorecard
    too: every variable gets one row per *refined* bin (the union of the WoE bins and the
    fine bins) and a customer's score is the base points plus the points of his rows.

    1. **WoE part** (weight ``1 - gam_weight``): exactly :class:`CreditScorecard`
       (optimal binning, WoE, L2 logistic regression on the WoE columns).
    2. **Fine-bin part** (weight ``gam_weight``): numeric variables cut at up to
       ``gam_max_bins`` training quantiles (every distinct value when fewer), categories
       one bin each, plus a missing bin; one log-odds value ``t_jk`` per bin, fitted by
       penalised logistic regression with penalty
       ``gam_ridge / 2 * sum t_jk^2 + gam_smooth / 2 * sum_k (t_j,k+1 - t_jk)^2`` (the
       second sum over neighbouring bins of numeric variables: a discrete smoothing
       spline, i.e. a generalised additive model on bins).
    3. ``logit_raw = (1 - w) * logit_woe + w * logit_fine``; points, calibration and
       grades as in :class:`CreditScorecard`.

    Extra parameters
    ----------------
    gam_weight : float in [0, 1]
        Weight ``w`` of the fine-bin part (default 0.3; 0 = the WoE scorecard).
    gam_max_bins : int
        Maximum number of quantile bins of a numeric variable in the fine-bin part.
    gam_ridge, gam_smooth : float
        Penalties of the fine-bin part (see above).

    Extra attributes
    ----------------
    gam_intercept_ : float
    gam_tables_ : dict   variable -> Series of fine-bin log-odds (index = bin label)
    """

    def __init__(self, categorical_features=None, linear_features=(), monotonic_trend="auto",
                 max_n_bins=None, min_bin_size=0.05, max_n_prebins=20, min_prebin_size=0.05,
                 min_iv=None, C=0.1, Cs=None, inner_cv=5, base_score=600.0, base_odds=50.0,
                 pdo=20.0, calibration=None, calibration_cv=3, central_tendency=None,
                 grades=DEFAULT_GRADES, grade_edges=DEFAULT_GRADE_EDGES, random_state=0,
                 gam_weight=0.3, gam_max_bins=32, gam_ridge=3.0, gam_smooth=30.0):
        super().__init__(
            categorical_features=categorical_features, linear_features=linear_features,
            monotonic_trend=monotonic_trend, max_n_bins=max_n_bins, min_bin_size=min_bin_size,
            max_n_prebins=max_n_prebins, min_prebin_size=min_prebin_size, min_iv=min_iv, C=C,
            Cs=Cs, inner_cv=inner_cv, base_score=base_score, base_odds=base_odds, pdo=pdo,
            calibration=calibration, calibration_cv=calibration_cv,
            central_tendency=central_tendency, grades=grades, grade_edges=grade_edges,
            random_state=random_state)
        self.gam_weight = gam_weight
        self.gam_max_bins = gam_max_bins
        self.gam_ridge = gam_ridge
        self.gam_smooth = gam_smooth

    def _check_params(self):
        super()._check_params()
        if not (0 <= self.gam_weight <= 1):
            raise bad_parameter("gam_weight", self.gam_weight, "a weight in [0, 1]")
        if not (isinstance(self.gam_max_bins, (int, np.integer)) and self.gam_max_bins >= 2):
            raise bad_parameter("gam_max_bins", self.gam_max_bins, "a whole number >= 2")
        for name in ("gam_ridge", "gam_smooth"):
            v = getattr(self, name)
            if not (np.isfinite(v) and v >= 0):
                raise bad_parameter(name, v, "a finite penalty >= 0")
        if not self.gam_ridge > 0:
            raise bad_parameter("gam_ridge", self.gam_ridge, "a penalty > 0")

    # ------------------------------------------------------------------ fine bins
    @staticmethod
    def _fine_spec(X, cats, max_bins):
        spec = {}
        for c in X.columns:
            if c in cats:
                vals = X[c].dropna().astype(str)
                spec[c] = ("cat", list(vals.value_counts().sort_index().index))
            else:
                v = X[c].astype(float).dropna().to_numpy()
                u = np.unique(v)
                if len(u) <= max_bins:
                    edges = (u[1:] + u[:-1]) / 2
                else:  # quantile cuts moved to the midpoint between observed values
                    q = np.quantile(v, np.linspace(0, 1, max_bins + 1)[1:-1])
                    i = np.clip(np.searchsorted(u, q, side="left"), 1, len(u) - 1)
                    edges = np.unique((u[i - 1] + u[i]) / 2)
                spec[c] = ("num", np.asarray(edges, dtype=float))
        return spec

    @staticmethod
    def _fine_index(kind, s, values) -> np.ndarray:
        """Bin index: numeric ``[0, len(edges)]`` (``x >= edge`` goes right), then missing;
        categorical: position in the category list, then unseen, then missing."""
        values = pd.Series(np.asarray(values, dtype=object))
        miss = values.isna().to_numpy()
        if kind == "cat":
            m = {v: i for i, v in enumerate(s)}
            idx = values.astype(str).map(m).fillna(len(s)).to_numpy(dtype=np.int64)
            return np.where(miss, len(s) + 1, idx)
        x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        idx = np.searchsorted(s, np.where(miss, 0.0, x), side="right")
        return np.where(miss, len(s) + 1, idx).astype(np.int64)

    @staticmethod
    def _fine_size(kind, s) -> int:
        return len(s) + 2  # numeric: len(edges)+1 bins + missing; cat: + unseen + missing

    def _fit_gam(self, X, y, cats):
        from scipy import sparse
        from scipy.optimize import minimize

        spec = self._fine_spec(X, cats, int(self.gam_max_bins))
        names = list(spec)
        sizes = [self._fine_size(*spec[c]) for c in names]
        offs = np.r_[0, np.cumsum(sizes)]
        n, K = len(X), int(offs[-1])
        cols = np.column_stack([self._fine_index(*spec[c], X[c].to_numpy()) + offs[j]
                                for j, c in enumerate(names)])
        M = sparse.csr_matrix((np.ones(cols.size), (np.repeat(np.arange(n), len(names)),
                                                    cols.ravel())), shape=(n, K))
        pairs = [(offs[j] + k, offs[j] + k + 1) for j, c in enumerate(names)
                 if spec[c][0] == "num" for k in range(len(spec[c][1]))]
        pen = float(self.gam_ridge) * sparse.identity(K, format="csr")
        if pairs:
            p = np.asarray(pairs)
            r = np.arange(len(p))
            D = sparse.csr_matrix((np.r_[np.ones(len(p)), -np.ones(len(p))],
                                   (np.r_[r, r], np.r_[p[:, 1], p[:, 0]])), shape=(len(p), K))
            pen = (pen + float(self.gam_smooth) * (D.T @ D)).tocsr()
        yf = y.astype(float)

        def objective(theta):
            f = theta[0] + M @ theta[1:]
            resid = _sigmoid(f) - yf
            pt = pen @ theta[1:]
            loss = np.sum(np.logaddexp(0.0, f) - yf * f) + 0.5 * theta[1:] @ pt
            return loss, np.r_[resid.sum(), M.T @ resid + pt]

        theta0 = np.zeros(K + 1)
        theta0[0] = _logit(yf.mean())
        res = minimize(objective, theta0, jac=True, method="L-BFGS-B",
                       options={"maxiter": 5000})
        tables = {c: res.x[1 + offs[j]:1 + offs[j + 1]].copy() for j, c in enumerate(names)}
        return {"spec": spec, "b0": float(res.x[0]), "tables": tables}

    def _gam_terms(self, gam, v, values) -> np.ndarray:
        kind, s = gam["spec"][v]
        return gam["tables"][v][self._fine_index(kind, s, values)]

    # ------------------------------------------------------------------ fitting
    def _fit_core(self, X, y, C):
        state = super()._fit_core(X, y, C)
        state["gam"] = self._fit_gam(X, y, state["cats"]) if self.gam_weight > 0 else None
        return state

    def _raw_logit(self, state, X) -> np.ndarray:
        w = float(self.gam_weight)
        out = (1 - w) * super()._raw_logit(state, X)
        gam = state.get("gam")
        if gam is not None:
            out = out + w * (gam["b0"] + sum(self._gam_terms(gam, v, X[v].to_numpy())
                                             for v in gam["spec"]))
        return out

    def fit(self, X, y):
        super().fit(X, y)
        gam = self.state_.get("gam")
        self.gam_intercept_ = gam["b0"] if gam else 0.0
        self.gam_tables_ = {} if gam is None else {
            v: pd.Series(t, name=v) for v, t in gam["tables"].items()}
        return self

    def _prepare(self, X) -> pd.DataFrame:
        X = super()._prepare(X)
        gam = self.state_.get("gam")
        if gam is not None:
            missing = [c for c in gam["spec"] if c not in X.columns]
            if missing:
                raise ValueError(f"X is missing feature column(s) {missing} used by the scorecard")
        return X

    # ------------------------------------------------------------------ reporting
    def _woe_terms(self, v, values) -> np.ndarray:
        st = self.state_
        if v not in st["feats"]:
            return np.zeros(len(values))
        vals = np.asarray(values, dtype=object if v in st["cats"] else float)
        woe = self.binning_.get_binned_variable(v).transform(vals, metric="woe")
        return float(self.coef_[v]) * np.asarray(woe, dtype=float)

    def variable_points(self, X) -> pd.DataFrame:
        """Points of every variable for every row (columns = variables, plus ``(base)``).

        The row sums equal :meth:`points` (linear features included as per-unit points).
        """
        X = self._prepare(X)
        st, f, w = self.state_, self.factor_, float(self.gam_weight)
        gam = st.get("gam")
        out = pd.DataFrame(index=X.index)
        out["(base)"] = self._base_points()
        for v in self._variables():
            t = (1 - w) * self._woe_terms(v, X[v].to_numpy())
            if gam is not None and v in gam["spec"]:
                t = t + w * self._gam_terms(gam, v, X[v].to_numpy())
            out[v] = -f * t
        for k, c in enumerate(st["lin"]):
            raw = X[c].astype(float).to_numpy()
            raw = np.where(np.isnan(raw), st["mu"][k], raw)
            out[c + " (per unit)"] = -f * (1 - w) * float(self.coef_[c]) * raw / st["sd"][k]
        return out

    def _variables(self) -> list:
        gam = self.state_.get("gam")
        extra = list(gam["spec"]) if gam is not None else []
        return list(dict.fromkeys(self.state_["feats"] + extra))

    def _base_points(self) -> float:
        st, f, w = self.state_, self.factor_, float(self.gam_weight)
        lin_const = sum(f * self.coef_[c] * st["mu"][k] / st["sd"][k]
                        for k, c in enumerate(st["lin"]))
        b0 = (1 - w) * self.intercept_ + w * self.gam_intercept_
        return self.offset_ - f * b0 + (1 - w) * lin_const

    def scorecard_table(self) -> pd.DataFrame:
        """The blended scorecard: variable, bin, points (one row per refined bin).

        Numeric variables: intervals ``[lower, upper)`` between the union of the WoE and
        the fine-bin cut points, then ``Missing``; categorical variables: one row per
        training category, then ``(other)`` (unseen categories) and ``Missing``.  The
        ``(base)`` row is what everybody starts from; a customer's score is the base
        points plus the points of the row of each variable that contains his value (plus
        per-unit points times the value for linear features), see :meth:`variable_points`.

        Returns
        -------
        DataFrame
            ``variable, bin, lower, upper, points, woe_points, fine_points``
            (``points = woe_points + fine_points``: the two parts' shares).
        """
        self._check_fitted()
        st, f, w = self.state_, self.factor_, float(self.gam_weight)
        gam = st.get("gam")
        rows = [{"variable": "(base)", "bin": "all customers", "lower": np.nan,
                 "upper": np.nan, "points": self._base_points(), "woe_points": np.nan,
                 "fine_points": np.nan}]
        for v in self._variables():
            if v in st["cats"]:
                cats = set()
                if gam is not None and v in gam["spec"]:
                    cats |= set(gam["spec"][v][1])
                if v in st["feats"]:
                    bt = self.binning_.get_binned_variable(v).binning_table.build()
                    for b in bt["Bin"]:
                        if isinstance(b, (list, np.ndarray)):
                            cats |= {str(x) for x in b}
                cats = sorted(cats)
                labels = cats + ["(other)", "Missing"]
                reps = np.array(cats + ["\x00unseen\x00", np.nan], dtype=object)
                lower = upper = np.full(len(labels), np.nan)
            else:
                cuts = set()
                if v in st["feats"]:
                    cuts |= {float(s) for s in self.binning_.get_binned_variable(v).splits}
                if gam is not None and v in gam["spec"]:
                    cuts |= {float(s) for s in gam["spec"][v][1]}
                cuts = np.array(sorted(cuts))
                lower = np.r_[-np.inf, cuts, np.nan]
                upper = np.r_[cuts, np.inf, np.nan]
                first = cuts[0] - 1.0 if len(cuts) else 0.0
                reps = np.r_[first, cuts, np.nan].astype(float)
                labels = [f"[{lo:g}, {hi:g})" for lo, hi in zip(lower[:-1], upper[:-1])]
                labels.append("Missing")
            wp = -f * (1 - w) * self._woe_terms(v, reps)
            fp = (-f * w * self._gam_terms(gam, v, reps)
                  if gam is not None and v in gam["spec"] else np.zeros(len(reps)))
            for k, lab in enumerate(labels):
                rows.append({"variable": v, "bin": lab, "lower": lower[k], "upper": upper[k],
                             "points": wp[k] + fp[k], "woe_points": wp[k], "fine_points": fp[k]})
        for k, c in enumerate(st["lin"]):
            pts = -f * (1 - w) * float(self.coef_[c]) / st["sd"][k]
            rows.append({"variable": c, "bin": "per unit", "lower": np.nan, "upper": np.nan,
                         "points": pts, "woe_points": pts, "fine_points": 0.0})
        return pd.DataFrame(rows)


# ============================================================================ policy
@dataclass(frozen=True)
class CreditPolicy:
    """Credit terms per risk grade (best grade first).

    Parameters
    ----------
    grades : tuple of str
    limit_months : tuple of float
        Recommended credit limit in months of average monthly revenue (last 12 months).
    terms_days : tuple of int
        Payment terms in days (0 = payment before delivery).
    deposit_share : tuple of float
        Share of each order to be paid up front (1.0 = cash before delivery).
    """

    grades: tuple[str, ...] = DEFAULT_GRADES
    limit_months: tuple[float, ...] = (3.0, 2.0, 1.0, 0.5, 0.0)
    terms_days: tuple[int, ...] = (60, 45, 30, 15, 0)
    deposit_share: tuple[float, ...] = (0.0, 0.0, 0.0, 0.3, 1.0)

    def __post_init__(self):
        n = len(self.grades)
        if n < 2 or len(set(self.grades)) != n:
            raise bad_parameter("grades", self.grades, "at least two distinct grade names")
        for name in ("limit_months", "terms_days", "deposit_share"):
            v = getattr(self, name)
            if len(v) != n:
                raise bad_parameter(name, v, f"{n} values, one per grade {self.grades}")
        if any(not (x >= 0) for x in self.limit_months):
            raise bad_parameter("limit_months", self.limit_months, "values >= 0")
        if any(not (0 <= x <= 365) for x in self.terms_days):
            raise bad_parameter("terms_days", self.terms_days, "days in [0, 365]")
        if any(not (0 <= x <= 1) for x in self.deposit_share):
            raise bad_parameter("deposit_share", self.deposit_share, "shares in [0, 1]")

    def condition(self, k: int) -> str:
        d = self.deposit_share[k]
        if d >= 1:
            return "cash before delivery"
        if d > 0:
            return f"deposit {d:.0%}"
        return "open account"


def credit_policy(grades: pd.Series, revenue_12m: pd.Series,
                  policy: CreditPolicy = CreditPolicy()) -> pd.DataFrame:
    """Recommended credit limit, payment terms and condition per customer.

    ``recommended_limit = limit_months[grade] * revenue_12m / 12`` (currency), with
    ``revenue_12m`` floored at 0.

    Parameters
    ----------
    grades : Series
        Grade per customer (index ``customer_id``), e.g. :meth:`CreditScorecard.grade`.
    revenue_12m : Series
        Revenue of the last 12 months per customer (same index; missing = 0).

    Returns
    -------
    DataFrame
        Index ``customer_id``: ``grade, recommended_limit, payment_terms_days,
        deposit_share, condition``.
    """
    g = grades.astype(str)
    unknown = sorted(set(g) - set(policy.grades))
    if unknown:
        raise ValueError(f"grades {unknown} are not in the policy grades {policy.grades}")
    k = g.map({name: i for i, name in enumerate(policy.grades)}).astype(int).to_numpy()
    rev = revenue_12m.reindex(grades.index).fillna(0.0).clip(lower=0).to_numpy(float)
    out = pd.DataFrame(index=grades.index)
    out["grade"] = g.to_numpy()
    out["recommended_limit"] = np.asarray(policy.limit_months, dtype=float)[k] * rev / 12.0
    out["payment_terms_days"] = np.asarray(policy.terms_days, dtype="int64")[k]
    out["deposit_share"] = np.asarray(policy.deposit_share, dtype=float)[k]
    out["condition"] = [policy.condition(i) for i in k]
    return out


@dataclass(frozen=True)
class EarlyWarningParams:
    """Parameters of the overdue early warning.

    Parameters
    ----------
    overdue_days : int
        An open invoice with more than this many days past due at ``as_of`` triggers a
        collection letter and a supply hold (default 30, ``domain.md`` section 6).
    """

    overdue_days: int = 30

    def __post_init__(self):
        check_number("overdue_days", self.overdue_days, 0, integer=True, what=" (days)")


def early_warning(invoices: pd.DataFrame, as_of,
                  params: EarlyWarningParams = EarlyWarningParams()) -> pd.DataFrame:
    """Invoices open at ``as_of`` and overdue more than ``overdue_days`` days.

    An invoice is open at ``as_of`` when issued on or before it and not paid by it
    (``paid_date`` missing or later).  ``days_overdue = as_of - due_date``; listed when
    ``days_overdue > overdue_days``.  Every listed invoice gets ``collection_letter`` and
    its customer ``supply_hold``.

    Returns
    -------
    DataFrame
        ``invoice_id, customer_id, issue_date, due_date, amount, days_overdue,
        collection_letter, supply_hold``, most overdue first.
    """
    ts = as_date(as_of)
    inv = _prepare_invoices(invoices)
    _check_as_of(inv, ts)
    d = _dpd_at(inv, ts)
    late = d[(~d["settled"]) & (d["dpd"] > params.overdue_days)]
    out = late[["customer_id", "issue_date", "due_date", "amount"]].copy()  # index: rows of invoices
    out.insert(0, "invoice_id", _invoice_ids(invoices, late.index))
    out["days_overdue"] = late["dpd"].astype("int64")
    out["collection_letter"] = True
    out["supply_hold"] = True
    return out.sort_values(["days_overdue", "invoice_id"], ascending=[False, True],
                           kind="mergesort").reset_index(drop=True)


# ============================================================================ German credit
#: The configuration measured on the German credit data (benchmarks/credit_german.py).
GERMAN_CREDIT_CONFIG: dict = {"C": 0.1}


def load_german_credit() -> tuple[pd.DataFrame, np.ndarray]:
    """The Statlog German credit data (1,000 applicants) vendored in ``salesplan.reference``.

    Returns
    -------
    X : DataFrame
        20 attributes (13 text, 7 numeric), ``creditability`` removed.
    y : ndarray of int
        1 = bad (300), 0 = good (700).
    """
    path = resources.files("salesplan") / "reference" / "germancredit.csv"
    with resources.as_file(path) as p:
        df = pd.read_csv(p)
    y = (df.pop("creditability") == "bad").astype(int).to_numpy()
    for c in df.columns:
        if not pd.api.types.is_numeric_dtype(df[c]):
            df[c] = df[c].astype(object)
    return df, y


# ----------------------------------------------------- scoring over customer partitions
def _score_credit_frame(X, scorecard):
    return pd.DataFrame(
        {"pd": scorecard.predict_proba(X)[:, 1], "points": scorecard.points(X),
         "grade": scorecard.grade(X).astype(object).to_numpy()},
        index=X.index,
    )


def _score_credit_part(part, scorecard, as_of, params):
    X = credit_features(part.invoices, part.orders, part.customers, as_of, params)
    return _score_credit_frame(X, scorecard)


def score_credit(scorecard, data=None, as_of=None, *, features: pd.DataFrame | None = None,
                 params=None, backend=None, npartitions: int | None = None) -> pd.DataFrame:
    """Score a fitted :class:`CreditScorecard` over customers, partitioned on ``backend``.

    Either ``data`` + ``as_of`` (the :func:`credit_features` are then
    built per customer partition; the bundle needs ``invoices``) or a
    ready ``features`` frame (scored in row chunks).

    Returns
    -------
    DataFrame indexed by ``customer_id``: ``pd`` (calibrated PD), ``points``, ``grade``
    (text; the categorical order is that of ``scorecard.grades``).
    """
    scorecard._check_fitted()
    if features is not None:
        out = backend_for(backend).map_partitions(_score_credit_frame, features,
                                                  broadcast=[scorecard], npartitions=npartitions)
    else:
        if data is None or as_of is None or getattr(data, "invoices", None) is None:
            raise ValueError("score_credit: pass features=, or data= (with an invoices "
                             "table) and as_of=")
        params = CreditFeatureParams() if params is None else params
        out = backend_for(backend).map_customer_partitions(
            _score_credit_part, data, as_date(as_of), params, broadcast=[scorecard],
            npartitions=npartitions)
    out["grade"] = pd.Categorical(out["grade"], categories=list(scorecard.grades), ordered=True)
    return out
