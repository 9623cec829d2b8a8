"""Tests of salesplan.models.credit: hand examples, German credit CV AUC, no look-ahead, errors."""

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from salesplan.models.credit import (
    GERMAN_CREDIT_CONFIG,
    BlendedScorecard,
    CreditPolicy,
    CreditScorecard,
    EarlyWarningParams,
    credit_features,
    credit_policy,
    credit_target,
    early_warning,
    ks_statistic,
    load_german_credit,
    points_scaling,
    psi,
)

#: what the German-credit test asserts (see benchmarks/RESULTS.md for the measured value)
GERMAN_AUC_FLOOR = 0.79


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@pytest.fixture(scope="module")
def german():
    return load_german_credit()


@pytest.fixture(scope="module")
def german_fit(german):
    X, y = german
    return CreditScorecard(**GERMAN_CREDIT_CONFIG).fit(X, y)


def _inv(rows):
    df = pd.DataFrame(rows, columns=["invoice_id", "customer_id", "issue_date", "due_date",
                                     "amount", "paid_date"])
    for c in ("issue_date", "due_date", "paid_date"):
        df[c] = pd.to_datetime(df[c])
    df["paid_amount"] = np.where(df["paid_date"].notna(), df["amount"], np.nan)
    return df


# ------------------------------------------------------------------ German credit
def test_german_credit_data_file(german):
    X, y = german
    assert X.shape == (1000, 20) and y.sum() == 300


def test_german_credit_cv_auc(german):
    """5-fold stratified CV, binning refitted inside each fold (no leakage)."""
    X, y = german
    aucs = []
    for tr, te in StratifiedKFold(5, shuffle=True, random_state=0).split(X, y):
        m = CreditScorecard(**GERMAN_CREDIT_CONFIG).fit(X.iloc[tr], y[tr])
        aucs.append(roc_auc_score(y[te], -m.points(X.iloc[te])))  # high points = good
    assert np.mean(aucs) >= GERMAN_AUC_FLOOR, aucs


def test_german_credit_blended_cv_auc(german):
    """BlendedScorecard (WoE + smoothed fine-bin part, weights fixed a priori), seed 0.

    Goal 0.80 not reached (benchmarks/RESULTS.md: 0.7954 mean over seeds 0-2); the test
    asserts the same floor as the WoE scorecard.
    """
    X, y = german
    aucs = []
    for tr, te in StratifiedKFold(5, shuffle=True, random_state=0).split(X, y):
        m = BlendedScorecard(**GERMAN_CREDIT_CONFIG).fit(X.iloc[tr], y[tr])
        aucs.append(roc_auc_score(y[te], -m.points(X.iloc[te])))
    assert np.mean(aucs) >= GERMAN_AUC_FLOOR, aucs


def _lookup_points(tab, X):
    """Score from the printed table only: base + the row of each variable holding the value."""
    total = np.full(len(X), tab.loc[tab.variable == "(base)", "points"].iloc[0])
    for v, g in tab[tab.variable != "(base)"].groupby("variable", sort=False):
        x = X[v]
        if pd.api.types.is_numeric_dtype(x):
            vals = x.to_numpy(float)
            r = g[g.bin != "Missing"]
            k = np.searchsorted(r["lower"].to_numpy()[1:], np.nan_to_num(vals), side="right")
            pts = r["points"].to_numpy()[k]
            miss = g.loc[g.bin == "Missing", "points"].iloc[0]
            total += np.where(np.isnan(vals), miss, pts)
        else:
            by_bin = g.set_index("bin")["points"]
            known = set(by_bin.index)
            s = pd.Series(["Missing" if pd.isna(c) else (str(c) if str(c) in known else "(other)")
                           for c in x], index=x.index)
            total += s.map(by_bin).to_numpy(float)
    return total


