"""Words for the notebooks: series labels, plain-language bins and the headline answers.

Presentation only: every number here is computed by the planning and model layers; these
helpers name things and put the figures into the sentences a sales manager reads first.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import pandas as pd

from salesplan.reports.format import money, number, pct

__all__ = [
    "CARD_WORDS",
    "FORECAST_LEVELS",
    "credit_policy_revenue",
    "customer_risk_headlines",
    "forecast_figures",
    "name_columns",
    "data_health_answer",
    "ACCURACY_WORDS",
    "forecast_answer",
    "forecast_columns",
    "forecast_node_info",
    "missing_table_note",
    "RISK_WORDS",
    "plain_bin",
    "scorecard_view",
]

#: level names of the forecast hierarchy (``build_hierarchy``'s ``level_name``) in words
FORECAST_LEVELS: dict[str, str] = {"total": "company", "region": "region", "region/rep_id": "rep"}


def missing_table_note(what: str, table: str, purpose: str = "") -> str:
    """The one-line note of a section switched off for a missing table.

    >>> missing_table_note("Credit scorecard", "invoices")
    '*Credit scorecard: switched off: this data has no `invoices` table; add it to turn this section on.*'
    """
    tail = f" ({purpose})" if purpose else ""
    return (f"*{what}: switched off: this data has no `{table}` table{tail}; "
            "add it to turn this section on.*")


def forecast_node_info(nodes: pd.DataFrame, reps: pd.DataFrame | None) -> pd.DataFrame:
    """Level and label of every node of the forecast hierarchy.

    Parameters
    ----------
    nodes : DataFrame
        ``build_hierarchy``'s nodes: ``unique_id, level_name`` and the key columns
        (``region``, ``rep_id``) of the levels present.
    reps : DataFrame or None
        The ``reps`` table (``rep_id, name``) for the reps' names.

    Returns
    -------
    DataFrame
        ``unique_id, level`` (company / region / rep), ``region, rep_id, label``:
        "Company", the region's name, "<rep_id> <name>" or "(no rep: house accounts)".
    """
    names = reps.set_index("rep_id")["name"] if reps is not None else pd.Series(dtype=object)
    nodes = nodes.copy()
    for col in ("region", "rep_id"):
        if col not in nodes:
            nodes[col] = None

    def label(row) -> str:
        if row["level_name"] == "total":
            return "Company"
        if row["level_name"] == "region":
            return row["region"]
        rid = row["rep_id"]
        if rid == "(none)":
            return "(no rep: house accounts)"
        return f"{rid} {names.get(rid, '')}".strip()

    return nodes.assign(level=nodes["level_name"].map(FORECAST_LEVELS),
                        label=nodes.apply(label, axis=1))[["unique_id", "level", "region", "rep_id", "label"]]


#: column names of the forecast accuracy tables in words
ACCURACY_WORDS: dict[str, str] = {"n_series": "series", "mase": "MASE", "smape": "sMAPE", "bias_pct": "bias",
                                  "rel_mase": "MASE vs naive", "coverage-80": "in 80% range",
                                  "coverage-95": "in 95% range"}


def forecast_columns(period, last_year, previous) -> dict[str, str]:
    """Column names of the quarter forecast tables in words.

    >>> forecast_columns("2027Q1", "2026Q1", "2026Q4")["last_year"]
    '2026Q1 actual'
    """
    return {"last_year": f"{last_year} actual", "last_quarter": f"{previous} actual", "mean": f"{period} forecast",
            "lo-80": "80% low", "hi-80": "80% high", "lo-95": "95% low", "hi-95": "95% high",
            "growth_vs_ly": f"vs {last_year}"}


def forecast_answer(period: str, company: Mapping, regions: pd.DataFrame, main: Mapping,
                    naive: Mapping, last_year: str) -> str:
    """The forecast notebook's answer sentence.

    Parameters
    ----------
    period : str
        The plan quarter.
    company : mapping
        The company row of the quarter summary (``mean, lo-80, hi-80, growth_vs_ly``).
    regions : DataFrame
        The regions' rows (``region, mean, growth_vs_ly``); empty or one region = no region
        sentence (one region is the company).
    main, naive : mapping
        The company rows of the accuracy table for the method and for seasonal naive
        (``smape`` as a fraction).
    last_year : str
        The same quarter last year, e.g. ``"2026Q1"``.
    """
    text = (f"Carrying on as we are, {period} should bring about {money(company['mean'], compact=True)} "
            "of net revenue (company currency) "
            f"(80% likely between {money(company['lo-80'], compact=True)} and "
            f"{money(company['hi-80'], compact=True)}), {pct(company['growth_vs_ly'], signed=True)} on {last_year}. ")
    if len(regions) > 1:  # one region is the company: nothing to compare
        fastest = regions.sort_values("growth_vs_ly", ascending=False).iloc[0]
        biggest = regions.sort_values("mean", ascending=False).iloc[0]
        text += (f"{biggest['region']} is the largest region ({money(biggest['mean'], compact=True)}); "
                 f"{fastest['region']} grows fastest ({pct(fastest['growth_vs_ly'], signed=True)}). ")
    return text + (f"In backtests the forecast of the company's monthly net revenue erred {pct(main['smape'])} "
                   f"on average (sMAPE; seasonal naive: {pct(naive['smape'])}).")


def forecast_figures(period: str, last_year: str, company: Mapping, main: Mapping, backtest_months: int,
                     n_fallbacks: int, n_series: int, reconciliation: str) -> dict[str, str]:
    """The forecast notebook's headline figures, each with its period and unit.

    Parameters
    ----------
    period, last_year : str
        The plan quarter and the same quarter last year (``"2027Q1"``, ``"2026Q1"``).
    company : mapping
        The company row of the quarter summary (``mean, lo-80, hi-80, lo-95, hi-95,
        growth_vs_ly``; money in the company currency).
    main : mapping
        The company-level accuracy row of the method (``smape``, ``rel_mase``,
        ``coverage-80`` as fractions): the interval hit rate shown is the company's,
        not the pooled rate of all series.
    backtest_months : int
        Months forecast in the backtest (windows x 3).
    n_fallbacks, n_series : int
        Series on a fallback treatment, and all series.
    reconciliation : str
        The reconciliation method used (``"mint_shrink"`` ...).
    """
    q = f"net revenue {period}, company currency"
    return {
        f"Company forecast, {q} (mean)": money(company["mean"], compact=True),
        f"80% range, {q}": f"{money(company['lo-80'], compact=True)} – {money(company['hi-80'], compact=True)}",
        f"95% range, {q}": f"{money(company['lo-95'], compact=True)} – {money(company['hi-95'], compact=True)}",
        f"vs {last_year} (same quarter last year, net revenue)": pct(company["growth_vs_ly"], signed=True),
        "Backtest error, company monthly net revenue (sMAPE)": pct(main["smape"]),
        "Accuracy vs seasonal naive, company (relative MASE, <1 is better)": number(main["rel_mase"], 2),
        f"Company months inside the 80% range (backtest, {backtest_months} months)": pct(main["coverage-80"]),
        "Series on a fallback (new, short, intermittent)": f"{n_fallbacks} of {n_series} series",
        "Levels made to add up by": str(reconciliation).replace("_", " "),
    }


def credit_policy_revenue(grade_table: pd.DataFrame | None) -> tuple[float, float] | None:
    """Last-12-months revenue of the customers the credit policy takes off open credit.

    ``grade_table`` has one row per credit grade with ``revenue_12m`` (company currency)
    and ``condition``; the policy affects every grade whose condition is not
    ``"open account"`` (deposit, cash before delivery).

    Returns
    -------
    (float, float) or None
        ``(revenue, share)``: that revenue and its share of all grades' revenue
        (``revenue / sum(revenue_12m)``; NaN when the total is 0); None without a table.
    """
    if grade_table is None:
        return None
    for col in ("revenue_12m", "condition"):
        if col not in grade_table.columns:
            raise KeyError(f"credit_policy_revenue: grade table lacks column {col!r}; it has "
                           f"{list(grade_table.columns)}")
    rev = grade_table["revenue_12m"].astype(float)
    cut = float(rev[grade_table["condition"].astype(str) != "open account"].sum())
    total = float(rev.sum())
    return cut, (cut / total if total else float("nan"))


#: id columns of people and customers and the names table (``data.<attr>``) that names them
NAMED_IDS: dict[str, str] = {"customer_id": "customers", "rep_id": "reps"}


def name_columns(frame: pd.DataFrame | None, data, id_cols: Mapping[str, str] | None = None, *,
                 columns: list[str] | None = None) -> pd.DataFrame | None:
    """``frame`` with a name column beside each customer and rep id column.

    Parameters
    ----------
    frame : DataFrame or None
        A table for a report (None, a section switched off: returned as is).  Not modified.
    data : SalesData-like
        Gives the names tables ``data.customers`` (``customer_id, name``) and
        ``data.reps`` (``rep_id, name``); a missing table (None) adds no name.
    id_cols : mapping, optional
        Extra id columns to name: column -> ``"customers"`` or ``"reps"`` (e.g.
        ``{"entity": "reps"}``); the name column is ``<col>_name`` unless the column ends
        in ``_id``.
    columns : list of str, optional
        Keep these columns in this order, skipping those the table does not have (a name
        column is absent when its names table is).

    Returns
    -------
    DataFrame
        A copy with ``customer_name`` after ``customer_id``, ``rep_name`` after ``rep_id``
        (existing name columns are kept; ids without a name show "–").
    """
    from salesplan.reports.format import with_names

    if frame is None:
        return None
    out = frame
    for col, table in {**NAMED_IDS, **dict(id_cols or {})}.items():
        names = getattr(data, table, None)
        if col not in out.columns or names is None:
            continue
        name_col = col[:-3] + "_name" if col.endswith("_id") else f"{col}_name"
        if name_col in out.columns:
            continue
        key = "customer_id" if table == "customers" else "rep_id"
        out = with_names(out, col, names.set_index(key)["name"], name_col=name_col)
    if columns is not None:
        return out[[c for c in columns if c in out.columns]]
    return out if out is not frame else frame.copy()


#: the credit scorecard's variables in words
CARD_WORDS: dict[str, str] = {
    "n_invoices": "invoices, last 12 months", "dpd_mean": "average days past due",
    "dpd_max": "worst days past due, last 12 months", "dpd_max_ever": "worst days past due, ever",
    "dpd_open_max": "days past due of open invoices", "share_paid_late": "share of invoices paid late",
    "days_to_pay": "average days to pay", "short_paid_share": "share of invoices paid short",
    "overdue_share": "share of open amount overdue", "utilisation": "open amount / credit limit",
    "tenure_months": "months as a customer", "revenue_12m": "revenue, last 12 months",
    "order_trend": "order trend (-1 falling to +1 rising)", "industry": "industry",
}


def plain_bin(label: str) -> str:
    """A scorecard bin in words.

    >>> plain_bin("[-inf, 3.50)"), plain_bin("[3.50, 7.00)"), plain_bin("[7.00, inf)")
    ('below 3.50', '3.50 to below 7.00', '7.00 or more')
    >>> plain_bin("Missing")
    'no data (no invoice in the last 12 months)'
    """
    m = re.fullmatch(r"([\[(])(-inf|[-\d.]+), (inf|[-\d.]+)\)", label)
    if not m:
        return "no data (no invoice in the last 12 months)" if label == "Missing" else label
    lo, hi = m.group(2), m.group(3)
    if lo == "-inf":
        return f"below {hi}"
    if hi == "inf":
        return f"{lo} or more"
    return f"{lo} to below {hi}"


def customer_risk_headlines(by_class: pd.DataFrame, risk: pd.DataFrame, churn_threshold: float,
                            risk_by_region: pd.DataFrame | None, new_alerts: pd.DataFrame, overdue_days: int,
                            warning: pd.DataFrame | None, hold: pd.DataFrame | None,
                            grades: pd.Series | None, worst_grades, collection_rate: float | None,
                            backtest_auc: float, *, grade_table: pd.DataFrame | None = None,
                            horizon_days: int = 90) -> tuple[str, dict[str, str]]:
    """The customer-risk notebook's answer and headline figures.

    Each figure says its period and unit: "at risk" means more likely than not to place
    no order in the next ``horizon_days`` days; revenue at risk is the sum over customers
    of P(churn) x their last 12 months' net revenue (a 12-month amount, not a quarter's);
    the credit policy's reach is the last-12-months revenue of the grades it takes off
    open credit (:func:`credit_policy_revenue`).

    Parameters
    ----------
    by_class : DataFrame
        ABC summary (``abc_class, customers, share_of_customers, share_of_revenue``).
    risk : DataFrame
        The churn risk list (``p_churn, revenue_at_risk, abc_class``).
    churn_threshold : float
        Probability at or above which a customer counts "at risk".
    risk_by_region : DataFrame or None
        Churn risk by region, most revenue at risk first (None: no regions).
    new_alerts : DataFrame
        Regions whose new-customer count fell two months in a row (``region``).
    overdue_days : int
        The early-warning rule (days past due).
    warning, hold : DataFrame or None
        Overdue invoices and customers on supply hold (None: no invoices table).
    grades, worst_grades : Series or None, sequence of str
        Today's credit grades (None: no scorecard) and the two worst grades.
    collection_rate : float or None
        The company's collection rate (None: no invoices table).
    backtest_auc : float
        The scorecard's back-test AUC (NaN: none).
    grade_table : DataFrame, optional
        Customers by credit grade (``revenue_12m, condition``): the revenue the credit
        policy affects (not shown without it).
    horizon_days : int, default 90
        The churn horizon: "churn" = no order within this many days.

    Returns
    -------
    (str, dict)
        The answer sentence and the headline figures (figures of sections switched off
        read "off").
    """
    a = by_class.set_index("abc_class").loc["A"]
    at_risk = risk[risk["p_churn"] >= churn_threshold]
    at_risk_money = money(risk["revenue_at_risk"].sum(), compact=True)
    text = (f"{number(a['customers'])} A-class customers ({pct(a['share_of_customers'])} of active customers) "
            f"carry {pct(a['share_of_revenue'])} of the last 12 months' revenue. "
            f"{number(len(at_risk))} customers are more likely than not to place no order in the next "
            f"{horizon_days} days; weighted by that chance, {at_risk_money} of 12-month revenue is at risk")
    if risk_by_region is not None and len(risk_by_region):
        top = risk_by_region.iloc[0]
        text += f" (most in {top['region']}: {money(top['revenue_at_risk'], compact=True)})"
    text += "."
    overdue = money(warning["amount"].sum(), compact=True) if warning is not None else None
    if hold is not None:
        text += (f" {number(len(hold))} customers have invoices more than {overdue_days} days overdue "
                 f"({overdue}) and go on supply hold" + (";" if grades is not None else "."))
    n_worst = int(grades.isin(list(worst_grades)).sum()) if grades is not None else None
    cut = credit_policy_revenue(grade_table) if grades is not None else None
    if grades is not None:
        text += (f" {number(n_worst)} customers in grades {' and '.join(worst_grades)} should get no more open "
                 "credit (deposit or cash before delivery)")
        text += (f"; the credit policy affects customers with {money(cut[0], compact=True)} of the last "
                 f"12 months' revenue ({pct(cut[1])})." if cut is not None else ".")
    alerts = sorted(new_alerts["region"].astype(str))
    off = "off"
    figures = {
        "A-class customers": f"{number(a['customers'])} ({pct(a['share_of_customers'])} of active customers)",
        "Revenue share of A-class customers, last 12 months": pct(a["share_of_revenue"]),
        "Revenue at risk, 12 months (sum of P(churn) x last 12 months' revenue)": at_risk_money,
        f"Customers at risk: no order expected in the next {horizon_days} days (P(churn) ≥ "
        f"{pct(churn_threshold, 0)})": number(len(at_risk)),
        "A-class customers at risk": number(int((at_risk["abc_class"] == "A").sum())),
        "Regions with falling new-customer counts": ", ".join(alerts) if alerts else "none",
        f"Invoices overdue > {overdue_days} days": f"{number(len(warning))} ({overdue})" if warning is not None else off,
        "Customers on supply hold": number(len(hold)) if hold is not None else off,
        (f"Customers in grades {' / '.join(worst_grades)}" if len(worst_grades)
         else "Customers in the worst credit grades"): number(n_worst) if n_worst is not None else off,
        "Revenue of customers the credit policy takes off open credit, last 12 months": (
            f"{money(cut[0], compact=True)} ({pct(cut[1])} of revenue)" if cut is not None else off),
        "Collection rate, last 12 months": pct(collection_rate) if collection_rate is not None else off,
        "Scorecard back-test AUC": f"{backtest_auc:.2f}" if backtest_auc == backtest_auc else "–",
    }
    return text, figures


def scorecard_view(card) -> pd.DataFrame:
    """The fitted scorecard in words: one row per bin that holds customers, strongest variable first.

    Parameters
    ----------
    card : salesplan.models.credit.CreditScorecard
        Fitted (``scorecard_table()``, ``iv_``).

    Returns
    -------
    DataFrame
        ``characteristic`` (:data:`CARD_WORDS`), ``bin`` (:func:`plain_bin`), ``count``,
        ``bad_rate`` (share of the bin's training customers that went bad), ``points``; the
        base row first, then the variables by information value.
    """
    sc = card.scorecard_table()
    sc = sc[(sc["variable"] == "(base)") | (sc["count"] > 0)].copy()
    sc["order"] = sc["variable"].map(card.iv_.rank(ascending=False, method="first")).fillna(0)
    sc = sc.sort_values("order", kind="mergesort")
    sc = sc.assign(characteristic=sc["variable"].map(CARD_WORDS).fillna(sc["variable"]),
                   bin=sc["bin"].map(plain_bin), bad_rate=sc["event_rate"])
    return sc[["characteristic", "bin", "count", "bad_rate", "points"]]


#: column names of the customer-risk tables in words
RISK_WORDS: dict[str, str] = {
    "a_customers": "A customers", "a_share_of_customers": "A share of customers", "a_revenue": "A revenue",
    "a_share_of_revenue": "A share of revenue", "region_share_of_all_a_revenue": "share of all A revenue",
    "at_risk": "at risk", "mean_p_churn": "mean P(churn)", "revenue_12m": "revenue 12m",
    "revenue_at_risk": "revenue at risk", "share_at_risk": "share at risk", "clv": "CLV",
}


def data_health_answer(problems, period: str, quarters: int, min_history_quarters: int, missing) -> str:
    """The data-health notebook's answer.

    Parameters
    ----------
    problems : list of (rule, facts)
        :func:`salesplan.planning.data_health.health_problems`.
    period : str
        The plan quarter.
    quarters, min_history_quarters : int
        Complete quarters of history, and the quarters needed.
    missing : sequence of str
        The optional tables the data lack.
    """
    words = {
        "short_history": lambda f: f"only {f['quarters']} complete quarters of history "
                                   f"(at least {f['needed']} needed)",
        "returns": lambda f: f"returns are {pct(f['share'])} of gross sales (more than {pct(f['limit'])})",
        "stale": lambda f: f"the last order is dated {f['last_day']:%Y-%m-%d}, more than a month before "
                           f"{f['as_of']:%Y-%m-%d}",
    }
    if problems:
        said = "; ".join(words[rule](facts) for rule, facts in problems)
        return f"Not yet: {said}. Fix the source before trusting the {period} plan."
    return (f"Yes. The data pass every check of the data contract and hold {quarters} complete quarters of "
            f"history (at least {min_history_quarters} needed); "
            + ("every optional table is present, so every feature is on." if not missing
               else f"{len(missing)} optional table(s) are missing, so some features are off: {', '.join(missing)}."))
