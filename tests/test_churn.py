"""Tests of salesplan.models.churn: CDNOW published results, simulated recovery, no look-ahead,
error messages.  Expected numbers come from the papers or from the simulators below,
never from running the code under test."""

from __future__ import annotations

from importlib import resources

import numpy as np
import pandas as pd
import pytest
from scipy import integrate

from salesplan.data import SalesData
from salesplan.models.churn import (
    BetaGeoModel,
    ChurnClassifier,
    GammaGammaModel,
    ParetoNBDModel,
    churn_features,
    churn_labels,
    churn_risk_by,
    churn_risk_list,
    rfm_summary,
)

CAL_END = "1997-09-30"  # 39-week calibration period of Fader, Hardie & Lee (2005)
END = "1998-06-30"  # 78 weeks


def sig3_close(ours: float, published: float) -> bool:
    """Equal to 3 significant digits: within half a unit of the 3rd digit of published."""
    unit = 10.0 ** (np.floor(np.log10(abs(published))) - 2)
    return abs(ours - published) <= 0.5 * unit + 1e-12


# --------------------------------------------------------------------------------------
# CDNOW fixtures
# --------------------------------------------------------------------------------------
def _ref(name):
    return resources.files("salesplan") / "reference" / name


@pytest.fixture(scope="module")
def cdnow_orders() -> pd.DataFrame:
    with resources.as_file(_ref("CDNOW_sample.txt")) as path:
        raw = pd.read_csv(
            path, sep=r"\s+", header=None,
            names=["master_id", "customer_id", "date", "cds", "amount"], dtype=str,
        )
    return pd.DataFrame(
        {
            "order_id": [str(i) for i in range(len(raw))],
            "order_date": pd.to_datetime(raw["date"], format="%Y%m%d"),
            "customer_id": raw["customer_id"].astype(int).astype(str),
            "amount": raw["amount"].astype(float),
        }
    )


@pytest.fixture(scope="module")
def cdnow_summary(cdnow_orders) -> pd.DataFrame:
    return rfm_summary(cdnow_orders, CAL_END, freq="W")


@pytest.fixture(scope="module")
def bgnbd(cdnow_summary):
    return BetaGeoModel().fit(cdnow_summary)


@pytest.fixture(scope="module")
def pareto(cdnow_summary):
    return ParetoNBDModel().fit(cdnow_summary)


def test_rfm_summary_matches_published_cdnow_summary(cdnow_summary):
    with resources.as_file(_ref("cdnow_customers_summary_with_transactions.csv")) as path:
        ref = pd.read_csv(path)
    ours = cdnow_summary.loc[ref["ID"].astype(str)]
    assert len(cdnow_summary) == 2357
    np.testing.assert_array_equal(ours["frequency"].to_numpy(), ref["x"].to_numpy())
    # the published file is rounded to 2 decimals
    np.testing.assert_allclose(ours["recency"].to_numpy(), ref["t_x"].to_numpy(), atol=0.0051)
    np.testing.assert_allclose(ours["T"].to_numpy(), ref["T"].to_numpy(), atol=0.0051)
    np.testing.assert_allclose(ours["monetary_value"].to_numpy(), ref["zbar"].to_numpy(), atol=0.0051)


def test_bgnbd_cdnow_published_parameters(bgnbd):
    # Fader, Hardie & Lee (2005a), Marketing Science 24(2), section 4
    for name, pub in {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}.items():
        assert sig3_close(bgnbd.params_[name], pub), (name, bgnbd.params_[name], pub)
    assert bgnbd.r_ == bgnbd.params_["r"]
    assert abs(bgnbd.log_likelihood_ - (-9582.4)) < 0.1


def test_pareto_nbd_cdnow_published_parameters(pareto):
    # Fader, Hardie & Lee (2005a), Pareto/NBD estimates on the same data; LL -9595.0
    for name, pub in {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}.items():
        assert sig3_close(pareto.params_[name], pub), (name, pareto.params_[name], pub)
    assert abs(pareto.log_likelihood_ - (-9595.0)) < 0.1


def test_gamma_gamma_cdnow_published_parameters(cdnow_summary):
    # Fader, Hardie & Lee (2005b), JMR 42(4): p = 6.25, q = 3.74, gamma = 15.44 (946 repeaters)
    gg = GammaGammaModel().fit(cdnow_summary)
    assert gg.n_customers_ == 946
    for name, pub in {"p": 6.25, "q": 3.74, "gamma": 15.44}.items():
        assert sig3_close(gg.params_[name], pub), (name, gg.params_[name], pub)


