"""Win probability of each open opportunity, and the value the open pipeline will bring.

The stage-average view (:func:`salesplan.planning.funnel.weighted_pipeline`) gives every deal of a
stage the same ``P(win | stage)``.  Here each open opportunity is scored from its own
features on the day of the snapshot ``t``:

===================  =================================================================
``stage_rank``       0 for the top stage ... K-1 for the last
``age_ratio``        ``log1p(days in stage / mean days of the stage)`` (norm: the
                     stage durations of :func:`salesplan.planning.funnel.estimate_rates`)
``log_amount``       ``log(amount)``
``rep_win_rate``     the rep's won / closed deals before ``t``, shrunk to the company's
                     rate with ``rep_prior_strength`` pseudo-deals
``customer_wins``    ``log1p`` of the customer's deals won before ``t``
``customer_buyer``   1 if the customer ordered before ``t``
``activity_days``    ``log1p`` of days since the last activity with the customer (capped)
``bant_<item>``      1 if the deal's lead answered "yes" (only with a ``leads`` table)
===================  =================================================================

:class:`WinModel` (scikit-learn contract) is a logistic regression on these features
(stage one-hot), or gradient boosting with monotone constraints calibrated by isotonic
regression.  It is trained on weekly snapshots of the history whose outcome is known and
evaluated on a later, time-based holdout (:func:`evaluate_holdout`) against the
stage-average baseline.  :func:`scored_pipeline` scores the pipeline open at ``as_of``;
:func:`pipeline_value_paths` draws the won value landing by a horizon.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score

from salesplan.data.checks import as_date, check_number
from salesplan.data.schema import BANT_ITEMS, SalesData
from salesplan.planning import funnel as _funnel

__all__ = [
    "PipelineParams",
    "WinModel",
    "calibration_table",
    "evaluate_holdout",
    "expected_pipeline_value",
    "first_order_dates",
    "known_at",
    "opportunity_snapshots",
    "pipeline_value_paths",
    "scored_pipeline",
    "stage_baseline",
    "stuck_deals",
    "training_snapshots",
]

NUMERIC_FEATURES = ("age_ratio", "log_amount", "rep_win_rate", "customer_wins",
                    "customer_buyer", "activity_days")
BANT_FEATURES = tuple(f"bant_{i}" for i in BANT_ITEMS)
#: Column of :func:`scoring_data`'s orders marking each customer's first-order row.
FIRST_ORDER = "first_order"


@dataclass(frozen=True)
class PipelineParams:
    """Settings of the snapshots, the win model and the pipeline views.

    Parameters
    ----------
    snapshot_days : int >= 1
        Days between training snapshots (default 7: weekly).
    warmup_days : int >= 0
        No snapshot in the first ``warmup_days`` of the history (rep and customer
        histories are still empty); default 90.
    settle_days : int >= 0
        Training snapshots end ``settle_days`` before the training cut-off, so that the
        deals open in them have closed by the cut-off (default 120; deals open longer are
        left out, a small bias toward quick deals).
    rep_prior_strength : float >= 0
        Pseudo-deals of the company rate in a rep's shrunk win rate (default 20).
    activity_cap_days : int >= 1
        Days since the last activity are capped here (also: no activity ever); 365.
    method : {"logistic", "boosting"}
        The :class:`WinModel` estimator.
    stuck_ratio : float > 1
        A deal is *stuck* when it has spent more than ``stuck_ratio`` times the stage's
        mean duration in its stage (default 2).
    random_state : int
        Seed of the boosting model and of the path draws' default.
    """

    snapshot_days: int = 7
    warmup_days: int = 90
    settle_days: int = 120
    rep_prior_strength: float = 20.0
    activity_cap_days: int = 365
    method: str = "logistic"
    stuck_ratio: float = 2.0
    random_state: int = 0

    def __post_init__(self):
        for name, lo in (("snapshot_days", 1), ("warmup_days", 0), ("settle_days", 0),
                         ("activity_cap_days", 1)):
            check_number(name, getattr(self, name), lo, integer=True, what=" (days)")
        check_number("rep_prior_strength", self.rep_prior_strength, 0)
        if self.method not in ("logistic", "boosting"):
            raise ValueError(f"method={self.method!r}: expected 'logistic' or 'boosting'")
        check_number("stuck_ratio", self.stuck_ratio, 1, lo_open=True)


# --------------------------------------------------------------------------- snapshots
#: the dated columns of each table: :meth:`SalesData.until` drops or undoes what is dated after the cut
_DATED = {"orders": ("order_date",), "invoices": ("issue_date", "paid_date"),
          "stage_history": ("entered_date",), "opportunities": ("created_date", "closed_date"),
          "activities": ("date",), "marketing_spend": ("month",), "leads": ("created_date", "closed_date")}


def known_at(data: SalesData, at) -> SalesData:
    """``data.until(at)``, without copying any table when nothing in ``data`` is dated after ``at``.

    ``until`` changes only rows dated after the cut (table :data:`_DATED`) and resets the
    index: on data that are already the data known at ``at`` (e.g. a cut passed on, as
    the pipeline notebook does) its result equals ``data.coerced()``, which is returned
    then (same frames: callers must not change them in place).
    """
    cut = as_date(at)
    d = data.coerced()
    for name, cols in _DATED.items():
        t = getattr(d, name)
        if t is None:
            continue
        idx = t.index
        if not (isinstance(idx, pd.RangeIndex) and idx.start == 0 and idx.step == 1):
            return d.until(cut)
        for c in cols:
            m = t[c].max() if len(t) else pd.NaT
            if not pd.isna(m) and m > cut:
                return d.until(cut)
    return d


def scoring_data(data: SalesData) -> SalesData:
    """``data`` with ``orders`` and ``activities`` cut down to what the win model reads of them.

    The scoring (:func:`scored_pipeline`, :func:`evaluate_holdout`, at any date) reads of
    ``orders`` only each customer's first order date (feature ``customer_buyer``) and, when a
    funnel has no won deal to size deals by, the mean of the customer-day sums of the lines
    with ``amount > 0``; of ``activities`` only the distinct ``(customer_id, date)`` pairs
    with a customer.  Here ``orders`` becomes those customer-day sums (the same group sums,
    lines added in the same order) plus one row per customer at its first order date with
    ``amount`` 0 and ``first_order`` True (the column is False on the sums), and
    ``activities`` those pairs.  Cut at any date (:meth:`SalesData.until`) these give the
    first order date, the customer-day sums and the pairs of the cut of ``data``, so the
    scores are the same numbers; every cut copies a few columns of these rows instead of
    every line.  The first order dates are computed here once: a cut keeps the row of
    each customer whose first order is on or before the cut, which is that customer's
    first order date in the cut (:func:`first_order_dates` reads them, no group-by per
    cut).  The other tables are ``data``'s.

    Returns
    -------
    SalesData
        The reduced bundle: only for the scoring functions of this module.
    """
    from salesplan.models._text import str_codes  # integer customer keys for the group-bys

    d = data.coerced()
    changes = {}
    o = d.orders
    if o is not None and len(o) and not o["customer_id"].isna().any() \
            and not o["order_date"].isna().any():
        code, names = str_codes(o["customer_id"])
        day = o["order_date"].to_numpy("datetime64[ns]")
        first = pd.Series(day).groupby(code).min()
        pos = (o["amount"] > 0).to_numpy(bool)
        per = pd.Series(o["amount"].to_numpy(float)[pos]).groupby(
            [code[pos], day[pos]], sort=True).sum()
        keys = np.concatenate([per.index.get_level_values(0).to_numpy(), first.index.to_numpy()])
        frame = pd.DataFrame({"order_date": np.concatenate([per.index.get_level_values(1).to_numpy(),
                                                            first.to_numpy()]),
                              "customer_id": pd.array(names[keys], dtype=o["customer_id"].dtype),
                              "amount": np.concatenate([per.to_numpy(float), np.zeros(len(first))]),
                              FIRST_ORDER: np.arange(len(keys)) >= len(per)})
        changes["orders"] = frame
    a = d.activities
    if a is not None and len(a):
        pairs = a.loc[a["customer_id"].notna(), ["customer_id", "date"]].drop_duplicates()
        if len(pairs):
            changes["activities"] = pairs.reset_index(drop=True)
    return replace(d, **changes) if changes else d


def first_order_dates(orders: pd.DataFrame) -> pd.Series:
    """Each customer's first order date in ``orders``: ``customer_id -> order_date``.

    On the orders of :func:`scoring_data`, cut at any date or not, these are its
    ``first_order`` rows (one per customer, at its first order date over the uncut lines:
    a cut keeps the row exactly when the customer ordered on or before the cut, and the
    date is then the first in the cut), read without a group-by; on other orders the
    minimum ``order_date`` per customer.  Same values either way; the order of the
    customers may differ (callers look them up by id).
    """
    if FIRST_ORDER in orders.columns:
        keep = orders[FIRST_ORDER].to_numpy(bool)  # the ids stay in their dtype: no text converted
        return pd.Series(orders["order_date"].to_numpy()[keep],
                         index=pd.Index(orders["customer_id"].array[keep], name="customer_id"), name="order_date")
    return orders.groupby("customer_id")["order_date"].min()


def _days(x) -> np.ndarray:
    x = x if isinstance(x, pd.Series) and x.dtype == "datetime64[ns]" else pd.to_datetime(x)
    return x.to_numpy("datetime64[D]").astype("datetime64[D]")


def _norm_days(data: SalesData, at) -> np.ndarray:
    """Mean days per stage, estimated with the data known at ``at``."""
    try:
        rates = _funnel.estimate_rates(data.until(at), as_of=at)
        return np.maximum(rates.duration_days, 1.0)
    except ValueError:
        return np.full(len(data.stages), 14.0)


def opportunity_snapshots(data: SalesData, dates, *, label_cutoff=None,
                          params: PipelineParams = PipelineParams(),
                          norm_days=None) -> pd.DataFrame:
    """The opportunities open on each date of ``dates``, with their features then.

    Open at ``t``: ``created_date <= t`` and (no ``closed_date`` or ``closed_date > t``).
    Features use only what was known at ``t`` (module docstring).  Labels: ``won`` = the
    deal was won, ``resolved`` = it closed on or before ``label_cutoff`` (default: the
    last date in the data); ``won`` is only meaningful where ``resolved``.

    Parameters
    ----------
    data : SalesData
        Needs ``opportunities``; ``stage_history``, ``customers``, ``orders``,
        ``activities`` and ``leads`` add features when present.
    dates : sequence of date-like
        Snapshot dates.
    norm_days : array of K floats, optional
        Mean days per stage (default: the durations of
        :func:`salesplan.planning.funnel.estimate_rates` on the data known at the last snapshot
        date).

    Returns
    -------
    DataFrame
        ``snapshot, opportunity_id, rep_id, customer_id, region, amount, stage,
        stage_rank, stage_entered, days_in_stage``, the features, ``won``, ``resolved``,
        ``closed_date``.
    """
    if data.opportunities is None:
        raise ValueError("opportunity_snapshots: table 'opportunities' is absent")
    opps = data.opportunities.reset_index(drop=True)
    stages = list(data.stages)
    K = len(stages)
    dates = pd.DatetimeIndex(pd.to_datetime(list(dates))).normalize()
    created = _days(opps["created_date"])
    closed = _days(opps["closed_date"])
    far = np.datetime64("2262-01-01", "D")
    closed_f = np.where(np.isnat(closed), far, closed)
    E = _funnel._entry_matrix(data, opps).astype("datetime64[D]")
    if norm_days is None:
        norm_days = _norm_days(data, dates.max()) if len(dates) else np.full(K, 14.0)
    norm_days = np.asarray(norm_days, float)
    cut = np.datetime64(pd.Timestamp(label_cutoff).date(), "D") if label_cutoff is not None \
        else closed_f[closed_f < far].max() if (closed_f < far).any() else far
    s, i = _open_rows(opps, stages, dates, created, closed_f, E)
    cols = ["snapshot", "opportunity_id", "rep_id", "customer_id", "amount", "stage",
            "stage_rank", "stage_entered", "days_in_stage", *NUMERIC_FEATURES, "won",
            "resolved", "closed_date"]
    if s is None:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    for c in ("opportunity_id", "rep_id", "customer_id"):
        s[c] = opps[c].to_numpy(dtype=object)[i]
    s["amount"] = opps["amount"].to_numpy(float)[i]
    s["stage"] = np.array(stages, dtype=object)[s["stage_rank"].to_numpy()]
    s["closed_date"] = opps["closed_date"].to_numpy()[i]
    s["won"] = (opps["outcome"].to_numpy(dtype=object)[i] == "won")
    s["resolved"] = closed_f[i] <= cut
    s["days_in_stage"] = (s["snapshot"] - s["stage_entered"]).dt.days.astype(float)
    s["age_ratio"] = np.log1p(s["days_in_stage"].to_numpy() / norm_days[s["stage_rank"]])
    s["log_amount"] = np.log(np.maximum(s["amount"].to_numpy(float), 1.0))
    s = _add_history_features(data, opps, s, params, i)
    if data.customers is not None:  # mapped per deal, then taken per row: the same values
        region = pd.Series(opps["customer_id"].to_numpy(dtype=object)).map(
            data.customers.set_index("customer_id")["region"])
        s["region"] = pd.Series(region.array.take(i), index=s.index)
    else:
        s["region"] = np.nan
    if data.leads is not None and len(data.leads):
        L = data.leads[data.leads["converted_opportunity_id"].notna()]
        L = L.drop_duplicates("converted_opportunity_id").set_index("converted_opportunity_id")
        ids = pd.Series(opps["opportunity_id"].to_numpy(dtype=object))
        for item in BANT_ITEMS:
            s[f"bant_{item}"] = ids.map(L[item]).eq("yes").astype(float).to_numpy()[i]
    return s.reset_index(drop=True)


def _open_rows(opps, stages, dates, created, closed_f, E):
    """``(frame, opportunity rows)`` of the deals open on each date, or ``(None, None)``.

    ``frame``: ``snapshot, stage_rank`` (the last stage entered by then, else the current
    one), ``stage_entered`` (its entry date, else the creation date); one row per open
    deal and date, dates in the given order, deals in table order.
    """
    K = len(stages)
    cur_all = pd.Series(opps["stage"].to_numpy(dtype=object)).map(
        {s: i for i, s in enumerate(stages)}).to_numpy()
    snap, idx, rank, ent = [], [], [], []
    for t in dates:
        td = np.datetime64(t.date(), "D")
        m = np.flatnonzero((created <= td) & (closed_f > td))
        if len(m) == 0:
            continue
        Em = E[m]
        has = ~np.isnat(Em) & (Em <= td)
        cur_k = cur_all[m]
        if cur_k.dtype.kind == "f" and not np.isnan(cur_k).any():
            cur_k = cur_k.astype(np.int64)  # as a map of this date's deals only
        k = np.where(has.any(1), K - 1 - has[:, ::-1].argmax(1), cur_k)
        entered = Em[np.arange(len(m)), k]
        entered = np.where(np.isnat(entered) | (entered > td), created[m], entered)
        snap.append(np.full(len(m), np.datetime64(t.to_datetime64(), "ns")))
        idx.append(m)
        rank.append(k)
        ent.append(entered.astype("datetime64[ns]"))
    if not idx:
        return None, None
    s = pd.DataFrame({"snapshot": np.concatenate(snap), "stage_rank": np.concatenate(rank),
                      "stage_entered": np.concatenate(ent)})
    return s, np.concatenate(idx)


def _asof_count(s: pd.DataFrame, events: pd.DataFrame, by: str, date: str, value: str,
                name: str, strict: bool = True) -> pd.Series:
    """For each snapshot row: cumulative ``value`` of ``events`` of the same ``by`` dated
    before the snapshot (``strict``) or on/before it."""
    left = s[["snapshot", by]].reset_index().rename(columns={"index": "_row"})
    if events.empty:
        return pd.Series(0.0, index=s.index, name=name)
    ev = events[[by, date, value]].sort_values([date, by], kind="stable")
    ev = ev.assign(_cum=ev.groupby(by)[value].cumsum())
    ev = ev.groupby([by, date], as_index=False)["_cum"].max()
    ev[by] = ev[by].astype(object)
    left[by] = left[by].astype(object)
    m = pd.merge_asof(left.sort_values("snapshot"), ev.sort_values(date),
                      left_on="snapshot", right_on=date, by=by,
                      allow_exact_matches=not strict, direction="backward")
    out = pd.Series(m["_cum"].fillna(0.0).to_numpy(), index=m["_row"].to_numpy())
    return out.reindex(s.index).rename(name)


def _keyed_index(keys_q, t_q, keys_e, d_e):
    """Events sorted by (key, date) and each query's slice of them, in integer codes.

    Returns ``(order, start, stop_strict, stop_incl)``: ``order`` sorts the events by key
    then date (stable); for query ``j`` the events of its key are ``start[j]:`` and those
    dated before (on or before) ``t_q[j]`` end at ``stop_strict[j]`` (``stop_incl[j]``).
    Keys must be non-null (the callers fall back to ``merge_asof`` otherwise).
    """
    codes, _ = pd.factorize(np.concatenate([np.asarray(keys_q, dtype=object),
                                            np.asarray(keys_e, dtype=object)]))
    return _coded_index(codes[:len(keys_q)], t_q, codes[len(keys_q):], d_e)


def _coded_index(cq, t_q, ce, d_e):
    """:func:`_keyed_index` of keys given as integer codes (equal keys, equal codes; >= 0).

    Only which keys are equal matters: the slices, and the sums and last dates read from
    them, are those of any other coding of the same keys."""
    cq, ce = np.asarray(cq).astype(np.int64), np.asarray(ce).astype(np.int64)
    tq = np.asarray(t_q, dtype="datetime64[ns]").astype(np.int64)
    de = np.asarray(d_e, dtype="datetime64[ns]").astype(np.int64)
    rq, re, span = _date_ranks(tq, de)
    ke = ce * span + re
    order = np.argsort(ke, kind="stable")
    ks = ke[order]
    start = np.searchsorted(ks, cq * span, side="left")
    return (order, start, np.searchsorted(ks, cq * span + rq, side="left"),
            np.searchsorted(ks, cq * span + rq, side="right"))


_DAY_NS = 86_400 * 10**9


def _date_ranks(tq: np.ndarray, de: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Order-keeping integers of two arrays of dates (int64 ns) and a bound above them.

    Dates at midnight (the contract's): days since the earliest of them, without sorting;
    otherwise the rank among the distinct values.  Either is strictly increasing in the
    date, so keys built from them sort and slice the same way."""
    both = np.concatenate([tq, de])
    if len(both) and not (both % _DAY_NS).any():
        days = both // _DAY_NS
        days -= days.min()
        return days[:len(tq)], days[len(tq):], int(days.max()) + 2
    uniq, inv = np.unique(both, return_inverse=True)
    return inv[:len(tq)].astype(np.int64), inv[len(tq):].astype(np.int64), len(uniq) + 1


