"""Tests of salesplan.planning.funnel: rate estimation, hand-computed back-calculation, re-plan, shape."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from salesplan.data.schema import SalesData
from salesplan.planning.funnel import (
    FunnelParams,
    FunnelRates,
    back_calculate,
    diagnose_shape,
    estimate_rates,
    open_pipeline,
    replan,
    week_starts,
)

STAGES = ("E", "D", "C", "B", "A")
Q_START, Q_END = pd.Timestamp("2027-01-01"), pd.Timestamp("2027-03-31")


def _rates():
    # conv E .5, D .5, C .6, B .8, A .5 -> P(win): A .5, B .4, C .24, D .12, E .06
    # durations 7, 7, 14, 7, 7 days -> lag to the win: A 7, B 14, C 28, D 35, E 42 days
    return FunnelRates.from_mapping(dict(zip(STAGES, (0.5, 0.5, 0.6, 0.8, 0.5))),
                                    dict(zip(STAGES, (7.0, 7.0, 14.0, 7.0, 7.0))), deal_size=10_000.0)


def _weekly(values: dict, entity="r1"):
    weeks = week_starts(Q_START, Q_END)
    return pd.DataFrame({"entity": entity, "week_start": weeks,
                         "target": [values.get(w.strftime("%Y-%m-%d"), 0.0) for w in weeks]})


def test_back_calculation_matches_hand_example():
    r = _rates()
    assert np.allclose(r.win_probability.to_numpy(), [0.06, 0.12, 0.24, 0.4, 0.5])
    assert np.allclose(r.lag_days.to_numpy(), [42, 35, 28, 14, 7])
    plan = back_calculate(_weekly({"2027-03-01": 100_000.0}), r, start=Q_START, end=Q_END)
    w = plan.weeks.set_index(["week_start", "stage"])["needed"]
    w = w[w > 0]
    # 100,000 / 10,000 = 10 wins in the week of Mon 2027-03-01
    hand = {
        ("2027-03-01", "won"): 10.0,
        ("2027-02-22", "A"): 10 / 0.5,        # 20 enter A one week before (lag 7 d)
        ("2027-02-15", "B"): 10 / 0.4,        # 25 enter B two weeks before (lag 14 d)
        ("2027-02-01", "C"): 10 / 0.24,       # 41.67 enter C four weeks before (lag 28 d)
        ("2027-01-25", "D"): 10 / 0.12,       # 83.33 enter D five weeks before (lag 35 d)
        ("2027-01-18", "E"): 10 / 0.06,       # 166.67 enter E six weeks before (lag 42 d)
    }
    assert len(w) == len(hand)
    for (d, st), v in hand.items():
        assert w[(pd.Timestamp(d), st)] == pytest.approx(v)
    g = plan.gap.iloc[0]
    # no pipeline: the whole 100,000 is a gap; new leads = 10 wins / P(win|E) .06 = 166.67
    assert g["revenue_gap"] == pytest.approx(100_000.0)
    assert g["new_leads_needed"] == pytest.approx(166.6667, rel=1e-4)
    # leads must enter E by 2027-03-31 - 42 days = 2027-02-17 (a Wednesday) -> the week of Mon 2027-02-15
    assert g["last_lead_week"] == pd.Timestamp("2027-02-15") and g["leads_in_time"]
    assert plan.leads["new_leads"].sum() == pytest.approx(166.6667, rel=1e-4)


def test_fractional_lag_is_split_between_two_weeks():
    # A takes 10.5 days = 1.5 weeks: half the A entries one week before, half two weeks before
    r = FunnelRates.from_mapping(dict(zip(STAGES, (0.5, 0.5, 0.6, 0.8, 0.5))),
                                 dict(zip(STAGES, (7.0, 7.0, 14.0, 7.0, 10.5))), deal_size=10_000.0)
    plan = back_calculate(_weekly({"2027-03-01": 100_000.0}), r)
    a = plan.weeks[(plan.weeks.stage == "A") & (plan.weeks.needed > 0)].set_index("week_start")["needed"]
    assert a[pd.Timestamp("2027-02-22")] == pytest.approx(10.0)
    assert a[pd.Timestamp("2027-02-15")] == pytest.approx(10.0)


def test_gap_against_open_pipeline_hand_example():
    r = _rates()
    # one open deal at B for 20,000, entered at the plan start: expected 20,000 * .4 = 8,000,
    # closes in ~14 days, inside the quarter -> gap 92,000 -> 9.2 wins / .06 = 153.33 new leads
    pipe = pd.DataFrame({"opportunity_id": ["o1"], "rep_id": ["r1"], "customer_id": ["c1"], "region": ["A"],
                         "amount": [20_000.0], "stage": ["B"], "stage_entered": [Q_START]})
    plan = back_calculate(_weekly({"2027-03-01": 100_000.0}), r, pipe, start=Q_START, end=Q_END)
    g = plan.gap.iloc[0]
    assert g["pipeline_expected"] == pytest.approx(8_000.0)
    assert g["revenue_gap"] == pytest.approx(92_000.0)
    assert g["new_leads_needed"] == pytest.approx(92_000 / 10_000 / 0.06)
    sg = plan.stage_gap.set_index("stage")
    assert sg.loc["B", "open_now"] == 1 and sg.loc["E", "needed_total"] == pytest.approx(10 / 0.06)
    # funnel share: only 40% of the target must come through won deals
    plan2 = back_calculate(_weekly({"2027-03-01": 100_000.0}), r, start=Q_START, end=Q_END, funnel_share=0.4)
    assert plan2.gap.iloc[0]["wins_needed"] == pytest.approx(4.0)


def test_gap_of_each_entity_counts_only_its_own_deals():
    r = _rates()
    # r1: B 20,000 x .4 = 8,000 and A 10,000 x .5 = 5,000; r2: A 6,000 x .5 = 3,000; the deal of
    # r3 (no target) and the one without a rep count for nobody.  Same with one rates object per entity.
    pipe = pd.DataFrame({"opportunity_id": ["o1", "o2", "o3", "o4", "o5"], "rep_id": ["r1", "r2", "r3", "r1", None],
                         "customer_id": "c1", "region": "A", "amount": [20_000.0, 6_000.0, 50_000.0, 10_000.0, 9_000.0],
                         "stage": ["B", "A", "A", "A", "A"], "stage_entered": Q_START})
    weekly = pd.concat([_weekly({"2027-03-01": 100_000.0}), _weekly({"2027-03-01": 50_000.0}, entity="r2")])
    for rates in (r, {"r1": r, "r2": _rates()}):
        plan = back_calculate(weekly, rates, pipe, start=Q_START, end=Q_END)
        g = plan.gap.set_index("entity")
        assert g.loc["r1", "pipeline_expected"] == pytest.approx(13_000.0)
        assert g.loc["r2", "pipeline_expected"] == pytest.approx(3_000.0)
        assert g.loc["r2", "revenue_gap"] == pytest.approx(47_000.0)
        sg = plan.stage_gap.set_index(["entity", "stage"])["open_now"]
        assert sg[("r1", "B")] == 1 and sg[("r1", "A")] == 1 and sg[("r2", "A")] == 1 and sg[("r2", "B")] == 0
        assert sg.sum() == 3


def _funnel_data():
    """10 opportunities with a hand-made history (5 days per stage)."""
    rows, opps = [], []
    t0 = pd.Timestamp("2026-06-01")

    def add(oid, path, outcome, amount=1000.0):
        for k, st in enumerate(path):
            rows.append((oid, st, t0 + pd.Timedelta(days=5 * k)))
        closed = t0 + pd.Timedelta(days=5 * len(path)) if outcome != "open" else pd.NaT
        opps.append((oid, "c1", "r1", t0, amount, path[-1], outcome, closed))

    for i in range(4):
        add(f"w{i}", "EDCBA", "won", amount=2000.0 * (i + 1))  # won: E->D->C->B->A->won
    for i in range(3):
        add(f"le{i}", "E", "lost")                             # lost at E
    for i in range(2):
        add(f"ld{i}", "ED", "lost")                            # lost at D
    add("open", "ED", "open")                                  # still open at D (censored at D)
    sh = pd.DataFrame(rows, columns=["opportunity_id", "stage", "entered_date"])
    op = pd.DataFrame(opps, columns=["opportunity_id", "customer_id", "rep_id", "created_date", "amount",
                                     "stage", "outcome", "closed_date"])
    orders = pd.DataFrame({"order_id": ["x"], "order_date": [pd.Timestamp("2026-12-31")], "customer_id": ["c1"],
                           "rep_id": ["r1"], "product_line": ["P"], "quantity": [1.0], "amount": [1.0]})
    return SalesData(orders=orders, opportunities=op, stage_history=sh).coerced()


def test_estimate_rates_counts_and_beta_prior():
    data = _funnel_data()
    r = estimate_rates(data, "2026-12-31", FunnelParams(prior_strength=0, duration_prior_strength=0,
                                                        min_won_deals=4))
    # E: 10 entered, 7 reached D (4 won + 2 lost at D + 1 open) -> 7/10
    # D: 7 entered, the open one is censored: 4 of 6 resolved moved on -> 4/6
    # C, B, A: 4 of 4
    assert np.allclose(r.conversion, [0.7, 4 / 6, 1, 1, 1])
    assert np.allclose(r.n_resolved, [10, 6, 4, 4, 4])
    assert np.allclose(r.duration_days, [5, 5, 5, 5, 5])
    assert r.deal_size == pytest.approx(np.mean([2000, 4000, 6000, 8000]))
    # fewer won deals than min_won_deals (5 by default): mean of all 10 opportunities
    # (2000 + 4000 + 6000 + 8000 + 6 x 1000) / 10 = 2600
    assert estimate_rates(data, "2026-12-31").deal_size == pytest.approx(2600.0)
    # Beta prior: strength 20, prior mean of E .4 -> (7 + 20*.4) / (10 + 20) = .5
    rp = estimate_rates(data, "2026-12-31", FunnelParams(prior_strength=20, prior_rates={"E": 0.4}))
    assert rp.conversion[0] == pytest.approx(0.5)
    # durations shrink toward 14 days with 5 pseudo-observations: (7*5 + 5*14) / 12 = 8.75
    assert rp.duration_days[0] == pytest.approx((7 * 5 + 5 * 14) / 12)
    # open pipeline at as_of: only the open deal, at D
    pipe = open_pipeline(data, "2026-12-31")
    assert list(pipe.opportunity_id) == ["open"] and list(pipe.stage) == ["D"]


def test_estimated_rates_recover_demo_truth():
    synthetic = pytest.importorskip("salesplan.demo.generator")
    company = synthetic.generate(seed=7, scale=0.5, as_of="2026-12-31")
    r = estimate_rates(company.data, "2026-12-31", FunnelParams(prior_strength=0, lookback_days=4 * 366))
    truth = company.truth.stage_conversion.reindex(list(STAGES)).to_numpy()
    se = np.sqrt(truth * (1 - truth) / np.maximum(r.n_resolved, 1))
    assert np.all(np.abs(r.conversion - truth) < 4 * se + 0.01), (r.conversion, truth, se)
    dur = company.truth.stage_duration_days.reindex(list(STAGES)).to_numpy()
    # gamma(shape 2) durations: sd = mean / sqrt(2); s.e. of the mean of n -> tolerance 4 s.e.
    # plus 10% for opportunities still open at the end of the window (long stays censored)
    n_conv = np.maximum(r.n_converted, 1)
    assert np.all(np.abs(r.duration_days - dur) < 4 * dur / np.sqrt(2 * n_conv) + 0.1 * dur)


def test_replan_uses_actuals_and_observed_rates():
    r = _rates()
    wk = _weekly({})
    wk["target"] = 10_000.0  # 13 weeks x 10,000 = 130,000
    assert len(wk) == 14  # the week of Mon 2026-12-28 holds Jan 1-3; 14 weeks overlap the quarter
    wk.loc[0, "target"] = 0.0
    plan = back_calculate(wk, r, start=Q_START, end=Q_END)
    # 4 weeks done (through Sun 2027-01-24), 15,000 won each week after the first (3 x 15,000)
    as_of = pd.Timestamp("2027-01-24")
    act = pd.DataFrame({"entity": "r1", "week_start": pd.to_datetime(["2027-01-04", "2027-01-11", "2027-01-18"]),
                        "actual": 15_000.0})
    obs = FunnelRates.from_mapping(dict(zip(STAGES, (0.5, 0.5, 0.6, 0.8, 0.25))),
                                   dict(zip(STAGES, (7.0, 7.0, 14.0, 7.0, 7.0))), deal_size=10_000.0)
    new = replan(plan, act, as_of, observed_rates=obs)
    # remaining = 130,000 - 45,000 = 85,000 over the 10 remaining weeks (equal plan) = 8,500
    assert new.targets["target"].sum() == pytest.approx(85_000.0)
    assert np.allclose(new.targets["target"], 8_500.0)
    assert new.targets["week_start"].min() == pd.Timestamp("2027-01-25")
    comp = new.completion
    wkrow = comp[(comp.row == "week") & (comp.week_start == pd.Timestamp("2027-01-04"))].iloc[0]
    assert wkrow["completion"] == pytest.approx(1.5)
    assert comp[comp.row == "ALL"].iloc[0]["completion"] == pytest.approx(45_000 / 30_000)
    # observed A win rate .25: wins in the last week .85 -> A entries .85 / .25 = 3.4 a week before
    last = pd.Timestamp("2027-03-29")
    w = new.weeks.set_index(["week_start", "stage"])["needed"]
    assert w[(last, "won")] == pytest.approx(0.85)
    assert w[(last - pd.Timedelta(days=7), "A")] == pytest.approx(0.85 / 0.25 + 0.85 / 0.25 * 0)  # lag 1 week
    with pytest.raises(ValueError, match="outside the planned period"):
        replan(plan, act, "2027-05-01")


def test_diagnose_shape_rules():
    r = FunnelRates.from_mapping({s: 0.5 for s in STAGES}, {s: 10.0 for s in STAGES}, 1000.0)
    # steady state stock shares proportional to 1, .5, .25, .125, .0625
    def pipe(counts, ent):
        return pd.DataFrame({"rep_id": ent, "stage": np.repeat(list(STAGES), counts)})
    p = pd.concat([pipe([16, 8, 4, 2, 1], "healthy"), pipe([16, 8, 20, 2, 1], "piled"),
                   pipe([40, 20, 1, 2, 1], "thin")])
    d = diagnose_shape(p, r).set_index("entity")
    assert d.loc["healthy", "shape"] == "healthy"
    assert d.loc["piled", "shape"] == "piled_up"
    assert d.loc["thin", "shape"] == "gap_coming"
    assert d.loc["healthy", "ratio_C"] == pytest.approx(1.0)


def test_bad_funnel_parameters():
    with pytest.raises(ValueError, match="prior_strength"):
        FunnelParams(prior_strength=-1)
    with pytest.raises(ValueError, match="prior_rates"):
        FunnelParams(prior_rates={"E": 1.5})
    with pytest.raises(ValueError, match="conversion"):
        FunnelRates.from_mapping({s: 0.0 for s in STAGES}, {s: 1.0 for s in STAGES}, 1.0)
    with pytest.raises(ValueError, match="target"):
        back_calculate(pd.DataFrame({"entity": ["a"], "week_start": [Q_START], "target": [-1.0]}), _rates())
    with pytest.raises(ValueError, match="funnel_share"):
        back_calculate(_weekly({}), _rates(), funnel_share=0)
    with pytest.raises(ValueError, match="unknown stage"):
        estimate_rates(_funnel_data(), params=FunnelParams(prior_rates={"Z": 0.5}))


def _entries_one_by_one(t: pd.DataFrame, rates: FunnelRates, funnel_share: float) -> dict:
    """Reference: the entries per (entity, week, stage) as a running sum, row by row."""
    pw, lag = rates.win_probability.to_numpy(), rates.lag_days.to_numpy()
    acc: dict = {}
    for ent, w, target in zip(t["entity"], t["week_start"], t["target"]):
        won = funnel_share * target / rates.deal_size
        acc[(ent, w, "won")] = acc.get((ent, w, "won"), 0.0) + won
        for k, st in enumerate(rates.stages):
            weeks = lag[k] / 7.0
            f = int(np.floor(weeks + 1e-9))
            frac = weeks - f
            frac = 0.0 if frac < 1e-9 else frac
            w0 = w - pd.Timedelta(days=7 * f)
            acc[(ent, w0, st)] = acc.get((ent, w0, st), 0.0) + won / pw[k] * (1 - frac)
            if frac > 0:
                w1 = w0 - pd.Timedelta(days=7)
                acc[(ent, w1, st)] = acc.get((ent, w1, st), 0.0) + won / pw[k] * frac
    return acc


def test_back_calculate_many_entities_shuffled_and_repeated_weeks():
    # rows of several entities in any order, a week given twice: the entries are the running
    # sums of the parts in the rows' order, to the last bit
    rates = FunnelRates.from_mapping(dict(zip(STAGES, (0.5, 0.45, 0.6, 0.8, 0.55))),
                                     dict(zip(STAGES, (9.0, 5.5, 14.0, 7.0, 3.0))), deal_size=7_300.0)
    rng = np.random.default_rng(3)
    t = pd.concat([_weekly({w.strftime("%Y-%m-%d"): float(rng.uniform(0, 9e4))
                            for w in week_starts(Q_START, Q_END)}, entity=e) for e in ("r2", "r1", "r3")])
    t = pd.concat([t, t.iloc[[4, 20, 30]]]).sample(frac=1.0, random_state=0).reset_index(drop=True)
    fp = back_calculate(t, rates, None, start=Q_START, end=Q_END, funnel_share=0.7)
    ref = _entries_one_by_one(t, rates, 0.7)
    got = {(e, w, s): v for e, w, s, v in fp.weeks[["entity", "week_start", "stage", "needed"]].itertuples(index=False)}
    assert got.keys() == ref.keys()
    assert all(got[k] == ref[k] for k in ref)  # exact
    assert list(fp.gap["entity"]) == list(pd.unique(t["entity"]))  # entities in the order they first come
    for e, g in t.groupby("entity"):
        row = fp.gap.set_index("entity").loc[e]
        assert row["target"] == pytest.approx(g["target"].sum(), rel=1e-12)
        before = sum(v for (en, w, s), v in ref.items() if en == e and s == "E" and w < Q_START)
        sg = fp.stage_gap[(fp.stage_gap["entity"] == e) & (fp.stage_gap["stage"] == "E")].iloc[0]
        assert sg["needed_before_start"] == pytest.approx(before, rel=1e-12)
