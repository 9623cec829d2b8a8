"""The credit scorecard workflow: train on the last complete outcome window, back-test, apply.

The customer-risk notebook (03) used to do these steps in a cell; they are one recipe:

1. **Train** at ``train_date = as_of - outcome_months``: features of every customer with
   an invoice by then (:func:`salesplan.models.credit.credit_features`), target = one of
   their invoices reaching ``bad_dpd`` days past due in the following ``outcome_months``
   (:func:`~salesplan.models.credit.credit_target`, observed up to ``as_of``).
2. **Back-test**: the same recipe one window earlier (``back_date = train_date -
   outcome_months``, outcomes up to ``train_date``), scored on the training population's
   outcomes: the AUC of a card that never saw them.
3. **Apply** the card to today's features: points, probability of default, grade, and the
   population stability of today's customers against the training population.

:func:`scorecard_unavailable` says, in one line, why the recipe cannot run on a company's
data (no invoices; not enough history before the training date; one outcome class only).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from salesplan.data import SalesData
from salesplan.data.checks import as_date, check_number
from salesplan.models import credit

__all__ = ["CreditAssessment", "ScorecardParams", "ScorecardUnavailable", "assess_credit", "scorecard_unavailable"]


class ScorecardUnavailable(ValueError):
    """The data cannot carry the scorecard recipe; the message says why in one line."""


@dataclass(frozen=True)
class ScorecardParams:
    """Settings of the scorecard recipe.

    Parameters
    ----------
    bad_dpd : int, days past due
        A customer is "bad" when one of his invoices reaches this many days past due.
    outcome_months : int, months
        Window after the training date in which "bad" is observed.
    max_bins : int
        Most bins per scorecard variable.
    min_iv : float, information value
        Variables weaker than this are left out of the card.
    base_score, base_odds, pdo : float
        ``base_score`` points mean ``base_odds`` good customers per bad one; every ``pdo``
        points double the odds.
    random_state : int
        Seed of the fit.
    """

    bad_dpd: int = 90
    outcome_months: int = 12
    max_bins: int = 5
    min_iv: float = 0.02
    base_score: float = 600.0
    base_odds: float = 50.0
    pdo: float = 20.0
    random_state: int = 0

    def __post_init__(self):
        check_number("ScorecardParams.bad_dpd", self.bad_dpd, 1, integer=True, what=" (days)")
        check_number("ScorecardParams.outcome_months", self.outcome_months, 1, integer=True,
                     what=" (months)")
        check_number("ScorecardParams.max_bins", self.max_bins, 2, integer=True)
        check_number("ScorecardParams.min_iv", self.min_iv, 0)
        check_number("ScorecardParams.base_odds", self.base_odds, 0, lo_open=True)
        check_number("ScorecardParams.pdo", self.pdo, 0, lo_open=True)

    def card(self) -> credit.CreditScorecard:
        """An unfitted :class:`~salesplan.models.credit.CreditScorecard` with these settings."""
        return credit.CreditScorecard(max_n_bins=self.max_bins, max_n_prebins=10, min_iv=self.min_iv,
                                      base_score=self.base_score, base_odds=self.base_odds, pdo=self.pdo,
                                      random_state=self.random_state)


@dataclass(frozen=True)
class CreditAssessment:
    """A trained scorecard and what it says about today's customers.

    Attributes
    ----------
    card : CreditScorecard
        Fitted at ``train_date``.
    train_date : pandas.Timestamp
        ``as_of - outcome_months``.
    X_train, y_train : DataFrame, Series
        Training features and target (1 = bad).
    X_now : DataFrame
        Today's features (index ``customer_id``).
    points, pd, grades : Series
        Today's score (points), probability of default and grade per customer.
    backtest_auc : float
        AUC of the card trained one window earlier on the training outcomes (NaN when the
        data do not reach back that far, or that window has one outcome class only).
    stability : DataFrame
        Population stability (PSI) of the score and of each variable, training vs today.
    """

    card: credit.CreditScorecard
    train_date: pd.Timestamp
    X_train: pd.DataFrame
    y_train: pd.Series
    X_now: pd.DataFrame
    points: pd.Series
    pd: pd.Series
    grades: pd.Series
    backtest_auc: float
    stability: pd.DataFrame

    @property
    def worst_grades(self) -> list[str]:
        """The two worst grades of the card (deposit / cash before delivery)."""
        return list(self.card.grades[-2:])


class _Inputs:
    """The invoices and orders of ``data`` read once for the training, back-test and today."""

    def __init__(self, data: SalesData):
        self.data = data
        self.invoices = credit._prepare_invoices(data.invoices)
        self._orders = None

    def features(self, date: pd.Timestamp) -> pd.DataFrame:
        """``credit.credit_features(invoices, orders, customers, date)``."""
        date = as_date(date)
        credit._check_as_of(self.invoices, date)
        if self._orders is None:
            self._orders = credit._prepare_orders(self.data.orders)
        return credit._credit_features_of(self.invoices, self._orders, self.data.customers, date)


def _training_set(inputs: _Inputs, date: pd.Timestamp, end: pd.Timestamp, p: ScorecardParams):
    X = inputs.features(date)
    y = credit._credit_target_of(inputs.invoices, as_date(date), dpd=p.bad_dpd, months=p.outcome_months,
                                 data_end=end)
    return X.loc[y.index], y


def _history_problem(data: SalesData, as_of: pd.Timestamp, p: ScorecardParams) -> str | None:
    """The reasons that need no fit: no invoices, or none issued by the training date."""
    if data.invoices is None:
        return "this data has no `invoices` table; add it to turn the credit scorecard on"
    train_date = as_of - pd.DateOffset(months=p.outcome_months)
    first = pd.Timestamp(data.invoices["issue_date"].min()) if len(data.invoices) else None
    if first is None or first > train_date:
        start = f"start {first:%Y-%m-%d}" if first is not None else "are empty"
        return (f"the invoices {start}, but the scorecard learns from invoices issued by {train_date:%Y-%m-%d} "
                f"({p.outcome_months} months before {as_of:%Y-%m-%d}) and what happened to them after; "
                f"it needs more than {p.outcome_months} months of invoice history")
    return None


def _contrast_problem(y: pd.Series, train_date: pd.Timestamp) -> str | None:
    if y.nunique() < 2:
        return (f"the {len(y)} customers invoiced by {train_date:%Y-%m-%d} are all "
                f"{'bad' if len(y) and y.iloc[0] == 1 else 'good'}: no contrast to learn a scorecard from")
    return None


def scorecard_unavailable(data: SalesData, as_of, params: ScorecardParams = ScorecardParams()) -> str | None:
    """Why the scorecard cannot be trained on ``data`` at ``as_of`` (one line), or None.

    The recipe needs the ``invoices`` table, invoices issued by the training date
    ``as_of - outcome_months`` (so that their outcome window is observed), and both good
    and bad customers among them.
    """
    as_of = pd.Timestamp(as_of)
    why = _history_problem(data, as_of, params)
    if why:
        return why
    train_date = as_of - pd.DateOffset(months=params.outcome_months)
    return _contrast_problem(_training_set(_Inputs(data), train_date, as_of, params)[1], train_date)


def assess_credit(data: SalesData, as_of, params: ScorecardParams = ScorecardParams()) -> CreditAssessment:
    """Train the scorecard on the last complete outcome window, back-test it, apply it today.

    Parameters
    ----------
    data : SalesData
        With ``invoices`` (and ``orders``; ``customers`` optional).
    as_of : date
        The assessment date; data after it are not read.
    params : ScorecardParams

    Returns
    -------
    CreditAssessment

    Raises
    ------
    ScorecardUnavailable
        The one-line reason of :func:`scorecard_unavailable` when the recipe cannot run.
    """
    as_of = pd.Timestamp(as_of)
    train_date = as_of - pd.DateOffset(months=params.outcome_months)
    why = _history_problem(data, as_of, params)
    inputs = None if why else _Inputs(data)
    X_train, y_train = (None, None) if why else _training_set(inputs, train_date, as_of, params)
    why = why or _contrast_problem(y_train, train_date)
    if why:
        raise ScorecardUnavailable(why)
    # every feature table first: the prepared invoices and order lines (~0.4 GB at scale 100)
    # are let go before the cards are fitted and applied
    X_now = inputs.features(as_of)
    back = _backtest_set(inputs, train_date, params)
    del inputs
    card = params.card().fit(X_train, y_train.to_numpy())
    points = pd.Series(card.points(X_now), index=X_now.index, name="points")
    pd_now = pd.Series(card.predict_proba(X_now)[:, 1], index=X_now.index, name="pd")
    return CreditAssessment(card=card, train_date=train_date, X_train=X_train, y_train=y_train, X_now=X_now,
                            points=points, pd=pd_now, grades=card.grade(X_now),
                            backtest_auc=_backtest_auc(back, X_train, y_train, params),
                            stability=card.stability(X_train, X_now))


def _backtest_set(inputs: _Inputs, train_date: pd.Timestamp, params: ScorecardParams):
    """The training set one outcome window before ``train_date`` (features, outcomes), or
    ``None`` when the invoices do not reach back that far."""
    back_date = train_date - pd.DateOffset(months=params.outcome_months)
    if not back_date > inputs.data.invoices["issue_date"].min():
        return None
    return _training_set(inputs, back_date, train_date, params)


def _backtest_auc(back, X_train: pd.DataFrame, y_train: pd.Series, params: ScorecardParams) -> float:
    """AUC on the training outcomes of the card trained one window earlier on ``back``
    (:func:`_backtest_set`; NaN if impossible)."""
    from sklearn.metrics import roc_auc_score

    if back is None:
        return float("nan")
    X_back, y_back = back
    if y_back.nunique() != 2 or y_train.nunique() != 2:
        return float("nan")
    back_card = params.card().fit(X_back, y_back.to_numpy())
    return float(roc_auc_score(y_train, -np.asarray(back_card.points(X_train))))
