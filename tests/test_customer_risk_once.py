"""Work of the customer-risk assessment done once must give the numbers done each time gave
(issue 19): the churn features' invoices and activities typed once per order history, the last
rep per customer from line positions, the credit features' invoice group-bys on integer codes.

The references below are the straightforward computations (group-bys on the customer ids,
tables re-read for every snapshot), written out here; the package's results must equal them
exactly (``check_exact``), not within a tolerance.
"""

import numpy as np
import pandas as pd
import pytest

from salesplan.data import SalesData
from salesplan.data.invoices import days_past_due, settled_by
from salesplan.models import churn, credit

AS_OF = pd.Timestamp("2026-12-31")


@pytest.fixture(scope="module")
def company():
    from salesplan.demo import generate

    return generate(seed=7, scale=0.1).data


def _payment_reference(inv: pd.DataFrame, idx: pd.Index, as_of) -> pd.DataFrame:
    """The payment features with the invoices read at ``as_of`` and grouped by customer id."""
    inv = pd.DataFrame({"customer_id": inv["customer_id"].astype(str).to_numpy(),
                        "issue": inv["issue_date"].to_numpy(), "due": inv["due_date"].to_numpy(),
                        "paid": inv["paid_date"].to_numpy(), "amount": inv["amount"].to_numpy(float)})
    inv = inv[inv["issue"] <= as_of]
    paid = inv["paid"].where(settled_by(inv["paid"], as_of))
    dpd = days_past_due(inv["due"], inv["paid"], as_of).astype(float)
    window = (inv["due"] <= as_of) & ((as_of - inv["due"]).dt.days < 365)
    g = pd.DataFrame({"c": inv["customer_id"], "late": (dpd > 0).astype(float), "dpd": dpd})[window].groupby("c")
    open_overdue = paid.isna() & (inv["due"] < as_of)
    return pd.DataFrame({
        "share_late": g["late"].mean().reindex(idx), "mean_dpd": g["dpd"].mean().reindex(idx),
        "max_dpd": g["dpd"].max().reindex(idx),
        "overdue_amount": inv.loc[open_overdue].groupby("customer_id")["amount"].sum().reindex(idx).fillna(0.0),
    }).astype(float)


def _activity_reference(act: pd.DataFrame, idx: pd.Index, as_of) -> pd.DataFrame:
    """The activity features with the activities read at ``as_of`` and grouped by customer id."""
    act = act[(act["date"] <= as_of) & act["customer_id"].notna()].assign(
        customer_id=lambda a: a["customer_id"].astype(str))
    recent = act[(as_of - act["date"]).dt.days < 90]
    out = {col: recent[recent["kind"] == kind].groupby("customer_id").size().reindex(idx).fillna(0.0)
           for kind, col in (("visit", "visits_90d"), ("call", "calls_90d"), ("email", "emails_90d"))}
    out["days_since_activity"] = (as_of - act.groupby("customer_id")["date"].max()).dt.days.reindex(idx)
    return pd.DataFrame(out).astype(float)


def test_snapshots_sharing_one_history_equal_the_string_group_bys(company, monkeypatch):
    built = []
    for name in ("_payment_table", "_activity_table"):
        real = getattr(churn, name)
        monkeypatch.setattr(churn, name, lambda t, real=real, name=name: built.append(name) or real(t))
    history = churn._OrderHistory(company.orders)
    columns = ["share_late", "mean_dpd", "max_dpd", "overdue_amount",
               "visits_90d", "calls_90d", "emails_90d", "days_since_activity"]
    for cutoff in (AS_OF - pd.Timedelta(days=180), AS_OF - pd.Timedelta(days=90), AS_OF):
        shared = churn._churn_features_of(company, history, cutoff, False, 90)
        alone = churn._churn_features_of(company, churn._OrderHistory(company.orders), cutoff, False, 90)
        pd.testing.assert_frame_equal(shared, alone, check_exact=True)
        want = pd.concat([_payment_reference(company.invoices, shared.index, cutoff),
                          _activity_reference(company.activities, shared.index, cutoff)], axis=1)
        pd.testing.assert_frame_equal(shared[columns], want[columns], check_exact=True, check_names=False)
        assert shared["visits_90d"].sum() > 0 and shared["share_late"].notna().any()  # not all empty
    # one table of each kind for the shared history, one more per fresh history (3 cutoffs)
    assert built.count("_payment_table") == 1 + 3 and built.count("_activity_table") == 1 + 3


