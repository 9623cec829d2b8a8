"""Presentation of the review notebooks (03b pipeline, 06 weekly review, 07 quarter review).

Headline texts, headline figures, table labels and the few charts these notebooks draw;
the numbers come from :mod:`salesplan.planning.pipeline_review`,
:mod:`salesplan.planning.weekly` and :mod:`salesplan.planning.quarter_review`.  Nothing here
computes a business figure: only wording and layout.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from salesplan.reports import charts
from salesplan.reports.format import money, number, pct

__all__ = [
    "commission_caption",
    "commission_view",
    "demo_actuals_source",
    "diagnosis_view",
    "kpi_board_view",
    "landing_chart",
    "landing_view",
    "lead_rate_chart",
    "not_ready_text",
    "pace_view",
    "pipeline_headlines",
    "pipeline_region_chart",
    "process_view",
    "quarter_headlines",
    "ranking_view",
    "region_revenue_chart",
    "reliability_chart",
    "replan_views",
    "reps_off_pace_view",
    "root_cause_view",
    "stale_stage_note",
    "weekly_headlines",
]


# ----------------------------------------------------------------------------- 03b pipeline

def pipeline_headlines(review, conversion_floor: float) -> tuple[str, dict]:
    """Answer and headline figures of notebook 03b.

    Parameters
    ----------
    review : salesplan.planning.pipeline_review.PipelineReview
    conversion_floor : float
        The 30% rule's floor (fraction).

    Returns
    -------
    (str, dict)
        The answer (one sentence per section that is on, or a line saying both are off)
        and the figures for :func:`salesplan.reports.publish_headlines`.
    """
    lines, figures = [], {}
    lr, pp = review.leads, review.pipeline
    if lr is not None:
        below = lr.by_source[lr.by_source["below_floor"]]["source"].tolist()
        n_rep_below = int(lr.by_rep["below_floor"].sum())
        lines.append(
            f"{pct(lr.overall_rate)} of resolved leads became opportunities "
            f"({'above' if lr.overall_rate >= conversion_floor else 'under'} the "
            f"{pct(conversion_floor, 0)} floor); "
            + (f"source(s) {', '.join(below)} and " if below else "no source and ")
            + f"{number(n_rep_below)} rep(s) convert under it.")
        if len(lr.bant_effects):
            best = lr.bant_effects[lr.bant_effects["level"] == "yes"].sort_values("log_odds").iloc[-1]
            lines.append(f"A confirmed {best['item']} is the strongest BANT answer "
                         f"(odds x{best['odds_ratio']:.1f} against \"no\").")
        figures["Lead -> opportunity rate"] = f"{pct(lr.overall_rate)} (floor {pct(conversion_floor, 0)})"
        figures["Open leads"] = number(int((lr.leads["status"] == "open").sum()))
    if review.has_pipe:
        sc, total = pp.scored, pp.total
        lines.append(
            f"The {number(len(sc))} open deals ({money(sc['amount'].sum(), compact=True)}) should bring "
            f"{money(pp.expected_scored, compact=True)} won by {review.horizon_end:%Y-%m-%d} "
            f"(80% range {money(total.quantile(0.1), compact=True)}-{money(total.quantile(0.9), compact=True)}; "
            f"stage averages say {money(pp.expected_stage, compact=True)}); "
            f"{number(int(sc['stuck'].sum()))} are stuck.")
        figures["Open deals"] = f"{number(len(sc))} ({money(sc['amount'].sum(), compact=True)})"
        figures["Expected won by quarter end (scored)"] = money(pp.expected_scored, compact=True)
        figures["Expected won by quarter end (stage averages)"] = money(pp.expected_stage, compact=True)
    if not lines:
        lines.append("No leads and no open pipeline in these data: both sections are off (see the notes).")
    if pp is not None and len(pp.metrics):
        m = pp.metrics.set_index("model")
        figures["Win-model AUC (holdout)"] = (f"{m.loc['scored', 'auc']:.3f} vs "
                                              f"{m.loc['stage_average', 'auc']:.3f} stage average")
        figures["Worst decile calibration gap"] = pct(m.loc["scored", "max_decile_gap"])
    return " ".join(lines), figures


def lead_rate_chart(by_source: pd.DataFrame, conversion_floor: float):
    """Bar chart of the lead -> opportunity rate per source with the floor as a dashed line."""
    fig = charts.bar_chart(by_source.set_index("source")["rate"].rename("lead -> opportunity rate"),
                           title="Lead -> opportunity rate by source", xlabel="lead source",
                           ylabel="converted / resolved leads (%)", percent=True)
    fig.axes[0].axhline(conversion_floor, color="#c0392b", linestyle="--", linewidth=1.2)
    fig.axes[0].text(-0.45, conversion_floor, f"floor {pct(conversion_floor, 0)}",
                     va="bottom", ha="left", color="#c0392b")
    return fig


def reliability_chart(calibration: pd.DataFrame):
    """Predicted vs observed win rate per decile of P(win), with the diagonal."""
    fig, ax = charts.new_figure("Predicted vs observed win rate by decile (holdout)",
                                "predicted P(win), decile mean (%)", "observed win rate (%)",
                                size=(6.0, 4.5))
    ax.plot([0, 1], [0, 1], color="#999999", linewidth=1, linestyle="--", label="perfect")
    ax.plot(calibration["predicted"], calibration["observed"], marker="o", label="scored")
    charts.pct_axis(ax.xaxis)
    charts.pct_axis(ax.yaxis)
    ax.legend(frameon=False)
    return fig


def pipeline_region_chart(by_region: pd.DataFrame, horizon_end):
    """Bars of the won value expected per region: stage averages vs scored deals (currency)."""
    return charts.bar_chart(
        by_region.set_index("region")[["expected_stage_average", "expected_scored"]]
        .rename(columns={"expected_stage_average": "stage averages", "expected_scored": "scored"}),
        title=f"Won value expected from the open pipeline by {pd.Timestamp(horizon_end):%Y-%m-%d}",
        xlabel="region", ylabel="expected won value (company currency)", money=True)


# ----------------------------------------------------------------------------- 06 weekly review

def demo_actuals_source(source_url: str, actuals_source: str | None) -> str | None:
    """The URL of the quarter in progress: ``actuals_source`` itself, or for ``"auto"`` the
    bundled demo's ``salesplan_demo_actuals.duckdb`` next to ``salesplan_demo.duckdb``
    (when ``source_url`` is that file and the actuals file exists), else None."""
    if actuals_source != "auto":
        return actuals_source
    demo = Path(source_url.split(":///", 1)[-1])
    bundled = demo.with_name("salesplan_demo_actuals.duckdb")
    return f"duckdb:///{bundled}" if demo.name == "salesplan_demo.duckdb" and bundled.exists() else None


def not_ready_text(last_order, period: str) -> str:
    """The one-line answer of a weekly review whose quarter has no orders yet."""
    q_start = pd.Period(period, freq="Q").start_time
    return (f"Nothing to review yet: the data end on {pd.Timestamp(last_order):%Y-%m-%d}, before {period} starts "
            f"({q_start:%Y-%m-%d}). Run this review once orders of {period} are in the data.")


def weekly_headlines(review, period: str, tolerance: float, interval: float) -> tuple[str, dict]:
    """Answer and headline figures of the weekly review (notebook 06).

    ``review`` is a :class:`salesplan.planning.weekly.WeeklyReview`; ``tolerance`` and
    ``interval`` are the notebook's parameters (fractions).
    """
    s, comp, cl, day = review.summary, review.company, review.company_landing, review.review_day
    behind_reps = int(((s["level"] == "rep") & (s["flag"] == "behind")).sum())
    n_reps = int((s["level"] == "rep").sum())
    word = "ahead of" if comp["gap"] > 0 else "behind"
    reps = (f"{behind_reps} of {n_reps} reps are more than {pct(tolerance, 0)} behind their pace. " if n_reps
            else "The plan has no rep quotas. ")
    answer = (f"On {day:%d %b %Y} ({pct(comp['pace_share'], 0)} of {period} by the plan's pace), the company has sold "
              f"{money(comp['actual_to_date'], compact=True)}, {pct(abs(comp['deviation']))} {word} the plan to date "
              f"({money(comp['expected_to_date'], compact=True)}). It is heading for {money(cl['landing'], compact=True)} "
              f"({pct(interval, 0)} range {money(cl['landing_lo'], compact=True)}–{money(cl['landing_hi'], compact=True)}) "
              f"against a target of {money(cl['target'], compact=True)}: the chance of making it is "
              f"{pct(cl['p_make_target'], 0)}. {reps}Plan used: {review.record.note}.")
    figures = {
        f"Actual {period} to {day:%d %b}": money(comp["actual_to_date"], compact=True),
        "Plan to date (seasonal pace)": money(comp["expected_to_date"], compact=True),
        "Deviation from plan to date": pct(comp["deviation"], signed=True),
        f"Landing forecast {period}": money(cl["landing"], compact=True),
        f"Landing range ({pct(interval, 0)})": f"{money(cl['landing_lo'], compact=True)} – {money(cl['landing_hi'], compact=True)}",
        "Company target": money(cl["target"], compact=True),
        "Chance of making the target now": pct(cl["p_make_target"], 0),
        f"Regions beyond ±{pct(tolerance, 0)}": number(int(((s["level"] == "region") & (s["flag"] != "")).sum())),
        f"Reps behind by more than {pct(tolerance, 0)}": f"{behind_reps} of {n_reps}",
        "Plan of record": "approved" if review.record.approved else "none approved (latest plan used)",
    }
    return answer, figures


def _flag_words(tolerance: float) -> dict:
    return {"": "", "ahead": f"ahead > {tolerance:.0%}", "behind": f"behind > {tolerance:.0%}"}


def pace_view(summary: pd.DataFrame, tolerance: float) -> pd.DataFrame:
    """Company and region rows of the pace table with reader labels."""
    top = summary[summary["level"].isin(["company", "region"])]
    return pd.DataFrame({"": np.where(top["level"] == "company", "Company", top["entity"]),
                         "quarter target": top["plan_quarter"], "plan to date": top["expected_to_date"],
                         "actual to date": top["actual_to_date"], "gap": top["gap"], "deviation": top["deviation"],
                         "flag": top["flag"].map(_flag_words(tolerance))})


def reps_off_pace_view(summary: pd.DataFrame, names: pd.Series | None, tolerance: float) -> pd.DataFrame:
    """Reps flagged by the 15% rule (behind first, then by deviation) with reader labels."""
    rs = summary[(summary["level"] == "rep") & (summary["flag"] != "")].sort_values(["flag", "deviation"])
    return pd.DataFrame({"region": rs["region"], "rep": rs["entity"],
                         "name": rs["entity"].map(names).fillna("") if names is not None else "",
                         "quota to date": rs["expected_to_date"], "actual to date": rs["actual_to_date"],
                         "deviation": rs["deviation"], "flag": rs["flag"].map(_flag_words(tolerance))})


def root_cause_view(root_causes: pd.DataFrame, top: int = 3, names: pd.Series | None = None) -> pd.DataFrame:
    """The ``top`` root causes of each dimension (region, rep, product line) with reader labels;
    a rep is shown as ``"R0050 Ann Lee"`` when ``names`` (rep_id -> name) has him."""
    dims = {"region": "region", "rep": "rep", "product_line": "product line"}
    rc = root_causes
    t = (rc[rc["dimension"].isin(dims)].sort_values(["dimension", "rank"]).groupby("dimension").head(top)
         .assign(dimension=lambda d: d["dimension"].map(dims)))
    if names is not None:
        named = t["entity"].map(names)
        t = t.assign(entity=[f"{e} {n}" if d == "rep" and isinstance(n, str) and n else e
                             for e, n, d in zip(t["entity"], named, t["dimension"])])
    return t[["dimension", "entity", "expected", "actual", "contribution", "share_of_gap", "flag"]].rename(
        columns={"entity": "where", "expected": "plan to date", "actual": "actual to date",
                 "contribution": "contribution to the gap", "share_of_gap": "share of the gap"})


def landing_view(landing: pd.DataFrame, interval: float) -> tuple[pd.DataFrame, list[str]]:
    """The landing forecast with reader labels, and its money columns."""
    lo, hi = f"low ({(1 - interval) / 2:.0%})", f"high ({(1 + interval) / 2:.0%})"
    lt = landing
    view = pd.DataFrame({"": np.where(lt["entity"] == "total", "Company", lt["entity"]),
                         "actual to date": lt["actual_to_date"], "forecast pace to date": lt["expected_to_date"],
                         "expected rest": lt["remaining"], "landing": lt["landing"], lo: lt["landing_lo"],
                         hi: lt["landing_hi"], "target": lt["target"], "landing − target": lt["gap_to_target"],
                         "chance of target": lt["p_make_target"]})
    return view, ["actual to date", "forecast pace to date", "expected rest", "landing", lo, hi, "target",
                  "landing − target"]


def landing_chart(landing: pd.DataFrame, period: str, review_day):
    """Bars per region: actual to date, landing forecast and target (currency)."""
    lc = landing[landing["entity"] != "total"].set_index("entity")
    return charts.bar_chart(
        lc[["actual_to_date", "landing", "target"]].rename_axis(None).rename(
            columns={"actual_to_date": "actual to date", "landing": "landing forecast", "target": "target"}),
        title=f"{period} by region: actual to {pd.Timestamp(review_day):%d %b}, landing forecast and target",
        xlabel="region", ylabel="net revenue per quarter (company currency)", money=True)


def replan_views(replan, rates, review_day) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The observed funnel rates and the stage entries needed per remaining week (rounded up)."""
    w = replan.weeks[replan.weeks["week_start"] > pd.Timestamp(review_day) - pd.Timedelta(days=7)]
    w = w.groupby(["week_start", "stage"], sort=False)["needed"].sum().unstack().fillna(0.0)
    w = w[[x for x in [*rates.stages, "won"] if x in w.columns]].sort_index()
    w.index = pd.to_datetime(w.index).strftime("%Y-%m-%d")
    rt = rates.to_frame()[["stage", "conversion", "duration_days", "n_resolved"]].rename(
        columns={"conversion": "converts to next (observed)", "duration_days": "days in stage",
                 "n_resolved": "opportunities observed"})
    return rt, np.ceil(w - 1e-9).astype(int).rename_axis("week starting")


