"""What a test needs from the machine: skip with a reason locally, fail in CI.

`.ci/run` installs PostgreSQL, Chromium, a CJK font and LibreOffice Calc and installs the kernel, so in CI
(`CI=true`) a missing one is a broken CI setup, never a silent skip. On a laptop the
same tests skip and say why.
"""

from __future__ import annotations

import os

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def skip_unless_ci(reason: str) -> None:
    """Skip the test with ``reason``; in CI fail with it instead."""
    if in_ci():
        pytest.fail(f"CI provides this, but it is missing: {reason}", pytrace=False)
    pytest.skip(reason)
