"""nbval output comparison that tolerates last-digit rounding flips, and nothing more.

A number printed by a notebook is the rounding of a float.  On another CPU (another BLAS
kernel, another libm) that float can differ in its last bits, or by ~1e-9 relative after a
numerical fit, and when it sits next to a rounding boundary the printed text flips by one
unit of its last digit (6,521,298 vs 6,521,299).  Two outputs *match* when:

- the text between the numbers is identical, the numbers appear in the same order, and
- each pair of numbers is equal as text, or differs by at most one unit of the last
  printed digit **and** by at most :data:`RTOL` relative (1e-5).

So a one-unit flip of a number printed to 6+ significant digits passes; the same flip of
a number with 5 or fewer significant digits fails (a last-bit difference cannot flip it in
practice); any change of 0.01% (1e-4) or more in a printed number fails.  The plan tables
behind the numbers are compared separately at 1e-6 (``salesplan.reports.snapshots``).
"""

from __future__ import annotations

import re

RTOL = 1e-5

# a number as the notebooks print it: 1,234,567 / -12.5 / 0.34 / 1.2e-06 / 15%
NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?")


def _split(text: str) -> tuple[list[str], list[str]]:
    numbers = NUMBER.findall(text)
    return NUMBER.split(text), numbers


def _value_and_unit(token: str) -> tuple[float, float]:
    mantissa, _, exponent = token.replace(",", "").lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    scale = 10.0 ** int(exponent) if exponent else 1.0
    return float(mantissa) * scale, 10.0 ** -decimals * scale


def numbers_match(a: str, b: str, *, rtol: float = RTOL) -> bool:
    """True when two printed numbers are equal, or a last-digit rounding flip apart."""
    if a == b:
        return True
    (x, unit_x), (y, unit_y) = _value_and_unit(a), _value_and_unit(b)
    if unit_x != unit_y:
        return False
    diff = abs(x - y)
    return diff <= unit_x * (1 + 1e-9) and diff <= rtol * max(abs(x), abs(y))


def texts_match(reference: str, actual: str, *, rtol: float = RTOL) -> bool:
    """True when two outputs are the same text with matching numbers (module docstring)."""
    if reference == actual:
        return True
    if not isinstance(reference, str) or not isinstance(actual, str):
        return False
    ref_text, ref_numbers = _split(reference)
    act_text, act_numbers = _split(actual)
    return (ref_text == act_text and len(ref_numbers) == len(act_numbers)
            and all(numbers_match(r, a, rtol=rtol) for r, a in zip(ref_numbers, act_numbers)))
