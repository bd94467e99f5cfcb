"""Rules for any text a user sends, shared by the forms (app/forms.py) and the API
(app/api/contract.py)."""

from __future__ import annotations

import re
from typing import Any

from flask_babel import lazy_gettext as _l

# No text column takes a NUL (PostgreSQL refuses it outright), so it is refused as bad
# input, with this message on the field, before any service sees it.
NUL_NOT_ALLOWED = _l("This text contains a character that is not allowed.")


def has_nul(value: Any) -> bool:
    """A NUL character anywhere in a value: a string, or the keys and items of a JSON
    object or array, or a form field's list of values."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(has_nul(v) for v in value)
    return False


_ASCII_DIGITS = re.compile(r"[0-9]+")


def whole_number(raw: str | None) -> int | None:
    """The number `raw` writes in ASCII digits only, else None. Python's int() also reads
    other scripts' digits ('١', '１'), signs, spaces and underscores ('1_0'), and str's
    isdigit() also passes '²', which int() then refuses: an id or count is 0-9 or nothing."""
    if raw is None or not _ASCII_DIGITS.fullmatch(raw):
        return None
    return int(raw)
