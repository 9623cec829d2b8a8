"""Account coverage: each rep's book, its workload and suggested reassignments.

Part 3 of :mod:`salesplan.planning.allocation`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

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
        A key may also be ``(role, abc_class, lifecycle_stage)``: the norm of accounts
        owned by reps of that role (e.g. ``"key_account"``); it wins over the role-free key.
    hours_per_visit, hours_per_call : float
        Hours per contact, travel and preparation included.
    selling_hours_per_month : float
        Hours per rep per month available for customer contact (roles without their own
        capacity).
    capacity_by_role : Mapping role -> float
        Hours per month a rep of that role has for customer contact (e.g. calibrated by
        :func:`calibrate_coverage`); roles not listed use ``selling_hours_per_month``.
    basis : str
        Where the norms come from, said in the report ("default norms" or "observed
        activity ...").
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
    capacity_by_role: Mapping = field(default_factory=dict)
    basis: str = "default norms"

    def __post_init__(self):
        for name in ("visits_per_year", "calls_per_year"):
            table = getattr(self, name)
            if not isinstance(table, Mapping):
                raise ValueError(f"{name} must map (abc_class, stage) -> contacts per year")
            for k, v in table.items():
                if not (isinstance(k, tuple) and len(k) in (2, 3)):
                    raise ValueError(f"{name}: key {k!r} must be (abc_class, lifecycle_stage) "
                                     "or (role, abc_class, lifecycle_stage)")
                _check_number(f"{name}[{k!r}]", v, lo=0)
        _check_number("hours_per_visit", self.hours_per_visit, lo=0)
        _check_number("hours_per_call", self.hours_per_call, lo=0)
        _check_number("selling_hours_per_month", self.selling_hours_per_month, lo=0, lo_open=True)
        if not isinstance(self.capacity_by_role, Mapping):
            raise ValueError("capacity_by_role must map role -> hours per month")
        for role, hours in self.capacity_by_role.items():
            _check_number(f"capacity_by_role[{role!r}]", hours, lo=0, lo_open=True)
        _check_number("idle", self.idle, lo=0)
        _check_number("overload", self.overload, lo=0)
        if self.idle >= self.overload:
            raise ValueError(f"idle={self.idle!r} must be below overload={self.overload!r}")

    def hours_per_month(self, abc_class: str, stage: str, role=None) -> float:
        """``(visits * hours_per_visit + calls * hours_per_call) / 12``; the role's own norm
        ``(role, abc_class, stage)`` when there is one, else ``(abc_class, stage)``."""
        key = (abc_class, stage)
        if role is not None and (role, *key) in self.visits_per_year and (role, *key) in self.calls_per_year:
            key = (role, *key)
        if key not in self.visits_per_year or key not in self.calls_per_year:
            raise ValueError(f"no contact norm for (abc_class, stage)={key!r}")
        return (self.visits_per_year[key] * self.hours_per_visit
                + self.calls_per_year[key] * self.hours_per_call) / 12.0

    def capacity(self, role=None) -> float:
        """Hours per month of a rep of ``role`` (``selling_hours_per_month`` by default)."""
        return float(self.capacity_by_role.get(role, self.selling_hours_per_month))


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
    ``lifecycle_stage``, ``revenue`` (trailing, currency), and ``role`` (the owner's
    ``level``) when ``reps`` has a ``level`` column.
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
    if reps is not None and "level" in reps.columns:
        out["role"] = out["rep_id"].map(reps.drop_duplicates("rep_id").set_index("rep_id")["level"])
    return out.reset_index(drop=True)


def _rep_roles(accounts: pd.DataFrame, reps: pd.DataFrame | None) -> dict:
    """rep_id -> role (``reps.level``, else the accounts' ``role``; absent: None)."""
    roles = {}
    if "role" in accounts.columns:
        roles.update(accounts.dropna(subset=["role"]).drop_duplicates("rep_id").set_index("rep_id")["role"].to_dict())
    if reps is not None and "level" in reps.columns:
        roles.update(reps.drop_duplicates("rep_id").set_index("rep_id")["level"].to_dict())
    return roles


def _account_hours(accounts: pd.DataFrame, params: CoverageParams) -> list:
    """Each account's hours per month (:meth:`CoverageParams.hours_per_month`), computed
    once per (class, stage, role)."""
    roles = accounts["role"].to_numpy(dtype=object) if "role" in accounts.columns else [None] * len(accounts)
    norm: dict = {}
    out = []
    for key in zip(accounts["abc_class"].to_numpy(dtype=object), accounts["lifecycle_stage"].to_numpy(dtype=object),
                   roles):
        h = norm.get(key)
        if h is None:
            c, s, r = key
            h = norm[key] = params.hours_per_month(c, s, None if pd.isna(r) else r)
        out.append(h)
    return out


def _book_region(acc: pd.DataFrame, g) -> pd.Series:
    """rep_id -> the region of most of the rep's accounts (the first mode; none: the first
    account's).  A rep's accounts are in one region but for a few reps, which alone go
    through ``Series.mode``."""
    region = g["region"].first()
    mixed = g["region"].nunique() != 1
    if mixed.any():  # their rows by group number (no text comparison of every account's rep)
        rows = np.isin(g.ngroup().to_numpy(), np.flatnonzero(mixed.to_numpy()))
        few = acc[rows].groupby("rep_id")["region"]
        region.loc[mixed.index[mixed]] = few.agg(lambda s: s.mode().iloc[0] if len(s.mode()) else s.iloc[0])
    return region


def coverage_load(accounts: pd.DataFrame, params: CoverageParams, reps: pd.DataFrame | None = None) -> pd.DataFrame:
    """Hours each rep needs per month to cover her book, against capacity.

    ``hours_i = sum over the rep's accounts of (visits * hours_per_visit + calls *
    hours_per_call) / 12`` from the norms of (abc_class, lifecycle_stage) -- the norms of
    the owner's role when ``params`` has them; ``capacity_i`` = the hours of the rep's
    role (:meth:`CoverageParams.capacity`); ``utilisation = hours / capacity``;
    ``status`` = "overloaded" (> ``overload``), "idle" (< ``idle``) or "ok".  Reps in
    ``reps`` (still employed) without accounts appear with zero hours.

    Returns
    -------
    DataFrame indexed by rep_id: ``region``, ``role`` (None without levels), ``accounts``,
    ``a_accounts``, ``hours``, ``capacity``, ``utilisation``, ``status``.
    """
    require_columns(accounts, "accounts", ("customer_id", "rep_id", "region", "abc_class", "lifecycle_stage"))
    acc = accounts.copy()
    acc["hours"] = _account_hours(acc, params)
    g = acc.groupby("rep_id")
    out = pd.DataFrame(
        {
            "region": _book_region(acc, g),
            "accounts": g.size(),
            "a_accounts": pd.Series((acc["abc_class"] == "A").fillna(False).to_numpy(dtype=bool),
                                    index=acc.index).groupby(acc["rep_id"]).sum(),
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
    roles = _rep_roles(accounts, reps)
    out.insert(1, "role", [roles.get(r) for r in out.index])
    out["capacity"] = [params.capacity(r) for r in out["role"]]
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
    *,
    load: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Greedy rebalancing of account books within each region.

    Rules: A-class accounts never move (the relationship stays with its rep); accounts
    move only within a region and between reps of the same role (utilisation = hours /
    the rep's capacity).  Repeat: take the most loaded rep of a region whose
    utilisation is above ``overload`` and the least loaded rep of the same region; move
    the B/C account (B before C, larger hours first) that brings the donor closest to
    ``1.0`` without lifting the receiver above ``1.0`` -- or any account that strictly
    lowers the larger of the two utilisations; stop when no move helps.  Each move
    strictly lowers ``max(u_donor, u_receiver)``, so the loop ends.

    ``load``: :func:`coverage_load` of ``accounts``, ``params`` and ``reps`` when the caller
    has it (not computed again).

    Returns
    -------
    (moves, load_after)
        ``moves``: customer_id, region, abc_class, hours, from_rep, to_rep,
        from_util_before, to_util_before.  ``load_after``: :func:`coverage_load` of the
        rebalanced book.
    """
    acc = accounts.copy()
    acc["hours"] = _account_hours(acc, params)
    load = coverage_load(accounts, params, reps) if load is None else load
    cap = load["capacity"].to_dict()
    hours = load["hours"].to_dict()
    group_of = {r: (g, "" if pd.isna(ro) else str(ro)) for r, g, ro in zip(load.index, load["region"], load["role"])}
    moves = []
    books = _books(acc)
    by_group: dict = {}
    for r, g in group_of.items():
        by_group.setdefault(g, []).append(r)
    moved: dict = {}  # acc position -> its new rep, written to acc once at the end
    for group in sorted(by_group):
        _rebalance(books, by_group[group], hours, cap, params.overload, group[0], moves, max_moves, moved)
    if moved:
        acc.loc[acc.index[list(moved)], "rep_id"] = list(moved.values())
    mv = pd.DataFrame(moves, columns=["customer_id", "region", "abc_class", "hours", "from_rep",
                                      "to_rep", "from_util_before", "to_util_before"])
    return mv, coverage_load(acc.drop(columns="hours"), params, reps)


def _books(acc: pd.DataFrame) -> dict:
    """The arrays the greedy loop reads (``rep``: each account's rep, kept in step with
    the moves) and ``book``: rep -> positions of its movable accounts (not A-class, hours > 0)."""
    rep = acc["rep_id"].to_numpy(dtype=object)
    abc = acc["abc_class"].to_numpy(dtype=object)
    hrs = acc["hours"].to_numpy(dtype=float)
    movable = np.flatnonzero((abc != "A") & (hrs > 0))
    book = {r: movable[ix] for r, ix in pd.Series(rep[movable]).groupby(rep[movable], sort=False).indices.items()}
    return {"rep": rep, "abc": abc, "hrs": hrs, "not_b": (abc != "B").astype(int),
            "cust": acc["customer_id"].to_numpy(), "book": book}


def _extremes(members, load, hours, cap) -> tuple[int, int]:
    """Positions in ``members`` of the most and the least loaded member: the first of the
    largest / smallest ``hours / cap`` in their order (``load`` = their loads as an array)."""
    if np.isfinite(load).all():
        return int(np.argmax(load)), int(np.argmin(load))
    return (members.index(max(members, key=lambda r: hours[r] / cap[r])),
            members.index(min(members, key=lambda r: hours[r] / cap[r])))


def _rebalance(books, members, hours, cap, overload, region, moves, max_moves, moved) -> None:
    """The greedy loop of :func:`suggest_reassignments` for one region and role (in place:
    ``books``, ``hours``, ``moves`` and ``moved``, account position -> its new rep).

    Each step moves, from the most to the least loaded member (load = hours / capacity),
    the non-A account with hours that lowers the larger of their two loads and ranks first
    by (does not fit the receiver, not B-class, |donor's hours after - capacity|, -hours),
    ties to the account first in ``acc``.  ``books`` (:func:`_books`) holds each rep's
    movable accounts, so a step reads the donor's accounts only.
    """
    if len(members) < 2:
        return
    members = list(members)
    rep, abc, hrs, not_b, cust, book = (books[k] for k in ("rep", "abc", "hrs", "not_b", "cust", "book"))
    empty = np.array([], dtype=np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        load = np.array([hours[r] / cap[r] if cap[r] else np.nan for r in members], dtype=float)
    while len(moves) < max_moves:
        di, ri = _extremes(members, load, hours, cap)
        donor, recv = members[di], members[ri]
        if hours[donor] / cap[donor] <= overload or donor == recv:
            break
        pos = book.get(donor, empty)
        before = max(hours[donor] / cap[donor], hours[recv] / cap[recv])
        h = hrs[pos]
        after = np.maximum((hours[donor] - h) / cap[donor], (hours[recv] + h) / cap[recv])
        ok = ~(after >= before - 1e-12)
        pos, h = pos[ok], h[ok]
        if not len(pos):
            load = np.delete(load, di)
            del members[di]
            if len(members) < 2:
                break
            continue
        not_fits = (~(hours[recv] + h <= cap[recv] + 1e-12)).astype(int)
        best = pos[np.lexsort((pos, -h, np.abs(hours[donor] - h - cap[donor]), not_b[pos], not_fits))[0]]
        h = hrs[best]
        moves.append((cust[best], region, abc[best], h, donor, recv, hours[donor] / cap[donor],
                      hours[recv] / cap[recv]))
        hours[donor] -= h
        hours[recv] += h
        load[di] = hours[donor] / cap[donor]
        load[ri] = hours[recv] / cap[recv]
        book[donor] = book[donor][book[donor] != best]
        book[recv] = np.append(book.get(recv, empty), best)
        moved[int(best)] = recv
        rep[best] = recv


def calibrate_coverage(
    accounts: pd.DataFrame,
    activities: pd.DataFrame,
    as_of,
    base: CoverageParams | None = None,
    *,
    reps: pd.DataFrame | None = None,
    months: int = 12,
    min_accounts: int = 5,
    min_reps: int = 3,
) -> CoverageParams:
    """Contact norms and rep capacity from the company's own activity log.

    Over the ``months`` months to ``as_of`` (visits and calls; e-mails take no hours):

    * **norm** of a cell (owner role, abc_class, lifecycle_stage) = visits (calls) on the
      cell's accounts / number of the cell's accounts x 12 / ``months`` -- contacts per
      account and year.  A cell with fewer than ``min_accounts`` accounts takes the
      role-free cell (abc_class, stage) over all owners, and that one, when thin too,
      the default of ``base``.
    * **capacity** of a role = median over the role's reps with activity of
      (visits x ``hours_per_visit`` + calls x ``hours_per_call``) / ``months``, counting
      the contacts with the accounts of the book (prospecting without a customer is not
      account coverage) -- the hours per month a typical rep of the role is seen to
      spend with accounts; a role
      with fewer than ``min_reps`` such reps keeps ``selling_hours_per_month``.

    So utilisation 100% = the book needs what a typical colleague of the same role
    does; "idle" (< ``idle``) means a book well below the role's norm.

    Parameters
    ----------
    accounts : DataFrame
        :func:`account_book` (``role`` column optional: without it one role ``None``).
    activities : DataFrame
        ``date, rep_id, customer_id, kind`` (kind "visit", "call", others ignored).
    as_of : date-like
    base : CoverageParams, optional
        Hours per contact, thresholds and fallback norms (default ``CoverageParams()``).

    Returns
    -------
    CoverageParams with the calibrated ``visits_per_year``, ``calls_per_year``,
    ``capacity_by_role`` and ``basis``.
    """
    base = base or CoverageParams()
    require_columns(accounts, "accounts", ("customer_id", "rep_id", "abc_class", "lifecycle_stage"))
    require_columns(activities, "activities", ("date", "rep_id", "customer_id", "kind"))
    if months <= 0:
        raise ValueError(f"calibrate_coverage: months must be positive, got {months!r}")
    end = as_date(as_of, "as_of")
    start = end - pd.DateOffset(months=months)
    dates = pd.to_datetime(activities["date"])
    act = activities[(dates > start) & (dates <= end) & activities["kind"].isin(["visit", "call"])]
    acc = accounts.assign(role=accounts["role"] if "role" in accounts.columns else None)
    counts = act[act["customer_id"].notna()].groupby(["customer_id", "kind"]).size().unstack(fill_value=0)
    counts = counts.reindex(columns=["visit", "call"], fill_value=0)
    acc = acc.join(counts, on="customer_id").fillna({"visit": 0, "call": 0})
    per_year = 12.0 / months
    visits, calls = dict(base.visits_per_year), dict(base.calls_per_year)
    for key, g in acc.groupby(["abc_class", "lifecycle_stage"]):
        if len(g) >= min_accounts:
            visits[key], calls[key] = g["visit"].mean() * per_year, g["call"].mean() * per_year
    for (role, c, st), g in acc.dropna(subset=["role"]).groupby(["role", "abc_class", "lifecycle_stage"]):
        if len(g) >= min_accounts:
            visits[(role, c, st)], calls[(role, c, st)] = g["visit"].mean() * per_year, g["call"].mean() * per_year
    roles = _rep_roles(acc, reps)
    # the accounts' ids, not a set of 30k Python strings; an activity without a customer is on no book
    on_book = act[act["customer_id"].isin(acc["customer_id"].dropna().unique())]
    kinds = on_book.groupby(["rep_id", "kind"]).size().unstack(fill_value=0).reindex(columns=["visit", "call"],
                                                                                  fill_value=0)
    worked = (kinds["visit"] * base.hours_per_visit + kinds["call"] * base.hours_per_call) / months
    worked = worked[worked > 0]
    by_role = pd.Series(worked.values, index=[roles.get(r) for r in worked.index]).dropna()
    capacity = {role: float(h.median()) for role, h in by_role.groupby(level=0) if len(h) >= min_reps}
    return replace(base, visits_per_year=visits, calls_per_year=calls, capacity_by_role=capacity,
                   basis=f"observed activity of the {months} months to {end:%Y-%m-%d}")