def test_blended_scorecard_table_reproduces_scores(german):
    X, y = german
    m = BlendedScorecard().fit(X, y)
    tab = m.scorecard_table()
    assert {"variable", "bin", "lower", "upper", "points"} <= set(tab.columns)
    np.testing.assert_allclose(tab["points"].iloc[1:],
                               (tab["woe_points"] + tab["fine_points"]).iloc[1:], atol=1e-9)
    rows = X.iloc[:200].copy()
    rows["duration_in_month"] = rows["duration_in_month"].astype(float)
    rows.iloc[0, rows.columns.get_loc("duration_in_month")] = np.nan  # -> Missing row
    rows.iloc[1, rows.columns.get_loc("purpose")] = "never seen"     # -> (other) row
    rows.iloc[2, rows.columns.get_loc("purpose")] = np.nan           # -> Missing row
    np.testing.assert_allclose(_lookup_points(tab, rows), m.points(rows), rtol=0, atol=1e-8)
    np.testing.assert_allclose(m.variable_points(rows).sum(axis=1), m.points(rows), atol=1e-8)
    # gam_weight=0 is the WoE scorecard itself
    w0 = BlendedScorecard(gam_weight=0.0).fit(X.iloc[:400], y[:400])
    ref = CreditScorecard().fit(X.iloc[:400], y[:400])
    np.testing.assert_allclose(w0.points(X.iloc[400:]), ref.points(X.iloc[400:]), atol=1e-8)
    with pytest.raises(ValueError, match="gam_weight"):
        BlendedScorecard(gam_weight=1.5).fit(X.iloc[:100], y[:100])


def test_points_scaling_by_hand(german, german_fit):
    # factor = pdo / ln 2 = 20 / 0.693147 = 28.853901; offset = 600 - 28.853901 * ln 50
    # = 600 - 28.853901 * 3.912023 = 487.122876
    offset, factor = points_scaling(600, 50, 20)
    assert factor == pytest.approx(28.853901, abs=1e-6)
    assert offset == pytest.approx(487.122876, abs=1e-5)
    assert offset + factor * math.log(50) == pytest.approx(600)
    assert offset + factor * math.log(100) == pytest.approx(620)  # double odds: + pdo
    X, _ = german
    m = german_fit
    p = m.predict_proba(X.iloc[:50])[:, 1]  # calibration None: the regression's PD
    expected = offset + factor * np.log((1 - p) / p)
    np.testing.assert_allclose(m.points(X.iloc[:50]), expected, rtol=0, atol=1e-6)


def test_scorecard_table_adds_up(german, german_fit):
    X, _ = german
    m = german_fit
    tab = m.scorecard_table()
    assert {"variable", "bin", "points"} <= set(tab.columns)
    assert set(m.features_) <= set(tab["variable"])
    # the points of each row's bins plus the base points give its score
    rows = X.iloc[:20]
    total = np.full(len(rows), tab.loc[tab.variable == "(base)", "points"].iloc[0])
    for v in m.features_:
        ob = m.binning_.get_binned_variable(v)
        woe = ob.transform(rows[v].to_numpy(), metric="woe")
        total += -m.factor_ * m.coef_[v] * woe
    np.testing.assert_allclose(m.points(rows), total, atol=1e-6)


def test_grades_calibration_and_psi(german, german_fit):
    X, y = german
    g = german_fit.grade(X)
    assert list(g.cat.categories) == ["A", "B", "C", "D", "E"]
    # PD grades are ordered: the bad rate does not fall from A to E (for present grades)
    rate = pd.Series(y, index=X.index).groupby(g, observed=True).mean()
    assert rate.is_monotonic_increasing
    cal = CreditScorecard(central_tendency=0.05).fit(X, y)
    assert cal.predict_proba(X)[:, 1].mean() == pytest.approx(0.05, abs=1e-6)
    # PSI: identical samples -> 0; a shifted sample -> large
    s = german_fit.points(X)
    assert psi(s, s) == pytest.approx(0.0, abs=1e-12)
    assert psi(s, s - 60) > 0.25
    st = german_fit.stability(X.iloc[:500], X.iloc[500:])
    assert st.loc[st.variable == "score", "psi"].iloc[0] < 0.10