def stale_stage_note(stage_end, period: str) -> str | None:
    """A note when the stage history ends before the quarter under review, else None."""
    if stage_end is None or pd.Timestamp(stage_end) >= pd.Period(period, freq="Q").start_time:
        return None
    return (f"*Note:* the stage history in the data ends on {pd.Timestamp(stage_end):%Y-%m-%d}, before the quarter: "
            "the rates are those observed up to then, and no entry of this quarter is known yet.")


# ----------------------------------------------------------------------------- 07 quarter review

def quarter_headlines(review, quota_note: str) -> tuple[str, dict]:
    """Answer and headline figures of the quarter-end rep review (notebook 07).

    ``review`` is a :class:`salesplan.planning.quarter_review.QuarterReview`; ``quota_note``
    says where the quotas came from (:func:`salesplan.planning.quarter_review.quarter_quotas`).
    """
    q, co, kpis = review.quarter, review.company, review.kpis
    top3 = review.ranked.head(3)
    cost = review.totals["pay"].sum()
    drivers = review.first_reasons()
    n_missed = int(review.missed.sum())
    answer = (f"In {q} the company sold {money(co['revenue'], compact=True)} ({pct(co['growth_yoy'], signed=True)} on "
              f"{q - 4}). {n_missed} of {len(kpis)} reps missed ({quota_note}); the most common first reason: "
              f"{drivers.index[0].replace('_', ' ') if len(drivers) else 'none measurable'}. Top performers: "
              f"{', '.join((top3['rep_id'] + ' ' + top3['name'].fillna('')).str.strip())}. Commission and base pay cost "
              f"{money(cost, compact=True)}, {pct(cost / co['revenue'])} of sales.")
    return answer, {
        f"Revenue {q}": money(co["revenue"], compact=True),
        f"Growth on {q - 4}": pct(co["growth_yoy"], signed=True),
        "Growth last month on the month before": pct(co["growth_mom"], signed=True),
        "Reps who missed": f"{n_missed} of {len(kpis)}",
        "Revenue per rep (sales efficiency)": money(co["revenue_per_rep"], compact=True),
        "Pay (base + commission) / revenue": pct(cost / co["revenue"]),
        "Collection rate": pct(co["collection_rate"]),
        "Retention of last quarter's customers": pct(co["retention"]),
        "Average order value": money(co["aov"]),
    }


