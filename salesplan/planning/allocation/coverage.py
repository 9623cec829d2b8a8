"""Account coverage: each rep's book, its workload and suggested reassignments.

Part 3 of :mod:`salesplan.planning.allocation`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from salesplan.data.checks import as_date, require_columns
from salesplan.models.segments import lifecycle_stages as _segment_lifecycle_stages
from salesplan.planning.allocation._common import _check_number
from salesplan.planning.allocation.budget import _abc_series

# ======================================================================================
# 3. Account coverage
# ======================================================================================
_DEFAULT_VISITS = {
    ("A", "introduction"): 6, ("A", "growth"): 6, ("A", "maturity"): 4, ("A", "decline"): 6,
    ("B", "introduction"): 4, ("B", "growth"): 4, ("B", "maturity"): 2, ("B", "decline"): 3,
    ("C", "introduction"): 1, ("C", "growth"): 1, ("C", "maturity"): 0, ("C", "decline"): 1,
}
_DEFAULT_CALLS = {
    ("A", "introduction"): 24, ("A", "growth"): 12, ("A", "maturity"): 12, ("A", "decline"): 24,
    ("B", "introduction"): 12, ("B", "growth"): 12, ("B", "maturity"): 6, ("B", "decline"): 12,
    ("C", "introduction"): 6, ("C", "growth"): 4, ("C", "maturity"): 4, ("C", "decline"): 4,
}


@dataclass(frozen=True)
class CoverageParams:
    """Contact norms and rep capacity.

    Parameters
    ----------
    visits_per_year, calls_per_year : Mapping (abc_class, lifecycle_stage) -> float
        Contact frequency norms (defaults: A quarterly-plus visits, C served by phone).
    hours_per_visit, hours_per_call : float
        Hours per contact, travel and preparation included.
    selling_hours_per_month : float
        Hours per rep per month available for customer contact.
    overload, idle : float
        Utilisation (hours needed / capacity) above ``overload`` flags an overloaded
        rep, below ``idle`` an idle one.
    """

    visits_per_year: Mapping = field(default_factory=lambda: dict(_DEFAULT_VISITS))
    calls_per_year: Mapping = field(default_factory=lambda: dict(_DEFAULT_CALLS))
    hours_per_visit: float = 3.0
    hours_per_call: float = 0.5
    selling_hours_per_month: float = 80.0
    overload: float = 1.1
    idle: float = 0.7

    def __post_init__(self):
        for name in ("visits_per_year", "calls_per_year"):
            table = getattr(self, name)
            if not isinstance(table, Mapping):
                raise ValueError(f"{name} must map (abc_class, stage) -> contacts per year")
            for k, v in table.items():
                if not (isinstance(k, tuple) and len(k) == 2):
                    raise ValueError(f"{name}: key {k!r} must be (abc_class, lifecycle_stage)")
                _check_number(f"{name}[{k!r}]", v, lo=0)
        _check_number("hours_per_visit", self.hours_per_visit, lo=0)
        _check_number("hours_per_call", self.hours_per_call, lo=0)
        _check_number("selling_hours_per_month", self.selling_hours_per_month, lo=0, lo_open=True)
        _check_number("idle", self.idle, lo=0)
        _check_number("overload", self.overload, lo=0)
        if self.idle >= self.overload:
            raise ValueError(f"idle={self.idle!r} must be below overload={self.overload!r}")

    def hours_per_month(self, abc_class: str, stage: str) -> float:
        """``(visits * hours_per_visit + calls * hours_per_call) / 12``."""
        key = (abc_class, stage)
        if key not in self.visits_per_year or key not in self.calls_per_year:
            raise ValueError(f"no contact norm for (abc_class, stage)={key!r}")
        return (self.visits_per_year[key] * self.hours_per_visit
                + self.calls_per_year[key] * self.hours_per_call) / 12.0


def account_book(
    orders: pd.DataFrame,
    customers: pd.DataFrame,
    as_of,
    classes: pd.Series | None = None,
    stages: pd.Series | None = None,
    reps: pd.DataFrame | None = None,
    months: int = 12,
) -> pd.DataFrame:
    """One row per account with its owner, region, ABC class and lifecycle stage.

    Owner = the rep with the most revenue from the customer over the trailing
    ``months`` months (ties: first in order); customers with no rep-credited revenue
    (house accounts) are left out.  Reps that have left by ``as_of`` (``reps``
    given) are dropped as owners.

    Returns
    -------
    DataFrame ``customer_id``, ``rep_id``, ``region``, ``abc_class``,
    ``lifecycle_stage``, ``revenue`` (trailing, currency).
    """
    require_columns(orders, "orders", ("order_date", "customer_id", "rep_id", "amount"))
    require_columns(customers, "customers", ("customer_id", "region"))
    as_of = as_date(as_of, "as_of")
    classes = _abc_series(orders, as_of, months) if classes is None else classes
    if stages is None:
        st = _segment_lifecycle_stages(orders, as_of)
        stages = st.set_index("customer_id")["stage"].astype(str)
    start = as_of - pd.DateOffset(months=months) + pd.Timedelta(days=1)
    w = orders[(orders["order_date"] >= start) & (orders["order_date"] <= as_of) & orders["rep_id"].notna()]
    by = w.groupby(["customer_id", "rep_id"], sort=False)["amount"].sum().reset_index()
    if reps is not None:
        require_columns(reps, "reps", ("rep_id", "exit_date"))
        gone = reps.loc[reps["exit_date"].notna() & (pd.to_datetime(reps["exit_date"]) <= as_of), "rep_id"]
        by = by[~by["rep_id"].isin(set(gone))]
    by = by.sort_values(["customer_id", "amount"], ascending=[True, False], kind="mergesort")
    own = by.drop_duplicates("customer_id")
    rev = w.groupby("customer_id")["amount"].sum()
    out = own[["customer_id", "rep_id"]].merge(customers[["customer_id", "region"]], on="customer_id", how="left")
    out["abc_class"] = out["customer_id"].map(classes).fillna("C")
    out["lifecycle_stage"] = out["customer_id"].map(stages).fillna("maturity")
    out["revenue"] = out["customer_id"].map(rev).fillna(0.0)
    return out.reset_index(drop=True)


def coverage_load(accounts: pd.DataFrame, params: CoverageParams, reps: pd.DataFrame | None = None) -> pd.DataFrame:
    """Hours each rep needs per month to cover her book, against capacity.

    ``hours_i = sum over the rep's accounts of (visits * hours_per_visit + calls *
    hours_per_call) / 12`` from the norms of (abc_class, lifecycle_stage);
    ``utilisation = hours / selling_hours_per_month``; ``status`` = "overloaded"
    (> ``overload``), "idle" (< ``idle``) or "ok".  Reps in ``reps`` (still employed)
    without accounts appear with zero hours.

    Returns
    -------
    DataFrame indexed by rep_id: ``region``, ``accounts``, ``a_accounts``, ``hours``,
    ``capacity``, ``utilisation``, ``status``.
    """
    require_columns(accounts, "accounts", ("customer_id", "rep_id", "region", "abc_class", "lifecycle_stage"))
    acc = accounts.copy()
    acc["hours"] = [params.hours_per_month(c, s) for c, s in zip(acc["abc_class"], acc["lifecycle_stage"])]
    g = acc.groupby("rep_id")
    out = pd.DataFrame(
        {
            "region": g["region"].agg(lambda s: s.mode().iloc[0] if len(s.mode()) else s.iloc[0]),
            "accounts": g.size(),
            "a_accounts": g["abc_class"].agg(lambda s: int((s == "A").sum())),
            "hours": g["hours"].sum(),
        }
    )
    if reps is not None:
        require_columns(reps, "reps", ("rep_id", "region"))
        active = reps
        if "exit_date" in reps.columns:
            active = reps[reps["exit_date"].isna()]
        for r in active.itertuples(index=False):
            if r.rep_id not in out.index:
                out.loc[r.rep_id] = {"region": r.region, "accounts": 0, "a_accounts": 0, "hours": 0.0}
    out["capacity"] = params.selling_hours_per_month
    out["utilisation"] = out["hours"] / out["capacity"]
    out["status"] = np.where(
        out["utilisation"] > params.overload, "overloaded",
        np.where(out["utilisation"] < params.idle, "idle", "ok"),
    )
    out[["accounts", "a_accounts"]] = out[["accounts", "a_accounts"]].astype(int)
    return out.rename_axis("rep_id")


def suggest_reassignments(
    accounts: pd.DataFrame,
    params: CoverageParams,
    reps: pd.DataFrame | None = None,
    max_moves: int = 10_000,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Greedy rebalancing of account books within each region.

    Rules: A-class accounts never move (the relationship stays with its rep); accounts
    move only within a region.  Repeat: take the most loaded rep of a region whose
    utilisation is above ``overload`` and the least loaded rep of the same region; move
    the B/C account (B before C, larger hours first) that brings the donor closest to
    ``1.0`` without lifting the receiver above ``1.0`` -- or any account that strictly
    lowers the larger of the two utilisations; stop when no move helps.  Each move
    strictly lowers ``max(u_donor, u_receiver)``, so the loop ends.

    Returns
    -------
    (moves, load_after)
        ``moves``: customer_id, region, abc_class, hours, from_rep, to_rep,
        from_util_before, to_util_before.  ``load_after``: :func:`coverage_load` of the
        rebalanced book.
    """
    acc = accounts.copy()
    acc["hours"] = [params.hours_per_month(c, s) for c, s in zip(acc["abc_class"], acc["lifecycle_stage"])]
    load = coverage_load(acc, params, reps)
    cap = params.selling_hours_per_month
    hours = load["hours"].to_dict()
    region_of = load["region"].to_dict()
    moves = []
    for region in sorted(set(region_of.values())):
        members = [r for r, g in region_of.items() if g == region]
        if len(members) < 2:
            continue
        while len(moves) < max_moves:
            donor = max(members, key=lambda r: hours[r])
            recv = min(members, key=lambda r: hours[r])
            if hours[donor] / cap <= params.overload or donor == recv:
                break
            cand = acc[(acc["rep_id"] == donor) & (acc["abc_class"] != "A") & (acc["hours"] > 0)]
            if cand.empty:
                members = [m for m in members if m != donor]
                if len(members) < 2:
                    break
                continue
            before = max(hours[donor], hours[recv])
            best, best_key = None, None
            for idx, row in cand.iterrows():
                h = row["hours"]
                after = max(hours[donor] - h, hours[recv] + h)
                if after >= before - 1e-12:
                    continue
                fits = hours[recv] + h <= cap + 1e-12
                key = (not fits, 0 if row["abc_class"] == "B" else 1, abs(hours[donor] - h - cap), -h)
                if best_key is None or key < best_key:
                    best, best_key = idx, key
            if best is None:
                members = [m for m in members if m != donor]
                if len(members) < 2:
                    break
                continue
            h = acc.at[best, "hours"]
            moves.append((acc.at[best, "customer_id"], region, acc.at[best, "abc_class"], h,
                          donor, recv, hours[donor] / cap, hours[recv] / cap))
            hours[donor] -= h
            hours[recv] += h
            acc.at[best, "rep_id"] = recv
    mv = pd.DataFrame(moves, columns=["customer_id", "region", "abc_class", "hours", "from_rep",
                                      "to_rep", "from_util_before", "to_util_before"])
    return mv, coverage_load(acc.drop(columns="hours"), params, reps)
