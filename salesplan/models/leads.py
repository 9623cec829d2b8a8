"""Leads: BANT screening, the lead -> opportunity rate and a learned conversion model.

domain.md sections 3 and 8: leads are screened by BANT (Budget, Authority, Need, Timing)
before they become opportunities; a lead -> opportunity rate under 30% says screening
(or the lead sources) need work; leads are worked by their chance to convert and their
value.

* :func:`bant_score` -- the documented screening rule (weights are parameters).
* :class:`LeadConversionModel` -- a logistic regression of conversion on the BANT answers
  and the source, fitted by maximum likelihood (scikit-learn), with standard errors:
  what each BANT answer is worth on this company's history.
* :func:`conversion_rates` -- lead -> opportunity rate by source / rep against the floor.
* :func:`leads_to_work_first` -- open leads ranked by expected value.

Every function takes the ``leads`` table of the data contract
(:data:`salesplan.data.schema.SCHEMAS` ``["leads"]``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression

from salesplan.data.schema import BANT_ITEMS, BANT_LEVELS

__all__ = [
    "BANTParams",
    "LeadConversionModel",
    "bant_score",
    "conversion_rates",
    "leads_to_work_first",
    "resolved_leads",
]

DEFAULT_BANT_WEIGHTS: Mapping[str, float] = MappingProxyType(
    {"budget": 1.0, "authority": 1.0, "need": 1.0, "timing": 1.0}
)


@dataclass(frozen=True)
class BANTParams:
    """The BANT screening rule and the lead -> opportunity floor.

    Parameters
    ----------
    weights : mapping item -> float >= 0, optional
        Points of a "yes" on each item (``budget``, ``authority``, ``need``, ``timing``);
        default (None) 1 each, :data:`DEFAULT_BANT_WEIGHTS`.
    unknown_credit : float in [0, 1]
        Share of an item's weight earned by "unknown" (not yet asked); default 0.5.
    qualify_at : float >= 0
        A lead qualifies when its score reaches this many points; default 3 (three of the
        four items confirmed, or all four with two unknown).
    conversion_floor : float in (0, 1)
        Lead -> opportunity rate under which screening or the source needs work
        (domain.md section 3: 30%).
    min_leads : int >= 1
        Fewer resolved leads than this in a group -> its rate is not judged.
    """

    weights: Mapping[str, float] | None = None
    unknown_credit: float = 0.5
    qualify_at: float = 3.0
    conversion_floor: float = 0.30
    min_leads: int = 20

    def __post_init__(self):
        w = dict(DEFAULT_BANT_WEIGHTS if self.weights is None else self.weights)
        if set(w) != set(BANT_ITEMS):
            raise ValueError(
                f"weights={w!r}: expected one weight for each of {list(BANT_ITEMS)}")
        for k, v in w.items():
            if not (np.isfinite(v) and v >= 0):
                raise ValueError(f"weights[{k!r}]={v!r}: expected a number >= 0")
        object.__setattr__(self, "weights", MappingProxyType({k: float(w[k]) for k in BANT_ITEMS}))
        if not (0.0 <= self.unknown_credit <= 1.0):
            raise ValueError(f"unknown_credit={self.unknown_credit!r}: expected a share in [0, 1]")
        if not (np.isfinite(self.qualify_at) and self.qualify_at >= 0):
            raise ValueError(f"qualify_at={self.qualify_at!r}: expected points >= 0")
        if not (0.0 < self.conversion_floor < 1.0):
            raise ValueError(
                f"conversion_floor={self.conversion_floor!r}: expected a rate in (0, 1)")
        if not (isinstance(self.min_leads, (int, np.integer)) and self.min_leads >= 1):
            raise ValueError(f"min_leads={self.min_leads!r}: expected an integer >= 1")


def _check_leads(leads: pd.DataFrame, what: str) -> None:
    if leads is None:
        raise ValueError(f"{what}: table 'leads' is absent")
    missing = [c for c in ("lead_id", "source", "status", *BANT_ITEMS) if c not in leads.columns]
    if missing:
        raise ValueError(f"{what}: table 'leads' lacks column(s) {missing}")
    for item in BANT_ITEMS:
        bad = ~leads[item].isin(BANT_LEVELS)
        if bad.any():
            ex = leads.loc[bad, "lead_id"].astype(str).head(3).tolist()
            raise ValueError(
                f"{what}: table 'leads' column {item!r} must be one of {list(BANT_LEVELS)}; "
                f"{int(bad.sum())} rows are not (first: {ex})")


def bant_score(leads: pd.DataFrame, params: BANTParams = BANTParams()) -> pd.DataFrame:
    """Score each lead by the BANT rule.

    ``score = sum_i w_i * (1[answer_i = yes] + c * 1[answer_i = unknown])`` with ``w_i``
    = ``params.weights``, ``c`` = ``params.unknown_credit``; ``qualified = score >=
    params.qualify_at``.

    Returns
    -------
    DataFrame
        ``lead_id``, ``bant_score`` (points), ``n_yes``, ``n_unknown``, ``qualified``;
        one row per lead, in the order of ``leads``.
    """
    _check_leads(leads, "bant_score")
    score = np.zeros(len(leads))
    n_yes = np.zeros(len(leads), dtype=np.int64)
    n_unk = np.zeros(len(leads), dtype=np.int64)
    for item in BANT_ITEMS:
        a = leads[item].to_numpy(dtype=object)
        yes, unk = a == "yes", a == "unknown"
        score += params.weights[item] * (yes + params.unknown_credit * unk)
        n_yes += yes
        n_unk += unk
    return pd.DataFrame({
        "lead_id": leads["lead_id"].to_numpy(dtype=object),
        "bant_score": score,
        "n_yes": n_yes,
        "n_unknown": n_unk,
        "qualified": score >= params.qualify_at - 1e-12,
    })


def resolved_leads(leads: pd.DataFrame) -> pd.DataFrame:
    """Leads that were converted or disqualified (the ones whose outcome is known)."""
    _check_leads(leads, "resolved_leads")
    return leads[leads["status"].isin(("converted", "disqualified"))].reset_index(drop=True)


def _design(leads: pd.DataFrame, sources: list[str]) -> tuple[np.ndarray, list[str]]:
    cols, names = [], []
    for item in BANT_ITEMS:
        a = leads[item].to_numpy(dtype=object)
        for lvl in ("yes", "unknown"):
            cols.append((a == lvl).astype(float))
            names.append(f"{item}={lvl}")
    src = leads["source"].astype(object).to_numpy()
    for s in sources[1:]:
        cols.append((src == s).astype(float))
        names.append(f"source={s}")
    X = np.column_stack(cols) if cols else np.zeros((len(leads), 0))
    return X, names


class LeadConversionModel(ClassifierMixin, BaseEstimator):
    """P(lead -> opportunity) from the BANT answers and the source (logistic regression).

    ``logit P(convert) = b0 + sum_i (beta_i,yes 1[yes_i] + beta_i,unknown 1[unknown_i])
    + delta_source``, answers "no" and the most frequent source as the reference.  Fitted
    by maximum likelihood (``C=inf``, no penalty), which is calibrated on the fitted data in
    the mean of every indicator (the score equations); standard errors from the inverse
    Fisher information ``(X' W X)^-1``, ``W = diag(p (1 - p))``.

    Parameters
    ----------
    C : float or None
        None (default) = unpenalised maximum likelihood; a number = L2 penalty
        ``1 / C`` (standard errors then ignore the penalty).
    max_iter : int
        Iterations of the solver.

    Attributes
    ----------
    sources_ : list of str
        Sources seen in ``fit``, reference first.
    feature_names_ : list of str
    coef_ : pandas.Series
        Log-odds per feature, ``intercept`` first.
    se_ : pandas.Series
        Standard errors of ``coef_``.
    effects_ : pandas.DataFrame
        ``term`` (``budget=yes`` ...), ``item``, ``level``, ``log_odds``, ``se``,
        ``odds_ratio``, ``odds_ratio_lo``, ``odds_ratio_hi`` (95%), ``n_leads`` with that
        answer.
    n_fit_, base_rate_ : int, float
    """

    def __init__(self, C: float | None = None, max_iter: int = 1000):
        self.C = C
        self.max_iter = max_iter

    def fit(self, leads: pd.DataFrame, y=None) -> LeadConversionModel:
        """Fit on resolved leads; ``y`` defaults to ``status == "converted"``."""
        _check_leads(leads, "LeadConversionModel.fit")
        if y is None:
            leads = resolved_leads(leads)
            y = (leads["status"] == "converted").to_numpy()
        y = np.asarray(y, dtype=bool)
        if len(leads) < 2 or y.all() or not y.any():
            raise ValueError(
                "LeadConversionModel.fit: table 'leads' needs resolved leads of both kinds "
                f"(converted and disqualified); got {int(y.sum())} converted of {len(y)}")
        counts = leads["source"].astype(object).value_counts()
        self.sources_ = [str(counts.index[0])] + sorted(str(s) for s in counts.index[1:])
        X, names = _design(leads, self.sources_)
        keep = X.std(axis=0) > 0  # an answer nobody gave cannot be estimated
        self.feature_names_ = [n for n, k in zip(names, keep) if k]
        self._keep_ = keep
        Xk = X[:, keep]
        C = np.inf if self.C is None else float(self.C)
        lr = LogisticRegression(C=C, max_iter=self.max_iter, tol=1e-10)
        lr.fit(Xk, y)
        self.model_ = lr
        beta = np.concatenate([lr.intercept_, lr.coef_[0]])
        Z = np.column_stack([np.ones(len(Xk)), Xk])
        p = 1.0 / (1.0 + np.exp(-(Z @ beta)))
        info = Z.T @ (Z * (p * (1 - p))[:, None])
        cov = np.linalg.pinv(info)
        idx = ["intercept", *self.feature_names_]
        self.coef_ = pd.Series(beta, index=idx, name="log_odds")
        self.se_ = pd.Series(np.sqrt(np.clip(np.diag(cov), 0, None)), index=idx, name="se")
        self.n_fit_ = int(len(y))
        self.base_rate_ = float(y.mean())
        rows = []
        for j, name in enumerate(self.feature_names_):
            item, level = name.split("=", 1)
            b, s = self.coef_[name], self.se_[name]
            n_with = int(Xk[:, j].sum())
            rows.append({"term": name, "item": item, "level": level, "log_odds": b, "se": s,
                         "odds_ratio": np.exp(b), "odds_ratio_lo": np.exp(b - 1.96 * s),
                         "odds_ratio_hi": np.exp(b + 1.96 * s), "n_leads": n_with})
        self.effects_ = pd.DataFrame(rows)
        return self

    def predict_proba(self, leads: pd.DataFrame) -> np.ndarray:
        """``(n, 2)`` array: P(not converted), P(converted)."""
        _check_leads(leads, "LeadConversionModel.predict_proba")
        X, _ = _design(leads, self.sources_)
        p = self.model_.predict_proba(X[:, self._keep_])[:, 1]
        return np.column_stack([1 - p, p])

    def predict(self, leads: pd.DataFrame) -> np.ndarray:
        return self.predict_proba(leads)[:, 1] >= 0.5


def conversion_rates(leads: pd.DataFrame, by: str = "source",
                     params: BANTParams = BANTParams()) -> pd.DataFrame:
    """Lead -> opportunity rate per group against ``params.conversion_floor``.

    ``rate = converted / (converted + disqualified)`` (open leads are not counted); the
    95% Wilson interval; ``below_floor`` when the group has at least ``params.min_leads``
    resolved leads and the rate is under the floor (domain.md: under 30% = screening or
    the source needs work).

    Returns
    -------
    DataFrame
        ``<by>``, ``leads`` (all), ``resolved``, ``converted``, ``rate``, ``rate_lo``,
        ``rate_hi``, ``qualified_share`` (share of resolved leads that pass the BANT rule),
        ``below_floor``, ``verdict``; one row per group, worst rate first.
    """
    _check_leads(leads, "conversion_rates")
    if by not in leads.columns:
        raise ValueError(f"conversion_rates: table 'leads' has no column {by!r}")
    res = leads["status"].isin(("converted", "disqualified")).to_numpy(bool)
    d = pd.DataFrame({by: leads[by].astype(object).where(leads[by].notna(), "(unassigned)").to_numpy(),
                      "_res": res, "_conv": leads["status"].eq("converted").to_numpy(bool),
                      "_qr": bant_score(leads, params)["qualified"].to_numpy(bool) & res})
    g = d.groupby(by, sort=True)  # one vectorised sum per column (no Python call per group)
    out = pd.DataFrame({
        "leads": g.size(),
        "resolved": g["_res"].sum(),
        "converted": g["_conv"].sum(),
        "qualified_resolved": g["_qr"].sum(),
    }).reset_index()
    n = out["resolved"].to_numpy(float)
    k = out["converted"].to_numpy(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(n > 0, k / n, np.nan)
        z = 1.959964
        centre = (k + z * z / 2) / (n + z * z)
        half = z * np.sqrt(k * (n - k) / n + z * z / 4) / (n + z * z)
        out["rate"] = rate
        out["rate_lo"] = np.where(n > 0, centre - half, np.nan)
        out["rate_hi"] = np.where(n > 0, centre + half, np.nan)
        out["qualified_share"] = np.where(n > 0, out["qualified_resolved"] / n, np.nan)
    judged = n >= params.min_leads
    out["below_floor"] = judged & (rate < params.conversion_floor)
    out["verdict"] = np.where(
        ~judged, f"fewer than {params.min_leads} resolved leads",
        np.where(out["below_floor"], "under the floor: tighten screening or the source",
                 "ok"))
    out = out.drop(columns="qualified_resolved")
    return out.sort_values(["rate", by], kind="stable", ignore_index=True)


def leads_to_work_first(leads: pd.DataFrame, model: LeadConversionModel,
                        deal_value: pd.Series | float, *, params: BANTParams = BANTParams(),
                        top: int | None = 20) -> pd.DataFrame:
    """Open leads ranked by expected value: ``P(convert) * deal value``.

    Parameters
    ----------
    leads : DataFrame
        The ``leads`` table; only ``status == "open"`` rows are ranked.
    model : LeadConversionModel
        Fitted.
    deal_value : Series (rep_id -> currency) or float
        Value of an opportunity the lead would become (e.g. the rep's median
        opportunity amount times the win rate); reps missing from the Series get its
        median.
    top : int or None
        Rows returned (None = all).

    Returns
    -------
    DataFrame
        ``lead_id, created_date, source, rep_id, prospect_name / customer_id, bant_score,
        p_convert, deal_value, expected_value`` (currency), best first.
    """
    _check_leads(leads, "leads_to_work_first")
    open_ = leads[leads["status"] == "open"].reset_index(drop=True)
    cols = [c for c in ("lead_id", "created_date", "source", "rep_id", "customer_id",
                        "prospect_name") if c in open_.columns]
    out = open_[cols].copy()
    out["bant_score"] = bant_score(open_, params)["bant_score"].to_numpy()
    out["p_convert"] = model.predict_proba(open_)[:, 1] if len(open_) else np.zeros(0)
    if isinstance(deal_value, pd.Series):
        fill = float(deal_value.median()) if len(deal_value) else 0.0
        v = open_["rep_id"].map(deal_value).astype(float).fillna(fill).to_numpy() \
            if "rep_id" in open_ else np.full(len(open_), fill)
    else:
        v = np.full(len(open_), float(deal_value))
    out["deal_value"] = v
    out["expected_value"] = out["p_convert"] * v
    out = out.sort_values(["expected_value", "lead_id"], ascending=[False, True],
                          kind="stable", ignore_index=True)
    return out if top is None else out.head(int(top))