def ranking_view(ranked: pd.DataFrame, quarter) -> pd.DataFrame:
    """Result KPIs per rep in rank order, with reader labels (growth labelled by the year-ago quarter)."""
    q = pd.Period(quarter, freq="Q")
    show = ranked[["rank", "rep_id", "name", "region", "level", "revenue", "quota", "attainment", "growth_yoy",
                   "growth_mom", "aov", "new_customers", "retention", "collection_rate", "tie_note"]]
    return show.rename(columns={"rep_id": "rep", "growth_yoy": f"vs {q - 4}", "growth_mom": "last month vs before",
                                "aov": "avg order", "new_customers": "new customers", "collection_rate": "collected",
                                "tie_note": "tie"})


def process_view(ranked: pd.DataFrame) -> pd.DataFrame:
    """Process KPIs per rep with reader labels."""
    proc = ranked[["rep_id", "name", "visits", "calls", "opps_created", "lead_conversion", "quote_success",
                   "win_rate", "cycle_days", "funnel_depth"]]
    return proc.rename(columns={"rep_id": "rep", "opps_created": "new opportunities",
                                "lead_conversion": "lead → opportunity (12 m)", "quote_success": "quote success (12 m)",
                                "win_rate": "win rate (12 m)", "cycle_days": "days to win",
                                "funnel_depth": "open at E/D/C at start"})


