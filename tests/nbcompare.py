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

from salesplan.reports import snapshots

#: nbval's relative bound on a last-digit flip of a printed number (the plan tables keep 1e-6)
RTOL = 1e-5


def numbers_match(a: str, b: str, *, rtol: float = RTOL) -> bool:
    """True when two printed numbers are equal, or a last-digit rounding flip apart
    (:func:`salesplan.reports.snapshots.numbers_match` at nbval's :data:`RTOL`)."""
    return snapshots.numbers_match(a, b, rtol=rtol)


def texts_match(reference: str, actual: str, *, rtol: float = RTOL) -> bool:
    """True when two outputs are the same text with matching numbers (module docstring;
    :func:`salesplan.reports.snapshots.texts_match` at nbval's :data:`RTOL`)."""
    return snapshots.texts_match(reference, actual, rtol=rtol)
