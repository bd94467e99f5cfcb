"""Dates and times as people read them (app/dates.py, issue 18): the display time zone,
not UTC, and each language's own order, never the US month-first one."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from flask_babel import force_locale

from app.dates import day, when

LATE_EVENING_UTC = datetime(2026, 12, 7, 16, 47, tzinfo=UTC)


@pytest.mark.parametrize(("locale", "expected"), [
    ("en", "7 Dec 2026, 23:47"),
    ("vi", "23:47, 7 thg 12, 2026"),
])
def test_a_moment_is_in_ho_chi_minh_time_and_the_readers_order(app_ctx, locale, expected):
    with force_locale(locale):
        assert when(LATE_EVENING_UTC) == expected
        # SQLite gives the stored UTC back without a zone: the same moment.
        assert when(LATE_EVENING_UTC.replace(tzinfo=None)) == expected


def test_a_day_crosses_midnight_in_the_display_zone(app_ctx):
    just_before_midnight_utc = datetime(2026, 12, 7, 18, 30, tzinfo=UTC)  # 01:30 on the 8th
    with force_locale("en"):
        assert day(just_before_midnight_utc) == "8 Dec 2026"
        assert day(date(2026, 12, 7)) == "7 Dec 2026"
    with force_locale("vi"):
        assert day(just_before_midnight_utc) == "8 thg 12, 2026"


def test_nothing_to_show_is_empty(app_ctx):
    assert when(None) == ""
    assert day(None) == ""
