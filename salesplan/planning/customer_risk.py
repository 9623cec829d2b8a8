"""The customer-risk notebook's tables: ABC summaries, lifecycle, collection rate, credit lists.

The models (:mod:`salesplan.models.segments`, :mod:`~salesplan.models.churn`,
:mod:`~salesplan.models.credit`) score customers one by one; these functions add them up
into the tables the customer-risk notebook (03) shows and saves (kind ``customer_risk``).
Every function is pure: DataFrames in, DataFrames out, amounts in the company currency.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from salesplan.data import SalesData
from salesplan.models.credit_workflow import (
    CreditAssessment,
    ScorecardParams,
    ScorecardUnavailable,
    assess_credit,
)

__all__ = [
    "ABC_CLASSES",
    "CustomerRisk",
    "CustomerRiskParams",
    "abc_by_class",
    "abc_by_region",
    "assess_customers",
    "collection_by_rep",
    "credit_grade_table",
    "customer_table",
    "lifecycle_table",
    "new_customer_table",
    "supply_hold",
]

ABC_CLASSES = ["A", "B", "C"]


def abc_by_class(abc: pd.DataFrame) -> pd.DataFrame:
    """Active customers and their revenue per ABC class.

    Parameters
    ----------
    abc : DataFrame
        :func:`salesplan.models.segments.abc_classes` (``customer_id, revenue, abc_class``).

    Returns
    -------
    DataFrame
        ``abc_class`` (A, B, C), ``customers``, ``revenue`` (sum of the last 12 months),
        ``share_of_customers`` and ``share_of_revenue``, over *active* customers
        (revenue > 0).
    """
    active = abc[abc["revenue"] > 0]
    out = (active.groupby("abc_class")
           .agg(customers=("customer_id", "size"), revenue=("revenue", "sum")).reindex(ABC_CLASSES).fillna(0))
    out["share_of_customers"] = out["customers"] / out["customers"].sum()
    out["share_of_revenue"] = out["revenue"] / out["revenue"].sum()
    return out.astype({"customers": "int64"}).rename_axis("abc_class").reset_index()


def abc_by_region(abc: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A-class customers per region, and each region's revenue per class.

    Parameters
    ----------
    abc : DataFrame
        :func:`salesplan.models.segments.abc_classes` with ``region``.

    Returns
    -------
    (DataFrame, DataFrame)
        The table ``region, customers, a_customers, a_share_of_customers, revenue,
        a_revenue, a_share_of_revenue, region_share_of_all_a_revenue`` (active customers,
        largest revenue first), and the revenue per region (rows, same order) and class
        (columns A, B, C) for the stacked chart.
    """
    active = abc[abc["revenue"] > 0]
    revenue = (active.pivot_table(index="region", columns="abc_class", values="revenue", aggfunc="sum",
                                  fill_value=0.0).reindex(columns=ABC_CLASSES, fill_value=0.0))
    counts = (active.pivot_table(index="region", columns="abc_class", values="customer_id", aggfunc="size",
                                 fill_value=0).reindex(columns=ABC_CLASSES, fill_value=0))
    table = pd.DataFrame({
        "customers": counts.sum(axis=1).astype("int64"),
        "a_customers": counts["A"].astype("int64"),
        "a_share_of_customers": counts["A"] / counts.sum(axis=1),
        "revenue": revenue.sum(axis=1),
        "a_revenue": revenue["A"],
        "a_share_of_revenue": revenue["A"] / revenue.sum(axis=1),
        "region_share_of_all_a_revenue": revenue["A"] / revenue["A"].sum(),
    }).sort_values("revenue", ascending=False).rename_axis("region").reset_index()
    return table, revenue.loc[table["region"]]


