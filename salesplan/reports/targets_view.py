"""Presentation of a target plan: the headline texts and the tables of the targets notebook.

Every function takes the plan's tables (:class:`salesplan.planning.targets.TargetPlan`)
and returns text or a :class:`salesplan.reports.format.Table`; none computes a plan
figure.  ``m`` is the notebook's amount formatter (:func:`money_in`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from salesplan.planning.fiscal_calendar import currency_label
from salesplan.reports.format import money, number, pct, styled_table

__all__ = ["company_rows", "flag_words", "how_set", "money_in", "month_table", "product_table",
           "region_table", "rep_situation", "rep_table", "scenario_table", "smart_tables",
           "targets_headlines", "bridge_rows"]


def money_in(currency: str):
    """The amount formatter with the currency: ``m(15.4e6, compact=True) == "USD 15.4 M"``."""
    cur = currency_label(currency)

    def m(x, compact=False):
        return money(x, symbol=f"{cur} ", compact=compact)
    return m


def flag_words(odds_low: float, odds_high: float) -> dict[str, str]:
    """Words of the odds flags: ``stretch`` -> low odds, ``sandbag`` -> high odds."""
    return {"": "", "stretch": f"low odds (<{odds_low:.0%})", "sandbag": f"high odds (>{odds_high:.0%})"}


def how_set(c, growth, target_probability: float, ly_name: str) -> str:
    """How the company target was set, in words (``c``: the company row)."""
    return {"board": "the board's number", "growth": f"{pct(growth, signed=True)} on {ly_name}",
            "probability": f"the target met with probability {target_probability:.0%}",
            "probability, floored at P50": f"set at the median forecast: the {target_probability:.0%}-probability "
                                           "figure lies below it"}[c["method"]]


def _established(reps: pd.DataFrame) -> pd.DataFrame:
    return reps[reps["established"] & ~reps["vacant"]] if len(reps) else reps


def targets_headlines(plan, *, quarter_name: str, ly_name: str, m, cur: str, growth, target_probability: float,
                      band: tuple[float, float], healthy: tuple[float, float], last_year: bool = True):
    """The answer and the headline figures of the targets notebook.

    Without rep quotas (``plan.reps`` empty) the rep sentences and figures are left out;
    without ``last_year`` growth on last year is not shown.
    """
    c = plan.company.iloc[0]
    (band_low, band_high), (healthy_low, healthy_high) = band, healthy
    how = how_set(c, growth, target_probability, ly_name)
    below = (f" It is {m(c['below_p50'], compact=True)} ({pct(c['below_p50'] / c['forecast_p50'], 1)}) BELOW the "
             f"median forecast of {m(c['forecast_p50'], compact=True)}: the company is expected to beat it."
             if c["below_p50"] > 0 else "")
    ly_text = f"; {pct(c['growth_vs_ly'], signed=True)} on {ly_name}" if last_year else ""
    answer = (f"Commit the company to {m(c['target'], compact=True)} in {quarter_name} ({how}{ly_text}), a "
              f"{pct(c['p_attain_target'], 0)} chance of being met.{below}")
    figures = {f"Company target {quarter_name} ({cur})": m(c["target"], compact=True),
               "How the target was set": c["method"]}
    if last_year:
        figures[f"Growth on {ly_name}"] = pct(c["growth_vs_ly"], signed=True)
    figures.update({
        f"Median (P50) forecast {quarter_name}": m(c["forecast_p50"], compact=True),
        "Target below the median forecast by": m(c["below_p50"], compact=True),
        "Pipeline not in the forecast": m(c["pipeline_increment"], compact=True),
        "Chance of meeting the company target": pct(c["p_attain_target"], 0)})
    if not len(plan.reps):
        answer += " No rep quotas: the data have no reps table; region targets add up to the company target."
        figures["Targets flagged (low or high odds)"] = f"{int((plan.regions['odds_flag'] != '').sum())} regions"
        return answer, figures
    share = c["rep_share_at_quota"]
    est = _established(plan.reps)
    answer += (f" Rep quotas add up to {m(c['quota'], compact=True)} (x{c['over_assignment']:.2f}); "
               f"{int(est['in_band'].sum())} of {len(est)} established reps carry a quota within "
               f"{band_low:g}-{band_high:g}x their own forecast. ")
    if healthy_low <= share <= healthy_high:
        answer += f"About {pct(share, 0)} of reps are expected to reach quota, inside the healthy band."
    else:
        answer += (f"About {pct(share, 0)} of reps are expected to reach quota, "
                   f"{'below' if share < healthy_low else 'above'} the healthy band "
                   f"{pct(healthy_low, 0)}–{pct(healthy_high, 0)}"
                   + (": with the target at or above the median forecast, no over-assignment can lift it."
                      if share < healthy_low and c["over_assignment"] == 1 else
                      ("." if share < healthy_low else ": quotas may be too easy.")))
    real = plan.reps[~plan.reps.vacant]
    figures.update({
        f"Sum of rep quotas (x{c['over_assignment']:.2f})": m(c["quota"], compact=True),
        "Established reps inside the fairness band": f"{int(est['in_band'].sum())} of {len(est)}",
        "Reps expected at quota": f"{pct(share, 0)} (healthy {pct(healthy_low, 0)}–{pct(healthy_high, 0)})",
        "Rep chances of making quota (lowest – highest)":
            f"{pct(real['p_attain_quota'].min(), 0)} – {pct(real['p_attain_quota'].max(), 0)}",
        "Targets flagged (low or high odds)": f"{int((plan.regions['odds_flag'] != '').sum())} regions, "
                                              f"{int((plan.reps['odds_flag'] != '').sum())} reps",
        "Vacancies": number(c["n_vacancies"])})
    return answer, figures


def company_rows(plan, *, how: str, quarter_name: str, ly_name: str, m, cur: str, last_year: bool = True):
    """The company-target table: last year, forecast, pipeline, target, quotas and odds."""
    c = plan.company.iloc[0]
    w_used = plan.assumptions.set_index("item").loc["pipeline_weights_used", "value"]
    w_words = {"scored": "each open deal's scored win probability", "stage": "stage-average win probabilities",
               "none": "no pipeline counted"}[w_used]
    rows = [
        (f"{ly_name} actual (same quarter last year)", m(c["last_year"]) if last_year else "not in the data"),
        ("Median (P50) forecast, carrying on", m(c["forecast_p50"])),
        ("Forecast range P10 – P90", f"{m(c['forecast_p10'])} – {m(c['forecast_p90'])}"),
        ("+ open pipeline not yet in the forecast", m(c["pipeline_increment"])),
        ("Pipeline weighted by", w_words),
        ("= Bottom-up (P50 + pipeline)", m(c["bottom_up"])),
        ("How the target is set", how),
        (f"Company target {quarter_name}", m(c["target"])),
        ("Stretch above the bottom-up", f"{m(c['stretch'])} ({pct(c['stretch'] / c['bottom_up'], signed=True)})"),
        ("Below the median forecast by", m(c["below_p50"])),
        (f"Growth on {ly_name}", pct(c["growth_vs_ly"], signed=True) if last_year else "–"),
        (f"Sum of quotas (x{c['over_assignment']:.2f})", m(c["quota"])),
        ("Chance of meeting the target", pct(c["p_attain_target"], 0)),
        ("Chance of meeting the sum of quotas", pct(c["p_attain_quota"], 0)),
    ]
    if len(plan.reps):
        rows.append(("Reps expected at quota (10%–90% range)",
                     f"{pct(c['rep_share_at_quota'], 0)} ({pct(c['rep_share_p10'], 0)}–{pct(c['rep_share_p90'], 0)})"))
    return styled_table(pd.DataFrame(rows, columns=["", "value"]), caption=f"Company target {quarter_name} ({cur})")


def bridge_rows(plan, last_year: bool = True) -> pd.DataFrame:
    """The bridge's rows to show: the plan's bridge, starting at the forecast when the same
    quarter last year is not in the data (its actual would read as zero)."""
    br = plan.bridge
    if last_year:
        return br
    br = br.iloc[1:].copy()
    br.iloc[0, br.columns.get_loc("kind")] = "total"
    br.iloc[0, br.columns.get_loc("amount")] = br.iloc[0]["cumulative"]
    return br.reset_index(drop=True)


def _regions(plan, last_year: bool) -> pd.DataFrame:
    """The plan's regions, sorted; without last year's quarter in the data its columns are missing."""
    reg = plan.regions.sort_values("region", ignore_index=True)
    return reg if last_year else reg.assign(last_year=np.nan, growth_vs_ly=np.nan)


def region_table(plan, *, ly_q, quarter_name: str, flags: dict, cur: str, last_year: bool = True):
    """Region targets: last year, forecast, target, uplift split, quota, odds, reps, flag."""
    reg = _regions(plan, last_year)
    show = pd.DataFrame({
        "region": reg["region"], "maturity": reg["maturity"], f"{ly_q} actual": reg["last_year"],
        "forecast": reg["forecast_mean"], "target": reg["target"], f"vs {ly_q}": reg["growth_vs_ly"],
        "uplift from existing accounts": reg["uplift_existing"], "uplift from new accounts": reg["uplift_new"],
        "quota": reg["quota"], "chance (target)": reg["p_attain_target"], "chance (quota)": reg["p_attain_quota"],
        "reps": reg["n_reps"], "vacancies": reg["n_vacancies"], "flag": reg["odds_flag"].map(flags)})
    return styled_table(show, money_cols=[f"{ly_q} actual", "forecast", "target", "uplift from existing accounts",
                                          "uplift from new accounts", "quota"],
                        pct_cols=[f"vs {ly_q}", "chance (target)", "chance (quota)"], int_cols=["reps", "vacancies"],
                        caption=f"Region targets {quarter_name} ({cur}; chance = probability of reaching it)")


def rep_situation(r) -> str:
    """A rep row's situation in words (vacancy, new hire ramping, part of the quarter ...)."""
    if r["status"] == "house_accounts":
        return "accounts without a current rep (held by the manager)"
    if r["vacant"]:
        return {"vacancy_after_exit": "vacancy after an exit (held by the manager)",
                "region_without_rep": "region without a rep (held by the manager)"}.get(
            r["status"], "vacancy (held by the manager)")
    if r["status"] == "no_book":
        return "no own forecast: review the territory"
    if r["ramp_avg"] < 1:
        return f"new hire ramping ({r['ramp_avg']:.0%} productive)"
    if r["presence"] < 1:
        return f"in post {r['presence']:.0%} of the quarter"
    if not r["established"]:
        return f"{int(r['history_quarters'])} quarters in post: by capacity"
    return ""


