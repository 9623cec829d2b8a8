"""Forecasting engine: sales series -> calibrated, coherent forecasts and sample paths.

Public API
----------
to_long(orders, keys, freq, value, start, end)      long frame ``unique_id, ds, y``
order_lines(orders, keys, freq, dated)              the lines coded once (OrderLines) for
    to_long / hierarchy_forecast: the same series, without the lines' frame
validate_long(df, freq, allow_negative)              clean copy or ForecastInputError
Forecaster(method="combo", ...).fit(df)              scikit-learn style estimator
    .predict(h, level) / .sample_paths(h, n_paths, random_state) / .quantiles(h, q) / .reasons_
cross_validation(df, h, n_windows, step, methods)    rolling-origin backtest errors
    (model=a fitted Forecaster: its configuration and groups, e.g. the plan's, refitted per window)
accuracy_report(cv)                                  MASE, sMAPE, bias, coverage
reconcile(base, S, method)                           bottom_up | top_down | ols | mint_shrink
hierarchy_forecast(orders, levels, h, ...)           coherent means + paths for every node

``Forecaster()`` defaults to ``method="combo"``: the mean of AutoCES, damped trend,
Theta (per series) and a global network trained across series (``global_model``).

This package imports only :mod:`salesplan.data` (optionally) and third-party libraries.
"""

from salesplan.models.forecast.data import (
    ForecastInputError,
    OrderLines,
    canonical_freq,
    order_lines,
    season_length_of,
    series_id,
    to_long,
    validate_long,
)
from salesplan.models.forecast.engine import Forecaster
from salesplan.models.forecast.evaluation import accuracy_report, cross_validation
from salesplan.models.forecast.hierarchy import (
    HierarchyForecast,
    build_hierarchy,
    hierarchy_forecast,
    reconcile,
    reconciliation_matrix,
    summing_matrix,
)
from salesplan.models.forecast.models import METHODS

__all__ = [
    "ForecastInputError",
    "Forecaster",
    "HierarchyForecast",
    "METHODS",
    "OrderLines",
    "accuracy_report",
    "build_hierarchy",
    "canonical_freq",
    "cross_validation",
    "hierarchy_forecast",
    "order_lines",
    "reconcile",
    "reconciliation_matrix",
    "season_length_of",
    "series_id",
    "summing_matrix",
    "to_long",
    "validate_long",
]