def lifecycle_table(stages: pd.DataFrame, abc: pd.DataFrame, rfm: pd.DataFrame,
                    stage_order: Sequence[str]) -> pd.DataFrame:
    """Customers per lifecycle stage: count, revenue, mean RFM scores and ABC classes.

    Parameters
    ----------
    stages, abc, rfm : DataFrame
        :func:`~salesplan.models.segments.lifecycle_stages` (``customer_id, stage``),
        :func:`~salesplan.models.segments.abc_classes` (``abc_class, revenue``) and
        :func:`~salesplan.models.segments.rfm_scores` (``r_score, f_score, m_score``).
    stage_order : sequence of str
        The stages in the order shown (every stage gets a row, 0 when empty).

    Returns
    -------
    DataFrame
        ``stage, customers, revenue_12m, recency_score, frequency_score, monetary_score,
        class_A, class_B, class_C``.
    """
    life = (stages.merge(abc[["customer_id", "abc_class", "revenue"]], on="customer_id", how="left")
            .merge(rfm[["customer_id", "r_score", "f_score", "m_score"]], on="customer_id", how="left"))
    life["stage"] = life["stage"].astype(str)
    order = list(stage_order)
    table = (life.groupby("stage")
             .agg(customers=("customer_id", "size"), revenue_12m=("revenue", "sum"),
                  recency_score=("r_score", "mean"), frequency_score=("f_score", "mean"),
                  monetary_score=("m_score", "mean"))
             .reindex(order))
    counts = life.pivot_table(index="stage", columns="abc_class", values="customer_id", aggfunc="size",
                              fill_value=0).reindex(index=order, columns=ABC_CLASSES, fill_value=0)
    table = table.join(counts.add_prefix("class_")).fillna(0).rename_axis("stage").reset_index()
    return table.astype({c: "int64" for c in ["customers", "class_A", "class_B", "class_C"]})


def new_customer_table(new_counts: pd.DataFrame, months: int = 6) -> pd.DataFrame:
    """New customers per region over the last ``months`` complete months, with the alert.

    Parameters
    ----------
    new_counts : DataFrame
        :func:`salesplan.models.segments.new_customer_counts` (``region, month,
        new_customers, falls, alert``).

    Returns
    -------
    DataFrame
        ``region``, one column per month (``YYYY-MM``), ``falls in a row`` (of the last
        month) and ``alert`` ("add marketing" when it fell two months in a row), the most
        falls first.
    """
    last_month = new_counts["month"].max()
    recent = new_counts[new_counts["month"] > last_month - pd.DateOffset(months=months)].copy()
    recent["month"] = recent["month"].dt.strftime("%Y-%m")
    table = recent.pivot(index="region", columns="month", values="new_customers")
    latest = new_counts[new_counts["month"] == last_month].set_index("region")
    table["falls in a row"] = latest["falls"]
    table["alert"] = np.where(latest["alert"], "add marketing", "")
    return (table.sort_values(["falls in a row"], ascending=False, kind="mergesort")
            .rename_axis("region").reset_index())


def collection_by_rep(invoices: pd.DataFrame, owner: pd.Series, as_of, months: int = 12
                      ) -> tuple[pd.DataFrame, float]:
    """Collection rate per account owner: cash collected / amount billed.

    For the invoices that fell due in ``(as_of - months, as_of]``: ``collected`` = the
    paid amount when paid by ``as_of`` (else 0), ``collected_on_time`` = the paid amount
    when paid by the due date.

    Parameters
    ----------
    invoices : DataFrame
        ``customer_id, due_date, amount, paid_date, paid_amount``.
    owner : Series
        ``customer_id -> rep_id`` (the account owner); customers without one go to
        ``"(none)"``.
    as_of : date
        The assessment date.
    months : int
        Length of the due-date window (months).

    Returns
    -------
    (DataFrame, float)
        ``rep_id, billed, collected, collected_on_time, collection_rate, on_time_rate``
        (lowest collection rate first, then the largest billed), and the company's rate
        ``sum(collected) / sum(billed)``.
    """
    as_of = pd.Timestamp(as_of)
    due = invoices[(invoices["due_date"] > as_of - pd.DateOffset(months=months)) & (invoices["due_date"] <= as_of)]
    paid = due["paid_amount"].where(due["paid_date"].notna() & (due["paid_date"] <= as_of), 0.0)
    on_time = paid.where(due["paid_date"] <= due["due_date"], 0.0)
    table = (due.assign(rep_id=due["customer_id"].map(owner).fillna("(none)"),
                        collected=paid.fillna(0.0), on_time=on_time.fillna(0.0))
             .groupby("rep_id").agg(billed=("amount", "sum"), collected=("collected", "sum"),
                                    collected_on_time=("on_time", "sum")))
    table["collection_rate"] = table["collected"] / table["billed"]
    table["on_time_rate"] = table["collected_on_time"] / table["billed"]
    table = table.sort_values(["collection_rate", "billed"], ascending=[True, False]).reset_index()
    billed = table["billed"].sum()
    return table, float(table["collected"].sum() / billed) if billed else float("nan")


