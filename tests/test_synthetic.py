"""Tests of the demo company generator: determinism, the data contract, and recovery of
the ground truth by simple statistics.  Expected values come from ``company.truth``."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from salesplan.data.schema import SCHEMAS
from salesplan.demo.generator import DemoCompany, GroundTruth, generate


@pytest.fixture(scope="module")
def company() -> DemoCompany:
    return generate(seed=7)


@pytest.fixture(scope="module")
def company_again() -> DemoCompany:
    return generate(seed=7)


def _events(orders: pd.DataFrame) -> pd.DataFrame:
    """One row per order (event): positive lines grouped by the order number."""
    pos = orders[orders["amount"] > 0].copy()
    pos["order_no"] = pos["order_id"].str.split("-").str[0]
    return pos.drop_duplicates("order_no")


# --------------------------------------------------------------------------- determinism
def test_same_seed_gives_identical_frames(company, company_again):
    for name, frame in company.data.tables():
        pd.testing.assert_frame_equal(frame, getattr(company_again.data, name), obj=name)
    pd.testing.assert_frame_equal(company.truth.customers, company_again.truth.customers)
    pd.testing.assert_frame_equal(company.truth.regions, company_again.truth.regions)


def test_different_seed_differs(company):
    other = generate(seed=8, scale=0.3)
    assert (
        not company.data.orders["amount"].head(1000).equals(other.data.orders["amount"].head(1000))
    )


def test_simulate_future_is_deterministic_and_after_as_of(company):
    a = company.simulate_future(months=3, seed=1)
    b = company.simulate_future(months=3, seed=1)
    c = company.simulate_future(months=3, seed=2)
    pd.testing.assert_frame_equal(a, b)
    assert not a["amount"].equals(c["amount"])
    assert list(a.columns) == SCHEMAS["orders"].column_names
    as_of = company.truth.as_of
    assert a["order_date"].min() > as_of
    assert a["order_date"].max() <= as_of + pd.offsets.MonthEnd(3)
    assert a["order_id"].is_unique
    # only customers known or newly acquired ("NEW...")
    known = set(company.data.customers["customer_id"])
    assert a["customer_id"].map(lambda x: x in known or x.startswith("NEW")).all()


def test_simulate_future_matches_truth_expectation(company):
    """Mean simulated quarter ~ truth: alive customers' rate x value x season x growth."""
    t = company.truth
    cu = t.customers[t.customers["alive_at_as_of"]]
    reg = t.regions.set_index("region")
    q1 = t.monthly_seasonality.loc[[1, 2, 3]].to_numpy()
    g = reg.loc[cu["region"], "account_growth"].to_numpy()
    mid = np.array([0.5, 1.5, 2.5]) / 12  # years after as_of
    # lower bound: existing customers only, ignoring dropout within the quarter,
    # marketing and new customers; marketing at base spend adds the response revenue
    existing = (
        cu["purchase_rate"].to_numpy()[:, None]
        * cu["mean_order_value"].to_numpy()[:, None]
        * q1[None, :]
        * np.exp(g[:, None] * mid[None, :])
    ).sum()
    marketing = 3 * t.response_revenue(reg.index, reg["base_marketing_spend"]).sum()
    sims = np.array([company.simulate_future(3, seed=s)["amount"].sum() for s in range(8)])
    # dropout and ramp-up remove a little, new customers and returns net a little
    assert 0.85 * (existing + marketing) < sims.mean() < 1.25 * (existing + marketing)


# --------------------------------------------------------------------------- contract
def test_every_table_follows_the_contract(company):
    data = company.data
    for name, spec in SCHEMAS.items():
        frame = getattr(data, name)
        assert frame is not None, name
        assert list(frame.columns) == spec.column_names, name
        assert len(frame) > 0, name
        if spec.key:
            assert not frame.duplicated(list(spec.key)).any(), f"{name} key {spec.key}"
        for col in spec.columns:
            s = frame[col.name]
            if not col.nullable:
                assert s.notna().all(), f"{name}.{col.name} has nulls"
            if col.allowed is not None:
                assert set(s.dropna()) <= set(col.allowed), f"{name}.{col.name}"
            if col.min is not None:
                assert (s.dropna() >= col.min).all(), f"{name}.{col.name} < {col.min}"
            if col.max is not None:
                assert (s.dropna() <= col.max).all(), f"{name}.{col.name} > {col.max}"
            if col.kind == "date":
                assert str(s.dtype) == "datetime64[ns]"
                assert (s.dropna() == s.dropna().dt.normalize()).all()
            if col.kind == "float":
                assert str(s.dtype) == "float64"
        for fk in spec.foreign_keys:
            ref = set(getattr(data, fk.ref_table)[fk.ref_column])
            vals = frame[fk.column].dropna()
            assert vals.isin(ref).all(), f"{name}.{fk.column} -> {fk.ref_table}"
        for do in spec.date_orders:
            both = frame[[do.earlier, do.later]].dropna()
            assert (both[do.later] >= both[do.earlier]).all(), f"{name} {do}"