def _prior_sums(s, events, by, date, values, strict=True, codes=None):
    """Per snapshot row and value column: sum over the events of the same ``by`` dated
    before the snapshot (``strict``) or on/before it; the exact result of
    :func:`_asof_count` (sums of 0/1 values), without a merge per column.  ``codes``:
    ``(row codes, event codes)`` of the keys, when the caller has them (integers)."""
    if events.empty:
        return [np.zeros(len(s)) for _ in values]
    if codes is None:
        order, start, stop_s, stop_i = _keyed_index(s[by].to_numpy(dtype=object), s["snapshot"],
                                                    events[by].to_numpy(dtype=object),
                                                    events[date])
    else:
        order, start, stop_s, stop_i = _coded_index(codes[0], s["snapshot"], codes[1], events[date])
    stop = stop_s if strict else stop_i
    out = []
    for v in values:
        cum = np.concatenate([[0.0], np.cumsum(events[v].to_numpy(float)[order])])
        out.append(np.where(stop > start, cum[stop] - cum[start], 0.0))
    return out


def _has_null(*cols) -> bool:
    return any(pd.isna(np.asarray(c, dtype=object)).any() for c in cols)


def _add_history_features(data, opps, s, params: PipelineParams, rows) -> pd.DataFrame:
    """The history features of the snapshot rows ``s`` of deals ``opps.iloc[rows]``.

    Keys are integer codes of the deals' reps and customers (one factorization of the
    deals' ids, taken per row), so that no id is hashed per snapshot row."""
    is_closed = opps["closed_date"].notna().to_numpy()
    closed = opps[is_closed].assign(
        _won=lambda d: (d["outcome"] == "won").astype(float), _one=1.0)
    rep = opps["rep_id"].astype(object).where(opps["rep_id"].notna(), "(house)")
    rep_code = pd.factorize(rep.to_numpy(dtype=object))[0]
    closed = closed.assign(rep_id=rep[is_closed])
    s = s.assign(rep_id=rep.to_numpy(dtype=object)[rows])
    rep_won, rep_n = _prior_sums(s, closed, "rep_id", "closed_date", ["_won", "_one"],
                                 codes=(rep_code[rows], rep_code[is_closed]))
    # company rate before each snapshot
    cd = np.sort(closed["closed_date"].to_numpy("datetime64[ns]"))
    cw = closed.sort_values("closed_date", kind="stable")["_won"].to_numpy().cumsum()
    pos = np.searchsorted(cd, s["snapshot"].to_numpy("datetime64[ns]"), side="left")
    comp_w = np.where(pos > 0, cw[np.maximum(pos - 1, 0)], 0.0)
    comp_rate = (comp_w + 1.0) / (pos + 10.0)  # weak prior 0.1 before any history
    a = params.rep_prior_strength
    s["rep_win_rate"] = (rep_won + a * comp_rate) / (rep_n + a)
    cust_code, cust_ids = pd.factorize(opps["customer_id"].to_numpy(dtype=object))  # null: -1
    row_code = cust_code[rows]
    if (row_code < 0).any() or (cust_code[is_closed] < 0).any():  # null keys: merge_asof's rule
        cw = _asof_count(s, closed, "customer_id", "closed_date", "_won", "cw").to_numpy()
    else:
        cw = _prior_sums(s, closed, "customer_id", "closed_date", ["_won"],
                         codes=(row_code, cust_code[is_closed]))[0]
    s["customer_wins"] = np.log1p(cw)
    if data.orders is not None and len(data.orders):
        first = first_order_dates(data.orders)
        # per customer of the deals, then per row (code -1, no customer: NaT, as the map)
        first = np.append(first.reindex(pd.Index(cust_ids, dtype=object)).to_numpy("datetime64[ns]"),
                          np.datetime64("NaT", "ns"))
        fo = pd.Series(first[row_code], index=s.index)
        s["customer_buyer"] = (fo.notna() & (fo < s["snapshot"])).astype(float)
    else:
        s["customer_buyer"] = 0.0
    cap = float(params.activity_cap_days)
    if data.activities is not None and len(data.activities):
        act = data.activities[data.activities["customer_id"].notna()][["customer_id", "date"]]
        if (row_code < 0).any():
            # only the snapshot rows' customers matter: a smaller table to dedupe, sort and key
            act = act[act["customer_id"].isin(pd.unique(s["customer_id"].dropna()))]
            act = act.drop_duplicates().sort_values("date", kind="stable")
            s["activity_days"] = np.log1p(_activity_days(s, act, cap))
        else:
            s["activity_days"] = np.log1p(_coded_activity_days(s, act, cap, cust_ids, row_code))
    else:
        s["activity_days"] = np.log1p(cap)
    return s