@pytest.mark.parametrize("model", ["bgnbd", "pareto"])
def test_cdnow_week78_cumulative_repeat_transactions(model, cdnow_orders, request):
    fitted = request.getfixturevalue(model)
    # actual: repeat purchase days of the 2,357 customers within the 78 weeks (4,339)
    days = cdnow_orders.drop_duplicates(["customer_id", "order_date"])
    actual = len(days) - days["customer_id"].nunique()
    assert actual == 4339
    first = cdnow_orders.groupby("customer_id")["order_date"].min()
    t = (pd.Timestamp(END) - first).dt.days.to_numpy() / 7.0
    expected = fitted.expected_purchases(t).sum()
    assert abs(expected / actual - 1) < 0.05, expected


def test_pareto_a0_equals_integral():
    # A0 in closed form (hyp2f1) against direct quadrature of its integral definition
    r, alpha, s, beta = 0.55, 10.6, 0.61, 11.7
    for (x, tx, T), (al, be) in [((2, 30.4, 38.9), (alpha, beta)), ((5, 10.0, 20.0), (15.0, 3.0)),
                                 ((0, 0.0, 38.9), (alpha, beta)), ((12, 37.0, 38.0), (2.0, 30.0))]:
        integral = integrate.quad(
            lambda u, al=al, be=be, x=x: (al + u) ** (-(r + x)) * (be + u) ** (-(s + 1)),
            tx, T, epsabs=0,
            epsrel=1e-12,
        )[0]
        # L / common = (al+T)^-(r+x) (be+T)^-s + s * integral
        want = np.log((al + T) ** (-(r + x)) * (be + T) ** (-s) + s * integral)
        _, first, second = ParetoNBDModel._log_terms(
            np.array([r, al, s, be]), np.array([float(x)]), np.array([tx]), np.array([T])
        )
        got = np.logaddexp(first, second)[0]
        assert abs(got - want) < 1e-9


def test_bgnbd_predictions_sane(bgnbd, pareto, cdnow_summary):
    for m in (bgnbd, pareto):
        p = m.conditional_probability_alive(cdnow_summary)
        assert np.all((p >= 0) & (p <= 1))
        e13 = m.conditional_expected_purchases(13, cdnow_summary)
        e26 = m.conditional_expected_purchases(26, cdnow_summary)
        assert np.all(e13 >= 0) and np.all(e26 >= e13 - 1e-12)
    # BG/NBD: a customer with no repeat purchase is alive for sure (FHL 2005a)
    zero = cdnow_summary["frequency"].to_numpy() == 0
    assert np.all(bgnbd.conditional_probability_alive(cdnow_summary)[zero] == 1)


def test_clv_discounting(bgnbd, cdnow_summary):
    gg = GammaGammaModel().fit(cdnow_summary)
    clv0 = gg.customer_lifetime_value(bgnbd, cdnow_summary, months=12, discount_rate=0.0)
    clv1 = gg.customer_lifetime_value(bgnbd, cdnow_summary, months=12, discount_rate=0.01)
    spend = gg.conditional_expected_average_value(
        cdnow_summary["frequency"], cdnow_summary["monetary_value"]
    )
    # undiscounted CLV = expected spend x expected purchases in 12 months (52.18 weeks)
    want = spend * bgnbd.conditional_expected_purchases(365.25 / 7, cdnow_summary)
    np.testing.assert_allclose(clv0, want, rtol=1e-9)
    assert np.all(clv1 < clv0 + 1e-12) and np.all(clv1 > clv0 / 1.01**12 - 1e-12)


