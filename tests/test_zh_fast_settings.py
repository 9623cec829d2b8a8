"""Texts a Chinese run with the tests' fast settings showed in English (found in session 13):
the reconciliation method written with a space, and 03b's caption with another number of paths
than the default 2,000."""

import pytest

from salesplan.reports.i18n import translate


@pytest.mark.parametrize("text, expected", [
    ("top down", "自上而下"),
    ("bottom up", "自下而上"),
    ("Won value expected by 2027-03-31 per region (P10/P50/P90 of 200 paths)",
     "各大区截至 2027年3月31日 的预期赢单额（200 条路径的 P10/P50/P90）"),
    ("Won value expected by 2027-03-31 per region (P10/P50/P90 of 2,000 paths)",
     "各大区截至 2027年3月31日 的预期赢单额（2,000 条路径的 P10/P50/P90）"),
])
def test_fast_settings_texts_are_translated(text, expected):
    assert translate(text, "zh") == expected