def test_psi_and_ks_by_hand():
    # two bins with edges at 0.5: expected 50/50, actual 80/20
    # PSI = (0.8-0.5) ln(0.8/0.5) + (0.2-0.5) ln(0.2/0.5) = 0.141001 + 0.274887 = 0.415888
    e = np.r_[np.zeros(50), np.ones(50)]
    a = np.r_[np.zeros(80), np.ones(20)]
    assert psi(e, a, edges=[-np.inf, 0.5, np.inf]) == pytest.approx(0.415888, abs=1e-6)
    # KS: bads at scores 1,2 goods at 3,4 -> perfect separation = 1
    assert ks_statistic([1, 1, 0, 0], [1, 2, 3, 4]) == 1.0
    assert ks_statistic([1, 0, 1, 0], [1, 2, 3, 4]) == pytest.approx(0.5)


def test_sklearn_contract():
    from sklearn.base import clone

    m = CreditScorecard(C=0.3, linear_features=("x",))
    assert m.get_params()["linear_features"] == ("x",)
    c = clone(m)
    assert c.C == 0.3 and not hasattr(c, "coef_")


def test_score_is_the_auc_and_points_are_points(german, german_fit):
    X, y = german
    # score(X, y) follows scikit-learn (one number, higher = better): the PD's ROC AUC,
    # computed here independently from the probabilities
    assert german_fit.score(X, y) == pytest.approx(roc_auc_score(y, german_fit.predict_proba(X)[:, 1]))
    assert german_fit.points(X).shape == (len(X),)
    with pytest.raises(TypeError):
        german_fit.score(X)  # points are points(), not score()


# ------------------------------------------------------------------ target, features
def test_credit_target_by_hand():
    rows = [
        # A: fine first invoice; a later one unpaid 90 days after its due date -> bad
        ("a1", "A", "2024-04-01", "2024-05-01", 100, "2024-06-10"),
        ("a2", "A", "2024-09-01", "2024-10-01", 100, None),        # t = 2024-12-30
        # B: paid 75 days late (before t) -> good
        ("b1", "B", "2024-05-01", "2024-06-01", 100, "2024-08-15"),  # t = 2024-08-30
        # C: already 90+ DPD at as_of -> known defaulter, out of the population
        ("c1", "C", "2024-02-01", "2024-03-01", 100, None),
        # D: first invoice after as_of -> not in the population
        ("d1", "D", "2024-08-01", "2024-09-01", 100, "2024-09-01"),
        # E: paid on the day it reaches 90 DPD -> bad
        ("e1", "E", "2024-05-15", "2024-06-15", 100, "2024-09-13"),  # t = 2024-09-13
        ("x1", "B", "2025-07-01", "2025-08-01", 100, "2025-07-20"),  # data reach mid-2025
    ]
    bad = credit_target(_inv(rows), "2024-06-30", dpd=90, months=12)
    assert bad.to_dict() == {"A": 1, "B": 0, "E": 1}
    with pytest.raises(ValueError, match="ends after the invoice data"):
        credit_target(_inv(rows[:-1]), "2024-06-30")
    assert credit_target(_inv(rows[:-1]), "2024-06-30", data_end="2025-06-30").to_dict() == {
        "A": 1, "B": 0, "E": 1}


def _small_company():
    inv = _inv([
        ("i1", "A", "2024-01-10", "2024-02-09", 100, "2024-02-20"),   # 11 days late
        ("i2", "A", "2024-03-10", "2024-04-09", 200, "2024-04-01"),   # on time
        ("i3", "A", "2024-05-10", "2024-06-09", 300, None),           # open, 21 DPD at as_of
        ("i4", "B", "2024-02-01", "2024-03-02", 50, "2024-03-01"),
        ("i5", "B", "2024-06-01", "2024-07-01", 70, None),            # open, not yet due
    ])
    orders = pd.DataFrame({
        "order_id": ["o1", "o2", "o3", "o4", "o5"],
        "order_date": pd.to_datetime(["2024-01-05", "2024-03-05", "2024-05-05",
                                      "2024-02-01", "2024-06-01"]),
        "customer_id": ["A", "A", "A", "B", "B"],
        "amount": [100.0, 200.0, 300.0, 50.0, 70.0],
    })
    customers = pd.DataFrame({"customer_id": ["A", "B"], "industry": ["retail", "机械"],
                              "credit_limit": [1000.0, 0.0]})
    return inv, orders, customers


