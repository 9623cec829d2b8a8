"""Issue 19 (plan in seconds): the vectorised snapshot features, the single snapshot pass of
``scored_pipeline`` and the coercion kept across ``SalesData.until`` cuts give the same
numbers as before.  Expectations: hand examples, and the former ``merge_asof`` rule."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from salesplan.data import schema
from salesplan.data.schema import SalesData
from salesplan.demo.generator import generate
from salesplan.planning import pipeline as P


@pytest.fixture(scope="module")
def company():
    return generate(seed=7).data.coerced()


def _same_day() -> SalesData:
    """Rep R1 closes O1 (won) and O2 (lost) on 01-10, the day of a snapshot; O3 stays open."""
    d = pd.Timestamp
    orders = pd.DataFrame({"order_id": ["o1"], "order_date": [d("2026-01-10")], "customer_id": ["C1"],
                           "rep_id": ["R1"], "product_line": ["P"], "quantity": [1.0], "amount": [5.0]})
    opps = pd.DataFrame({
        "opportunity_id": ["O1", "O2", "O3"], "customer_id": ["C1", "C1", "C1"],
        "rep_id": ["R1", "R1", "R1"],
        "created_date": [d("2026-01-01"), d("2026-01-02"), d("2026-01-03")],
        "amount": [100.0, 200.0, 300.0], "stage": ["A", "B", "A"],
        "outcome": ["won", "lost", "open"],
        "closed_date": [d("2026-01-10"), d("2026-01-10"), pd.NaT]})
    act = pd.DataFrame({"date": [d("2026-01-04"), d("2026-01-10"), d("2026-01-12")],
                        "rep_id": ["R1"] * 3, "customer_id": ["C1"] * 3, "kind": ["visit"] * 3})
    return SalesData(orders=orders, opportunities=opps, activities=act,
                     stages=("A", "B", "C")).coerced()


def test_history_features_count_only_deals_closed_before_the_snapshot():
    s = P.opportunity_snapshots(_same_day(), ["2026-01-10", "2026-01-11"], norm_days=np.ones(3))
    s = s.set_index(["snapshot", "opportunity_id"])
    o3_10, o3_11 = s.loc[(pd.Timestamp("2026-01-10"), "O3")], s.loc[(pd.Timestamp("2026-01-11"), "O3")]
    # 01-10: nothing closed before (same-day closes excluded); company prior (0+1)/(0+10)
    assert o3_10["rep_win_rate"] == pytest.approx((0 + 20 * 0.1) / (0 + 20))
    assert o3_10["customer_wins"] == 0.0
    # 01-11: one won of two closed; company rate (1+1)/(2+10)
    assert o3_11["rep_win_rate"] == pytest.approx((1 + 20 * 2 / 12) / (2 + 20))
    assert o3_11["customer_wins"] == pytest.approx(np.log1p(1))
    # last activity on/before the snapshot: 01-10 for both (the 01-12 one is later)
    assert o3_10["activity_days"] == 0.0
    assert o3_11["activity_days"] == pytest.approx(np.log1p(1))
    # first order 01-10: a buyer strictly after that day only
    assert o3_10["customer_buyer"] == 0.0 and o3_11["customer_buyer"] == 1.0


def test_vectorised_history_sums_equal_the_merge_asof_rule(company):
    opps = company.opportunities
    dates = pd.date_range("2024-06-02", "2026-06-28", freq="28D")
    s = P.opportunity_snapshots(company, dates, norm_days=np.full(len(company.stages), 20.0))
    closed = opps[opps["closed_date"].notna()].assign(
        _won=lambda d: (d["outcome"] == "won").astype(float), _one=1.0)
    won, n = P._prior_sums(s, closed, "customer_id", "closed_date", ["_won", "_one"])
    ref_w = P._asof_count(s, closed, "customer_id", "closed_date", "_won", "w").to_numpy()
    ref_n = P._asof_count(s, closed, "customer_id", "closed_date", "_one", "n").to_numpy()
    assert len(s) > 1000 and ref_n.sum() > 0
    np.testing.assert_array_equal(won, ref_w)
    np.testing.assert_array_equal(n, ref_n)
    np.testing.assert_array_equal(s["customer_wins"].to_numpy(), np.log1p(ref_w))


def test_scored_pipeline_one_pass_equals_separate_snapshots(company):
    as_of = pd.Timestamp("2026-03-31")
    past = company.until(as_of)
    norm = np.full(len(company.stages), 15.0)
    params = P.PipelineParams()
    train, now = P._train_and_now(company, past, as_of, params, norm)
    ref_train = P.training_snapshots(company, as_of, params, norm_days=norm, past=past)
    ref_now = P.opportunity_snapshots(past, [as_of], params=params, norm_days=norm)
    pd.testing.assert_frame_equal(train, ref_train, check_exact=True)
    feats = ["opportunity_id", "stage_rank", "days_in_stage", *P.NUMERIC_FEATURES]
    pd.testing.assert_frame_equal(now[feats], ref_now[feats], check_exact=True)


def test_until_does_not_coerce_a_coerced_table_again(company, monkeypatch):
    calls = []
    real = schema.coerce_table
    monkeypatch.setattr(schema, "coerce_table", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    once = company.coerced()
    assert once.orders is company.orders and calls == []
    company.until("2026-01-31").until("2025-12-31")
    assert calls == []
    # a table swapped for raw text is read again: blank id -> missing, text date -> date
    raw = company.orders.head(3).astype({"customer_id": object, "order_date": str})
    raw.loc[0, "customer_id"] = "  "
    cut = replace(company, orders=raw).until("2030-12-31")
    assert calls == ["orders"]
    assert pd.isna(cut.orders.loc[0, "customer_id"])
    assert cut.orders["order_date"].dtype.kind == "M"


def test_orders_with_region_reuse_is_a_private_copy_and_follows_new_tables():
    from salesplan.planning.targets import _orders_with_region

    d = pd.Timestamp
    orders = pd.DataFrame({"order_id": ["o1", "o2"], "order_date": [d("2026-01-02"), d("2026-01-03")],
                           "customer_id": ["C1", "C2"], "rep_id": ["R1", "R1"],
                           "product_line": ["P", "P"], "quantity": [1.0, 1.0], "amount": [5.0, 7.0]})
    customers = pd.DataFrame({"customer_id": ["C1"], "region": ["North"]})
    data = SalesData(orders=orders, customers=customers).coerced()
    first = _orders_with_region(data)
    assert list(first["region"]) == ["North", "(none)"]
    first.loc[0, "region"] = "changed"  # the caller's copy only
    assert list(_orders_with_region(data)["region"]) == ["North", "(none)"]
    moved = replace(data, customers=pd.DataFrame({"customer_id": ["C1", "C2"],
                                                  "region": ["South", "East"]}))
    assert list(_orders_with_region(moved)["region"]) == ["South", "East"]
