"""The notebook checks themselves: nbval's tolerant comparison and the plan-table snapshots."""

from __future__ import annotations

from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from nbcompare import numbers_match, texts_match

from salesplan.reports.snapshots import compare_tables

ROOT = Path(__file__).resolve().parents[1]


def _headline_output() -> str:
    """The committed text of the first output of notebook 04 that prints amounts to the
    unit (the company and region targets)."""
    import re

    nb = nbformat.read(ROOT / "notebooks" / "04_quarterly_targets.ipynb", as_version=4)
    texts = [o["data"]["text/plain"] for c in nb.cells if c.cell_type == "code"
             for o in c.outputs if "text/plain" in o.get("data", {})]
    return next(t for t in texts if re.search(r"\d{1,3}(?:,\d{3}){2,}", t))


def _perturb_first_big_number(text: str, factor: float) -> str:
    """Reprint the first number with >= 6 digits as ``round(value * factor)``, same format."""
    import re

    m = re.search(r"\d{1,3}(?:,\d{3}){2,}", text)
    assert m, "the headline cell prints at least one amount to the unit"
    value = float(m.group().replace(",", ""))
    return text[:m.start()] + f"{round(value * factor):,}" + text[m.end():]


def test_a_headline_changed_by_a_hundredth_of_a_percent_fails_the_notebook_check():
    text = _headline_output()
    assert not texts_match(text, _perturb_first_big_number(text, 1 + 1e-4))
    assert not texts_match(text, _perturb_first_big_number(text, 1 - 1e-4))


def test_a_last_bit_difference_does_not_fail_the_notebook_check():
    text = _headline_output()
    assert texts_match(text, _perturb_first_big_number(text, 1 + 1e-12))
    # the worst a last-bit difference does to a printed amount: a rounding flip of one unit
    assert numbers_match("6,521,298", "6,521,299") and numbers_match("380,265", "380,264")


@pytest.mark.parametrize("ref, act, same", [
    ("target 14.1 M (+22.2%)", "target 14.1 M (+22.2%)", True),
    ("target 14.1 M (+22.2%)", "target 14.2 M (+22.2%)", False),   # compact: a real change
    ("58%", "57%", False),                                          # 2 digits: never a flip
    ("1,234", "1,235", False),                                      # 4 digits: never a flip
    ("0.333333", "0.333334", True),                                 # 6 digits: a flip
    ("12.5", "12.50", False),                                       # another format
    ("a 1 b", "a 1 c", False),                                      # text differs
    ("1.2e-06", "1.3e-06", False),
])
def test_texts_match_rules(ref, act, same):
    assert texts_match(ref, act) is same


def test_nbval_uses_the_tolerant_comparison():
    from conftest import TolerantText
    from nbval.plugin import IPyNbCell

    assert getattr(IPyNbCell.sanitize, "salesplan_tolerant", False)
    assert TolerantText("sales 6,521,298") == "sales 6,521,299"
    assert TolerantText("sales 6,521,298") != "sales 6,522,000"


def test_plan_table_comparison_tolerates_1e_12_and_fails_1e_4():
    table = pd.DataFrame({"region": ["East", "West"], "quota": [1_234_567.0, 0.0],
                          "odds": [0.61, 0.42]})
    assert compare_tables(table.assign(quota=table["quota"] * (1 + 1e-12)), table) == []
    moved = table.assign(quota=table["quota"] * np.array([1 + 1e-4, 1.0]))
    (problem,) = compare_tables(moved, table)
    assert "'quota'" in problem and "1 row(s)" in problem
    assert compare_tables(table.assign(region=["East", "North"]), table)
    assert compare_tables(table.iloc[:1], table)


def test_plan_table_comparison_of_small_differences_and_standard_errors():
    # a regret of ~5e-06 (a difference of margins near 1) moves by ~1e-11 between BLAS kernels
    regret = pd.DataFrame({"regret": [4.637420268460701e-06]})
    assert compare_tables(pd.DataFrame({"regret": [4.637429363407719e-06]}), regret) == []
    # standard errors of ill-identified fits: 1e-6 apart passes, 1e-4 (0.01%) fails
    se = pd.DataFrame({"rel_se_a": [1.2633143980683457], "quota": [1000.0]})
    assert compare_tables(se.assign(rel_se_a=1.2633131281657692), se) == []
    assert compare_tables(se.assign(rel_se_a=1.2633144 * (1 + 1e-4)), se)
    assert compare_tables(se.assign(quota=1000.0 * (1 + 2e-6)), se)  # plan numbers keep 1e-6


def test_small_members_of_a_large_column_carry_the_column_noise():
    paths = pd.DataFrame({"value": [5_000_000.0, 716.5563623408307]})
    assert compare_tables(paths.assign(value=[5_000_000.0, 716.5554785422646]), paths) == []
    assert compare_tables(paths.assign(value=[5_000_000.0, 716.5563623 * (1 + 1e-4)]), paths)
    assert compare_tables(paths.assign(value=[5_000_000.0 * (1 + 1e-4), 716.5563623408307]), paths)


def test_a_small_difference_of_large_figures_carries_their_noise():
    # seen between an Intel and an AMD machine: the P50 moved 1e-9 relative, the target's
    # stretch above it (a difference of ~14.4M figures) moved 1.6e-4 relative
    company = pd.DataFrame({"forecast_p50": [14_365_703.011588227], "stretch": [96.98841177299619]})
    other_cpu = company.assign(forecast_p50=14_365_702.996274687, stretch=97.0037253126502)
    assert compare_tables(other_cpu, company) == []
    assert compare_tables(company.assign(stretch=96.98841177299619 + 20.0), company)  # 20 of 14.4M: 1.4e-6
    # without the figure it is a difference of, the stretch keeps its own 1e-6
    assert compare_tables(other_cpu[["stretch"]], company[["stretch"]])
    bridge = pd.DataFrame({"step": ["P50", "stretch"], "amount": [14_365_703.01, 96.99],
                           "cumulative": [14_365_703.01, 14_365_800.0]})
    assert compare_tables(bridge.assign(amount=[14_365_702.99, 97.0]), bridge) == []
    assert compare_tables(bridge.assign(amount=[14_365_703.01, 117.0]), bridge)


def test_printed_numbers_in_text_columns_may_flip_their_last_digit_only():
    assumptions = pd.DataFrame({"name": ["P50"], "value": ["14,365,703.01"]})
    assert compare_tables(assumptions.assign(value="14,365,703.00"), assumptions) == []
    assert compare_tables(assumptions.assign(value="14,365,703.03"), assumptions)  # 3 units
    assert compare_tables(assumptions.assign(value="14,365,704.01"), assumptions)  # 100 units
    assert compare_tables(assumptions.assign(value="about 14,365,703.00"), assumptions)  # other text
    small = pd.DataFrame({"value": ["0.41"]})  # a flip of 1 in 41 is far beyond 1e-6
    assert compare_tables(small.assign(value="0.42"), small)