# --------------------------------------------------------------------------------------
# BG/NBD simulator (independent of the code under test)
# --------------------------------------------------------------------------------------
def simulate_bgnbd(n, r, alpha, a, b, T, seed=0):
    """Per customer (x, t_x, T, alive) from the BG/NBD story, times in weeks.

    lambda ~ Gamma(r, rate alpha), p ~ Beta(a, b); Poisson purchases at rate lambda;
    after every repeat purchase the customer leaves with probability p.
    """
    rng = np.random.default_rng(seed)
    T = np.broadcast_to(np.asarray(T, float), (n,)).copy()
    lam = rng.gamma(r, 1.0 / alpha, n)
    p = rng.beta(a, b, n)
    t = np.zeros(n)
    x = np.zeros(n, int)
    tx = np.zeros(n)
    alive = np.ones(n, bool)
    death = np.full(n, np.inf)
    active = np.ones(n, bool)
    while active.any():
        i = np.flatnonzero(active)
        t[i] += rng.exponential(1.0 / lam[i])
        past = t[i] > T[i]
        active[i[past]] = False
        j = i[~past]
        x[j] += 1
        tx[j] = t[j]
        die = rng.random(j.size) < p[j]
        alive[j[die]] = False
        death[j[die]] = t[j[die]]
        active[j[die]] = False
    return pd.DataFrame({"frequency": x, "recency": tx, "T": T, "alive": alive, "death": death})


def test_bgnbd_recovers_simulated_parameters():
    true = {"r": 0.3, "alpha": 3.0, "a": 0.8, "b": 3.0}
    T = np.random.default_rng(11).uniform(26, 78, 4000)
    sim = simulate_bgnbd(4000, **true, T=T, seed=1)
    m = BetaGeoModel().fit(sim)
    # tolerances ~2.5 standard errors at n = 4,000 (a, b are the least identified)
    assert abs(m.r_ / true["r"] - 1) < 0.15
    assert abs(m.alpha_ / true["alpha"] - 1) < 0.2
    assert abs(m.a_ / true["a"] - 1) < 0.35
    assert abs(m.b_ / true["b"] - 1) < 0.4
    p = m.conditional_probability_alive(sim)
    assert abs(p.mean() - sim["alive"].mean()) < 0.02
    # the ones predicted alive are more often truly alive
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(sim["alive"], p) > 0.7