def _coded_activity_days(s, act, cap: float, cust_ids, row_code) -> np.ndarray:
    """:func:`_activity_days` with the rows' customers as codes into ``cust_ids`` (no null).

    Only the last activity date on/before each snapshot is read, so the activities of the
    rows' customers are keyed as they are (repeated pairs and their order change nothing)."""
    codes, uniq = pd.factorize(act["customer_id"])  # each distinct id looked up once
    ac = pd.Index(cust_ids, dtype=object).get_indexer(np.asarray(uniq, dtype=object))[codes]
    present = np.zeros(len(cust_ids) + 1, dtype=bool)
    present[row_code] = True
    keep = present[ac]  # code -1 (not a deal's customer) reads the last, False, slot
    if not keep.any():
        return np.full(len(s), cap)
    d = act["date"].to_numpy("datetime64[ns]")[keep]
    order, start, _, stop = _coded_index(row_code, s["snapshot"], ac[keep], d)
    last = d[order]
    hit = stop > start
    t = s["snapshot"].to_numpy("datetime64[ns]")
    gap = pd.Series(t - last[np.where(hit, stop - 1, 0)]).dt.days.to_numpy(float)
    return np.minimum(np.where(hit, gap, cap), cap)


def _activity_days(s: pd.DataFrame, act: pd.DataFrame, cap: float) -> np.ndarray:
    """Days (floored) from each row's customer's last activity on/before the snapshot to the
    snapshot, ``cap`` when none, capped at ``cap``."""
    if _has_null(s["customer_id"]):  # null keys: merge_asof's rule
        act = act.assign(customer_id=act["customer_id"].astype(object), _d=act["date"])
        left = s[["snapshot", "customer_id"]].reset_index().rename(columns={"index": "_row"})
        left["customer_id"] = left["customer_id"].astype(object)
        m = pd.merge_asof(left.sort_values("snapshot"), act[["customer_id", "date", "_d"]],
                          left_on="snapshot", right_on="date", by="customer_id",
                          direction="backward")
        days = (m["snapshot"] - m["_d"]).dt.days.astype(float).fillna(cap).clip(upper=cap)
        return pd.Series(days.to_numpy(), index=m["_row"].to_numpy()).reindex(s.index).to_numpy()
    if act.empty:
        return np.full(len(s), cap)
    order, start, _, stop = _keyed_index(s["customer_id"].to_numpy(dtype=object), s["snapshot"],
                                         act["customer_id"].to_numpy(dtype=object), act["date"])
    last = act["date"].to_numpy("datetime64[ns]")[order]
    hit = stop > start
    t = s["snapshot"].to_numpy("datetime64[ns]")
    gap = pd.Series(t - last[np.where(hit, stop - 1, 0)]).dt.days.to_numpy(float)
    return np.minimum(np.where(hit, gap, cap), cap)


