"""The parameters of the planning notebooks 01-05: types, ranges and units, in one place.

A notebook's parameter check is one call::

    from salesplan.reports.notebook_params import check_notebook_parameters
    check_notebook_parameters("02_forecast", globals())

It takes the notebook's parameters out of its namespace and checks them with
:func:`salesplan.reports.check_parameters` (one error listing every bad value), plus the
rules between parameters (``abc_a_share <= abc_b_share``, ``odds_low < odds_high``,
``healthy_low < healthy_high``, ``ote_low < ote_high``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from salesplan.reports.params import PERIOD_PATTERN, Param, ParameterError, check_parameters

__all__ = ["NOTEBOOK_PARAMETERS", "check_notebook_parameters"]

_COMMON = {
    "period": Param(str, pattern=PERIOD_PATTERN, help="the plan quarter, e.g. 2027Q1"),
    "source": Param(str, help="URL of the sales data"),
    "plan_store": Param(str, optional=True, help="URL of the plan store"),
}
_AS_OF = Param(str, optional=True, pattern=r"^\d{4}-\d{2}-\d{2}$", help="date of the data, YYYY-MM-DD")
_ENGINE = {
    "engine": Param(str, choices=["local", "dask"], help="where the heavy work runs"),
    "dask_scheduler": Param(str, optional=True, help="Dask scheduler address"),
}


def _forecast() -> dict[str, Param]:
    from salesplan.models.forecast import METHODS

    return {
        **_COMMON,
        "method": Param(str, choices=["auto", *sorted(METHODS)], help="forecasting method"),
        "reconcile_method": Param(str, choices=["auto", "bottom_up", "top_down", "mint_shrink", "ols"],
                                  help="how the levels are made to add up"),
        "reconcile_windows": Param(int, min=1, max=8, unit="quarters"),
        "backtest_windows": Param(int, min=1, max=12, unit="quarters"),
        "n_paths": Param(int, min=100, max=20000, unit="simulated quarters"),
        "seed": Param(int, min=0, help="random seed"),
        "cache_dir": Param(str, optional=True, help="folder of the model cache"),
        **_ENGINE,
    }


def _data_health() -> dict[str, Param]:
    return {
        **_COMMON,
        "as_of": _AS_OF,
        "min_history_quarters": Param(int, min=1, max=40, unit="quarters"),
        "max_return_share": Param(float, min=0, max=1, unit="fraction of gross sales"),
    }


def _customer_risk() -> dict[str, Param]:
    return {
        **_COMMON,
        "as_of": Param(str, optional=True, pattern=r"^\d{4}-\d{2}-\d{2}$", help="assessment date, YYYY-MM-DD"),
        "abc_a_share": Param(float, min=0.01, max=0.99, unit="fraction of revenue"),
        "abc_b_share": Param(float, min=0.01, max=1, unit="fraction of revenue", help="must be at least abc_a_share"),
        "churn_horizon_days": Param(int, min=7, max=365, unit="days"),
        "churn_snapshots": Param(int, min=2, max=12, unit="snapshots"),
        "churn_threshold": Param(float, min=0, max=1, unit="probability"),
        "transaction_model": Param(str, choices=["pareto", "bgnbd"]),
        "clv_months": Param(int, min=1, max=120, unit="months"),
        "discount_rate": Param(float, min=0, max=0.5, unit="fraction per month"),
        "credit_bad_dpd": Param(int, min=1, max=365, unit="days past due"),
        "credit_outcome_months": Param(int, min=1, max=24, unit="months"),
        "credit_max_bins": Param(int, min=2, max=20, unit="bins"),
        "credit_min_iv": Param(float, min=0, max=1, unit="information value"),
        "base_score": Param(float, min=0, max=10000, unit="points"),
        "base_odds": Param(float, min=0.01, max=10000, unit="good:bad odds"),
        "pdo": Param(float, min=1, max=1000, unit="points to double the odds"),
        "overdue_days": Param(int, min=0, max=365, unit="days past due"),
        "top_n": Param(int, min=1, max=200, unit="rows"),
        "seed": Param(int, min=0),
        **_ENGINE,
    }


def _targets() -> dict[str, Param]:
    return {
        **_COMMON,
        "board_target": Param(float, min=0, optional=True, unit="currency", help="the board's company target"),
        "growth": Param(float, min=-0.99, max=5, optional=True, unit="fraction, 0.10 = +10%",
                        help="growth on the same quarter last year"),
        "target_probability": Param(float, min=0.01, max=0.99, unit="probability"),
        "pipeline_weights": Param(str, choices=["stage", "scored"], help="weights of open deals"),
        "over_assignment": Param(float, min=1, max=2, optional=True, unit="sum of quotas / company target"),
        "band_low": Param(float, min=0, max=1, unit="quota / own forecast"),
        "band_high": Param(float, min=1, max=10, unit="quota / own forecast"),
        "min_history_quarters": Param(int, min=0, max=40, unit="quarters"),
        "weight_own_forecast": Param(float, min=0, unit="weight"),
        "weight_recent": Param(float, min=0, unit="weight"),
        "weight_capacity": Param(float, min=0, unit="weight"),
        "odds_low": Param(float, min=0, max=1, unit="probability"),
        "odds_high": Param(float, min=0, max=1, unit="probability"),
        "healthy_low": Param(float, min=0, max=1, unit="share of reps"),
        "healthy_high": Param(float, min=0, max=1, unit="share of reps"),
        "ramp_months": Param(int, min=0, max=36, unit="months"),
        "rounding_unit": Param(float, min=0.01, unit="currency"),
        "fiscal_year_start_month": Param(int, choices=(1, 4, 7, 10), help="first month of the fiscal year"),
        "currency": Param(str, help="code or symbol of the company currency"),
        "monitor_tolerance": Param(float, min=0.01, max=0.99, unit="fraction"),
        "seed": Param(int, min=0, help="random seed"),
        "quota_overrides": Param(dict, optional=True, help="rep id -> the planner's quota (currency)"),
        "cache_dir": Param(str, optional=True, help="folder of the model cache"),
    }


def _allocation() -> dict[str, Param]:
    return {
        **_COMMON,
        "ramp_months": Param(float, min=0, max=36, unit="months"),
        "expected_attainment": Param(float, min=0.1, max=2, unit="fraction"),
        "annual_attrition": Param(float, min=0, max=1, unit="fraction of reps per year"),
        "time_to_hire_months": Param(int, min=0, max=24, unit="months"),
        "loaded_cost_per_month": Param(float, min=0, unit="company currency per rep and month"),
        "gross_margin_rate": Param(float, min=0.01, max=1, unit="fraction of sales"),
        "marketing_budget": Param(float, min=0, optional=True, unit="company currency per quarter"),
        "max_change": Param(float, min=0, max=10, unit="fraction of the status quo"),
        "response_fit_level": Param(str, choices=("customer", "region")),
        "rule_concentration": Param(float, min=0, max=1, unit="fraction of the budget"),
        "curve_error": Param(float, min=0, max=0.9, unit="fraction"),
        "sensitivity_scenarios": Param(int, min=1, max=1000, unit="scenarios"),
        "selling_hours_per_month": Param(float, min=1, max=300, unit="hours per rep"),
        "commission_tiers": Param(list, help="[[threshold, rate], ...], first threshold 0"),
        "base_pay_per_month": Param(float, min=0, unit="company currency per rep"),
        "ote_low": Param(float, min=0.1, max=100, unit="quota / OTE"),
        "ote_high": Param(float, min=0.1, max=100, unit="quota / OTE"),
        "rep_noise_sd": Param(float, min=0, max=2, unit="log-normal sigma"),
        "seed": Param(int, min=0),
        "cache_dir": Param(str, optional=True, help="folder of the forecast model cache"),
    }


#: notebook name -> function building its parameter spec (name -> :class:`Param`)
NOTEBOOK_PARAMETERS = {
    "01_data_health": _data_health,
    "02_forecast": _forecast,
    "03_customer_risk": _customer_risk,
    "04_quarterly_targets": _targets,
    "05_resource_allocation": _allocation,
}

#: pairs (low, high) of parameters where low must be below high
_BELOW = (("odds_low", "odds_high"), ("healthy_low", "healthy_high"), ("ote_low", "ote_high"))


def check_notebook_parameters(notebook: str, namespace: Mapping[str, Any]) -> dict[str, Any]:
    """Check the parameters of ``notebook`` found in ``namespace`` (the notebook's globals).

    Parameters
    ----------
    notebook : str
        A key of :data:`NOTEBOOK_PARAMETERS` (``"01_data_health"`` ... ``"05_resource_allocation"``).
    namespace : mapping
        Where the parameter values live; names absent from it are reported missing.

    Returns
    -------
    dict
        The checked parameters (name -> value), in the spec's order: what the notebook
        records with its results.

    Raises
    ------
    ParameterError
        One line listing every bad or missing parameter (see :func:`check_parameters`),
        or ``abc_b_share`` below ``abc_a_share``, or a ``*_low`` parameter not below its
        ``*_high``.
    """
    if notebook not in NOTEBOOK_PARAMETERS:
        raise ValueError(f"notebook={notebook!r}: expected one of {sorted(NOTEBOOK_PARAMETERS)}")
    spec = NOTEBOOK_PARAMETERS[notebook]()
    values = {k: namespace[k] for k in spec if k in namespace}
    check_parameters(values, spec)
    if "abc_b_share" in spec and values["abc_b_share"] < values["abc_a_share"]:
        raise ParameterError(f"parameter 'abc_b_share' = {values['abc_b_share']!r} is below abc_a_share = "
                             f"{values['abc_a_share']!r}; expected abc_a_share <= abc_b_share")
    for low, high in _BELOW:
        if low in spec and not values[low] < values[high]:
            raise ParameterError(f"parameter '{low}' = {values[low]!r} must be below '{high}' = {values[high]!r}")
    return values