def test_activities_without_a_customer_are_left_out():
    act = pd.DataFrame({"date": pd.to_datetime(["2026-12-01", "2026-12-02", "2026-12-03", "2027-01-05"]),
                        "customer_id": ["c2", None, "c1", "c1"], "kind": ["visit", "call", "call", "visit"]})
    f = pd.DataFrame(index=pd.Index(["c1", "c2", "c3"], name="customer_id"))
    churn._activity_features(f, churn._activity_table(act), AS_OF)
    assert f["visits_90d"].tolist() == [0.0, 1.0, 0.0]  # c1's visit is after as_of
    assert f["calls_90d"].tolist() == [1.0, 0.0, 0.0]  # the call without a customer counts for none
    assert f["days_since_activity"].tolist()[:2] == [28.0, 30.0] and np.isnan(f["days_since_activity"].iloc[2])
    assert f["emails_90d"].tolist() == [0.0, 0.0, 0.0]  # a kind without any activity
    # the same from Arrow text with a missing customer (as a source reads them): integer codes
    arrow = act.astype({"customer_id": "string[pyarrow]", "kind": "string[pyarrow]"})
    table, names, kinds = churn._activity_table(arrow)
    assert names.tolist() == ["c1", "c2"] and kinds.tolist() == ["call", "visit"] and len(table) == 3
    g = pd.DataFrame(index=f.index)
    churn._activity_features(g, (table, names, kinds), AS_OF)
    pd.testing.assert_frame_equal(g, f, check_exact=True)


def test_last_rep_is_the_rep_of_the_latest_line_with_one():
    orders = pd.DataFrame({
        "order_id": ["o1", "o2", "o3", "o4", "o5", "o6", "o7"],
        "order_date": pd.to_datetime(["2026-11-01", "2026-12-01", "2026-12-01", "2026-12-20",
                                      "2026-10-01", "2027-01-10", "2026-09-01"]),
        "customer_id": ["a", "a", "a", "a", "b", "b", "c"],
        "rep_id": ["r1", "r2", "r3", None, "r4", "r5", None],
        "amount": [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0],
    })
    history = churn._OrderHistory(orders)
    _, rep, _ = churn._customer_context(SalesData(orders=orders), history, AS_OF, pd.Index(["a", "b", "c", "d"]))
    # a: latest line with a rep is o3 (same day as o2, later in the lines; o4 has no rep);
    # b: o6 is after as_of; c: no line with a rep; d: no line at all
    assert rep.iloc[:2].tolist() == ["r3", "r4"] and rep.iloc[2:].isna().all()


def _credit_reference(inv: pd.DataFrame, ts: pd.Timestamp, params=credit.CreditFeatureParams()) -> pd.DataFrame:
    """The invoice columns of the credit features, grouped by customer id."""
    d = credit._dpd_at(inv, ts)
    ids = pd.Index(sorted(set(d["customer_id"])), name="customer_id")
    rec = d[d["issue_date"] > ts - pd.DateOffset(months=params.lookback_months)]
    g = rec.groupby("customer_id")
    open_ = d[~d["settled"]]
    due = rec[rec["due_date"] <= ts]
    st = rec[rec["settled"]]
    open_amt = open_.groupby("customer_id")["outstanding"].sum().reindex(ids, fill_value=0.0)
    overdue = open_[open_["dpd"] > 0].groupby("customer_id")["outstanding"].sum().reindex(ids, fill_value=0.0)
    return pd.DataFrame({
        "n_invoices": g.size().reindex(ids, fill_value=0).astype("int64"),
        "dpd_mean": g["dpd"].mean().reindex(ids), "dpd_max": g["dpd"].max().reindex(ids),
        "dpd_max_ever": d.groupby("customer_id")["dpd"].max().reindex(ids),
        "dpd_open_max": open_.groupby("customer_id")["dpd"].max().reindex(ids).fillna(0),
        "share_paid_late": (due["dpd"] > params.grace_days).groupby(due["customer_id"]).mean().reindex(ids),
        "days_to_pay": (st["paid_date"] - st["issue_date"]).dt.days.groupby(st["customer_id"]).mean().reindex(ids),
        "short_paid_share": (st["paid_amount"].notna() & (st["paid_amount"] < st["amount"] * (1 - 1e-9)))
        .groupby(st["customer_id"]).mean().reindex(ids),
        "overdue_share": (overdue / open_amt.where(open_amt > 0)).fillna(0.0),
    }, index=ids)


@pytest.mark.parametrize("months_back", [0, 12, 24])
def test_credit_features_equal_the_string_group_bys(company, months_back):
    ts = AS_OF - pd.DateOffset(months=months_back)
    inv = credit._prepare_invoices(company.invoices)
    got = credit._credit_features_of(inv, credit._prepare_orders(company.orders), company.customers, ts)
    want = _credit_reference(inv, ts)
    assert len(want) > 100
    pd.testing.assert_frame_equal(got.loc[want.index, want.columns], want, check_exact=True, check_names=False)


