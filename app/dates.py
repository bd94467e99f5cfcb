"""Dates and times as people read them (issue 18): in the display time zone (Flask-Babel's
BABEL_DEFAULT_TIMEZONE, `DISPLAY_TIMEZONE`, Asia/Ho_Chi_Minh by default) and the reader's
language, through Babel's formatting.

English pages use the day-month-year order and the 24-hour clock (Babel's en_GB data):
"12/7/26, 4:47 PM" is read as 12 July by most of our readers. Vietnamese uses Babel's vi
data as it is. Every template and message formats a moment with `when` and a day with
`day`; nothing else formats a date for a person."""

from __future__ import annotations

from datetime import UTC, date, datetime

from babel.dates import format_date, format_time
from flask_babel import get_locale, get_timezone


def _locale() -> str:
    language = get_locale().language if get_locale() else "vi"
    return "en_GB" if language == "en" else language


def _aware(value: datetime) -> datetime:
    # The database keeps UTC; SQLite hands it back without a zone.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def when(value: datetime | None) -> str:
    """A moment: "7 Dec 2026, 23:47" in English, "23:47, 7 thg 12, 2026" in Vietnamese."""
    if value is None:
        return ""
    locale = _locale()
    moment = _aware(value).astimezone(get_timezone())
    day_text = format_date(moment, "medium", locale=locale)
    time_text = format_time(moment, "HH:mm", locale=locale)
    if locale == "vi":
        return f"{time_text}, {day_text}"
    return f"{day_text}, {time_text}"


def day(value: datetime | date | None) -> str:
    """A day: "7 Dec 2026" in English, "7 thg 12, 2026" in Vietnamese."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = _aware(value).astimezone(get_timezone()).date()
    return format_date(value, "medium", locale=_locale())