def test_dates_not_after_as_of(company):
    as_of = company.truth.as_of
    d = company.data
    assert d.orders["order_date"].max() <= as_of
    assert d.invoices["issue_date"].max() <= as_of
    assert d.invoices["paid_date"].max() <= as_of
    assert d.activities["date"].max() <= as_of
    assert d.stage_history["entered_date"].max() <= as_of
    assert d.opportunities["closed_date"].max() <= as_of
    assert (d.reps["hire_date"] <= as_of).all()


def test_validation_module_accepts_the_demo(company):
    validation = pytest.importorskip("salesplan.data.validation")
    report = validation.validate(company.data, as_of=company.truth.as_of)
    assert report.ok, report.to_frame().head(20)


def test_shapes_and_roles(company):
    d, t = company.data, company.truth
    assert len(d.regions) == 6
    assert set(d.regions["maturity"]) == {"mature", "developing", "emerging"}
    assert 2500 <= len(d.customers) <= 3500
    assert 45 <= len(d.reps) <= 80
    assert d.reps["exit_date"].notna().any()
    assert set(d.reps["level"]) == {"junior", "senior", "key_account"}
    # key accounts belong to key-account or senior reps
    terr = t.reps.drop_duplicates("territory").set_index("territory")["level"]
    ka = t.customers[t.customers["segment"] == "key_account"]
    assert set(terr.loc[ka["territory"]]) <= {"key_account", "senior"}
    # some order lines without a rep (vacant territory), but only a few
    share_house = d.orders["rep_id"].isna().mean()
    assert 0 < share_house < 0.05
    # returns: negative quantity and amount together, about return_rate of lines
    neg = d.orders["amount"] < 0
    assert ((d.orders["quantity"] < 0) == neg).all()
    assert neg.mean() == pytest.approx(t.return_rate, abs=0.004)
    assert d.opportunities["outcome"].eq("open").any()
    assert d.invoices["paid_date"].isna().any()
    assert (d.invoices["paid_amount"] < d.invoices["amount"] - 0.005).any()


# --------------------------------------------------------------------------- truth recovery
def test_truth_objects(company):
    t = company.truth
    assert isinstance(t, GroundTruth)
    assert list(t.monthly_seasonality.index) == list(range(1, 13))
    assert t.monthly_seasonality.mean() == pytest.approx(1.0)
    assert t.monthly_seasonality.loc[[10, 11, 12]].mean() > 1.0
    assert t.stage_conversion.between(0, 1).all()
    assert list(t.stage_conversion.index) == list(company.data.stages)
    spend = np.array([0.0, 1000.0, 10000.0, 100000.0])
    regions = t.regions["region"].to_numpy()
    r = t.response(regions[:, None], spend[None, :])
    assert r.shape == (6, 4)
    assert (r[:, 0] == 0).all() and (np.diff(r, axis=1) > 0).all()
    assert (np.diff(np.diff(r, axis=1) / np.diff(spend), axis=1) < 0).all()  # concave
    assert t.product_mix.sum() == pytest.approx(1.0)
    cu = t.customers
    assert len(cu) == len(company.data.customers)
    alive = cu["dropout_date"].isna() | (cu["dropout_date"] > t.as_of)
    assert (cu["alive_at_as_of"] == alive).all()
    growth = t.regions.groupby("maturity")["annual_growth"].mean()
    assert growth["emerging"] > growth["developing"] > growth["mature"]
    # emerging regions grow through new accounts
    acq = t.regions.groupby("maturity")["acquisition_trend"].mean()
    assert acq["emerging"] > acq["mature"]


