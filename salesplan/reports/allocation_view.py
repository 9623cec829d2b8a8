"""Presentation of a resource plan: the headline texts and tables of the resource notebook.

Every function takes results of :mod:`salesplan.planning.allocation.quarter` and
:func:`salesplan.planning.commission.plan_commission_cost` and returns text or a
:class:`salesplan.reports.format.Table`; none computes a plan figure.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from salesplan.planning.allocation.quarter import NO_SPEND_NOTE
from salesplan.reports.format import money, number, pct, styled_table

__all__ = ["NO_ROSTER_NOTES", "allocation_headlines", "budget_limit_text", "budget_limits", "headcount_tables", "commission_tables", "headcount_table", "hiring_tables", "budget_tables",
           "coverage_tables", "ote_table", "workload_bars"]


#: One line each for the parts of the resource plan that need a roster (a ``reps`` table).
NO_ROSTER_NOTES = {
    "headcount": "No headcount or hiring plan: the data have no reps table, so there is no roster to size "
                 "against the targets.",
    "coverage": "No account coverage: the data have no reps table, so accounts have no owner whose workload "
                "could be measured.",
    "commission": "No commission cost: the data have no reps table, so there are no rep quotas to pay "
                  "commission on.",
}


def budget_limits(mk, *, max_change: float) -> dict:
    """Which regions the optimised split leaves at the ``max_change`` limit.

    Returns ``{"up": [...], "down": [...], "free": [...], "n": regions}`` (region lists
    in the table's order: ``binding == "max"`` / ``"min"`` / neither); empty lists
    without a split.
    """
    if mk.error is not None:
        return {"up": [], "down": [], "free": [], "n": 0}
    b = mk.best.table["binding"].astype(str)
    return {"up": [str(r) for r in b.index[b == "max"]], "down": [str(r) for r in b.index[b == "min"]],
            "free": [str(r) for r in b.index[~b.isin(["max", "min"])]], "n": len(b)}


def _and(items: list) -> str:
    """``"a"``, ``"a and b"``, ``"a, b and c"``."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def budget_limit_text(mk, *, max_change: float, curve_error: float) -> str:
    """One sentence on how far the optimum is bound by the ±``max_change`` limit and what
    that means for the sensitivity figure ("" without a split)."""
    lim = budget_limits(mk, max_change=max_change)
    bound = len(lim["up"]) + len(lim["down"])
    if mk.error is not None or not bound:
        return ("" if mk.error is not None else
                "No region sits at the ±" + pct(max_change, 0) + " limit: the curves alone set the split.")
    parts = ([f"{', '.join(lim['up'])} at +{pct(max_change, 0)}"] if lim["up"] else []) + \
            ([f"{', '.join(lim['down'])} at -{pct(max_change, 0)}"] if lim["down"] else [])
    regret = float(mk.scenarios["regret"].median())
    return (f"The split is limit-bound: {bound} of {lim['n']} regions sit at the ±{pct(max_change, 0)} limit "
            f"({'; '.join(parts)}), so the limit, not the curves, sets their spend"
            + (f"; only {_and(lim['free'])} {'is' if len(lim['free']) == 1 else 'are'} set by the curves"
               if lim["free"] else "")
            + f". The median margin lost when the curves are off by ±{pct(curve_error, 0)} "
              f"({pct(regret, 2)}) is small because the bound regions stay at the limit, not because the curves "
              f"are certain; a wider limit would move money further.")


def _people_text(company_target, headcount, hires, period) -> tuple[str, dict]:
    if headcount is None:
        return NO_ROSTER_NOTES["headcount"], {f"Quarter target ({period}, company currency)":
                                              money(company_target, compact=True)}
    need_total = int(headcount["headcount_needed"].sum())
    have_total = int(headcount["reps_today"].sum())
    short = headcount[headcount["gap"] > 0]
    hire_total = int(hires["hires"].sum()) if len(hires) else 0
    text = (f"To carry the {money(company_target, compact=True)} target of {period} the regions need "
            f"{need_total} reps against {have_total} today"
            + (f" ({', '.join(f'{r.region} +{int(r.gap)}' for r in short.itertuples())}); " if len(short) else "; ")
            + f"the hiring plan opens {hire_total} positions.")
    return text, {f"Quarter target ({period}, company currency)": money(company_target, compact=True),
                  f"Reps needed / on the roster ({period}, headcount)": f"{need_total} / {have_total}",
                  "Positions to open (headcount)": number(hire_total)}


def _budget_text(marketing, period, curve_error, max_change) -> tuple[str, dict]:
    budget = marketing.budget
    figures = {f"Marketing budget ({period}, company currency)": money(budget, compact=True)}
    if marketing.error is None:
        cmp = marketing.comparison
        gain_sq = cmp.loc["optimised", "response"] / cmp.loc["status quo", "response"] - 1
        gain_rule = cmp.loc["optimised", "response"] / cmp.loc["80% rule", "response"] - 1
        lim = budget_limits(marketing, max_change=max_change)
        bound = len(lim["up"]) + len(lim["down"])
        text = (f"Splitting the {money(budget, compact=True)} marketing budget of {period} by the response curves "
                f"earns {pct(gain_sq, signed=True)} incremental margin against the status quo and "
                f"{pct(gain_rule, signed=True)} against the 80%-where-the-A-customers-are rule"
                + (f"; {bound} of {lim['n']} regions sit at the ±{pct(max_change, 0)} limit, so the limit sets "
                   "their spend." if bound else "."))
        figures.update({
            f"Incremental margin, optimised split ({period}, company currency)":
                money(cmp.loc["optimised", "response"], compact=True),
            "… vs status quo (% of margin)": pct(gain_sq, signed=True),
            "… vs 80% rule (% of margin)": pct(gain_rule, signed=True),
            f"Regions at the ±{pct(max_change, 0)} limit (of {lim['n']})": (
                f"{bound}" + (f" ({', '.join(lim['up'] + lim['down'])})" if bound else "")),
            f"Margin lost if curves are off by ±{pct(curve_error, 0)} (median, % of attainable margin"
            + (", limit-bound split)" if bound else ")"): pct(marketing.scenarios["regret"].median(), 2)})
    elif marketing.error == NO_SPEND_NOTE:
        text = "No marketing budget split: the data have no marketing spend table."
    elif len(marketing.status_quo) < 2:
        text = f"The {money(budget, compact=True)} marketing budget stays whole: the company has one region."
    else:
        text = "The marketing split cannot be optimised from this history (see the budget section)."
    return text, figures


def allocation_headlines(*, company_target: float, headcount: pd.DataFrame | None, hires: pd.DataFrame | None,
                         marketing, load: pd.DataFrame | None, moves: pd.DataFrame | None,
                         cost_summary: pd.DataFrame | None, ote_check: pd.DataFrame | None, curve_error: float,
                         ote_low: float, ote_high: float, period: str = "the quarter", max_change: float = 0.5):
    """The answer and the headline figures of the resource notebook.

    ``marketing`` is a :class:`~salesplan.planning.allocation.quarter.MarketingPlan`; without
    a split (``marketing.error``) the budget sentence says so and the margin figures are left out.
    The roster parts (``headcount``/``hires``, ``load``/``moves``, ``cost_summary``/``ote_check``)
    may be ``None`` (no reps table): their sentence is the one-line note of :data:`NO_ROSTER_NOTES`.
    Every figure names its period and unit; the budget says how many regions sit at the
    ±``max_change`` limit.
    """
    people, figures = _people_text(company_target, headcount, hires, period)
    budget_text, budget_figures = _budget_text(marketing, period, curve_error, max_change)
    figures.update(budget_figures)
    if load is not None:
        over, idle = load[load["status"] == "overloaded"], load[load["status"] == "idle"]
        coverage = (f"Against their role's norm, {len(over)} of {len(load)} reps are overloaded and {len(idle)} "
                    f"idle; {len(moves)} account moves balance the load.")
        figures.update({"Overloaded / idle reps (of " + number(len(load)) + ", hours against the role's norm)":
                        f"{len(over)} / {len(idle)}",
                        "Suggested account moves (accounts)": number(len(moves))})
    else:
        coverage = NO_ROSTER_NOTES["coverage"]
    if cost_summary is not None:
        p50 = cost_summary.loc["P50"]
        pay = (f"Commission costs {money(p50['commission'], compact=True)} in {period} at the median forecast "
               f"(cost of sales {pct(p50['cost_of_sales'])} incl. base pay).")
        figures.update({
            f"Pay of the sales force at P10 / P50 / P90 ({period}, company currency)": " / ".join(
                money(cost_summary.loc[q, "pay"], compact=True) for q in ("P10", "P50", "P90")),
            f"Cost of sales ({period}, pay / sales, P50)": pct(p50["cost_of_sales"]),
            f"Reps outside quota-to-OTE {ote_low:g}-{ote_high:g}x (reps)":
                number(int((ote_check["flag"] != "").sum()))})
    else:
        pay = NO_ROSTER_NOTES["commission"]
    return f"{people} {budget_text} {coverage} {pay}", figures


def headcount_table(headcount: pd.DataFrame):
    """Reps needed per region against today's roster, with the economics of one more rep."""
    return styled_table(headcount[["region", "target", "productivity", "fte_needed", "headcount_needed", "reps_today",
                                   "gap", "net", "payback_month", "steady_state_ratio"]],
                        money_cols=["target", "productivity", "net"],
                        int_cols=["headcount_needed", "reps_today", "gap"],
                        caption="Reps needed per region (target and productivity per rep and month in company "
                                "currency; net = margin minus cost of one more rep over 24 months)")


def headcount_tables(headcount: pd.DataFrame | None) -> list:
    """The reps-needed table and chart, or the one-line note without a roster (``None``)."""
    from IPython.display import Markdown

    if headcount is None:
        return [Markdown(f"**Note.** {NO_ROSTER_NOTES['headcount']}")]
    return [headcount_table(headcount), headcount_chart(headcount)]


def headcount_chart(headcount: pd.DataFrame):
    """Bars of the reps needed and the reps today per region."""
    from salesplan.reports import charts

    return charts.bar_chart(
        headcount.set_index("region")[["headcount_needed", "reps_today"]]
        .rename(columns={"headcount_needed": "reps needed", "reps_today": "reps today"}),
        title="Reps needed to carry the quarter's target vs reps today", xlabel="region",
        ylabel="reps (headcount)")


def hiring_tables(hires: pd.DataFrame, monthly_need: pd.DataFrame):
    """The positions to open (or a sentence when none) and the capacity by region and month."""
    from IPython.display import Markdown

    if hires is None:  # no roster: the headcount section's note says so
        return ()
    if len(hires):
        hp = hires.assign(requisition_month=hires["requisition_month"].dt.strftime("%Y-%m"),
                          start_month=hires["start_month"].dt.strftime("%Y-%m"))
        first = styled_table(hp.sort_values(["requisition_month", "region"], ignore_index=True),
                             int_cols=["hires"], caption="Positions to open: when to open them and when the reps start")
    else:
        first = Markdown("No position needs to be opened: today's roster carries the targets.")
    mn = monthly_need.assign(month=monthly_need["month"].dt.strftime("%Y-%m"))
    return first, styled_table(mn.sort_values(["region", "month"], ignore_index=True),
                               caption="Selling capacity per region and month in full-rep equivalents (FTE): need, "
                                       "today's roster (after ramp-up and expected departures), new hires, "
                                       "remaining gap")


def budget_tables(mk, regions, *, curve_error: float, n_scenarios: int) -> list:
    """The budget section's outputs in order: the response-curve fit, the curves chart, the
    comparison and its chart, the optimised split, the sensitivity tables; a sentence only
    when no split is made (``mk.error``)."""
    from IPython.display import Markdown

    from salesplan.reports import charts

    if mk.error is not None:
        return [Markdown(f"**No budget split between regions:** {mk.error}")]
    ft = mk.fit.reset_index()
    ft["response_at_saturation"] = ft["a"] * 3
    cols = ["region", "source", "n_months", "mean_spend", "a", "b", "r2", "rel_se_a", "rel_se_b", "reason"]
    out = [styled_table(ft[cols].rename(columns={"a": "margin_at_saturation_per_month", "b": "spend_scale_per_month"}),
                        money_cols=["mean_spend", "margin_at_saturation_per_month", "spend_scale_per_month"],
                        pct_cols=["rel_se_a", "rel_se_b"],
                        caption="Response curves: source (own fit or fallback), fit quality (R², relative "
                                "standard errors) and the reason for a fallback (money per month, company currency)")]
    grid = np.linspace(0, 2.5, 26) * mk.status_quo.max() / 3
    curve_frame = pd.DataFrame({r: mk.curves[r](grid) for r in regions}, index=np.round(grid, 0))
    curve_frame.index.name = "monthly spend"
    fig = charts.line_chart(curve_frame, title="Response curves: incremental margin per month by spend",
                            xlabel="marketing spend per month (company currency)",
                            ylabel="incremental gross margin per month (company currency)", money=True, markers=False)
    charts.money_axis(fig.axes[0].xaxis)
    out.append(fig)
    out.append(styled_table(mk.comparison.rename_axis("allocation").reset_index(), money_cols=["spend", "response"],
                            pct_cols=["vs_best"], caption="Expected incremental gross margin of the quarter under each "
                                                          "split (company currency; roi = margin per unit of spend)"))
    out.append(charts.bar_chart(mk.split, title="Marketing budget by region: three ways to split it",
                                xlabel="region", ylabel="spend in the quarter (company currency)", money=True))
    tab = mk.best.table.rename_axis("region").reset_index()
    tab["status_quo"] = tab["region"].map(mk.allocations["status quo"])
    tab["change"] = tab["spend"] / tab["status_quo"] - 1
    out.append(styled_table(tab[["region", "status_quo", "spend", "change", "response", "marginal", "binding"]],
                            money_cols=["status_quo", "spend", "response"], pct_cols=["change"],
                            caption="Optimised split: spend, expected incremental margin and the margin of the next "
                                    "unit of spend (marginal return; equal across regions not at a limit)"))
    return out


def sensitivity_tables(mk, *, curve_error: float, n_scenarios: int, max_change: float = 0.5) -> list:
    """The sensitivity check: whether the optimum is limit-bound (:func:`budget_limit_text`), the
    margin lost when the curves are off, overall and one region at a time."""
    from IPython.display import Markdown

    if mk.error is not None:
        return []
    sc = mk.scenarios
    sens = pd.DataFrame({"statistic": ["median", "90th percentile", "worst"],
                         "margin lost": [sc["regret"].median(), sc["regret"].quantile(0.9), sc["regret"].max()]})
    oat = mk.one_at_a_time.assign(factor=mk.one_at_a_time["factor"].map(lambda f: f"{f - 1:+.0%}"))
    return [Markdown(budget_limit_text(mk, max_change=max_change, curve_error=curve_error)),
            styled_table(sens, pct_cols=["margin lost"], pct_decimals=2,
                         caption=f"Share of attainable margin lost when the curves are off by up to "
                                 f"±{pct(curve_error, 0)} ({n_scenarios} scenarios)"),
            styled_table(oat.rename(columns={"unit": "region", "factor": "curve height"})
                         [["region", "curve height", "regret", "spend_shift"]],
                         pct_cols=["regret"], money_cols=["spend_shift"], pct_decimals=2,
                         caption="One region's curve at a time: margin lost and how the best spend for that "
                                 "region would move (company currency)")]


def _names(table, id_col: str, names, name_col: str | None = None) -> pd.DataFrame:
    """``with_names`` when a names table is given (none: the ids alone).  A table
    (``data.reps``, ``data.customers``) is read as its first column (the id) -> ``name``."""
    from salesplan.reports.format import with_names

    if names is None or id_col not in table.columns:
        return table
    if isinstance(names, pd.DataFrame):
        names = names.drop_duplicates(names.columns[0]).set_index(names.columns[0])["name"]
    return with_names(table, id_col, names, name_col=name_col)


#: The workload chart shows every rep up to this many; a larger sales force: the
#: :data:`WORKLOAD_EDGE` most and least loaded reps and one bar for the others.
MAX_WORKLOAD_BARS = 60  # a manager's whole team (the demo's 54 reps) stays on one chart
WORKLOAD_EDGE = 25


def workload_bars(utilisation: pd.Series) -> pd.Series:
    """The bars of the workload chart: every rep's utilisation, or, beyond
    :data:`MAX_WORKLOAD_BARS` reps, the :data:`WORKLOAD_EDGE` most and least loaded (ties:
    rep id) and a bar ``"<n> other reps (median)"`` at the others' median (a readable chart;
    the tables list every overloaded and idle rep)."""
    if len(utilisation) <= MAX_WORKLOAD_BARS:
        return utilisation
    order = utilisation.rename_axis("rep_id").reset_index().sort_values(
        ["utilisation", "rep_id"], ascending=[False, True], kind="mergesort")["rep_id"]
    keep = pd.concat([order.iloc[:WORKLOAD_EDGE], order.iloc[-WORKLOAD_EDGE:]])
    rest = utilisation.drop(keep)
    return pd.concat([utilisation.loc[keep.iloc[:WORKLOAD_EDGE]],
                      pd.Series({f"{len(rest)} other reps (median)": float(rest.median())}),
                      utilisation.loc[keep.iloc[WORKLOAD_EDGE:]]]).rename(utilisation.name)


def coverage_tables(load: pd.DataFrame, moves: pd.DataFrame, load_after: pd.DataFrame, *, reps=None,
                    customers=None, params=None) -> list:
    """The workload chart (one named bar per rep, idle and overload lines), the overloaded
    and idle reps, and the suggested moves (or a sentence); names beside the ids when
    ``reps`` / ``customers`` are given; ``params`` (the norms used) gives the thresholds."""
    from IPython.display import Markdown

    from salesplan.reports import charts

    if load is None:
        return [Markdown(f"**Note.** {NO_ROSTER_NOTES['coverage']}")]
    idle, over = (params.idle, params.overload) if params is not None else (0.7, 1.1)
    lt = load.reset_index().sort_values(["utilisation", "rep_id"], ascending=[False, True], ignore_index=True)
    lt["after_moves"] = lt["rep_id"].map(load_after["utilisation"])
    basis = getattr(params, "basis", "default norms")
    out = [charts.hbar_chart(
        workload_bars(lt.set_index("rep_id")["utilisation"]),
        names=None if reps is None else reps.drop_duplicates("rep_id").set_index("rep_id")["name"],
        thresholds={f"idle below {pct(idle, 0)}": idle, f"overloaded above {pct(over, 0)}": over},
        title="Workload per rep: hours the accounts need / the role's hours per month",
        xlabel="utilisation (share of the role's hours per month)", ylabel="rep",
        percent=True)]
    cols = ["rep_id", "region", "role", "accounts", "a_accounts", "hours", "capacity", "utilisation", "status",
            "after_moves"]
    out.append(styled_table(_names(lt[lt["status"] != "ok"][[c for c in cols if c in lt.columns]], "rep_id", reps),
                            pct_cols=["utilisation", "after_moves"], int_cols=["accounts", "a_accounts"],
                            caption="Overloaded and idle reps (hours per month needed and available for the "
                                    f"role, norms from {basis}; utilisation before and after the suggested moves)"))
    if len(moves):
        mv = moves.sort_values(["region", "from_rep", "customer_id"], ignore_index=True)
        mv = _names(_names(_names(mv, "customer_id", customers), "from_rep", reps, "from_rep_name"),
                    "to_rep", reps, "to_rep_name")
        out.append(styled_table(mv, pct_cols=["from_util_before", "to_util_before"],
                                caption=f"Suggested account moves within each region and role ({len(moves)}; "
                                        "A-class accounts keep their rep; hours per month)", max_rows=40))
    else:
        out.append(Markdown("No account move is needed: no rep is overloaded while a colleague of the same role "
                            "in the region has room."))
    return out


def commission_tables(plan_c, cost_summary: pd.DataFrame) -> list:
    """The commission tiers and the sales-force pay at P10 / P50 / P90 (the one-line note
    without a roster: ``cost_summary`` ``None``)."""
    if cost_summary is None:
        from IPython.display import Markdown

        return [Markdown(f"**Note.** {NO_ROSTER_NOTES['commission']}")]
    tiers = pd.DataFrame({"from monthly sales": [t for t, _ in plan_c.tiers],
                          "to": [t for t, _ in plan_c.tiers[1:]] + [np.nan],
                          "rate": [r for _, r in plan_c.tiers]})
    cs = cost_summary.loc[["P10", "P50", "P90", "mean"]].rename_axis("scenario").reset_index()
    return [styled_table(tiers, money_cols=["from monthly sales", "to"], pct_cols=["rate"],
                         caption="Commission tiers (per rep and month, company currency; the rate applies to the "
                                 "part of sales within the tier)"),
            styled_table(cs[["scenario", "sales", "commission", "pay", "cost_of_sales"]],
                         money_cols=["sales", "commission", "pay"], pct_cols=["cost_of_sales"],
                         caption="Sales-force pay in the quarter at P10 / P50 / P90 of simulated sales (company "
                                 "currency; pay = base + commission; each column is its own percentile)")]


#: The quota-to-OTE table lists every rep up to this many; a larger sales force: the reps
#: outside the band only (the workbook's sheet holds every rep).  At 6,709 reps the whole
#: table was 5.7 MB of the report's 6.8 MB notebook and ~3 s of its rendering.
MAX_OTE_ROWS = 200


def ote_table(ote_check: pd.DataFrame, cost_per_rep: pd.DataFrame, *, ote_low: float, ote_high: float,
              reps=None) -> list:
    """The quota-to-OTE sentence and the per-rep table, lowest ratio first (rep names
    beside the ids when ``reps`` is given); beyond :data:`MAX_OTE_ROWS` reps the table
    lists the reps outside the band (at most that many; the table's note says how many
    more) and the sentence counts every rep.  Nothing without a roster (``None``)."""
    from IPython.display import Markdown

    if ote_check is None:
        return []

    ote = ote_check.reset_index().merge(cost_per_rep[["commission_p50", "attainment_p50"]].reset_index(), on="rep_id")
    ote = ote.sort_values(["ratio", "rep_id"], ignore_index=True)
    bands = pd.Series(np.where(ote["flag"] == "", "in band", ote["flag"])).value_counts()
    n_reps = len(ote)
    caption = "Quota-to-OTE per rep for the quarter (company currency), lowest ratio first"
    if n_reps > MAX_OTE_ROWS:
        ote = ote[ote["flag"] != ""]
        caption = ("Quota-to-OTE of the reps outside the band for the quarter (company currency), lowest ratio "
                   "first (every rep is in the workbook)")
    return [Markdown(f"Of {n_reps} reps with a quota, {bands.get('in band', 0)} are inside "
                     f"{ote_low:g}-{ote_high:g}x, {bands.get('low', 0)} below and {bands.get('high', 0)} above."),
            styled_table(_names(ote[["rep_id", "region", "quota", "ote", "ratio", "flag", "commission_p50",
                                     "attainment_p50"]], "rep_id", reps),
                         money_cols=["quota", "ote", "commission_p50"], pct_cols=["attainment_p50"],
                         caption=caption, max_rows=MAX_OTE_ROWS)]


def show(items) -> None:
    """Show each item in order: a chart with :func:`salesplan.reports.charts.show`, anything
    else with IPython's ``display``."""
    from IPython.display import display
    from matplotlib.figure import Figure

    from salesplan.reports import charts

    for item in items:
        if isinstance(item, Figure):
            charts.show(item)
        else:
            display(item)
