"""Headlines and tables of the resource report (issue 17, items 2-3): period and unit in every
headline, the limit-bound budget said, names beside ids, the roster parts off without reps."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest

from salesplan.reports import allocation_view as av


def _marketing(binding=("max", "min", "", "max"), regret=(0.0, 0.0, 0.001)):
    regions = ["Central", "East", "North", "South"]
    table = pd.DataFrame({"spend": [150.0, 50.0, 120.0, 180.0], "binding": list(binding)}, index=regions)
    comparison = pd.DataFrame({"response": [1100.0, 1000.0, 880.0]}, index=["optimised", "status quo", "80% rule"])
    return SimpleNamespace(error=None, budget=500.0, best=SimpleNamespace(table=table), comparison=comparison,
                           status_quo=pd.Series([100.0, 100.0, 120.0, 120.0], index=regions),
                           scenarios=pd.DataFrame({"regret": list(regret)}))


def _roster():
    headcount = pd.DataFrame({"region": ["East", "North"], "headcount_needed": [5, 3], "reps_today": [4, 3],
                              "gap": [1, 0]})
    hires = pd.DataFrame({"region": ["East"], "hires": [2]})
    load = pd.DataFrame({"status": ["overloaded", "idle", "ok", "ok"]}, index=["R1", "R2", "R3", "R4"])
    moves = pd.DataFrame({"customer_id": ["C1"]})
    cost = pd.DataFrame({"pay": [90.0, 100.0, 110.0], "commission": [9.0, 10.0, 11.0],
                         "cost_of_sales": [0.1, 0.125, 0.15]}, index=["P10", "P50", "P90"])
    ote = pd.DataFrame({"flag": ["", "low", ""]})
    return dict(headcount=headcount, hires=hires, load=load, moves=moves, cost_summary=cost, ote_check=ote)


def test_limit_bound_regions_are_named():
    lim = av.budget_limits(_marketing(), max_change=0.5)
    assert lim == {"up": ["Central", "South"], "down": ["East"], "free": ["North"], "n": 4}
    text = av.budget_limit_text(_marketing(), max_change=0.5, curve_error=0.2)
    assert text.startswith("The split is limit-bound: 3 of 4 regions sit at the ±50% limit "
                           "(Central, South at +50%; East at -50%)")
    assert "only North is set by the curves" in text
    # median regret of 0, 0, 0.001 is 0: worded as the limit deciding, not as certainty
    assert "(0.00%) is small because the bound regions stay at the limit, not because the curves are certain" in text
    two_free = av.budget_limit_text(_marketing(binding=("max", "", "", "max")), max_change=0.5, curve_error=0.2)
    assert "(Central, South at +50%), so the limit, not the curves, sets their spend; only East and North are set" \
        in two_free
    free = av.budget_limit_text(_marketing(binding=("", "", "", "")), max_change=0.5, curve_error=0.2)
    assert free == "No region sits at the ±50% limit: the curves alone set the split."


def test_headlines_say_period_unit_and_the_limit():
    answer, figures = av.allocation_headlines(company_target=1_000_000, marketing=_marketing(), curve_error=0.2,
                                              ote_low=4, ote_high=6, period="2027Q1", max_change=0.5, **_roster())
    assert "target of 2027Q1 the regions need 8 reps against 7 today (East +1); the hiring plan opens 2 positions." \
        in answer
    # 1100 / 1000 - 1 = +10.0%; 1100 / 880 - 1 = +25.0%
    assert "earns +10.0% incremental margin against the status quo and +25.0% against" in answer
    assert "3 of 4 regions sit at the ±50% limit, so the limit sets their spend." in answer
    assert "Against their role's norm, 1 of 4 reps are overloaded and 1 idle; 1 account moves" in answer
    assert figures["Regions at the ±50% limit (of 4)"] == "3 (Central, South, East)"
    assert figures["Margin lost if curves are off by ±20% (median, % of attainable margin, limit-bound split)"] \
        == "0.00%"
    assert figures["Overloaded / idle reps (of 4, hours against the role's norm)"] == "1 / 1"
    assert figures["Reps needed / on the roster (2027Q1, headcount)"] == "8 / 7"
    assert figures["Cost of sales (2027Q1, pay / sales, P50)"] == "12.5%"
    assert figures["Reps outside quota-to-OTE 4-6x (reps)"] == "1"
    for label in figures:  # every figure names a period or a unit
        assert "2027Q1" in label or "(" in label, label


def test_headlines_without_a_roster_say_each_part_is_off():
    answer, figures = av.allocation_headlines(company_target=1_000_000, marketing=_marketing(), curve_error=0.2,
                                              ote_low=4, ote_high=6, period="2027Q1", headcount=None, hires=None,
                                              load=None, moves=None, cost_summary=None, ote_check=None)
    for note in av.NO_ROSTER_NOTES.values():
        assert note in answer
    assert "Regions at the ±50% limit (of 4)" in figures
    assert not any("Reps" in k or "reps" in k for k in figures)
    assert [type(x).__name__ for x in av.headcount_tables(None)] == ["Markdown"]
    assert av.hiring_tables(None, None) == () and av.ote_table(None, None, ote_low=4, ote_high=6) == []
    assert av.coverage_tables(None, None, None)[0].data == f"**Note.** {av.NO_ROSTER_NOTES['coverage']}"
    assert av.commission_tables(None, None)[0].data == f"**Note.** {av.NO_ROSTER_NOTES['commission']}"


def test_coverage_tables_show_names_and_the_workload_bars():
    from matplotlib.figure import Figure

    from salesplan.planning.allocation import CoverageParams

    load = pd.DataFrame({"region": ["East", "East", "East"], "role": ["junior"] * 3, "accounts": [3, 1, 2],
                         "a_accounts": [0, 0, 0], "hours": [3.0, 0.5, 2.0], "capacity": [2.0] * 3,
                         "utilisation": [1.5, 0.25, 1.0], "status": ["overloaded", "idle", "ok"]},
                        index=pd.Index(["R1", "R2", "R3"], name="rep_id"))
    after = load.assign(utilisation=[1.0, 0.75, 1.0])
    moves = pd.DataFrame({"customer_id": ["C9"], "region": ["East"], "abc_class": ["B"], "hours": [1.0],
                          "from_rep": ["R1"], "to_rep": ["R2"], "from_util_before": [1.5], "to_util_before": [0.25]})
    reps = pd.DataFrame({"rep_id": ["R1", "R2", "R3"], "name": ["Ann Lee", "Bo Chen", "Cy Diaz"]})
    customers = pd.DataFrame({"customer_id": ["C9"], "name": ["Acme Ltd"]})
    out = av.coverage_tables(load, moves, after, reps=reps, customers=customers, params=CoverageParams(idle=0.6))
    fig = out[0]
    assert isinstance(fig, Figure) and fig.axes[0].get_xlim()[0] <= 0
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert set(labels) == {"Ann Lee (R1)", "Bo Chen (R2)", "Cy Diaz (R3)"}
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()] if fig.axes[0].get_legend() else \
        [t.get_text() for lg in fig.legends for t in lg.get_texts()]
    assert "idle below 60%" in legend and "overloaded above 110%" in legend
    flagged, mv = out[1].data, out[2].data
    assert list(flagged["rep_id"]) == ["R1", "R2"] and list(flagged["rep_name"]) == ["Ann Lee", "Bo Chen"]
    assert mv.loc[0, "customer_name"] == "Acme Ltd"
    assert (mv.loc[0, "from_rep_name"], mv.loc[0, "to_rep_name"]) == ("Ann Lee", "Bo Chen")


def test_allocation_tables_leave_out_the_roster_parts_that_are_off():
    from salesplan.planning.allocation.quarter import allocation_tables

    mk = SimpleNamespace(tables=lambda: {"budget_split": pd.DataFrame({"region": ["A"], "spend": [1.0]})})
    out = allocation_tables(marketing=mk)
    assert list(out) == ["budget_split"]
    load = pd.DataFrame({"status": ["ok"]}, index=pd.Index(["R1"], name="rep_id"))
    out = allocation_tables(load=load, moves=pd.DataFrame({"customer_id": []}), marketing=mk)
    assert list(out) == ["coverage_load", "account_moves", "budget_split"]
    assert out["coverage_load"]["rep_id"].tolist() == ["R1"]


def test_the_flagged_reps_caption_says_where_the_norms_come_from():
    from salesplan.planning.allocation import CoverageParams

    load = pd.DataFrame({"region": ["East"], "role": ["junior"], "accounts": [1], "a_accounts": [0], "hours": [0.1],
                         "capacity": [1.0], "utilisation": [0.1], "status": ["idle"]},
                        index=pd.Index(["R1"], name="rep_id"))
    out = av.coverage_tables(load, pd.DataFrame(), load,
                             params=CoverageParams(basis="observed activity of the 12 months to 2026-12-31"))
    assert "norms from observed activity of the 12 months to 2026-12-31" in out[1].caption


def test_a_large_sales_force_gets_the_most_and_least_loaded_reps_and_one_bar_for_the_others():
    util = pd.Series([i / 100 for i in range(70)], index=[f"R{i:02d}" for i in range(70)], name="utilisation")
    bars = av.workload_bars(util.sample(frac=1.0, random_state=1))
    assert len(bars) == 51 and bars.name == "utilisation"
    assert list(bars.index[:25]) == [f"R{i:02d}" for i in range(69, 44, -1)]
    # the 20 others (R25..R44, 0.25..0.44): median 0.345
    assert bars.index[25] == "20 other reps (median)" and bars.iloc[25] == pytest.approx(0.345)
    assert list(bars.index[26:]) == [f"R{i:02d}" for i in range(24, -1, -1)]
    small = util.iloc[:60]
    assert av.workload_bars(small) is small


def _ote(n_reps: int, n_low: int, n_high: int):
    """A quota-to-OTE check of ``n_reps`` reps, the first ``n_low`` below the 4-6x band and
    the last ``n_high`` above it, with their simulated commission and attainment."""
    ids = [f"R{i:05d}" for i in range(n_reps)]
    ratio = [3.0 - i / n_reps if i < n_low else 6.5 + i / n_reps if i >= n_reps - n_high else 5.0
             for i in range(n_reps)]
    check = pd.DataFrame({"rep_id": ids, "region": "East", "quota": 1e5, "ote": [1e5 / r for r in ratio],
                          "ratio": ratio, "flag": ["low" if r < 4 else "high" if r > 6 else "" for r in ratio]})
    cost = pd.DataFrame({"rep_id": ids, "commission_p50": 1e3, "attainment_p50": 0.9})
    return check.set_index("rep_id"), cost.set_index("rep_id")


def test_the_ote_table_lists_every_rep_of_a_team_and_the_reps_outside_the_band_of_a_sales_force():
    check, cost = _ote(av.MAX_OTE_ROWS, 3, 2)  # every rep listed, lowest ratio first
    text, table = av.ote_table(check, cost, ote_low=4, ote_high=6)
    assert text.data == f"Of {av.MAX_OTE_ROWS} reps with a quota, {av.MAX_OTE_ROWS - 5} are inside 4-6x, 3 below and 2 above."
    shown = table.styler.data
    assert len(shown) == av.MAX_OTE_ROWS and shown["ratio"].is_monotonic_increasing
    check, cost = _ote(6709, 40, 25)  # a sales force: the 65 reps outside the band, the sentence counts all
    text, table = av.ote_table(check, cost, ote_low=4, ote_high=6)
    assert text.data == "Of 6709 reps with a quota, 6644 are inside 4-6x, 40 below and 25 above."
    shown = table.styler.data
    assert list(shown["flag"]) == ["low"] * 40 + ["high"] * 25 and shown["ratio"].is_monotonic_increasing
    assert "every rep is in the workbook" in table.caption
    check, cost = _ote(6709, 3000, 0)  # more outside than a table shows: the lowest ratios, and a note
    shown = av.ote_table(check, cost, ote_low=4, ote_high=6)[1].styler.data
    assert len(shown) == av.MAX_OTE_ROWS and set(shown["flag"]) == {"low"}