def test_q4_share_matches_truth(company):
    o, t = company.data.orders, company.truth
    pos = o[o["amount"] > 0]
    obs = pos.groupby(pos["order_date"].dt.month)["amount"].sum()
    exp = t.expected_revenue.groupby(t.expected_revenue["month"].dt.month)["expected_revenue"].sum()
    obs_q4 = obs.loc[[10, 11, 12]].sum() / obs.sum()
    exp_q4 = exp.loc[[10, 11, 12]].sum() / exp.sum()
    assert obs_q4 == pytest.approx(exp_q4, abs=0.02)
    assert obs_q4 > 0.27  # a visible Q4 peak (flat would be 0.25)
    # seasonal factors recovered from order counts per alive customer-month
    ev = _events(o)
    cnt = ev.groupby(ev["order_date"].dt.month).size()
    exp_cnt = (
        t.expected_revenue.assign(
            n=lambda f: f["first_orders"] + f["baseline_orders"] + f["marketing_orders"]
        )
        .groupby(t.expected_revenue["month"].dt.month)["n"]
        .sum()
    )
    assert np.allclose(cnt / exp_cnt, 1.0, atol=0.05)


def test_stage_conversion_recovered(company):
    opp, hist, t = company.data.opportunities, company.data.stage_history, company.truth
    old = opp[opp["created_date"] <= t.as_of - pd.Timedelta(days=250)]
    h = hist[hist["opportunity_id"].isin(old["opportunity_id"])]
    entered = h.groupby("stage").size().reindex(list(company.data.stages)).to_numpy()
    won = (old["outcome"] == "won").sum()
    observed = np.r_[entered[1:], won] / entered
    true = t.stage_conversion.to_numpy()
    tol = 4 * np.sqrt(true * (1 - true) / entered) + 0.01
    assert (np.abs(observed - true) < tol).all(), (observed, true)
    # mean days in stage E before moving to D ~ truth (days are rounded up)
    wide = h.pivot(index="opportunity_id", columns="stage", values="entered_date")
    d_e = (wide["D"] - wide["E"]).dropna().dt.days
    assert d_e.mean() == pytest.approx(t.stage_duration_days["E"] + 0.5, rel=0.12)


def test_late_payment_rises_with_default_propensity(company):
    inv, t = company.data.invoices, company.truth
    as_of = t.as_of
    late = (inv["paid_date"] - inv["due_date"]).dt.days > 30
    late |= inv["paid_date"].isna() & (inv["due_date"] + pd.Timedelta(days=30) < as_of)
    dp = inv["customer_id"].map(t.customers.set_index("customer_id")["default_propensity"])
    q = pd.qcut(dp, 4, labels=False)
    share = late.groupby(q).mean()
    assert share.is_monotonic_increasing
    assert share.iloc[-1] > 2 * share.iloc[0]


def test_no_orders_after_dropout(company):
    o, cu = company.data.orders, company.truth.customers
    dead = cu[cu["dropout_date"] <= company.truth.as_of].set_index("customer_id")["dropout_date"]
    od = o[o["customer_id"].isin(dead.index)]
    assert len(od) > 0
    assert (od["order_date"] <= od["customer_id"].map(dead)).all()
    # and nobody buys before being acquired
    acq = cu.set_index("customer_id")["acquired_date"]
    assert (o["order_date"] >= o["customer_id"].map(acq)).all()


def test_revenue_concentration(company):
    rev = company.data.orders.groupby("customer_id")["amount"].sum().sort_values(ascending=False)
    top = rev.iloc[: round(0.2 * len(rev))].sum() / rev.sum()
    assert 0.60 <= top <= 0.85


def test_marketing_spend_moves_sales_as_truth_says(company):
    """Within each region, months with more spend get more repeat orders; the slope of
    (observed - expected without marketing) on the truth's incremental orders is ~1."""
    o, t = company.data.orders, company.truth
    ev = _events(o).merge(company.data.customers[["customer_id", "region"]], on="customer_id")
    month = ev["order_date"].dt.to_period("M").dt.to_timestamp()
    obs = ev.groupby(["region", month]).size().rename("obs").reset_index()
    obs = obs.rename(columns={"order_date": "month"})
    e = t.expected_revenue.merge(obs, on=["region", "month"], how="left").fillna({"obs": 0})
    y = e["obs"] - e["first_orders"] - e["baseline_orders"]
    x = e["marketing_orders"]
    xd = x - x.groupby(e["region"]).transform("mean")
    yd = y - y.groupby(e["region"]).transform("mean")
    slope = (xd * yd).sum() / (xd**2).sum()
    se = np.sqrt(((yd - slope * xd) ** 2).sum() / (len(x) - 7) / (xd**2).sum())
    assert slope - 2 * se > 0
    assert abs(slope - 1.0) < 4 * se
    # spend history varies enough to fit a curve
    cv = company.data.marketing_spend.groupby("region")["amount"].agg(lambda s: s.std() / s.mean())
    assert (cv > 0.1).all()