def supply_hold(warning: pd.DataFrame, grades: pd.Series | None, region_of: pd.Series | None) -> pd.DataFrame:
    """Customers on supply hold: their overdue invoices added up, largest amount first.

    Parameters
    ----------
    warning : DataFrame
        :func:`salesplan.models.credit.early_warning` (``invoice_id, customer_id, amount,
        days_overdue``).
    grades : Series or None
        ``customer_id -> credit grade`` (None: no scorecard; the column is left out).
    region_of : Series or None
        ``customer_id -> region`` (None: no customers table; the column is left out).

    Returns
    -------
    DataFrame
        ``customer_id, invoices, amount_overdue, oldest_days_overdue`` [, ``grade``]
        [, ``region``].
    """
    hold = (warning.groupby("customer_id")
            .agg(invoices=("invoice_id", "size"), amount_overdue=("amount", "sum"),
                 oldest_days_overdue=("days_overdue", "max")))
    if grades is not None:
        hold = hold.join(grades.rename("grade"))
    if region_of is not None:
        hold = hold.join(region_of.rename("region"))
    return hold.sort_values(["amount_overdue", "oldest_days_overdue"], ascending=False).reset_index()


def credit_grade_table(policy: pd.DataFrame, grades: Sequence[str]) -> pd.DataFrame:
    """Customers per credit grade with the recommended limits and terms.

    Parameters
    ----------
    policy : DataFrame
        Index ``customer_id``; ``grade, pd, points, revenue_12m, recommended_limit,
        payment_terms_days, condition`` (the policy joined with the scores).
    grades : sequence of str
        The card's grades, best first (grades without customers are left out).

    Returns
    -------
    DataFrame
        ``grade, customers, mean_points, mean_pd, revenue_12m, recommended_limit`` (sums),
        ``payment_terms_days, condition``.
    """
    table = (policy.groupby("grade", observed=True)
             .agg(customers=("pd", "size"), mean_points=("points", "mean"), mean_pd=("pd", "mean"),
                  revenue_12m=("revenue_12m", "sum"), recommended_limit=("recommended_limit", "sum"),
                  payment_terms_days=("payment_terms_days", "first"), condition=("condition", "first"))
             .reindex(list(grades)).dropna(subset=["customers"]))
    table["customers"] = table["customers"].astype("int64")
    table["payment_terms_days"] = table["payment_terms_days"].astype("int64")
    return table.rename_axis("grade").reset_index()