def rep_table(plan, *, flags: dict, min_history_quarters: int, band: tuple[float, float],
              quarter_name: str, cur: str):
    """The reps' summary sentence and their quota table (sorted by region, vacancy, rep)."""
    reps = plan.reps.sort_values(["region", "vacant", "rep_id"], ignore_index=True)
    show = pd.DataFrame({
        "region": reps["region"], "rep": reps["rep_id"], "name": reps["name"],
        "level": reps["level"].str.replace("_", " "), "situation": reps.apply(rep_situation, axis=1),
        "own forecast": reps["own_forecast"], "quota": reps["quota"],
        "quota / own forecast": reps["quota_vs_own_forecast"].map(lambda v: "–" if pd.isna(v) else f"{v:.2f}x"),
        "chance": reps["p_attain_quota"], "flag": reps["odds_flag"].map(flags)})
    if "overridden" in reps and reps["overridden"].any():  # the planner's quotas replace the proposal
        show["overridden"] = reps["overridden"].map({True: "planner's quota", False: ""})
    counts = show["flag"].value_counts()
    est = _established(reps)
    text = (f"**{int((~reps['vacant']).sum())} reps**: {int(counts.get(flags['stretch'], 0))} quotas with low odds, "
            f"{int(counts.get(flags['sandbag'], 0))} with high odds, "
            f"{int((show['situation'].str.startswith('new hire')).sum())} new hires ramping, "
            f"{int((reps['vacant'] & (reps['status'] != 'house_accounts')).sum())} vacancies. "
            f"Among the {len(est)} reps with {min_history_quarters}+ quarters in post, quota and own forecast "
            f"correlate at {np.corrcoef(est['quota'], est['own_forecast'])[0, 1]:.2f}, {int(est['in_band'].sum())} "
            f"sit inside the band {band[0]:g}–{band[1]:g}x, and their chances run from "
            f"{pct(est['p_attain_quota'].min(), 0)} to {pct(est['p_attain_quota'].max(), 0)}.")
    return text, styled_table(show, money_cols=["own forecast", "quota"], pct_cols=["chance"],
                              caption=f"Rep quotas {quarter_name}, by region ({cur})")


