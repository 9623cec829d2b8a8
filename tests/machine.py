"""What a test needs from the machine: skip with a reason locally, fail in CI.

`.ci/run` installs PostgreSQL, Chromium, a CJK font and LibreOffice Calc and installs the kernel, so in CI
(`CI=true`) a missing one is a broken CI setup, never a silent skip. On a laptop the
same tests skip and say why.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from salesplan.reports.summary import CHROMIUM, chromium_missing

#: Chromium flags of the browser tests (no network chatter, no first-run screens).
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def skip_unless_ci(reason: str) -> None:
    """Skip the test with ``reason``; in CI fail with it instead."""
    if in_ci():
        pytest.fail(f"CI provides this, but it is missing: {reason}", pytrace=False)
    pytest.skip(reason)


def need_cjk_font() -> None:
    """Skip (locally) or fail (CI) when matplotlib finds no CJK font for Chinese chart text."""
    import matplotlib

    from salesplan.reports import charts

    before = charts._configured
    with matplotlib.rc_context():  # ask, then leave matplotlib as the other tests expect it
        charts._configured = False
        font = charts.configure_fonts()
        charts._configured = before
    if font is None:
        skip_unless_ci("no CJK font installed here (CI installs fonts-noto-cjk)")


def need_chromium() -> None:
    """Skip (fail in CI) unless Debian's Chromium and the playwright package are here."""
    reason = chromium_missing()
    if reason:
        skip_unless_ci(f"{reason} (CI installs Debian's chromium package)")


@contextmanager
def chromium_browser() -> Iterator:
    """A headless Chromium driven by Playwright (``/usr/bin/chromium``; nothing downloaded)."""
    need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()