def test_credit_features_by_hand():
    inv, orders, customers = _small_company()
    f = credit_features(inv, orders, customers, "2024-06-30")
    a, b = f.loc["A"], f.loc["B"]
    assert a["n_invoices"] == 3 and a["dpd_max"] == 21 and a["dpd_open_max"] == 21
    assert a["dpd_mean"] == pytest.approx((11 + 0 + 21) / 3)
    assert a["share_paid_late"] == pytest.approx(2 / 3)
    assert a["utilisation"] == pytest.approx(300 / 1000)
    assert a["overdue_share"] == pytest.approx(1.0)
    assert b["share_paid_late"] == 0 and np.isnan(b["utilisation"])  # no positive limit
    assert b["industry"] == "机械"


def test_no_look_ahead():
    inv, orders, customers = _small_company()
    as_of = "2024-06-30"
    before = credit_features(inv, orders, customers, as_of)
    # the future: i3 gets paid after as_of, new invoices and orders after as_of
    inv2 = inv.copy()
    inv2.loc[inv2.invoice_id == "i3", ["paid_date", "paid_amount"]] = [
        pd.Timestamp("2024-07-15"), 300.0]
    inv2 = pd.concat([inv2, _inv([("i9", "A", "2024-07-02", "2024-08-01", 999, "2024-12-01"),
                                  ("i8", "C", "2024-08-02", "2024-09-01", 5, None)])])
    orders2 = pd.concat([orders, pd.DataFrame({
        "order_id": ["o9", "o8"], "order_date": pd.to_datetime(["2024-07-01", "2024-08-01"]),
        "customer_id": ["A", "C"], "amount": [5000.0, 10.0]})])
    after = credit_features(inv2, orders2, customers, as_of)
    pd.testing.assert_frame_equal(before, after)


# ------------------------------------------------------------------ policy, early warning
def test_early_warning_by_hand():
    inv = _inv([
        ("I1", "A", "2024-04-01", "2024-05-01", 10, None),            # 60 days -> listed
        ("I2", "A", "2024-05-01", "2024-05-31", 10, None),            # 30 days -> not (> 30)
        ("I3", "B", "2024-04-30", "2024-05-30", 10, None),            # 31 days -> listed
        ("I4", "B", "2024-03-01", "2024-04-01", 10, "2024-06-15"),    # paid -> not listed
        ("I5", "C", "2024-03-01", "2024-04-01", 10, "2024-07-10"),    # paid after as_of: 90
        ("I6", "C", "2024-07-05", "2024-08-04", 10, None),            # future -> ignored
    ])
    out = early_warning(inv, "2024-06-30")
    assert out["invoice_id"].tolist() == ["I5", "I1", "I3"]
    assert out["days_overdue"].tolist() == [90, 60, 31]
    assert out["collection_letter"].all() and out["supply_hold"].all()
    assert early_warning(inv, "2024-06-30", EarlyWarningParams(overdue_days=60))[
        "invoice_id"].tolist() == ["I5"]
    with pytest.raises(ValueError, match="overdue_days"):
        EarlyWarningParams(overdue_days=-1)
    # the ids are read by position (not copied): a shuffled index, Arrow text, same rows
    shuffled = inv.iloc[::-1].set_axis([7, 3, 9, 1, 0, 4]).astype({"invoice_id": "string[pyarrow]"})
    pd.testing.assert_frame_equal(early_warning(shuffled, "2024-06-30"), out)
    assert isinstance(out["invoice_id"].iloc[0], str)
    bad = inv.assign(due_date=inv["due_date"].where(inv["invoice_id"] != "I4"))
    with pytest.raises(ValueError, match=r"'due_date': missing dates in invoice_id\(s\) \['I4'\]"):
        early_warning(bad.iloc[::-1], "2024-06-30")