def product_table(plan, *, quarter_name: str, cur: str):
    """Targets by region (rows, with the company total) and product line (columns)."""
    pr = plan.products.pivot_table(index="region", columns="product_line", values="target", aggfunc="sum",
                                   fill_value=0.0)
    pr["region target"] = pr.sum(axis=1)
    pr.loc["Company"] = pr.sum(axis=0)
    return styled_table(pr.rename_axis("target"), money_cols=list(pr.columns), index=True,
                        caption=f"Targets by region and product line, {quarter_name} ({cur})")


def month_table(plan, *, quarter_name: str, cur: str):
    """Monthly targets of the company and the regions, with the quarter."""
    mo = plan.months[plan.months["level"].isin(["company", "region"])].copy()
    mo["month"] = pd.to_datetime(mo["month"]).dt.strftime("%b %Y")
    order = list(dict.fromkeys(mo["month"]))
    tab = mo.pivot_table(index="entity", columns="month", values="target", aggfunc="sum", sort=False)[order]
    tab["quarter"] = tab.sum(axis=1)
    tab = pd.concat([tab.loc[["total"]].rename(index={"total": "Company"}), tab.drop(index="total").sort_index()])
    return styled_table(tab.rename_axis("target"), money_cols=[*order, "quarter"], index=True,
                        caption=f"Monthly targets {quarter_name}, company and regions ({cur})")


