"""The parameters of the planning notebooks 01-03: types, ranges and units, in one place.

A notebook's parameter check is one call::

    from salesplan.reports.notebook_params import check_notebook_parameters
    check_notebook_parameters("02_forecast", globals())

It takes the notebook's parameters out of its namespace and checks them with
:func:`salesplan.reports.check_parameters` (one error listing every bad value), plus the
rules between parameters (``abc_a_share <= abc_b_share``).
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


#: notebook name -> function building its parameter spec (name -> :class:`Param`)
NOTEBOOK_PARAMETERS = {
    "01_data_health": _data_health,
    "02_forecast": _forecast,
    "03_customer_risk": _customer_risk,
}


def check_notebook_parameters(notebook: str, namespace: Mapping[str, Any]) -> dict[str, Any]:
    """Check the parameters of ``notebook`` found in ``namespace`` (the notebook's globals).

    Parameters
    ----------
    notebook : str
        ``"01_data_health"``, ``"02_forecast"`` or ``"03_customer_risk"``.
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
        or ``abc_b_share`` below ``abc_a_share``.
    """
    if notebook not in NOTEBOOK_PARAMETERS:
        raise ValueError(f"notebook={notebook!r}: expected one of {sorted(NOTEBOOK_PARAMETERS)}")
    spec = NOTEBOOK_PARAMETERS[notebook]()
    values = {k: namespace[k] for k in spec if k in namespace}
    check_parameters(values, spec)
    if "abc_b_share" in spec and values["abc_b_share"] < values["abc_a_share"]:
        raise ParameterError(f"parameter 'abc_b_share' = {values['abc_b_share']!r} is below abc_a_share = "
                             f"{values['abc_a_share']!r}; expected abc_a_share <= abc_b_share")
    return values
