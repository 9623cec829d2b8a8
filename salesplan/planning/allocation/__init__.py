"""Resource allocation plans: headcount, marketing budget and account coverage.

Where the people, time and money go next period to carry the targets (domain.md
sections 2, 4 and 5).  Three independent parts, each a set of plain functions over
DataFrames with a frozen, self-validating parameter dataclass:

1. **Headcount and capacity** -- :class:`CapacityParams`, :func:`rep_productivity`,
   :func:`reps_needed`, :func:`roster_capacity`, :func:`hiring_plan`,
   :func:`rep_break_even`.
2. **Budget allocation** -- response curves (:class:`ResponseCurve`) fitted from the
   ``marketing_spend`` history (:func:`fit_response_curves`) or calibrated from a
   planner's judgments (:func:`calibrate_from_judgments`, Little's four points), the
   optimiser :func:`optimise_budget` under :class:`BudgetConstraints`, the rule of thumb
   :func:`rule_of_thumb_allocation` ("80% where the A-class customers are"),
   :func:`compare_allocations` and :func:`curve_sensitivity`.
3. **Account coverage** -- :class:`CoverageParams`, :func:`account_book`,
   :func:`coverage_load`, :func:`suggest_reassignments`.

This module imports :mod:`salesplan.data` and :mod:`salesplan.models.segments` (ABC classes and
lifecycle stages, used when the caller does not pass them); targets and forecasts come
in as DataFrame columns so that planning modules stay free of import cycles.

Units
-----
Money is in the company currency.  Response curves map the spend of **one month** in
one allocation unit (a region, or a region x customer-class cell -- the optimiser does
not care what the keys mean) to the **incremental gross margin of that month**.  A
budget over ``months`` months is spread evenly over them, so a period allocation ``X``
earns ``months * r(X / months)``.

References
----------
.. [Little70] Little, J. D. C. (1970). Models and managers: the concept of a decision
   calculus. *Management Science* 16(8), B466-B485 (ADBUDG and the judgmental
   calibration from four points).
.. [Zoltners] Zoltners, A. A., Sinha, P. and Lorimer, S. E. (2004). *Sales Force Design
   for Strategic Advantage*, ch. 5-6 (sizing from workload and from response).
"""

from salesplan.models.segments import LIFECYCLE_STAGES
from salesplan.planning.allocation.budget import (
    BudgetConstraints,
    BudgetPlan,
    a_class_share_by_region,
    compare_allocations,
    curve_sensitivity,
    evaluate_allocation,
    optimise_budget,
    rule_of_thumb_allocation,
)
from salesplan.planning.allocation.coverage import (
    CoverageParams,
    account_book,
    calibrate_coverage,
    coverage_load,
    suggest_reassignments,
)
from salesplan.planning.allocation.headcount import (
    CapacityParams,
    hiring_plan,
    ramp_factor,
    rep_break_even,
    rep_productivity,
    reps_needed,
    roster_capacity,
)
from salesplan.planning.allocation.response import (
    ResponseCurve,
    ResponseFitParams,
    calibrate_from_judgments,
    curves_from_fit,
    fit_response_curves,
    monthly_region_sales,
)

__all__ = [
    # headcount
    "CapacityParams",
    "ramp_factor",
    "rep_productivity",
    "reps_needed",
    "roster_capacity",
    "hiring_plan",
    "rep_break_even",
    # budget
    "ResponseCurve",
    "BudgetConstraints",
    "BudgetPlan",
    "monthly_region_sales",
    "ResponseFitParams",
    "fit_response_curves",
    "curves_from_fit",
    "calibrate_from_judgments",
    "optimise_budget",
    "evaluate_allocation",
    "a_class_share_by_region",
    "rule_of_thumb_allocation",
    "compare_allocations",
    "curve_sensitivity",
    # coverage
    "LIFECYCLE_STAGES",
    "CoverageParams",
    "account_book",
    "calibrate_coverage",
    "coverage_load",
    "suggest_reassignments",
]
