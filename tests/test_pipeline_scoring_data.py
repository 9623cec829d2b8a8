"""The scoring's reduced data (:func:`salesplan.planning.pipeline.scoring_data`) and the coded
snapshot features give the numbers of the full data: checked against the full data's own
route, and the reduced tables against hand examples."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from salesplan.data.schema import SalesData
from salesplan.demo.generator import generate
from salesplan.planning import funnel
from salesplan.planning.pipeline import (
    PipelineParams,
    opportunity_snapshots,
    scored_pipeline,
    scoring_data,
)
from salesplan.planning.pipeline_review import _memo_scored

d = pd.Timestamp


@pytest.fixture(scope="module")
def company():
    return generate(seed=7).data


def _orders() -> pd.DataFrame:
    # C1: two sales and a return on 03-01, a sale 03-05; C2: a return only on 02-01, a sale 02-10
    return pd.DataFrame({
        "order_id": ["a", "b", "c", "d", "e", "f"],
        "order_date": [d("2026-03-01"), d("2026-03-01"), d("2026-03-01"), d("2026-03-05"),
                       d("2026-02-01"), d("2026-02-10")],
        "customer_id": ["C1", "C1", "C1", "C1", "C2", "C2"], "rep_id": ["R1"] * 6,
        "product_line": ["P"] * 6, "quantity": [1.0] * 6,
        "amount": [10.0, 5.0, -3.0, 4.0, -2.0, 7.0]})


def _tiny(opp_amount=1000.0) -> SalesData:
    opps = pd.DataFrame({
        "opportunity_id": ["O1", "O2", "O3"], "customer_id": ["C1", "C2", "C2"], "rep_id": ["R1", "R1", "R2"],
        "created_date": [d("2026-01-01"), d("2026-01-05"), d("2026-02-01")],
        "amount": [opp_amount] * 3, "stage": ["C", "E", "E"], "outcome": ["lost", "lost", "open"],
        "closed_date": [d("2026-02-15"), d("2026-01-25"), pd.NaT]})
    act = pd.DataFrame({"date": [d("2026-01-10"), d("2026-01-10"), d("2026-02-03")], "rep_id": ["R1", "R2", "R1"],
                        "customer_id": ["C1", "C1", None], "kind": ["visit", "call", "visit"]})
    return SalesData(orders=_orders(), opportunities=opps, activities=act)


def test_reduced_orders_are_customer_day_sales_and_first_days():
    o = scoring_data(_tiny()).orders
    rows = sorted(zip(o["customer_id"], o["order_date"], o["amount"]))
    # hand: customer-day sums of the lines with amount > 0, then each customer's first day at 0
    assert rows == [("C1", d("2026-03-01"), 0.0), ("C1", d("2026-03-01"), 15.0), ("C1", d("2026-03-05"), 4.0),
                    ("C2", d("2026-02-01"), 0.0), ("C2", d("2026-02-10"), 7.0)]
    a = scoring_data(_tiny()).activities
    assert sorted(zip(a["customer_id"], a["date"])) == [("C1", d("2026-01-10"))]


@pytest.mark.parametrize("cut", ["2026-02-05", "2026-03-02", "2026-03-31"])
def test_deal_size_without_won_deals_is_that_of_the_lines(cut):
    data = _tiny(opp_amount=0.0)  # no won deal, opportunity amounts 0: the deal size is the orders'
    # hand: mean of the customer-day sums of positive lines up to the cut
    expected = {"2026-02-05": None, "2026-03-02": (7.0 + 15.0) / 2, "2026-03-31": (7.0 + 15.0 + 4.0) / 3}[cut]
    if expected is None:  # no sale yet: both raise the same error
        for bundle in (data, scoring_data(data)):
            with pytest.raises(ValueError, match="deal size"):
                funnel.estimate_rates(bundle.until(cut), as_of=cut)
    else:
        full = funnel.estimate_rates(data.until(cut), as_of=cut)
        reduced = funnel.estimate_rates(scoring_data(data).until(cut), as_of=cut)
        assert reduced.deal_size == full.deal_size == expected


def test_buyer_flag_counts_a_return_only_first_day():
    data = _tiny()
    dates = ["2026-02-01", "2026-02-02", "2026-02-12"]
    full = opportunity_snapshots(data, dates, norm_days=np.full(5, 10.0))
    reduced = opportunity_snapshots(scoring_data(data), dates, norm_days=np.full(5, 10.0))
    pd.testing.assert_frame_equal(full, reduced, check_exact=True)
    o3 = full[full["opportunity_id"] == "O3"].set_index("snapshot")["customer_buyer"]
    assert o3.to_dict() == {d("2026-02-01"): 0.0, d("2026-02-02"): 1.0, d("2026-02-12"): 1.0}


def test_snapshots_with_a_null_customer_equal_the_full_data():
    data = _tiny()
    opps = data.opportunities.assign(customer_id=[None, "C2", "C2"])  # merge_asof route for the keys
    data = replace(data, opportunities=opps)
    dates = ["2026-01-15", "2026-02-02"]
    full = opportunity_snapshots(data, dates, norm_days=np.full(5, 10.0))
    pd.testing.assert_frame_equal(full, opportunity_snapshots(scoring_data(data), dates, norm_days=np.full(5, 10.0)),
                                  check_exact=True)
    assert full["activity_days"].notna().all()


@pytest.mark.parametrize("at", ["2026-06-30", "2026-12-31"])
def test_scored_pipeline_on_reduced_data_equals_full_data(company, at):
    full = scored_pipeline(company, at)
    assert len(full) > 0
    pd.testing.assert_frame_equal(full, scored_pipeline(scoring_data(company), at), check_exact=True)


def test_review_reads_the_memo_only_with_default_parameters():
    frame = pd.DataFrame({"x": [1.0]})
    memo = {("scored_pipeline", d("2026-12-31"), d("2027-03-31")): frame}
    got = _memo_scored(memo, "2026-12-31", "2027-03-31", PipelineParams())
    pd.testing.assert_frame_equal(got, frame)
    assert got is not frame  # a copy: the memo stays as it was
    assert _memo_scored(memo, "2026-12-31", "2027-03-31", PipelineParams(stuck_ratio=3.0)) is None
    assert _memo_scored(memo, "2026-12-30", "2027-03-31", PipelineParams()) is None
    assert _memo_scored(None, "2026-12-31", "2027-03-31", PipelineParams()) is None


def test_coded_history_features_equal_the_keyed_ones(company):
    """The coded features against the id-keyed route (``_keyed_index`` on the ids, the
    deduplicated, date-sorted activities), on the demo company's weekly snapshots."""
    from salesplan.planning.pipeline import _activity_days, _prior_sums

    s = opportunity_snapshots(company, pd.date_range("2025-01-05", "2026-12-27", freq="7D"),
                              norm_days=np.full(5, 10.0))
    act = company.activities[company.activities["customer_id"].notna()][["customer_id", "date"]]
    act = act.drop_duplicates().sort_values("date", kind="stable")
    np.testing.assert_array_equal(s["activity_days"].to_numpy(), np.log1p(_activity_days(s, act, 365.0)))
    opps = company.opportunities
    closed = opps[opps["closed_date"].notna()].assign(_won=lambda x: (x["outcome"] == "won").astype(float))
    cw = _prior_sums(s, closed, "customer_id", "closed_date", ["_won"])[0]
    np.testing.assert_array_equal(s["customer_wins"].to_numpy(), np.log1p(cw))
    first = company.orders.groupby("customer_id")["order_date"].min()
    fo = s["customer_id"].map(first)
    np.testing.assert_array_equal(s["customer_buyer"].to_numpy(), (fo.notna() & (fo < s["snapshot"])).astype(float))


@pytest.mark.parametrize("hour", [0, 6])
def test_date_ranks_keep_the_order_of_the_dates(hour):
    from salesplan.planning.pipeline import _date_ranks

    t = pd.to_datetime(["2026-01-03", "2026-01-01", "2026-01-10"]) + pd.Timedelta(hours=hour)
    e = pd.to_datetime(["2026-01-01", "2026-01-05", "2026-01-03", "2026-01-10"])
    rq, re, span = _date_ranks(t.to_numpy().astype(np.int64), e.to_numpy().astype(np.int64))
    both, ranks = np.r_[t.to_numpy(), e.to_numpy()], np.r_[rq, re]
    # hand: equal dates get equal integers, a later date a larger one, all below span
    for i in range(len(both)):
        for j in range(len(both)):
            assert (both[i] < both[j]) == (ranks[i] < ranks[j]) and (both[i] == both[j]) == (ranks[i] == ranks[j])
    assert ranks.min() >= 0 and ranks.max() < span
    if hour == 0:  # days since the earliest date
        assert list(rq) == [2, 0, 9] and list(re) == [0, 4, 2, 9]