def weekly_company(plan) -> pd.Series:
    """The company's weekly targets, indexed by the week's Monday (``"04 Jan"``)."""
    wk = plan.weeks[plan.weeks["level"] == "company"].sort_values("week_start")
    return pd.Series(wk["target"].to_numpy(), index=pd.to_datetime(wk["week_start"]).dt.strftime("%d %b"))


def smart_tables(plan):
    """The SMART summary (targets passing each criterion by level) and the failing targets
    (``None`` when every target passes)."""
    sm = plan.smart
    crit = ["specific", "measurable", "achievable", "relevant", "time_bound", "smart"]
    summary = sm.groupby("level", sort=False)[crit].sum().astype(int)
    summary.insert(0, "targets", sm.groupby("level", sort=False).size())
    summary = styled_table(summary.rename(columns={"time_bound": "time-bound", "smart": "all five"}), index=True,
                           caption="Targets passing each SMART criterion (count)")
    failing = sm[~sm["smart"]][["level", "entity", "target", "p_attain", "issues"]]
    if failing.empty:
        return summary, None
    return summary, styled_table(failing, money_cols=["target"], pct_cols=["p_attain"],
                                 caption="Targets that fail a criterion, and why")


_SCENARIO_METRICS = {
    "method": ("how the target is set", "text"), "target_probability": ("stated probability", "pct0"),
    "growth": ("growth goal on last year", "pct"), "over_assignment": ("over-assignment", "x"),
    "forecast_p50": ("median forecast", "money"), "bottom_up": ("bottom-up", "money"),
    "company_target": ("company target", "money"), "growth_vs_ly": ("target vs {ly}", "pct"),
    "company_quota": ("sum of quotas", "money"), "p_attain_target": ("chance: target", "pct0"),
    "p_attain_quota": ("chance: sum of quotas", "pct0"), "rep_share_at_quota": ("reps expected at quota", "pct0"),
    "share_band_ok": ("inside the healthy band", "bool"), "regions_flagged": ("regions flagged", "int"),
    "reps_flagged": ("reps flagged", "int"), "smart_fail": ("targets failing SMART", "int")}


def scenario_table(scen: pd.DataFrame, *, ly_name: str, quarter_name: str, m, cur: str):
    """The scenarios side by side (one column per scenario, one row per figure)."""
    fmt = {"pct": lambda v: "–" if v is None or pd.isna(v) else pct(v, signed=True), "pct0": lambda v: pct(v, 0),
           "money": m, "text": str, "x": lambda v: f"x{float(v):.2f}", "bool": lambda v: "yes" if bool(v) else "no",
           "int": number}
    rows = [{"": label.format(ly=ly_name), **{s: fmt[kind](scen.loc[key, s]) for s in scen.columns}}
            for key, (label, kind) in _SCENARIO_METRICS.items()]
    rows += [{"": f"target {k[7:-1]}", **{s: m(scen.loc[k, s]) for s in scen.columns}}
             for k in sorted(i for i in scen.index if i.startswith("target["))]
    return styled_table(pd.DataFrame(rows), caption=f"Scenarios for {quarter_name} ({cur})")


#: the funnel section's line when the data have no opportunities (funnel switched off)
FUNNEL_OFF_SECTION = ("*Switched off: this data has no `opportunities` table; add it to turn the funnel "
                      "back-calculation on (stage rates, opportunities needed, funnel gap and shape).*")


class FunnelOff:
    """Stands for the funnel rates when the funnel is switched off (no stages)."""

    stages: tuple = ()