def customer_table(abc: pd.DataFrame, stages: pd.DataFrame, rfm: pd.DataFrame, risk: pd.DataFrame,
                   policy: pd.DataFrame | None, hold: pd.DataFrame | None) -> pd.DataFrame:
    """One row per customer: class, stage, RFM, churn risk, credit grade and policy, hold.

    ``policy`` (index ``customer_id``; ``grade, points, pd, recommended_limit,
    payment_terms_days, condition``) and ``hold`` (``customer_id``) may be None when the
    company has no invoices or no scorecard: their columns are then left out.
    """
    out = (abc[[c for c in ("customer_id", "region", "abc_class", "revenue") if c in abc]]
           .merge(stages[["customer_id", "stage"]].assign(stage=lambda d: d["stage"].astype(str)),
                  on="customer_id", how="left")
           .merge(rfm[["customer_id", "rfm_cell", "rfm_total"]], on="customer_id", how="left")
           .merge(risk[["customer_id", "rep_id", "p_churn", "p_alive", "clv", "revenue_at_risk"]],
                  on="customer_id", how="left"))
    if policy is not None:
        cols = ["grade", "points", "pd", "recommended_limit", "payment_terms_days", "condition"]
        out = out.merge(policy[cols].rename_axis("customer_id").reset_index(), on="customer_id", how="left")
    if hold is not None:
        out = out.assign(supply_hold=out["customer_id"].isin(set(hold["customer_id"])))
    out = out.sort_values("customer_id", ignore_index=True)
    if "grade" in out:
        out["grade"] = out["grade"].astype(object).astype("str")
    return out


@dataclass(frozen=True)
class CustomerRiskParams:
    """Settings of :func:`assess_customers` (the customer-risk notebook's parameters).

    Parameters
    ----------
    abc_a_share, abc_b_share : float, fractions of revenue
        Class A makes the first ``abc_a_share`` of trailing-12-month revenue, A and B the
        first ``abc_b_share`` (``0 < a <= b <= 1``).
    churn_horizon_days : int, days
        Churn = no order in this many days after the assessment date.
    churn_snapshots : int
        Past snapshots the churn classifier learns from (>= 2).
    churn_threshold : float, probability
        Customers at or above it count "at risk".
    transaction_model : {"pareto", "bgnbd"}
        Repeat-buying model behind P(alive) and the lifetime value.
    clv_months : int, months
        Horizon of the lifetime value.
    discount_rate : float, fraction per month
        Discount rate of the lifetime value.
    scorecard : ScorecardParams
        The credit scorecard recipe.
    overdue_days : int, days past due
        Open invoices more than this many days past due put their customer on supply hold.
    collection_months : int, months
        Window of due dates of the collection rate.
    seed : int
        Seed of every model fit.
    """

    abc_a_share: float = 0.80
    abc_b_share: float = 0.95
    churn_horizon_days: int = 90
    churn_snapshots: int = 2
    churn_threshold: float = 0.5
    transaction_model: str = "pareto"
    clv_months: int = 12
    discount_rate: float = 0.01
    scorecard: ScorecardParams = field(default_factory=ScorecardParams)
    overdue_days: int = 30
    collection_months: int = 12
    seed: int = 0

    def __post_init__(self):
        if not 0 < self.abc_a_share <= self.abc_b_share <= 1:
            raise ValueError(f"CustomerRiskParams: abc_a_share={self.abc_a_share!r}, abc_b_share="
                             f"{self.abc_b_share!r}; expected 0 < abc_a_share <= abc_b_share <= 1")
        if not 0 <= self.churn_threshold <= 1:
            raise ValueError(f"CustomerRiskParams.churn_threshold={self.churn_threshold!r}: expected a probability")
        if self.transaction_model not in ("pareto", "bgnbd"):
            raise ValueError(f"CustomerRiskParams.transaction_model={self.transaction_model!r}: "
                             "expected 'pareto' or 'bgnbd'")
        for name in ("churn_horizon_days", "clv_months", "collection_months"):
            if getattr(self, name) < 1:
                raise ValueError(f"CustomerRiskParams.{name}={getattr(self, name)!r}: expected at least 1")
        if self.overdue_days < 0 or self.discount_rate < 0:
            raise ValueError(f"CustomerRiskParams: overdue_days={self.overdue_days!r}, discount_rate="
                             f"{self.discount_rate!r}; expected values >= 0")