def diagnosis_view(diagnosis: pd.DataFrame) -> pd.DataFrame:
    """The driver diagnosis with the rep's id and name in one column and reader labels."""
    d = diagnosis.assign(who=diagnosis["rep_id"] + " " + diagnosis["name"].fillna(""))
    return d[["who", "region", "level", "rank", "reason", "rep_value", "peer_median", "peers", "improve",
              "time_box_days"]].rename(columns={"rep_value": "rep", "peer_median": "peers' median",
                                                "peers": "compared with", "time_box_days": "time box (days)"})


def commission_view(review) -> pd.DataFrame:
    """Sales, commission, base and pay per rep for the quarter, and pay / sales."""
    cs = review.totals.join(review.kpis.set_index("rep_id")[["name", "revenue"]]).reset_index()
    return cs[["rep_id", "name", "sales", "commission", "base", "pay"]].assign(
        pay_share=cs["pay"] / cs["sales"].where(cs["sales"] > 0)).rename(
        columns={"rep_id": "rep", "pay_share": "pay / sales"})


def commission_caption(quarter, plan, base_pay_per_month: float) -> str:
    """Caption naming the tiers and the base pay of the commission plan."""
    return (f"Commission {quarter}: " + ", ".join(f"{r:.0%} from {money(t, compact=True)}" for t, r in plan.tiers)
            + f" a month, base {money(base_pay_per_month)} a month (company currency)")