def test_bgnbd_special_functions_once_per_frequency_equal_the_row_by_row_formula():
    # the likelihood and gradient evaluate log Gamma, log B and digamma once per distinct x
    # and gather them: the same bits as the formula of every row (written out here)
    from scipy import special

    rng = np.random.default_rng(3)
    x = rng.integers(0, 5, 300).astype(float)
    T = rng.choice([10.0, 30.0, 52.0], 300)
    tx = np.where(x > 0, np.floor(T * rng.uniform(0, 1, 300)), 0.0)
    model = churn.BetaGeoModel
    for r, alpha, a, b in [(0.24, 4.4, 0.79, 2.4), (0.78, 2.9, 0.53, 17.9)]:
        params = np.array([r, alpha, a, b])
        with np.errstate(all="ignore"):
            got = model._loglik_terms(params, x, tx, T)
            grad = model._loglik_grad(params, x, tx, T)
            shared = model._loglik_terms(params, x, tx, T, shared=model._distinct(x))
            assert np.array_equal(got, shared) and np.array_equal(grad, model._loglik_grad(
                params, x, tx, T, shared=model._distinct(x)))
            for i in range(len(x)):
                xi = x[i]
                a2 = special.betaln(a, b + xi) - special.betaln(a, b) - (r + xi) * np.log(alpha + T[i])
                a3 = (special.betaln(a + 1, b + xi - 1) - special.betaln(a, b) - (r + xi) * np.log(alpha + tx[i])
                      if xi > 0 else -np.inf)
                want = special.gammaln(r + xi) - special.gammaln(r) + r * np.log(alpha) + np.logaddexp(a2, a3)
                assert got[i] == want, (i, got[i], want)
                psi = special.digamma
                d_r_rest = psi(r + xi) - psi(r) + np.log(alpha)
                w2 = np.exp(special.betaln(a, b + xi) - (r + xi) * np.log(alpha + T[i])
                            - np.logaddexp(special.betaln(a, b + xi) - (r + xi) * np.log(alpha + T[i]),
                                           special.betaln(a + 1, b + xi - 1) - (r + xi) * np.log(alpha + tx[i])
                                           if xi > 0 else -np.inf))
                w3 = 1.0 - w2 if xi > 0 else 0.0
                want_r = d_r_rest - w2 * np.log(alpha + T[i]) - w3 * (np.log(alpha + tx[i]) if xi > 0 else 0.0)
                assert abs(grad[0, i] - want_r) <= 1e-12 * max(1.0, abs(want_r)), (i, grad[0, i], want_r)


def _last_reps_by_frame(orders: pd.DataFrame, history, as_of) -> pd.Series:
    """The last reps as a stable sort of the known lines with a rep by date and each
    customer's last row give them (the definition :func:`churn._last_reps` computes)."""
    lines = history.lines.assign(rep=orders["rep_id"].astype(object).to_numpy(), pos=np.arange(len(orders)))
    lines = lines[(lines["order_date"] <= as_of) & lines["rep"].notna()]
    last = lines.sort_values(["order_date", "pos"], kind="stable").groupby("customer_id").tail(1)
    return pd.Series(last["rep"].to_numpy(), index=history.named(pd.Index(last["customer_id"].to_numpy()))).sort_index()


@pytest.mark.parametrize("dtype", [object, "string[pyarrow]"])
def test_last_reps_on_many_lines_with_ties_and_gaps(dtype):
    rng = np.random.default_rng(7)
    n = 5000
    orders = pd.DataFrame({
        "order_id": [f"o{i}" for i in range(n)],
        "order_date": pd.Timestamp("2026-01-01") + pd.to_timedelta(rng.integers(0, 420, n), unit="D"),
        "customer_id": rng.choice([f"c{i:03d}" for i in range(300)], n),
        "rep_id": pd.Series(rng.choice(["r1", "r2", "r3", "r4", None], n), dtype=object),
        "amount": rng.normal(100, 30, n),
    }).astype({"customer_id": dtype, "rep_id": dtype})
    history = churn._OrderHistory(orders)
    as_of = pd.Timestamp(AS_OF)
    want = _last_reps_by_frame(orders, history, as_of)
    customers = pd.Index(sorted(set(orders["customer_id"].astype(str))) + ["zz"], name="customer_id")
    _, rep, _ = churn._customer_context(SalesData(orders=orders), history, as_of, customers)
    assert len(want) > 250 and want.map(type).eq(str).all()
    pd.testing.assert_series_equal(rep.dropna(), want.astype(object), check_names=False)
    assert rep.isna().sum() == len(customers) - len(want)