@dataclass(frozen=True)
class CustomerRisk:
    """Every table of the customer-risk assessment (see :func:`assess_customers`).

    Tables of a section the data cannot carry are None, and ``notes`` says why:
    ``"regions"`` (no ``customers`` table), ``"invoices"`` (no ``invoices`` table),
    ``"credit"`` (no scorecard: no invoices, too short an invoice history, no contrast).
    """

    abc: pd.DataFrame
    stages: pd.DataFrame
    rfm: pd.DataFrame
    new_counts: pd.DataFrame
    new_alerts: pd.DataFrame
    by_class: pd.DataFrame
    lifecycle: pd.DataFrame
    risk: pd.DataFrame
    risk_by_rep: pd.DataFrame
    abc_by_region: pd.DataFrame | None = None
    region_class: pd.DataFrame | None = None
    risk_by_region: pd.DataFrame | None = None
    credit: CreditAssessment | None = None
    policy: pd.DataFrame | None = None
    grade_table: pd.DataFrame | None = None
    warning: pd.DataFrame | None = None
    hold: pd.DataFrame | None = None
    collection: pd.DataFrame | None = None
    collection_rate: float | None = None
    notes: dict = field(default_factory=dict)

    def outputs(self) -> dict[str, pd.DataFrame]:
        """The tables saved to the plan store (kind ``customer_risk``), switched-off ones left out."""
        hold = self.hold
        if hold is not None and "grade" in hold:
            hold = hold.assign(grade=hold["grade"].astype(object).astype("str"))
        out = {
            "customers": customer_table(self.abc, self.stages, self.rfm, self.risk, self.policy, self.hold),
            "abc_by_class": self.by_class, "abc_by_region": self.abc_by_region, "lifecycle": self.lifecycle,
            "new_customers": self.new_counts.assign(region=self.new_counts["region"].astype(str)),
            "churn_by_region": self.risk_by_region, "churn_by_rep": self.risk_by_rep,
            "churn_top_accounts": self.risk.drop(columns=["top_drivers"]).head(200),
            "scorecard": self.credit.card.scorecard_table() if self.credit else None,
            "credit_grades": self.grade_table, "early_warning": self.warning, "supply_hold": hold,
            "psi": self.credit.stability if self.credit else None, "collection_by_rep": self.collection,
        }
        return {name: table for name, table in out.items() if table is not None}


def _segments(data: SalesData, orders: pd.DataFrame, as_of: pd.Timestamp, p: CustomerRiskParams) -> dict:
    from salesplan.models import segments

    seg = segments.customer_segments(orders, as_of, segments.ABCParams(p.abc_a_share, p.abc_b_share),
                                     customers=data.customers)  # the orders read once for the four
    abc, stages, rfm, new_counts = seg["abc"], seg["stages"], seg["rfm"], seg["new_counts"]
    out = dict(abc=abc, stages=stages, rfm=rfm, by_class=abc_by_class(abc), new_counts=new_counts,
               new_alerts=segments.alerts_of_counts(new_counts),
               lifecycle=lifecycle_table(stages, abc, rfm, segments.LIFECYCLE_STAGES))
    if data.customers is not None:
        out["abc_by_region"], out["region_class"] = abc_by_region(abc)
    return out


def _churn(data: SalesData, as_of: pd.Timestamp, abc: pd.DataFrame, p: CustomerRiskParams, engine, scheduler) -> dict:
    from salesplan.models.churn import (
        ChurnClassifier,
        churn_risk_by,
        churn_risk_list,
        driver_reasons,
    )

    classifier = ChurnClassifier(horizon_days=p.churn_horizon_days, n_snapshots=p.churn_snapshots,
                                 random_state=p.seed)  # fitted by churn_risk_list on the history it reads
    risk = churn_risk_list(data, as_of, horizon_days=p.churn_horizon_days, transaction_model=p.transaction_model,
                           clv_months=p.clv_months, discount_rate=p.discount_rate, classifier=classifier,
                           random_state=p.seed, engine=engine, scheduler=scheduler)
    risk = risk.merge(abc[["customer_id", "abc_class"]], on="customer_id", how="left")
    out = dict(risk_by_rep=churn_risk_by(risk, "rep_id", p.churn_threshold))
    if data.customers is not None:
        out["risk_by_region"] = churn_risk_by(risk, "region", p.churn_threshold)
    risk["why"] = driver_reasons(risk["top_drivers"])  # the drivers in plain words
    return dict(out, risk=risk)