def kpi_board_view(board: pd.DataFrame) -> pd.DataFrame:
    """The KPI board by region with reader labels and the previous quarter's revenue."""
    cols = ["revenue", "growth_mom", "growth_yoy", "collection_rate", "retention", "aov", "new_customers",
            "cycle_days", "lead_conversion", "revenue_per_rep"]
    view = pd.DataFrame({"region": board["region"]})
    for c in cols:
        view[c] = board[c]
    view["revenue prev. quarter"] = board["revenue_prev"]
    view["revenue per rep prev."] = board["revenue_per_rep_prev"]
    return view.rename(columns={"growth_mom": "MoM", "growth_yoy": "YoY", "collection_rate": "collected",
                                "aov": "avg order", "new_customers": "new customers", "cycle_days": "days to win",
                                "lead_conversion": "lead conv.", "revenue_per_rep": "revenue per rep"})


def region_revenue_chart(board: pd.DataFrame, quarter):
    """Bars of revenue per region: the previous quarter and the quarter reviewed (currency)."""
    q = pd.Period(quarter, freq="Q")
    rb = board[board["region"] != "company"].set_index("region")
    return charts.bar_chart(
        rb[["revenue_prev", "revenue"]].rename_axis(None).rename(columns={"revenue_prev": f"{q - 1}", "revenue": f"{q}"}),
        title=f"Revenue by region, {q - 1} and {q}", xlabel="region",
        ylabel="net revenue per quarter (company currency)", money=True)