# --------------------------------------------------------------------------------------
# A small B2B company simulated day by day (orders, customers, invoices, activities)
# --------------------------------------------------------------------------------------
def simulate_company(n=900, seed=3, start="2023-01-01", end="2026-12-31"):
    """Customers buy as BG/NBD in days; churners pay late and get fewer visits before."""
    rng = np.random.default_rng(seed)
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    span = (end - start).days
    entry = rng.integers(0, span // 2, n)
    lam = rng.gamma(2.0, 1.0 / 60.0, n)  # purchases per day, mean one every ~30 days
    p = rng.beta(1.0, 12.0, n)
    regions = np.array(["North", "South", "东部"])
    reps = np.array(["r1", "r2", "r3", "r4"])
    rows, death_day = [], np.full(n, np.inf)
    for i in range(n):
        t = float(entry[i])
        rows.append((i, t))
        while True:
            t += rng.exponential(1.0 / lam[i])
            if t > span:
                break
            rows.append((i, t))
            if rng.random() < p[i]:
                death_day[i] = t
                break
    cust_idx = np.array([r[0] for r in rows])
    day = np.floor([r[1] for r in rows]).astype(int)
    ids = np.array([f"C{i:04d}" for i in range(n)])
    orders = pd.DataFrame(
        {
            "order_id": [f"O{k}" for k in range(len(rows))],
            "order_date": start + pd.to_timedelta(day, unit="D"),
            "customer_id": ids[cust_idx],
            "rep_id": reps[cust_idx % 4],
            "product_line": "A",
            "quantity": 1.0,
            "amount": np.round(rng.gamma(3.0, 300.0, len(rows)), 2),
        }
    )
    customers = pd.DataFrame(
        {"customer_id": ids, "name": ids, "region": regions[np.arange(n) % 3]}
    )
    late = rng.random(len(rows)) < np.where(np.isfinite(death_day[cust_idx]), 0.5, 0.1)
    due = orders["order_date"] + pd.Timedelta(days=30)
    invoices = pd.DataFrame(
        {
            "invoice_id": [f"I{k}" for k in range(len(rows))],
            "customer_id": orders["customer_id"],
            "issue_date": orders["order_date"],
            "due_date": due,
            "amount": orders["amount"],
            "paid_date": due + pd.to_timedelta(np.where(late, rng.integers(5, 90, len(rows)), -3), unit="D"),
            "paid_amount": orders["amount"],
        }
    )
    dropout = pd.Series(pd.NaT, index=range(n), dtype="datetime64[ns]")
    dead = np.isfinite(death_day)
    dropout[dead] = start + pd.to_timedelta(np.floor(death_day[dead]), unit="D")
    truth = pd.DataFrame({"customer_id": ids, "dropout_date": dropout.to_numpy()})
    data = SalesData(orders=orders, customers=customers, invoices=invoices)
    return data, truth


@pytest.fixture(scope="module")
def company():
    return simulate_company()


AS_OF = pd.Timestamp("2025-12-31")


@pytest.fixture(scope="module")
def fitted_classifier(company):
    data, _ = company
    return ChurnClassifier(horizon_days=90, n_snapshots=4).fit(data, as_of=AS_OF)


def test_churn_risk_list_fits_an_unfitted_classifier_on_its_history(company, fitted_classifier):
    """An unfitted classifier passed in is fitted on the history the scoring reads: the same
    model (settings kept) and the same list as fitting it first with ``fit``."""
    data, _ = company
    given = ChurnClassifier(horizon_days=90, n_snapshots=4)
    risk = churn_risk_list(data, AS_OF, classifier=given)
    assert given.feature_names_ == fitted_classifier.feature_names_
    assert given.n_snapshots == 4 and given.as_of_ == AS_OF
    pd.testing.assert_frame_equal(risk, churn_risk_list(data, AS_OF, classifier=fitted_classifier),
                                  check_exact=True)


def test_classifier_predicts_future_churn(company, fitted_classifier):
    from sklearn.metrics import roc_auc_score

    data, truth = company
    p = fitted_classifier.churn_probability(data, AS_OF)
    y = churn_labels(data.orders, AS_OF, 90, p.index)  # what really happened next
    assert roc_auc_score(y, p) > 0.75
    assert abs(p.mean() - y.mean()) < 0.08  # calibrated on later snapshots
    dead = truth.set_index("customer_id")["dropout_date"].reindex(p.index) <= AS_OF
    assert roc_auc_score(dead, p) > 0.75


def test_churn_risk_list_and_aggregation(company, fitted_classifier):
    data, _ = company
    risk = churn_risk_list(data, AS_OF, classifier=fitted_classifier)
    cols = ["customer_id", "region", "rep_id", "p_churn", "p_alive",
            "expected_purchases_next_quarter", "clv", "revenue_12m", "revenue_at_risk",
            "top_drivers"]
    assert list(risk.columns) == cols
    assert risk["customer_id"].is_unique
    np.testing.assert_allclose(
        risk["revenue_at_risk"], risk["p_churn"] * risk["revenue_12m"].clip(lower=0)
    )
    assert risk["revenue_at_risk"].is_monotonic_decreasing
    assert risk["region"].notna().all() and risk["rep_id"].notna().all()
    assert (risk["top_drivers"].str.len() > 0).mean() > 0.5
    by_region = churn_risk_by(risk, "region")
    assert set(by_region["region"]) == {"North", "South", "东部"}
    assert by_region["customers"].sum() == len(risk)
    np.testing.assert_allclose(by_region["revenue_at_risk"].sum(), risk["revenue_at_risk"].sum())
    by_rep = churn_risk_by(risk, "rep_id")
    assert by_rep["customers"].sum() == len(risk)


# --------------------------------------------------------------------------------------
# No look-ahead
# --------------------------------------------------------------------------------------
def test_no_look_ahead(company):
    data, _ = company
    cut = pd.Timestamp("2025-06-30")
    past = data.orders[data.orders["order_date"] <= cut]
    full_summary = rfm_summary(data.orders, cut)
    past_summary = rfm_summary(past, cut)
    pd.testing.assert_frame_equal(full_summary, past_summary)
    trimmed = SalesData(
        orders=past,
        customers=data.customers,
        invoices=data.invoices[data.invoices["issue_date"] <= cut].assign(
            paid_date=lambda d: d["paid_date"].where(d["paid_date"] <= cut)
        ),
    )
    pd.testing.assert_frame_equal(churn_features(data, cut), churn_features(trimmed, cut))


# --------------------------------------------------------------------------------------
# Bad inputs
# --------------------------------------------------------------------------------------
def _tiny_orders():
    return pd.DataFrame(
        {
            "order_id": ["1", "2", "3", "4"],
            "order_date": pd.to_datetime(["2024-01-05", "2024-02-01", "2024-03-01", "2024-01-10"]),
            "customer_id": ["a", "a", "a", "b"],
            "amount": [10.0, 12.0, -3.0, 5.0],
        }
    )


def test_missing_columns_are_named():
    with pytest.raises(ValueError, match=r"missing column\(s\) \['amount'\]"):
        rfm_summary(_tiny_orders().drop(columns="amount"), "2024-06-30")
    with pytest.raises(ValueError, match="recency"):
        BetaGeoModel().fit(pd.DataFrame({"frequency": [1], "T": [3.0]}))


def test_as_of_outside_data_range():
    with pytest.raises(ValueError, match="before the first order"):
        rfm_summary(_tiny_orders(), "2023-12-31")
    with pytest.raises(ValueError, match="after the last order"):
        rfm_summary(_tiny_orders(), "2030-01-01")


def test_customers_with_no_orders():
    with pytest.raises(ValueError, match=r"no purchase on or before.*\['zz'\]"):
        rfm_summary(_tiny_orders(), "2024-06-30", customer_ids=["a", "zz"])
    bad = pd.DataFrame({"frequency": [1, np.nan], "recency": [1.0, np.nan], "T": [3.0, np.nan]})
    with pytest.raises(ValueError, match="customers with no orders"):
        BetaGeoModel().fit(bad)


def test_returns_kept_apart():
    s = rfm_summary(_tiny_orders(), "2024-06-30", freq="D")
    assert s.loc["a", "frequency"] == 1  # the return is not a purchase
    assert s.loc["a", "returns_amount"] == -3.0
    assert s.loc["a", "recency"] == 27 and s.loc["a", "monetary_value"] == 12.0


def test_one_class_target():
    # every customer buys every week: nobody ever churns within 90 days
    dates = pd.date_range("2023-01-02", "2024-12-30", freq="7D")
    orders = pd.DataFrame(
        {
            "order_id": [f"{c}{i}" for c in "xyz" for i in range(len(dates))],
            "order_date": np.tile(dates, 3),
            "customer_id": np.repeat(list("xyz"), len(dates)),
            "amount": 100.0,
        }
    )
    with pytest.raises(ValueError, match="one-class target"):
        ChurnClassifier(bgnbd_features=False).fit(SalesData(orders=orders), as_of="2024-12-31")


def test_invalid_summary_and_params():
    with pytest.raises(ValueError, match="recency > T"):
        BetaGeoModel().fit(pd.DataFrame({"frequency": [1], "recency": [5.0], "T": [3.0]}))
    with pytest.raises(ValueError, match="all frequency == 0"):
        ParetoNBDModel().fit(pd.DataFrame({"frequency": [0, 0], "recency": [0.0, 0.0], "T": [3.0, 4.0]}))
    with pytest.raises(ValueError, match="horizon_days"):
        ChurnClassifier(horizon_days=0).fit(SalesData(orders=_tiny_orders()), as_of="2024-06-30")
    with pytest.raises(RuntimeError, match="not fitted"):
        BetaGeoModel().conditional_probability_alive(pd.DataFrame({"frequency": [1], "recency": [1.0], "T": [2.0]}))


# --------------------------------------------------------------------------------------
# Demo company of salesplan.demo.generator (ground truth)
# --------------------------------------------------------------------------------------
def test_demo_company_truth():
    synthetic = pytest.importorskip("salesplan.demo.generator")
    from sklearn.metrics import roc_auc_score

    company = synthetic.generate(seed=7, scale=0.3, as_of="2026-12-31")
    data, truth = company.data, company.truth.customers.set_index("customer_id")
    as_of = pd.Timestamp("2026-12-31")
    summary = rfm_summary(data.orders, as_of)
    alive = truth["alive_at_as_of"].reindex(summary.index).astype(bool).to_numpy()
    pareto = ParetoNBDModel(n_starts=2).fit(summary)
    p_alive = pareto.conditional_probability_alive(summary)
    assert roc_auc_score(alive, p_alive) > 0.9
    assert abs(p_alive.mean() - alive.mean()) < 0.08
    clf = ChurnClassifier(horizon_days=90, n_snapshots=3, max_iter=100).fit(data, as_of=as_of)
    p = clf.churn_probability(data, as_of)
    future = company.simulate_future(months=3, seed=1)
    y = churn_labels(pd.concat([data.orders, future]), as_of, 90, p.index)
    assert roc_auc_score(y, p) > 0.85
    assert abs(p.mean() - y.mean()) < 0.08


@pytest.mark.parametrize("cls", [BetaGeoModel, ParetoNBDModel])
def test_fast_optimizer_reaches_the_nelder_mead_optimum(cls, cdnow_summary):
    """The L-BFGS-B path (analytic / central-difference gradients) lands on the optimum of
    the former Nelder-Mead + L-BFGS-B path to 1e-6 relative in every parameter."""
    fast = cls().fit(cdnow_summary)
    slow = cls(optimizer="nelder-mead").fit(cdnow_summary)
    for k, v in slow.params_.items():
        assert fast.params_[k] == pytest.approx(v, rel=1e-6), k
    assert fast.log_likelihood_ >= slow.log_likelihood_ - 1e-6


def test_driver_reasons_in_plain_words_without_scientific_notation():
    from salesplan.models.churn import driver_reasons

    texts = pd.Series([
        "days_since_activity=264 (+1.21) bgnbd_expected=2e-06 (+0.30) recency_days=186 (+0.20)",
        "revenue_365d=458200 (+0.9) mean_gap_days=6.5 (+0.4) returns_share_365d=0.0011 (+0.1)",
        "bgnbd_p_alive=0.019 (+0.8) purchase_trend=-18.4 (+0.2) some_new_feature=0.34 (+0.1)",
        "mean_dpd=nan (+0.5)",
        "",
    ])
    assert driver_reasons(texts).tolist() == [
        "days since last contact: 264; expected orders next period: < 0.01; days since last order: 186",
        "revenue, last year: 458,200; usual days between orders: 6.5; returns share, last year: < 0.01",
        "P(still a customer), BG/NBD: 0.019; change in purchase days (last 180 vs previous 180): -18;"
        " some new feature: 0.34",
        "mean days past due: –",
        "",
    ]


def test_classifier_is_a_scikit_learn_estimator(fitted_classifier):
    from sklearn.base import clone
    from sklearn.utils import estimator_checks as ec

    est = ChurnClassifier(horizon_days=60, calibration="nonsense")  # __init__ only stores
    assert est.get_params()["calibration"] == "nonsense"
    ec.check_no_attributes_set_in_init("ChurnClassifier", est)
    ec.check_get_params_invariance("ChurnClassifier", est)
    ec.check_set_params("ChurnClassifier", est)
    ec.check_parameters_default_constructible("ChurnClassifier", ChurnClassifier())
    c = clone(fitted_classifier.set_params(max_iter=fitted_classifier.max_iter))
    assert c.get_params() == fitted_classifier.get_params() and not hasattr(c, "model_")
    learned = set(vars(fitted_classifier)) - set(fitted_classifier.get_params())
    assert learned and all(a.endswith("_") for a in learned)
    assert list(fitted_classifier.classes_) == [0, 1]
    with pytest.raises(ValueError, match="calibration"):
        est.fit(SalesData(orders=_tiny_orders()), as_of="2024-06-30")
    with pytest.raises(ValueError, match="calibration"):  # the older fit(X, as_of) still reads as_of
        est.fit(SalesData(orders=_tiny_orders()), "2024-06-30")
    with pytest.raises(ValueError, match="y must be None"):
        est.fit(SalesData(orders=_tiny_orders()), [0, 1], as_of="2024-06-30")


def test_classifier_proba_and_score_follow_scikit_learn(company, fitted_classifier):
    data, _ = company
    proba = fitted_classifier.predict_proba(data, AS_OF)
    p = fitted_classifier.churn_probability(data, AS_OF)
    assert proba.shape == (len(p), 2)
    np.testing.assert_allclose(proba[:, 1], p.to_numpy())
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    y = churn_labels(data.orders, AS_OF, 90, p.index)
    # ClassifierMixin.score: accuracy of predict, counted here by hand
    assert fitted_classifier.score(data, y) == pytest.approx(((p.to_numpy() >= 0.5) == y.to_numpy()).mean())


# --------------------------------------------------------------------------------------
# Speed-ups that must not change a number (issue 19)
# --------------------------------------------------------------------------------------
def test_pareto_shared_terms_equal_the_row_by_row_likelihood():
    # rows share x, (x, t_x) and (x, T) as customers do; the vectorised likelihood (2F1 and
    # log Gamma once per distinct value) must equal the formula evaluated row by row
    from scipy import special

    rng = np.random.default_rng(5)
    x = rng.integers(0, 6, 400).astype(float)
    T = rng.choice([20.0, 38.9, 52.0], 400)
    tx = np.where(x > 0, np.floor(T * rng.uniform(0, 1, 400)), 0.0)  # whole weeks: shared values
    for r, alpha, s, beta in [(0.55, 10.6, 0.61, 11.7), (0.9, 3.7, 1.9, 362.5), (1.2, 40.0, 0.8, 5.0)]:
        got = ParetoNBDModel._loglik_terms(np.array([r, alpha, s, beta]), x, tx, T)
        for i in range(len(x)):
            m, b2 = (alpha, s + 1) if alpha >= beta else (beta, r + x[i])
            f_tx = special.hyp2f1(r + s + x[i], b2, r + s + x[i] + 1, abs(alpha - beta) / (m + tx[i]))
            f_T = special.hyp2f1(r + s + x[i], b2, r + s + x[i] + 1, abs(alpha - beta) / (m + T[i]))
            a0 = f_tx / (m + tx[i]) ** (r + s + x[i]) - f_T / (m + T[i]) ** (r + s + x[i])
            want = (special.gammaln(r + x[i]) - special.gammaln(r) + r * np.log(alpha) + s * np.log(beta)
                    + np.log((alpha + T[i]) ** (-(r + x[i])) * (beta + T[i]) ** (-s)
                             + s / (r + s + x[i]) * a0))
            assert abs(got[i] - want) <= 1e-9 * max(1.0, abs(want)), (i, got[i], want)


def test_gamma_gamma_shared_terms_equal_the_formula():
    from scipy import special

    x = np.array([1.0, 2.0, 2.0, 7.0, 1.0])
    m = np.array([10.0, 35.5, 12.0, 80.0, 3.0])
    p, q, g = 6.25, 3.74, 15.44
    got = GammaGammaModel._loglik_terms(np.array([p, q, g]), x, m)
    want = [special.gammaln(p * xi + q) - special.gammaln(p * xi) - special.gammaln(q) + q * np.log(g)
            + (p * xi - 1) * np.log(mi) + p * xi * np.log(xi) - (p * xi + q) * np.log(g + xi * mi)
            for xi, mi in zip(x, m)]
    np.testing.assert_allclose(got, want, rtol=1e-13)


def test_count_model_fit_does_not_depend_on_the_blas_thread_count():
    # OpenBLAS splits a dot product over its threads above 10,000 terms, which rounds the
    # likelihood sum by the thread count; the fit sums on one thread, so 1 and 2 agree exactly
    from threadpoolctl import threadpool_limits

    from salesplan.models.churn import BetaGeoModel

    rng = np.random.default_rng(11)
    n = 12_000
    T = rng.uniform(10.0, 80.0, n)
    x = rng.poisson(2.0, n).astype(float)
    tx = np.where(x > 0, T * rng.uniform(0, 1, n), 0.0)
    fits = []
    for threads in (1, 2):
        with threadpool_limits(limits=threads, user_api="blas"):
            fits.append(BetaGeoModel(n_starts=1).fit(x, tx, T).params_)
    assert fits[0] == fits[1]


def test_driver_contributions_equal_full_occlusion(company, fitted_classifier):
    # against occluding every feature of every customer (the definition), scored directly
    data, _ = company
    clf = fitted_classifier
    feats = clf.features(data, AS_OF)
    X = feats.reindex(columns=clf.feature_names_).to_numpy(float)
    base = clf._raw(X)
    want = np.empty_like(X)
    for j in range(X.shape[1]):
        occluded = X.copy()
        occluded[:, j] = clf.reference_[j]
        want[:, j] = base - clf._raw(occluded)
    got = clf.driver_contributions(feats).to_numpy()
    assert np.array_equal(got, want)


def test_expected_purchases_with_known_p_alive_are_the_same_numbers(bgnbd, pareto, cdnow_summary):
    for m in (bgnbd, pareto):
        alive = m.conditional_probability_alive(cdnow_summary)
        np.testing.assert_array_equal(m.conditional_expected_purchases(13, cdnow_summary, p_alive=alive),
                                      m.conditional_expected_purchases(13, cdnow_summary))


def test_likelihood_evaluated_once_per_point():
    from salesplan.models.churn import _remembered

    calls = []

    def negll(theta):
        calls.append(theta.copy())
        return float(np.sum((theta - 1.0) ** 2))

    once = _remembered(negll)
    assert once(np.array([0.5, 2.0])) == once(np.array([0.5, 2.0])) == 1.25
    assert once(np.array([1.0, 1.0])) == 0.0
    assert len(calls) == 2
