"""Shared test fixtures."""

from __future__ import annotations

import os

import pytest

PG_ENV = "SALESPLAN_TEST_PG_URL"


@pytest.fixture
def pg_url() -> str:
    """URL of the test PostgreSQL server (password in PGPASSWORD); skip when none is set.

    CI (`.ci/run`) starts a throwaway server and sets it; on a laptop these tests skip.
    """
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip(f"{PG_ENV} is not set: no PostgreSQL server to test against")
    return url