# --------------------------------------------------------------------------- model
class WinModel(ClassifierMixin, BaseEstimator):
    """P(win) of an open opportunity from its snapshot features.

    Parameters
    ----------
    method : {"logistic", "boosting"}
        ``"logistic"``: ``logit P = a_stage + b' z`` with the numeric features
        standardised (``z``) and a mild L2 penalty ``C``; calibrated on the training data
        by its score equations.  ``"boosting"``: histogram gradient boosting with
        monotone constraints (increasing in stage, rep win rate, customer wins and the
        BANT answers; decreasing in days since the last activity), wrapped in 3-fold
        isotonic calibration.
    n_stages : int
        Number of funnel stages (stage one-hot of the logistic model).
    C : float
        Inverse L2 strength of the logistic model.
    random_state : int
        Seed of the boosting model.

    Attributes
    ----------
    features_ : list of str
        Feature columns used (BANT ones only when the training frame has them).
    estimator_ : fitted scikit-learn estimator
    mean_, scale_ : ndarray
        Standardisation of the logistic model's numeric features.
    coef_ : pandas.Series
        Logistic model only: log-odds per stage and per standardised feature.
    """

    def __init__(self, method: str = "logistic", n_stages: int = 5, C: float = 1.0,
                 random_state: int = 0):
        self.method = method
        self.n_stages = n_stages
        self.C = C
        self.random_state = random_state

    def _matrix(self, X: pd.DataFrame) -> np.ndarray:
        missing = [c for c in ("stage_rank", *self.features_) if c not in X.columns]
        if missing:
            raise ValueError(f"WinModel: snapshot frame lacks column(s) {missing}")
        num = X[self.features_].to_numpy(float)
        rank = X["stage_rank"].to_numpy(int)
        if self.method == "boosting":
            return np.column_stack([rank, num])
        onehot = (rank[:, None] == np.arange(self.n_stages)[None, :]).astype(float)
        return np.column_stack([onehot, (num - self.mean_) / self.scale_])

    def fit(self, X: pd.DataFrame, y) -> WinModel:
        """Fit on snapshot rows ``X`` (:func:`opportunity_snapshots`) and won flags ``y``."""
        if self.method not in ("logistic", "boosting"):
            raise ValueError(f"WinModel: method={self.method!r}: expected 'logistic' or 'boosting'")
        y = np.asarray(y, dtype=bool)
        if len(y) < 10 or y.all() or not y.any():
            raise ValueError(
                f"WinModel.fit: needs won and lost deals among the resolved snapshot rows; got "
                f"{int(y.sum())} won of {len(y)}")
        self.features_ = [c for c in (*NUMERIC_FEATURES, *BANT_FEATURES) if c in X.columns]
        num = X[self.features_].to_numpy(float)
        self.mean_ = num.mean(axis=0)
        sd = num.std(axis=0)
        self.scale_ = np.where(sd > 0, sd, 1.0)
        Z = self._matrix(X)
        if self.method == "logistic":
            est = LogisticRegression(C=float(self.C), fit_intercept=False, max_iter=2000)
            est.fit(Z, y)
            names = [f"stage_{k}" for k in range(self.n_stages)] + list(self.features_)
            self.coef_ = pd.Series(est.coef_[0], index=names, name="log_odds")
        else:
            mono = {"age_ratio": 0, "log_amount": 0, "rep_win_rate": 1, "customer_wins": 1,
                    "customer_buyer": 0, "activity_days": -1}
            cst = [1] + [mono.get(f, 1) for f in self.features_]
            base = HistGradientBoostingClassifier(
                max_iter=150, learning_rate=0.05, max_leaf_nodes=15, min_samples_leaf=40,
                monotonic_cst=cst, random_state=self.random_state)
            est = CalibratedClassifierCV(base, method="isotonic", cv=3)
            est.fit(Z, y)
        self.estimator_ = est
        self.classes_ = np.array([False, True])
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """``(n, 2)``: P(lost), P(won)."""
        p = self.estimator_.predict_proba(self._matrix(X))[:, 1]
        return np.column_stack([1 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.predict_proba(X)[:, 1] >= 0.5


def _snapshot_dates(start, end, step: int) -> pd.DatetimeIndex:
    start, end = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
    if end < start:
        return pd.DatetimeIndex([])
    return pd.date_range(end, start, freq=f"-{int(step)}D")[::-1]


def _history_start(data: SalesData) -> pd.Timestamp:
    return pd.Timestamp(_funnel._datetimes(data.opportunities["created_date"]).min()).normalize()


def training_snapshots(data: SalesData, cutoff, params: PipelineParams = PipelineParams(),
                       norm_days=None, *, past: SalesData | None = None) -> pd.DataFrame:
    """Resolved snapshot rows for training a model at ``cutoff`` (no look-ahead).

    Snapshots every ``snapshot_days`` from ``history start + warmup_days`` to ``cutoff -
    settle_days``; features and labels from ``data.until(cutoff)``; only deals closed by
    the cut-off are kept.  ``past``: that ``data.until(cutoff)`` when the caller already has
    it (saves the cut, ~1 s on the demo company).
    """
    cutoff = pd.Timestamp(cutoff).normalize()
    past = data.until(cutoff) if past is None else past
    dates = _snapshot_dates(_history_start(data) + pd.Timedelta(days=params.warmup_days),
                            cutoff - pd.Timedelta(days=params.settle_days), params.snapshot_days)
    snap = opportunity_snapshots(past, dates, label_cutoff=cutoff, params=params,
                                 norm_days=norm_days if norm_days is not None
                                 else _norm_days(data, cutoff))
    return snap[snap["resolved"].astype(bool)].reset_index(drop=True) if len(snap) else snap


def stage_baseline(data: SalesData, at) -> pd.Series:
    """Stage -> P(win) of the stage-average view at ``at``: ``prod_{j >= k} conv_j`` of
    :func:`salesplan.planning.funnel.estimate_rates` on the data known then."""
    rates = _funnel.estimate_rates(data.until(at), as_of=at)
    return rates.win_probability


def calibration_table(y, p, n_bins: int = 10) -> pd.DataFrame:
    """Reliability table: predicted vs observed win rate per decile of the prediction.

    Bins are equal-count groups of the sorted predictions (ties kept together by rank).

    Returns
    -------
    DataFrame
        ``bin`` (1 = lowest), ``n``, ``p_lo``, ``p_hi``, ``predicted`` (mean), ``observed``
        (share won), ``gap`` (``|observed - predicted|``), ``se`` (binomial s.e. of
        ``observed`` at the predicted rate).
    """
    y = np.asarray(y, float)
    p = np.asarray(p, float)
    if len(p) == 0:
        return pd.DataFrame(columns=["bin", "n", "p_lo", "p_hi", "predicted", "observed",
                                     "gap", "se"])
    order = np.argsort(p, kind="stable")
    b = np.empty(len(p), dtype=int)
    b[order] = (np.arange(len(p)) * n_bins) // len(p)
    d = pd.DataFrame({"bin": b + 1, "y": y, "p": p})
    g = d.groupby("bin")
    out = pd.DataFrame({"n": g.size(), "p_lo": g["p"].min(), "p_hi": g["p"].max(),
                        "predicted": g["p"].mean(), "observed": g["y"].mean()}).reset_index()
    out["gap"] = (out["observed"] - out["predicted"]).abs()
    out["se"] = np.sqrt(out["predicted"] * (1 - out["predicted"]) / out["n"])
    return out


def evaluate_holdout(data: SalesData, cutoff, as_of=None,
                     params: PipelineParams = PipelineParams()) -> dict:
    """Train at ``cutoff``; score the snapshots after it; compare with the stage average.

    Training: :func:`training_snapshots` at ``cutoff``.  Holdout: weekly snapshots from
    ``cutoff`` + 1 snapshot step to ``as_of - settle_days``, labelled with the outcomes
    known at ``as_of`` (unresolved rows dropped).  Baseline: :func:`stage_baseline` at
    ``cutoff``.  ``data`` is cut at ``cutoff`` once for the training rows, their stage
    durations and the baseline, and at ``as_of`` by :func:`known_at` (no copy when ``data``
    is already the data known then).

    Returns
    -------
    dict
        ``model`` (fitted :class:`WinModel`), ``holdout`` (snapshot rows with ``p_win``
        and ``p_stage``), ``calibration`` (:func:`calibration_table` of the model),
        ``calibration_baseline``, ``metrics`` (DataFrame: ``brier``, ``auc``,
        ``max_decile_gap`` of model and baseline, ``n_rows``, ``n_opportunities``).
    """
    cutoff = pd.Timestamp(cutoff).normalize()
    as_of = _funnel._as_of(data, as_of)
    known = data.until(cutoff)  # one cut for the training rows, the durations and the baseline
    try:
        rates_cut = _funnel.estimate_rates(known, as_of=cutoff)
        norm = np.maximum(rates_cut.duration_days, 1.0)
    except ValueError:  # as _norm_days
        rates_cut, norm = None, np.full(len(data.stages), 14.0)
    train = training_snapshots(data, cutoff, params, norm_days=norm, past=known)
    model = WinModel(method=params.method, n_stages=len(data.stages),
                     random_state=params.random_state).fit(train, train["won"])
    past = known_at(data, as_of)
    dates = _snapshot_dates(cutoff + pd.Timedelta(days=params.snapshot_days),
                            as_of - pd.Timedelta(days=params.settle_days), params.snapshot_days)
    hold = opportunity_snapshots(past, dates, label_cutoff=as_of, params=params, norm_days=norm)
    hold = hold[hold["resolved"].astype(bool)].reset_index(drop=True)
    if hold.empty:
        raise ValueError(f"evaluate_holdout: no resolved opportunity open between {cutoff:%Y-%m-%d} "
                         f"and {as_of:%Y-%m-%d} minus settle_days={params.settle_days}")
    hold["p_win"] = model.predict_proba(hold)[:, 1]
    base = rates_cut.win_probability if rates_cut is not None else stage_baseline(data, cutoff)
    hold["p_stage"] = hold["stage"].map(base).to_numpy(float)
    y = hold["won"].to_numpy(bool)
    cal = calibration_table(y, hold["p_win"])
    cal_b = calibration_table(y, hold["p_stage"])
    rows = []
    for name, p, c in (("scored", hold["p_win"], cal), ("stage_average", hold["p_stage"], cal_b)):
        rows.append({"model": name, "brier": brier_score_loss(y, p),
                     "auc": roc_auc_score(y, p) if 0 < y.sum() < len(y) else np.nan,
                     "max_decile_gap": float(c["gap"].max()), "n_rows": len(hold),
                     "n_opportunities": int(hold["opportunity_id"].nunique()),
                     "n_train_rows": len(train)})
    return {"model": model, "holdout": hold, "calibration": cal,
            "calibration_baseline": cal_b, "metrics": pd.DataFrame(rows)}


def _train_and_now(data: SalesData, past: SalesData, as_of: pd.Timestamp,
                   params: PipelineParams, norm) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(training_snapshots(data, as_of, ...), snapshot rows at as_of)`` from one pass.

    Every snapshot row depends only on its own date (same ``past``, ``norm`` and label
    cut-off), so the training dates and ``as_of`` share one :func:`opportunity_snapshots`
    call (one entry matrix and one set of history tables instead of two).  The rows at
    ``as_of`` carry labels at ``as_of`` (unused by the scoring).
    """
    cutoff = pd.Timestamp(as_of).normalize()
    dates = _snapshot_dates(_history_start(data) + pd.Timedelta(days=params.warmup_days),
                            cutoff - pd.Timedelta(days=params.settle_days), params.snapshot_days)
    if cutoff in dates:  # settle_days = 0: keep the two frames apart
        return (training_snapshots(data, as_of, params, norm_days=norm, past=past),
                opportunity_snapshots(past, [as_of], params=params, norm_days=norm))
    both = opportunity_snapshots(past, list(dates) + [cutoff], label_cutoff=cutoff,
                                 params=params, norm_days=norm)
    now = (both["snapshot"] == cutoff).to_numpy(bool)
    keep = ~now & both["resolved"].astype(bool).to_numpy()
    # no training row: WinModel.fit raises the same error on either empty frame
    return both[keep].reset_index(drop=True), both[now].reset_index(drop=True)


# --------------------------------------------------------------------------- scoring now
def scored_pipeline(data: SalesData, as_of=None, params: PipelineParams = PipelineParams(),
                    model: WinModel | None = None, horizon_end=None) -> pd.DataFrame:
    """The pipeline open at ``as_of``, each deal scored by the win model.

    Parameters
    ----------
    data : SalesData
        Needs ``opportunities``.
    as_of : date-like, optional
        Default: the last order / opportunity date.
    model : WinModel, optional
        Fitted model; default: fitted now on :func:`training_snapshots` at ``as_of``.
    horizon_end : date-like, optional
        Expected closing filter of :func:`salesplan.planning.funnel.weighted_pipeline`
        (``in_horizon``): the deal's mean remaining time to a win ends by then.  Default:
        the end of the quarter after ``as_of``.

    Returns
    -------
    DataFrame
        The columns of :func:`salesplan.planning.funnel.open_pipeline` (``opportunity_id,
        customer_id, rep_id, region, amount, stage, stage_entered``) plus
        ``days_in_stage``, ``stage_norm_days``, ``stuck``, ``p_win``, ``p_stage``
        (stage-average baseline), ``in_horizon`` (bool), ``expected_value = amount *
        p_win`` and ``expected_in_horizon = expected_value * in_horizon`` (currency).
        Empty (same columns) when nothing is open.
    """
    if data.opportunities is None:
        raise ValueError("scored_pipeline: table 'opportunities' is absent")
    as_of = _funnel._as_of(data, as_of)
    if horizon_end is None:
        horizon_end = (as_of.to_period("Q") + 1).end_time.normalize()
    past = known_at(data, as_of)
    rates = _funnel.estimate_rates(past, as_of=as_of)
    norm = np.maximum(rates.duration_days, 1.0)
    if model is None:  # as_of is a day (as_date): ``past`` is the training cut too
        train, snap = _train_and_now(data, past, as_of, params, norm)
        model = WinModel(method=params.method, n_stages=len(data.stages),
                         random_state=params.random_state).fit(train, train["won"])
    else:
        snap = opportunity_snapshots(past, [as_of], params=params, norm_days=norm)
    pipe = _funnel.open_pipeline(past, as_of)
    if len(pipe) == 0 or len(snap) == 0:
        extra = ["days_in_stage", "stage_norm_days", "stuck", "p_win", "p_stage", "in_horizon",
                 "expected_value", "expected_in_horizon"]
        return pipe.assign(**{c: pd.Series(dtype=float) for c in extra})
    snap = snap.set_index("opportunity_id").reindex(pipe["opportunity_id"])
    out = pipe.copy()
    out["days_in_stage"] = snap["days_in_stage"].to_numpy(float)
    k = snap["stage_rank"].to_numpy(int)
    out["stage_norm_days"] = norm[k]
    out["stuck"] = out["days_in_stage"] > params.stuck_ratio * out["stage_norm_days"]
    out["p_win"] = model.predict_proba(snap.reset_index())[:, 1]
    out["p_stage"] = out["stage"].map(rates.win_probability).to_numpy(float)
    w = _funnel.weighted_pipeline(out.assign(amount=1.0), rates, as_of, horizon_end)
    # timing only: the stage-average weight of a unit amount (P_win > 0 for every stage)
    out["in_horizon"] = w.to_numpy() > 0
    out["expected_value"] = out["amount"] * out["p_win"]
    out["expected_in_horizon"] = out["expected_value"] * out["in_horizon"]
    return out


def expected_pipeline_value(scored: pd.DataFrame, by: str | None = None,
                            column: str = "p_win") -> pd.Series | float:
    """``sum_i amount_i * p_i * 1[in_horizon_i]`` (currency), overall or per ``by``."""
    v = scored["amount"] * scored[column] * scored["in_horizon"].astype(float)
    if by is None:
        return float(v.sum())
    return v.groupby(scored[by].astype(object).fillna("(none)")).sum()


def pipeline_value_paths(scored: pd.DataFrame, n_paths: int = 1000, seed: int = 0,
                         by: str | None = "region", column: str = "p_win") -> pd.DataFrame:
    """Sample paths of the won value the open pipeline brings by the horizon.

    Each deal of ``scored`` with ``in_horizon`` is won independently with probability
    ``scored[column]``; a path is ``sum_i amount_i * B_i``, ``B_i ~ Bernoulli(p_i)``.
    Independence understates the spread when deals share a common shock (a bad quarter);
    the mean equals :func:`expected_pipeline_value`.

    Parameters
    ----------
    n_paths : int
        Number of draws.
    seed : int
        ``numpy.random.default_rng(seed)``.
    by : str or None
        One column per group (e.g. ``region``, ``rep_id``); None = one column ``total``.

    Returns
    -------
    DataFrame
        ``n_paths`` rows (index ``path``), one column per group (currency).
    """
    if int(n_paths) < 1:
        raise ValueError(f"pipeline_value_paths: n_paths={n_paths!r}: expected >= 1")
    rng = np.random.default_rng(seed)
    d = scored[scored["in_horizon"].astype(bool)]
    p = d[column].to_numpy(float)
    amt = d["amount"].to_numpy(float)
    wins = rng.random((int(n_paths), len(d))) < p[None, :]
    val = wins * amt[None, :]
    if by is None:
        return pd.DataFrame({"total": val.sum(axis=1)}, index=pd.RangeIndex(int(n_paths), name="path"))
    groups = d[by].astype(object).fillna("(none)").to_numpy()
    names = sorted(set(groups), key=str)
    cols = {g: val[:, groups == g].sum(axis=1) for g in names}
    return pd.DataFrame(cols, index=pd.RangeIndex(int(n_paths), name="path"))


def stuck_deals(scored: pd.DataFrame, top: int | None = 20) -> pd.DataFrame:
    """Open deals past ``stuck_ratio`` x their stage's mean duration, biggest value first."""
    d = scored[scored["stuck"].astype(bool)].copy()
    d["over_norm"] = d["days_in_stage"] / d["stage_norm_days"]
    d = d.sort_values(["expected_value", "opportunity_id"], ascending=[False, True],
                      kind="stable", ignore_index=True)
    return d if top is None else d.head(int(top))