def _credit(data: SalesData, as_of: pd.Timestamp, risk: pd.DataFrame, p: CustomerRiskParams) -> dict:
    from salesplan.models import credit

    out, notes = {}, {}
    try:
        cred = assess_credit(data, as_of, p.scorecard)
    except ScorecardUnavailable as why:  # no invoices, too short an invoice history, no bad customer yet
        cred, notes["credit"] = None, str(why)
    if cred is not None:
        policy = credit.credit_policy(cred.grades, cred.X_now["revenue_12m"])
        out["policy"] = policy.join(cred.pd).join(cred.points).join(cred.X_now[["revenue_12m"]])
        out.update(credit=cred, grade_table=credit_grade_table(out["policy"], cred.card.grades))
    if data.invoices is None:
        notes["invoices"] = ("this data has no `invoices` table; add it to turn the overdue-invoice warning "
                             "(supply hold) and the collection rate on")
        return dict(out, notes=notes)
    warning = credit.early_warning(data.invoices, as_of, credit.EarlyWarningParams(p.overdue_days))
    region_of = data.customers.set_index("customer_id")["region"] if data.customers is not None else None
    if region_of is not None:
        warning = warning.assign(region=warning["customer_id"].map(region_of))
    out["hold"] = supply_hold(warning, out["policy"]["grade"] if cred else None, region_of)
    out["collection"], out["collection_rate"] = collection_by_rep(
        data.invoices, risk.set_index("customer_id")["rep_id"], as_of, months=p.collection_months)
    return dict(out, warning=warning, notes=notes)


def assess_customers(data: SalesData, as_of, params: CustomerRiskParams = CustomerRiskParams(), *,
                     engine: str = "local", scheduler=None) -> CustomerRisk:
    """Who carries the plan, who is slipping away, who must not get more credit.

    Runs, at the assessment date ``as_of`` (orders after it are ignored): ABC classes,
    lifecycle stages, RFM scores and new-customer counts (:mod:`salesplan.models.segments`);
    churn risk and lifetime value (:mod:`salesplan.models.churn`); the credit scorecard
    (:func:`salesplan.models.credit_workflow.assess_credit`) with grades and policy; the
    early warning of overdue invoices (supply hold) and the collection rate by rep.
    Sections the data cannot carry are switched off with a reason in ``notes``: regions
    without the ``customers`` table, overdue invoices and collection without ``invoices``,
    the scorecard when :func:`~salesplan.models.credit_workflow.scorecard_unavailable`.

    Parameters
    ----------
    data : SalesData
    as_of : date
        The assessment date.
    params : CustomerRiskParams
    engine, scheduler
        Where the per-customer churn scoring runs (``"local"`` or ``"dask"``).

    Returns
    -------
    CustomerRisk
    """
    as_of = pd.Timestamp(as_of)
    seg = _segments(data, data.orders, as_of, params)  # each step reads the orders up to as_of only
    churn = _churn(data, as_of, seg["abc"], params, engine, scheduler)
    cred = _credit(data, as_of, churn["risk"], params)
    notes = cred.pop("notes")
    if data.customers is None:
        notes["regions"] = ("this data has no `customers` table; add it (the region of each customer) to turn "
                            "the region breakdowns on")
    return CustomerRisk(**seg, **churn, **cred, notes=notes)
