"""The scorecard workflow (salesplan.models.credit_workflow): train, back-test, apply; and why it
cannot run on some companies."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from salesplan.data import SalesData
from salesplan.models import credit
from salesplan.models.credit_workflow import (
    ScorecardParams,
    ScorecardUnavailable,
    assess_credit,
    scorecard_unavailable,
)

AS_OF = pd.Timestamp("2026-12-31")


@pytest.fixture(scope="module")
def company():
    from salesplan.demo import generate

    return generate(seed=7, scale=0.1).data


def test_params_check_themselves():
    with pytest.raises(ValueError, match=r"ScorecardParams.max_bins=1"):
        ScorecardParams(max_bins=1)
    with pytest.raises(ValueError, match=r"ScorecardParams.outcome_months=0"):
        ScorecardParams(outcome_months=0)


def test_no_invoices_is_a_reason_not_a_crash(company):
    data = SalesData(orders=company.orders)
    assert scorecard_unavailable(data, AS_OF) == ("this data has no `invoices` table; add it to turn the credit "
                                                  "scorecard on")
    with pytest.raises(ScorecardUnavailable, match="no `invoices` table"):
        assess_credit(data, AS_OF)


def test_too_short_an_invoice_history(company):
    inv = company.invoices[company.invoices["issue_date"] >= "2026-03-01"]
    data = dataclasses.replace(company, invoices=inv)
    first = inv["issue_date"].min()
    why = scorecard_unavailable(data, AS_OF)
    assert why == (f"the invoices start {first:%Y-%m-%d}, but the scorecard learns from invoices issued by 2025-12-31 "
                   "(12 months before 2026-12-31) and what happened to them after; it needs more than 12 months "
                   "of invoice history")


def test_no_bad_customer_no_contrast(company):
    inv = company.invoices.copy()
    inv["paid_date"] = inv["due_date"]  # everyone pays on the due date: nobody reaches 90 days past due
    inv["paid_amount"] = inv["amount"]
    why = scorecard_unavailable(dataclasses.replace(company, invoices=inv), AS_OF)
    assert why is not None and why.endswith("are all good: no contrast to learn a scorecard from")


def test_assessment_is_the_recipe_step_by_step(company):
    """The workflow equals the recipe written out with the credit module's own functions."""
    p = ScorecardParams(random_state=3)
    got = assess_credit(company, AS_OF, p)
    train = AS_OF - pd.DateOffset(months=12)
    assert got.train_date == pd.Timestamp("2025-12-31")
    X = credit.credit_features(company.invoices, company.orders, company.customers, train)
    y = credit.credit_target(company.invoices, train, dpd=90, months=12, data_end=AS_OF)
    card = credit.CreditScorecard(max_n_bins=5, max_n_prebins=10, min_iv=0.02, base_score=600.0, base_odds=50.0,
                                  pdo=20.0, random_state=3).fit(X.loc[y.index], y.to_numpy())
    now = credit.credit_features(company.invoices, company.orders, company.customers, AS_OF)
    # the workflow reads the invoices and orders once for its dates: the same features
    pd.testing.assert_frame_equal(got.X_train, X.loc[y.index], check_exact=True)
    pd.testing.assert_series_equal(got.y_train, y, check_exact=True)
    pd.testing.assert_frame_equal(got.X_now, now, check_exact=True)
    np.testing.assert_allclose(got.points.to_numpy(), card.points(now))
    np.testing.assert_allclose(got.pd.to_numpy(), card.predict_proba(now)[:, 1])
    assert list(got.grades.astype(str)) == list(card.grade(now).astype(str))
    assert got.worst_grades == list(card.grades[-2:])
    # back-test: the card of one window earlier, scored on the training outcomes
    from sklearn.metrics import roc_auc_score

    back = train - pd.DateOffset(months=12)
    Xb = credit.credit_features(company.invoices, company.orders, company.customers, back)
    yb = credit.credit_target(company.invoices, back, dpd=90, months=12, data_end=train)
    back_card = credit.CreditScorecard(max_n_bins=5, max_n_prebins=10, min_iv=0.02, random_state=3).fit(
        Xb.loc[yb.index], yb.to_numpy())
    assert got.backtest_auc == pytest.approx(roc_auc_score(y, -back_card.points(X.loc[y.index])))
    assert 0.5 < got.backtest_auc <= 1.0
    assert "psi" in got.stability.columns
