"""The parameter rules of the planning notebooks (targets 04, resources 05).

Each notebook's parameters cell documents its parameters; these mappings say what values
are allowed (:class:`salesplan.reports.params.Param`), and :func:`check_targets_parameters`
/ :func:`check_allocation_parameters` check a notebook's values against them, with the
rules that tie two parameters together, raising one :class:`ParameterError` that lists
every problem.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from salesplan.reports.params import PERIOD_PATTERN, Param, ParameterError, check_parameters

__all__ = ["ALLOCATION_PARAMETERS", "TARGETS_PARAMETERS", "check_allocation_parameters",
           "check_targets_parameters"]

_COMMON = {
    "period": Param(str, pattern=PERIOD_PATTERN, help="the plan quarter, e.g. 2027Q1"),
    "source": Param(str, help="URL of the sales data"),
    "plan_store": Param(str, optional=True, help="URL of the plan store"),
}

TARGETS_PARAMETERS: dict[str, Param] = {
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
    "cache_dir": Param(str, optional=True, help="folder of the model cache"),
}

ALLOCATION_PARAMETERS: dict[str, Param] = {
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


def _values(namespace: Mapping[str, Any], spec: Mapping[str, Param]) -> dict[str, Any]:
    missing = [k for k in spec if k not in namespace]
    if missing:
        raise ParameterError(f"the notebook does not define parameter(s) {missing}")
    return {k: namespace[k] for k in spec}


def check_targets_parameters(namespace: Mapping[str, Any]) -> None:
    """Check the targets notebook's parameters (``namespace``: e.g. ``globals()``).

    Besides :data:`TARGETS_PARAMETERS`: ``odds_low < odds_high`` and ``healthy_low <
    healthy_high``.
    """
    v = _values(namespace, TARGETS_PARAMETERS)
    check_parameters(v, TARGETS_PARAMETERS)
    if not v["odds_low"] < v["odds_high"] or not v["healthy_low"] < v["healthy_high"]:
        raise ValueError(f"odds_low ({v['odds_low']}) must be below odds_high ({v['odds_high']}) and healthy_low "
                         f"({v['healthy_low']}) below healthy_high ({v['healthy_high']})")


def check_allocation_parameters(namespace: Mapping[str, Any]) -> None:
    """Check the resource notebook's parameters (:data:`ALLOCATION_PARAMETERS`; ``ote_low
    < ote_high``)."""
    v = _values(namespace, ALLOCATION_PARAMETERS)
    check_parameters(v, ALLOCATION_PARAMETERS)
    if not v["ote_low"] < v["ote_high"]:
        raise ValueError(f"parameter 'ote_low' = {v['ote_low']!r} must be below 'ote_high' = {v['ote_high']!r}")
