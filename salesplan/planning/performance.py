"""The quarter-end rep review: result and process KPIs, ranking, why a rep missed, the
commission statement, and the KPI board.

domain.md section 4 (evaluation with result and process KPIs, tiered commission, sales
efficiency) and section 7 (the performance-driver checklist).

Driver diagnosis
----------------
For every rep who missed (attainment below 1, or with no quota a revenue change on the
same quarter last year below the peers'), each measurable driver of section 7 is checked
against the rep's own past and against peers (same level and region when at least
``min_peers`` such reps exist, else same level; all reps as a last resort).  The
*trend ratio* of a metric is its value in the quarter over the rep's own average of the
four quarters before; a driver is flagged when the rep's trend ratio is below
``threshold`` times the peers' median trend ratio (a level metric such as funnel depth:
the rep's value below ``threshold`` times the peers' median value).  Drivers are ranked
by ``severity = 1 - rep / (peer median)``.

=================  =======================================================
driver             metric
=================  =======================================================
target_too_high    quota / revenue of the same quarter last year (high is bad)
activity           calls + visits in the quarter (trend)
funnel_depth       open opportunities at E, D, C at the quarter's start (level)
quote_success      reached A / reached B, last 12 months (level, >= ``min_opps``)
win_rate           won / closed, last 12 months (level, >= ``min_opps``)
deal_size          average order value (trend)
pace               revenue of the quarter's first two months (trend) vs third month (trend)
=================  =======================================================

Poor customer records and attitude are not measurable from these data and are left to the
manager (section 7).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from salesplan.data.checks import check_number
from salesplan.data.orders import count_orders
from salesplan.planning.commission import CommissionPlan, commission

__all__ = ["DiagnosisParams", "commission_statement", "diagnose_misses", "kpi_board", "rank_reps",
           "rep_kpis", "DRIVERS"]

DRIVERS = {
    "target_too_high": "the target is too high for the rep's book and history",
    "activity": "too few calls and visits",
    "funnel_depth": "too few customers accumulated at the funnel levels E/D/C",
    "quote_success": "low quote (proposal) success rate",
    "win_rate": "low win (closing) rate",
    "deal_size": "small deals / weak margin control (average order value down)",
    "pace": "behind the time schedule (slow first two months)",
}
IMPROVE = {
    "target_too_high": "re-check the quota against the book at the next plan; keep this quarter's number",
    "activity": "daily call plan: back to the peers' calls and visits per week, reviewed every Friday",
    "funnel_depth": "prospecting block of 2 half-days a week until E/D/C match the peers",
    "quote_success": "proposal review with the manager before sending; BANT check on every quote",
    "win_rate": "deal reviews for every stage-A opportunity; manager joins the closing calls",
    "deal_size": "no discount above the standard without approval; bundle and upsell list per account",
    "pace": "weekly target-tracking sheet from week 1; front-load the month's calls",
}


@dataclass(frozen=True)
class DiagnosisParams:
    """Parameters of :func:`diagnose_misses`.

    Parameters
    ----------
    threshold : float in (0, 1)
        A driver is flagged when the rep's metric is below ``threshold`` x the peers'
        median (default 0.75); ``target_too_high`` when above ``1 / threshold`` x.
    min_peers : int >= 1
        Peers of the same level and region needed before falling back to the same level.
    min_opps : int >= 1
        Opportunities needed for the quote/win rates to count.
    time_box_days : int >= 1
        Days given to improve (the review's time box).
    """

    threshold: float = 0.75
    min_peers: int = 3
    min_opps: int = 10
    time_box_days: int = 60

    def __post_init__(self):
        check_number("threshold", self.threshold, 0, 1, lo_open=True, hi_open=True,
                     what=" (a fraction, e.g. 0.75)")
        for name in ("min_peers", "min_opps", "time_box_days"):
            check_number(name, getattr(self, name), 1, integer=True)


def _quarter(q) -> pd.Period:
    return q if isinstance(q, pd.Period) else pd.Period(str(q), freq="Q")


def _in(frame, col, start, end):
    return frame[(frame[col] >= start) & (frame[col] <= end)]


def _owners(lines: pd.DataFrame) -> pd.Series:
    """customer_id -> the rep with most of the customer's ``lines`` (ties: the rep whose
    first line comes first); customers whose lines all lack a rep_id are left out.

    The same owner as ``value_counts().index[0]`` per customer, in one sort.
    """
    x = lines[["customer_id", "rep_id"]].reset_index(drop=True).assign(pos=np.arange(len(lines)))
    x = x.dropna(subset=["customer_id", "rep_id"])
    g = x.groupby(["customer_id", "rep_id"], sort=False)["pos"].agg(["size", "min"]).reset_index()
    g = g.sort_values(["customer_id", "size", "min"], ascending=[True, False, True], kind="stable")
    return g.drop_duplicates("customer_id").set_index("customer_id")["rep_id"]


def _retention(prev: pd.DataFrame, cur: pd.DataFrame) -> pd.Series:
    """rep_id -> share of the rep's distinct customers in ``prev`` who bought in ``cur``
    (their number who bought again / their number; one count per rep, no set per rep)."""
    buyers = cur["customer_id"].dropna()  # the quarter's buyers
    if prev["customer_id"].isna().any():  # a missing customer id counts once per rep and never returns
        now = set(buyers)
        base = prev.groupby("rep_id")["customer_id"].apply(set)
        return base.map(lambda s: sum(c in now for c in s) / len(s))
    pairs = prev[["rep_id", "customer_id"]].dropna(subset=["rep_id"]).drop_duplicates()
    # the distinct buyers in their own dtype: an Arrow text column is matched in Arrow, not id by id
    back = pairs["customer_id"].isin(buyers.unique()).groupby(pairs["rep_id"]).sum()
    return back / pairs.groupby("rep_id").size()


def rep_kpis(data, quarter, quotas: pd.Series | None = None) -> tuple[pd.DataFrame, list[str]]:
    """Result and process KPIs per rep for one quarter.

    Parameters
    ----------
    data : SalesData
        Orders (required); customers, reps, invoices, opportunities + stage_history and
        activities switch on the KPIs that need them.
    quarter : str or Period
    quotas : Series, optional
        rep_id -> quota of the quarter (currency); gives ``attainment``.

    Returns
    -------
    (DataFrame, list of str)
        One row per rep with orders or activities in the quarter: ``rep_id, name,
        region, level, revenue, quota, attainment, growth_mom`` (last month over the
        month before), ``growth_yoy`` (over the same quarter last year), ``orders``,
        ``aov`` (revenue / orders), ``new_customers`` (first order ever in the quarter),
        ``retention`` (customers of the previous quarter who bought again),
        ``collection_rate`` (paid / billed of the invoices due in the quarter), ``visits``,
        ``calls``, ``opps_created``, ``lead_conversion`` (E -> D), ``win_rate``,
        ``cycle_days`` (created -> won, mean), ``revenue_m1``..``revenue_m3``,
        ``prev4_revenue``, ``prev4_aov``, ``prev4_activity`` (averages per quarter of the
        four quarters before), ``ly_revenue``; and notes on KPIs switched off.
    """
    q = _quarter(quarter)
    qs, qe = q.start_time.normalize(), q.end_time.normalize()
    notes = []
    # the columns used here: each quarter's slice copies only them (not the line ids and products);
    # the loaded lines themselves when they hold no other column (a selection is a copy of every line)
    used = [c for c in data.orders.columns if c in ("order_date", "customer_id", "rep_id", "amount")]
    o = data.orders if len(used) == data.orders.shape[1] else data.orders[used]
    cur = _in(o, "order_date", qs, qe)
    if cur.empty:
        raise ValueError(f"no orders in {q} ({qs:%Y-%m-%d}..{qe:%Y-%m-%d}): nothing to review")
    reps = sorted(set(cur["rep_id"].dropna().astype(str)) - {""})
    out = pd.DataFrame({"rep_id": reps}).set_index("rep_id")
    if data.reps is not None:
        r = data.reps.drop_duplicates("rep_id").set_index("rep_id")
        for c in ("name", "region", "level"):
            out[c] = r[c].reindex(out.index) if c in r.columns else None
    else:
        out["name"], out["region"], out["level"] = None, None, None
        notes.append("no reps table: peers are all reps")
    by = cur.groupby("rep_id")
    out["revenue"] = by["amount"].sum()
    out["quota"] = quotas.reindex(out.index).astype(float) if quotas is not None else np.nan
    out["attainment"] = out["revenue"] / out["quota"].where(out["quota"] > 0)
    month = cur["order_date"].dt.to_period("M")
    months = pd.period_range(qs, qe, freq="M")
    mrev = cur.groupby(["rep_id", month])["amount"].sum().unstack().reindex(columns=months, fill_value=0.0)
    for i, m in enumerate(months, 1):
        out[f"revenue_m{i}"] = mrev[m].reindex(out.index).fillna(0.0)
    out["growth_mom"] = out["revenue_m3"] / out["revenue_m2"].where(out["revenue_m2"] > 0) - 1
    ly = _in(o, "order_date", (q - 4).start_time, (q - 4).end_time).groupby("rep_id")["amount"].sum()
    out["ly_revenue"] = ly.reindex(out.index)
    out["growth_yoy"] = out["revenue"] / out["ly_revenue"].where(out["ly_revenue"] > 0) - 1
    out["orders"] = count_orders(cur, "rep_id").reindex(out.index, fill_value=0)
    out["aov"] = out["revenue"] / out["orders"]
    prev = _in(o, "order_date", (q - 4).start_time, (q - 1).end_time)
    out["prev4_revenue"] = prev.groupby("rep_id")["amount"].sum().reindex(out.index) / 4
    pg = prev.groupby("rep_id")
    out["prev4_aov"] = (pg["amount"].sum() / count_orders(prev, "rep_id")).reindex(out.index)
    first = o.groupby("customer_id")["order_date"].min()
    newc = cur[cur["customer_id"].map(first) >= qs].groupby("rep_id")["customer_id"].nunique()
    out["new_customers"] = newc.reindex(out.index).fillna(0).astype(int)
    pq = _in(o, "order_date", (q - 1).start_time, (q - 1).end_time)
    out["retention"] = _retention(pq, cur).reindex(out.index)
    if data.invoices is not None and data.customers is not None:
        inv = _in(data.invoices, "due_date", qs, qe)
        owner = _owners(cur)
        inv = inv.assign(rep_id=inv["customer_id"].map(owner)).dropna(subset=["rep_id"])
        g = inv.groupby("rep_id")
        out["collection_rate"] = (g["paid_amount"].sum() / g["amount"].sum()).reindex(out.index)
    else:
        out["collection_rate"] = np.nan
        notes.append("no invoices: collection rate is off")
    if data.activities is not None:
        a = _in(data.activities, "date", qs, qe)
        kinds = a.groupby(["rep_id", "kind"]).size().unstack(fill_value=0)
        out["visits"] = kinds.get("visit", pd.Series(dtype=float)).reindex(out.index).fillna(0)
        out["calls"] = kinds.get("call", pd.Series(dtype=float)).reindex(out.index).fillna(0)
        pa = _in(data.activities, "date", (q - 4).start_time, (q - 1).end_time)
        pa = pa[pa["kind"].isin(["visit", "call"])]
        out["prev4_activity"] = pa.groupby("rep_id").size().reindex(out.index) / 4
    else:
        out["visits"] = out["calls"] = out["prev4_activity"] = np.nan
        notes.append("no activities table: the process KPIs visits and calls are off")
    if data.opportunities is not None:
        op = data.opportunities
        out["opps_created"] = _in(op, "created_date", qs, qe).groupby("rep_id").size().reindex(out.index).fillna(0)
        yr = _in(op, "closed_date", qe - pd.Timedelta(days=364), qe)
        g = yr.groupby("rep_id")
        won = (yr["outcome"] == "won").groupby(yr["rep_id"]).sum()
        out["closed_12m"] = g.size().reindex(out.index).fillna(0)
        out["win_rate"] = (won / g.size()).reindex(out.index)
        w = yr[yr["outcome"] == "won"]
        out["cycle_days"] = ((w["closed_date"] - w["created_date"]).dt.days.groupby(w["rep_id"]).mean()
                             .reindex(out.index))
        if data.stage_history is not None:
            sh = data.stage_history.merge(op[["opportunity_id", "rep_id", "created_date"]], on="opportunity_id")
            sh = sh[(sh["created_date"] > qe - pd.Timedelta(days=364)) & (sh["created_date"] <= qe)]
            reach = sh.groupby(["rep_id", "stage"])["opportunity_id"].nunique().unstack(fill_value=0)
            stages = list(data.stages)
            if len(stages) >= 2 and stages[0] in reach and stages[1] in reach:
                out["lead_conversion"] = (reach[stages[1]] / reach[stages[0]].where(reach[stages[0]] > 0)).reindex(out.index)
            if "B" in reach and "A" in reach:
                out["quote_success"] = (reach["A"] / reach["B"].where(reach["B"] > 0)).reindex(out.index)
                out["quotes_12m"] = reach["B"].reindex(out.index).fillna(0)
            from salesplan.planning.funnel import open_pipeline

            pipe = open_pipeline(data, qs - pd.Timedelta(days=1))
            top = pipe[pipe["stage"].isin(stages[:3])].groupby("rep_id").size()
            out["funnel_depth"] = top.reindex(out.index).fillna(0)
    else:
        notes.append("no opportunities: funnel KPIs (lead conversion, win rate, cycle time) are off")
    for c in ("lead_conversion", "quote_success", "quotes_12m", "funnel_depth", "opps_created", "win_rate",
              "cycle_days", "closed_12m"):
        if c not in out.columns:
            out[c] = np.nan
    return out.reset_index(), notes


def rank_reps(kpis: pd.DataFrame) -> pd.DataFrame:
    """Rank reps: by attainment (revenue when no quota), ties broken by revenue growth on
    last year, then by revenue; ``tie_note`` says when a tie was broken and how."""
    k = kpis.copy()
    key = "attainment" if k["attainment"].notna().any() else "revenue"
    k["_a"] = k[key].round(3)
    k = k.sort_values(["_a", "growth_yoy", "revenue"], ascending=False, na_position="last")
    k["rank"] = np.arange(1, len(k) + 1)
    dup = k["_a"].duplicated(keep=False) & k["_a"].notna()
    k["tie_note"] = np.where(dup, f"tied on {key} ({'0.1 pt' if key == 'attainment' else 'revenue'}): "
                             "ordered by growth on last year", "")
    return k.drop(columns="_a").reset_index(drop=True)


def _peer_groups(k: pd.DataFrame) -> tuple[dict, dict]:
    """Row positions of the reps of each ``(level, region)`` and of each ``level`` (a
    missing level or region has no group: such a rep has no peers by it)."""
    pos = np.arange(len(k))
    by_both = {key: pos[idx] for key, idx in k.groupby(["level", "region"], sort=False).indices.items()}
    by_level = {key: pos[idx] for key, idx in k.groupby("level", sort=False).indices.items()}
    return by_both, by_level


def _peers(k: pd.DataFrame, j: int, groups: tuple[dict, dict], params: DiagnosisParams) -> tuple[np.ndarray, str]:
    """``(row positions of the peers of the rep at row j, scope)``: same level and region
    when ``min_peers`` such reps exist, else same level, else all reps (never the rep)."""
    level, region = k["level"].iat[j], k["region"].iat[j]
    empty = np.array([], dtype=np.int64)
    same = groups[0].get((level, region), empty) if not (pd.isna(level) or pd.isna(region)) else empty
    same = same[same != j]
    if len(same) >= params.min_peers:
        return same, "same level and region"
    lvl = groups[1].get(level, empty) if not pd.isna(level) else empty
    lvl = lvl[lvl != j]
    if len(lvl) >= params.min_peers:
        return lvl, "same level"
    every = np.arange(len(k))
    return every[every != j], "all reps"


#: The columns of the rep KPIs that :func:`_check` compares with the peers.
_DRIVER_COLS = ("target_ratio", "t_activity", "funnel_depth", "quote_success", "quotes_12m", "win_rate",
                "closed_12m", "t_deal_size", "t_pace")


def _check(k, i, peers, params, found, driver, col, low_is_bad=True, min_col=None, min_median=0.0):
    """Append ``(driver, rep value, peers' median, severity)`` to ``found`` when flagged.

    ``peers`` maps each column of :data:`_DRIVER_COLS` to the peers' values (array)."""
    th = params.threshold
    v = k.at[i, col]
    if min_col is not None and not (k.at[i, min_col] >= params.min_opps):
        return
    pv = peers[col]
    if min_col is not None:
        pv = pv[peers[min_col] >= params.min_opps]
    pv = pv[~np.isnan(pv)]
    pm = float(np.median(pv)) if len(pv) else np.nan
    if not (np.isfinite(v) and np.isfinite(pm) and pm > 0 and pm >= min_median):
        return
    ratio = v / pm
    if low_is_bad and ratio < th:
        found.append((driver, v, pm, 1 - ratio))
    elif not low_is_bad and ratio > 1 / th:
        found.append((driver, v, pm, 1 - 1 / ratio))


def diagnose_misses(kpis: pd.DataFrame, params: DiagnosisParams = DiagnosisParams()) -> pd.DataFrame:
    """Why each rep who missed missed: the section 7 drivers against own past and peers.

    Returns
    -------
    DataFrame
        One row per rep who missed and flagged driver, ranked by ``severity`` within the
        rep: ``rep_id, name, region, level, driver, reason, rep_value, peer_median,
        severity, peers, improve, time_box_days, rank``.  A rep who missed with no driver
        flagged gets one row ``driver = "none found"`` (left to the manager: attitude,
        customer records, market).
    """
    k = kpis.set_index("rep_id", drop=False).copy()
    k["t_activity"] = (k["calls"] + k["visits"]) / k["prev4_activity"].where(k["prev4_activity"] > 0)
    k["t_deal_size"] = k["aov"] / k["prev4_aov"].where(k["prev4_aov"] > 0)
    early = (k["revenue_m1"] + k["revenue_m2"]) / (2 * k["prev4_revenue"].where(k["prev4_revenue"] > 0) / 3)
    late = k["revenue_m3"] / (k["prev4_revenue"].where(k["prev4_revenue"] > 0) / 3)
    k["t_pace"] = early / late.where(late > 0)
    k["target_ratio"] = k["quota"] / k["ly_revenue"].where(k["ly_revenue"] > 0)
    if k["attainment"].notna().any():
        missed = k["attainment"] < 1
    else:
        med = k["growth_yoy"].median()
        missed = k["growth_yoy"] < med
    rows = []
    groups = _peer_groups(k)  # the peers of a rep are found by position: no pass over all reps per rep
    driver_values = {c: k[c].to_numpy(dtype=float) for c in _DRIVER_COLS}
    for j in np.flatnonzero(missed.fillna(False).to_numpy()):
        i = k.index[j]
        at, scope = _peers(k, j, groups, params)
        peers = {c: v[at] for c, v in driver_values.items()}
        scope = scope if len(at) else "none"
        found = []

        args = (k, i, peers, params, found)
        _check(*args, "target_too_high", "target_ratio", low_is_bad=False)
        _check(*args, "activity", "t_activity")
        _check(*args, "funnel_depth", "funnel_depth", min_median=params.min_opps / 2)
        _check(*args, "quote_success", "quote_success", min_col="quotes_12m")
        _check(*args, "win_rate", "win_rate", min_col="closed_12m")
        _check(*args, "deal_size", "t_deal_size")
        _check(*args, "pace", "t_pace")
        base = dict(rep_id=i, name=k.at[i, "name"], region=k.at[i, "region"], level=k.at[i, "level"],
                    peers=f"{len(at)} reps, {scope}", time_box_days=params.time_box_days)
        if not found:
            rows.append({**base, "driver": "none found", "reason": "no measurable driver below the peers: "
                         "talk it through (attitude, customer records, market)", "rep_value": np.nan,
                         "peer_median": np.nan, "severity": 0.0, "improve": "manager's 1:1", "rank": 1})
            continue
        found.sort(key=lambda x: -x[3])
        for r, (d, v, pm, sev) in enumerate(found, 1):
            rows.append({**base, "driver": d, "reason": DRIVERS[d], "rep_value": v, "peer_median": pm,
                         "severity": sev, "improve": IMPROVE[d], "rank": r})
    cols = ["rep_id", "name", "region", "level", "rank", "driver", "reason", "rep_value", "peer_median",
            "severity", "peers", "improve", "time_box_days"]
    return pd.DataFrame(rows, columns=cols)


def commission_statement(orders: pd.DataFrame, quarter, plan: CommissionPlan,
                         quotas_monthly: pd.DataFrame | None = None) -> pd.DataFrame:
    """Commission per rep and month from the actual sales, with the tiered plan.

    Parameters
    ----------
    orders : DataFrame
        ``order_date, rep_id, amount``.
    quarter : str or Period
    plan : CommissionPlan
        Tiers per month (or quarter: the three months are summed).
    quotas_monthly : DataFrame, optional
        ``rep_id, month, quota`` (needed by plans with accelerators).

    Returns
    -------
    DataFrame
        ``rep_id, period, sales, quota, commission, base, pay``, one row per rep and plan
        period (month or quarter), plus a ``total`` row per rep.
    """
    q = _quarter(quarter)
    cur = _in(orders, "order_date", q.start_time.normalize(), q.end_time.normalize())
    months = pd.period_range(q.start_time, q.end_time, freq="M")
    sales = (cur.groupby(["rep_id", cur["order_date"].dt.to_period("M")])["amount"].sum().unstack()
             .reindex(columns=months, fill_value=0.0).fillna(0.0))
    quota = None
    if quotas_monthly is not None:
        qm = quotas_monthly.assign(month=pd.to_datetime(quotas_monthly["month"]).dt.to_period("M"))
        quota = qm.pivot_table(index="rep_id", columns="month", values="quota", aggfunc="sum").reindex(
            index=sales.index, columns=months)
    S = sales.to_numpy(float)
    Q = None if quota is None else quota.fillna(0.0).to_numpy(float)
    if plan.period == "quarter":
        S, Q = S.sum(axis=1, keepdims=True), None if Q is None else Q.sum(axis=1, keepdims=True)
        labels = [str(q)]
    else:
        labels = [str(m) for m in months]
    com = commission(S, plan, Q)
    rows = []
    for r, rep in enumerate(sales.index):
        for j, lab in enumerate(labels):
            rows.append(dict(rep_id=rep, period=lab, sales=S[r, j], quota=np.nan if Q is None else Q[r, j],
                             commission=com[r, j], base=plan.base_per_period,
                             pay=plan.base_per_period + com[r, j]))
        rows.append(dict(rep_id=rep, period="total", sales=S[r].sum(),
                         quota=np.nan if Q is None else Q[r].sum(), commission=com[r].sum(),
                         base=plan.base_per_period * len(labels),
                         pay=plan.base_per_period * len(labels) + com[r].sum()))
    return pd.DataFrame(rows)


def kpi_board(data, quarter, *, by: str = "region", cost_of_sales: pd.Series | None = None,
              kpis: tuple[pd.DataFrame, pd.DataFrame] | None = None) -> pd.DataFrame:
    """The KPI board of a quarter by ``by`` (``"region"`` or ``"rep_id"``) and for the company,
    with the trend (the same KPI one quarter earlier).

    KPIs: ``revenue, growth_mom`` (last month over the one before), ``growth_yoy``,
    ``collection_rate``, ``retention``, ``aov``, ``new_customers``, ``cycle_days``,
    ``lead_conversion``, ``revenue_per_rep`` (sales efficiency; reps with orders) and, with
    ``cost_of_sales`` (entity -> cost in currency), ``revenue_per_cost``.  Columns
    ``<kpi>_prev`` hold the previous quarter's value.  ``kpis``: the :func:`rep_kpis` of
    ``quarter`` and of the quarter before when already computed (the quotas do not matter).
    """
    q = _quarter(quarter)
    out = []
    for j, (qq, suffix) in enumerate(((q, ""), (q - 1, "_prev"))):
        k = rep_kpis(data, qq)[0] if kpis is None else kpis[j].copy()
        k["_all"] = "company"
        frames = []
        for key in ([by] if by != "company" else []) + ["_all"]:
            g = k.groupby(key)
            f = pd.DataFrame({
                "revenue": g["revenue"].sum(),
                "revenue_m2": g["revenue_m2"].sum(), "revenue_m3": g["revenue_m3"].sum(),
                "ly_revenue": g["ly_revenue"].sum(min_count=1),
                "orders": g["orders"].sum(), "new_customers": g["new_customers"].sum(),
                "retention": g["retention"].mean(), "collection_rate": g["collection_rate"].mean(),
                "cycle_days": g["cycle_days"].mean(), "lead_conversion": g["lead_conversion"].mean(),
                "reps": g["rep_id"].nunique(),
            })
            f.index = f.index.astype(str)
            frames.append(f)
        f = pd.concat(frames)
        f["growth_mom"] = f["revenue_m3"] / f["revenue_m2"].where(f["revenue_m2"] > 0) - 1
        f["growth_yoy"] = f["revenue"] / f["ly_revenue"].where(f["ly_revenue"] > 0) - 1
        f["aov"] = f["revenue"] / f["orders"]
        f["revenue_per_rep"] = f["revenue"] / f["reps"]
        if cost_of_sales is not None:
            f["revenue_per_cost"] = f["revenue"] / cost_of_sales.reindex(f.index)
        f = f.drop(columns=["revenue_m2", "revenue_m3", "ly_revenue", "orders"])
        out.append(f.add_suffix(suffix))
    board = out[0].join(out[1], how="left").rename_axis(by if by != "company" else "entity").reset_index()
    return board