def _markdown(text: str):
    from IPython.display import Markdown  # lazy: the views are tested without a kernel

    return Markdown(text)


def funnel_tables(funnel_regions, *, m, quarter_name: str, cur: str, quarter_start):
    """The funnel rates, the funnel gap by region and the weekly stage entries needed.

    ``funnel_regions`` ``None`` (no opportunities, :func:`salesplan.planning.features.quarter_plan`):
    ``(FunnelOff(), the one-line note, an empty note, None)``.
    """
    if funnel_regions is None:
        return FunnelOff(), _markdown(FUNNEL_OFF_SECTION), _markdown(""), None
    rates = funnel_regions.rates_for(funnel_regions.gap["entity"].iloc[0])
    rt = rates.to_frame()
    rates_t = styled_table(rt[["stage", "conversion", "duration_days", "win_probability", "lag_days",
                               "n_resolved"]].rename(
        columns={"conversion": "converts to next", "duration_days": "days in stage",
                 "win_probability": "chance of a win", "lag_days": "days to a win",
                 "n_resolved": "opportunities observed"}),
        pct_cols=["converts to next", "chance of a win"], int_cols=["opportunities observed"],
        caption=f"Funnel rates (average won deal {m(rates.deal_size)}; "
                f"{pct(funnel_regions.gap['funnel_share'].iloc[0])} of revenue comes through the funnel)")
    gap = funnel_regions.gap.sort_values("entity", ignore_index=True)
    gap_t = styled_table(pd.DataFrame({
        "region": gap["entity"], "target": gap["target"], "through the funnel": gap["funnel_target"],
        "wins needed": gap["wins_needed"], "expected from open pipeline": gap["pipeline_expected"],
        "still to find": gap["revenue_gap"], "new leads needed": np.ceil(gap["new_leads_needed"]),
        "last week to add leads": pd.to_datetime(gap["last_lead_week"]).dt.strftime("%Y-%m-%d")}),
        money_cols=["target", "through the funnel", "expected from open pipeline", "still to find"],
        int_cols=["new leads needed"], caption=f"Funnel gap by region, {quarter_name} ({cur}; counts of opportunities)")
    wks = funnel_regions.weeks.groupby(["week_start", "stage"], sort=False)["needed"].sum().unstack()
    stages = [s for s in [*rates.stages, "won"] if s in wks.columns]
    wks = wks[stages].sort_index().fillna(0.0)
    wks.index = pd.to_datetime(wks.index).strftime("%Y-%m-%d")
    weeks_t = styled_table(np.ceil(wks - 1e-9).astype(int).rename_axis("week starting"), index=True,
                           caption=(f"Opportunities that must enter each stage per week, all regions (rounded up); "
                                    f"weeks before {pd.Timestamp(quarter_start):%Y-%m-%d} are entries needed "
                                    "before the quarter starts"))
    return rates, rates_t, gap_t, weeks_t


_SHAPE_WORDS = {"healthy": "healthy", "piled_up": "piled up at C", "gap_coming": "thin at C: gap coming",
                "empty": "empty"}


def funnel_shape_table(shape: pd.DataFrame | None, stages, history_end):
    """Open opportunities by stage with the funnel's shape and advice, per region (an empty
    note when ``shape`` is ``None``: the funnel is switched off and :func:`funnel_tables` said so)."""
    if shape is None:
        return _markdown("")
    n_cols = [f"n_{s}" for s in stages]
    show = (shape[["entity", *n_cols, "n_open"]].assign(shape=shape["shape"].map(_SHAPE_WORDS), advice=shape["advice"])
            .rename(columns={**{f"n_{s}": f"open at {s}" for s in stages}, "entity": "region", "n_open": "open"}))
    return styled_table(show, int_cols=[f"open at {s}" for s in stages] + ["open"],
                        caption=f"Funnel shape on {pd.Timestamp(history_end):%Y-%m-%d}: open opportunities by stage")