def test_marketing_history_has_geo_tests_and_maturity_contrast(company):
    """Planned spend tests are in the data as the truth documents them, and mature regions
    are saturated at their base spend while emerging ones are not."""
    from salesplan.demo.generator import MARKETING_TEST_SHARE

    t = company.truth
    reg = t.regions.set_index("region")
    sp = company.data.marketing_spend.merge(
        t.expected_revenue[["region", "month", "spend_test"]], on=["region", "month"]
    )
    ratio = sp["amount"] / sp["region"].map(reg["base_marketing_spend"])
    months = sp.groupby("region").size()
    for kind, lo, hi in (("dark", 0.0, 0.1), ("cut", 0.3, 0.6), ("heavy", 2.0, 3.0)):
        is_k = sp["spend_test"] == kind
        n = is_k.groupby(sp["region"]).sum()
        assert (n == (MARKETING_TEST_SHARE[kind] * months).round()).all()
        assert ratio[is_k].between(lo - 0.01, hi + 0.01).all()  # spend rounded to 10
    assert ratio[sp["spend_test"] == "none"].between(0.59, 1.41).all()
    # saturation: base / b and the marginal return a / b * exp(-base / b) at base spend
    c = reg["base_marketing_spend"] / reg["response_b"]
    marginal = reg["response_a"] / reg["response_b"] * np.exp(-c)
    mat = reg["maturity"]
    assert (c[mat == "mature"] > 2.4).all() and (c[mat == "emerging"] < 0.5).all()
    assert marginal[mat == "emerging"].min() > 2 * marginal[mat == "mature"].max()


def test_scale_two_doubles(company):
    big = generate(seed=7, scale=2.0)
    ratio_c = len(big.data.customers) / len(company.data.customers)
    ratio_o = len(big.data.orders) / len(company.data.orders)
    ratio_r = len(big.data.reps) / len(company.data.reps)
    assert ratio_c == pytest.approx(2.0, rel=0.02)
    assert 1.7 < ratio_o < 2.3
    assert 1.6 < ratio_r < 2.4


def test_locale_zh(company):
    zh = generate(seed=7, locale="zh")
    cjk = re.compile(r"[\u4e00-\u9fff]")
    assert zh.data.regions["region"].map(lambda s: bool(cjk.search(s))).all()
    assert zh.data.customers["name"].map(lambda s: bool(cjk.search(s))).all()
    assert zh.data.reps["name"].map(lambda s: bool(cjk.search(s))).all()
    assert "华东" in set(zh.data.regions["region"])
    # the numbers do not depend on the locale
    np.testing.assert_array_equal(
        zh.data.orders["amount"].to_numpy(), company.data.orders["amount"].to_numpy()
    )
    assert company.data.customers["name"].map(lambda s: not cjk.search(s)).all()


def test_bad_arguments():
    with pytest.raises(ValueError, match="locale"):
        generate(locale="fr")
    with pytest.raises(ValueError, match="scale"):
        generate(scale=0)


def test_future_revenue_paths_count_new_customers_in_their_region(company):
    future = company.simulate_future(months=3, seed=3, with_region=True)
    assert future["region"].notna().all()
    new = future[future["customer_id"].str.startswith("NEW")]
    assert len(new) > 0 and set(new["region"]) <= set(company.data.regions["region"])
    sp = company.future_revenue_paths([3], months=3)
    regions, months, paths = list(sp.series), sp.dates, sp.values
    assert paths.shape == (len(regions), 1, 3)  # series x path x month
    in_window = future[future["order_date"] >= months[0]]
    assert np.isclose(paths.sum(), in_window["amount"].sum())
    by_region = in_window.groupby("region")["amount"].sum().reindex(regions, fill_value=0.0)
    assert np.allclose(paths[:, 0].sum(axis=1), by_region.to_numpy())