def test_credit_policy_by_hand():
    grades = pd.Series(["A", "C", "E"], index=["x", "y", "z"])
    rev = pd.Series({"x": 120_000.0, "y": 60_000.0, "z": 24_000.0})
    out = credit_policy(grades, rev)
    # A: 3 months of 10k = 30k, 60 days; C: 1 month of 5k; E: no credit, cash before delivery
    assert out["recommended_limit"].tolist() == [30_000.0, 5_000.0, 0.0]
    assert out["payment_terms_days"].tolist() == [60, 30, 0]
    assert out.loc["z", "condition"] == "cash before delivery"
    assert CreditPolicy().condition(3) == "deposit 30%"
    with pytest.raises(ValueError, match="terms_days"):
        CreditPolicy(terms_days=(1, 2))


# ------------------------------------------------------------------ bad inputs
def test_errors_name_the_problem(german):
    inv, orders, customers = _small_company()
    with pytest.raises(ValueError, match=r"missing column\(s\) \['due_date'\]"):
        credit_features(inv.drop(columns="due_date"), orders, customers, "2024-06-30")
    with pytest.raises(ValueError, match=r"'customers' is missing column\(s\) \['credit_limit'\]"):
        credit_features(inv, orders, customers.drop(columns="credit_limit"), "2024-06-30")
    with pytest.raises(ValueError, match="before the first invoice"):
        credit_features(inv, orders, customers, "2020-01-01")
    with pytest.raises(ValueError, match="days after the last invoice event"):
        credit_features(inv, orders, customers, "2030-01-01")
    with pytest.raises(ValueError, match="no customer has any invoice"):
        credit_features(inv.iloc[:0], orders, customers, "2024-06-30")
    X, y = german
    with pytest.raises(ValueError, match="one class"):
        CreditScorecard().fit(X.iloc[:50], np.zeros(50, dtype=int))
    with pytest.raises(ValueError, match="grade_edges"):
        CreditScorecard(grade_edges=(0.5, 0.1, 0.2, 0.3)).fit(X.iloc[:50], y[:50])
    m = CreditScorecard().fit(X.iloc[:300], y[:300])
    with pytest.raises(ValueError, match="missing feature column"):
        m.predict_proba(X.drop(columns=m.features_[0]))


def test_customers_without_history_are_left_out():
    inv, orders, customers = _small_company()
    more = pd.concat([customers, pd.DataFrame({"customer_id": ["Z"], "industry": [None],
                                               "credit_limit": [10.0]})])
    f = credit_features(inv, orders, more, "2024-06-30")
    assert "Z" not in f.index and list(f.index) == ["A", "B"]


# ------------------------------------------------------------------ demo company
def test_demo_company_recovers_true_default_risk():
    """Train at 2024-12-31, score at 2025-12-31, outcome in 2026 (the last history year).

    Independent references: the generator's true ``default_propensity``. Its own AUC
    against the realised bads is the oracle's ranking power on this sample; the points
    scorecard must come close to it and rank customers like the truth does.
    """
    synthetic = pytest.importorskip("salesplan.demo.generator")
    from scipy.stats import spearmanr

    company = synthetic.generate(seed=7, scale=1.0, as_of="2026-12-31")
    d, truth = company.data, company.truth.customers.set_index("customer_id")
    end = "2026-12-31"
    F_tr = credit_features(d.invoices, d.orders, d.customers, "2024-12-31")
    y_tr = credit_target(d.invoices, "2024-12-31", data_end=end)
    F_sc = credit_features(d.invoices, d.orders, d.customers, "2025-12-31")
    y_sc = credit_target(d.invoices, "2025-12-31", data_end=end)
    assert 0.01 < y_sc.mean() < 0.2
    m = CreditScorecard().fit(F_tr.loc[y_tr.index], y_tr.to_numpy())
    points = m.points(F_sc.loc[y_sc.index])
    auc = roc_auc_score(y_sc, -points)
    oracle = roc_auc_score(y_sc, truth.loc[y_sc.index, "default_propensity"])
    assert auc >= oracle - 0.05, (auc, oracle)
    active = F_sc.loc[y_sc.index, "n_invoices"].to_numpy() > 0
    rho = spearmanr(-points[active],
                    truth.loc[y_sc.index[active], "default_propensity"]).statistic
    assert rho > 0.1, rho