def monitor_views(mon, *, name: str, tolerance: float, review_day, m, cur: str, reps: pd.DataFrame | None):
    """The monitoring section: the sentence, company and region table, reps beyond the
    tolerance, where the gap came from, and the funnel stage entries (``None`` without)."""
    s = mon.summary
    rep_names = reps.set_index("rep_id")["name"] if reps is not None else pd.Series(dtype=str)
    cm = s[s["level"] == "company"].iloc[0]
    text = (f"**{name}**, reviewed at its end ({pd.Timestamp(review_day):%Y-%m-%d}): actual "
            f"{m(cm['actual_to_date'], compact=True)} against a plan of {m(cm['expected_to_date'], compact=True)} "
            f"({pct(cm['deviation'], signed=True)}). {int((s['flag'] != '').sum())} of {len(s)} targets deviate by "
            f"more than {pct(tolerance, 0)}.")
    flag_w = {"": "", "ahead": f"ahead > {tolerance:.0%}", "behind": f"behind > {tolerance:.0%}"}
    top = s[s["level"].isin(["company", "region"])]
    top_t = styled_table(pd.DataFrame({"": np.where(top["level"] == "company", "Company", top["entity"]),
                                       "plan": top["expected_to_date"], "actual": top["actual_to_date"],
                                       "gap": top["gap"], "deviation": top["deviation"],
                                       "flag": top["flag"].map(flag_w)}),
                         money_cols=["plan", "actual", "gap"], pct_cols=["deviation"],
                         caption=f"{name}: actual vs plan, company and regions ({cur})")
    rs = s[(s["level"] == "rep") & (s["flag"] != "")].sort_values(["region", "entity"])
    reps_t = styled_table(pd.DataFrame({"region": rs["region"], "rep": rs["entity"],
                                        "name": rs["entity"].map(rep_names).fillna(""),
                                        "quota": rs["expected_to_date"], "actual": rs["actual_to_date"],
                                        "deviation": rs["deviation"], "flag": rs["flag"].map(flag_w)}),
                          money_cols=["quota", "actual"], pct_cols=["deviation"],
                          caption=f"{name}: reps beyond the tolerance (against their quota, {cur})")
    rc = mon.root_causes
    dims = {"region": "region", "rep": "rep", "product_line": "product line"}
    top_rc = (rc[rc["dimension"].isin(dims)].sort_values(["dimension", "rank"]).groupby("dimension").head(3)
              .assign(dimension=lambda d: d["dimension"].map(dims)))
    rc_t = styled_table(top_rc[["dimension", "entity", "expected", "actual", "contribution", "share_of_gap",
                                "flag"]].rename(columns={"entity": "where", "contribution": "contribution to the gap",
                                                         "share_of_gap": "share of the gap"}),
                        money_cols=["expected", "actual", "contribution to the gap"], pct_cols=["share of the gap"],
                        caption=f"{name}: where the gap came from (top 3 per dimension, {cur})")
    funnel_t = None
    if mon.funnel is not None:
        funnel_t = styled_table(mon.funnel.rename(columns={"planned_to_date": "planned entries",
                                                           "actual_to_date": "actual entries",
                                                           "shortfall": "shortfall",
                                                           "revenue_at_risk": "revenue at risk"}),
                                money_cols=["revenue at risk"],
                                caption=f"{name}: funnel stage entries, plan vs actual "
                                        f"(opportunities; revenue in {cur})")
    return text, top_t, reps_t, rc_t, funnel_t


def bridge_views(plan, *, last_year: bool, ly_name: str, quarter_name: str, cur: str):
    """The bridge table and its waterfall chart (:func:`bridge_rows`)."""
    from salesplan.reports import charts

    br = bridge_rows(plan, last_year)
    start = ly_name if last_year else "the forecast"
    table = styled_table(br[["step", "amount", "cumulative"]].rename(columns={"amount": "step amount",
                                                                             "cumulative": "running total"}),
                         money_cols=["step amount", "running total"],
                         caption=f"Bridge from {start} to the {quarter_name} target and the sum of quotas ({cur})")
    fig = charts.waterfall_chart(br, title=f"From {start} to the {quarter_name} target and quotas",
                                 xlabel="step", ylabel=f"net revenue per quarter ({cur})")
    return table, fig


def region_chart(plan, *, ly_q, quarter_name: str, cur: str, last_year: bool = True):
    """Bars of each region's last-year quarter (when in the data), forecast and target."""
    from salesplan.reports import charts

    reg = plan.regions.sort_values("region", ignore_index=True)
    cols = ["last_year", "forecast_mean", "target"] if last_year else ["forecast_mean", "target"]
    return charts.bar_chart(
        reg.set_index("region")[cols].rename_axis(None).rename(
            columns={"last_year": f"{ly_q} actual", "forecast_mean": "forecast", "target": "target"}),
        title=f"Regions: last year, forecast and target for {quarter_name}",
        xlabel="region", ylabel=f"net revenue per quarter ({cur})", money=True)
