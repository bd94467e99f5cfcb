"""Keyset paging for long lists (the API's and the staff pages'): an opaque cursor that
carries the last id of a page."""

from __future__ import annotations

import base64
import binascii

from flask import request
from flask_babel import gettext as _

from app.errors import invalid_fields
from app.text import whole_number


def encode_cursor(last_id: int) -> str:
    """An opaque keyset cursor: the last id of a page."""
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def cursor_arg(name: str = "cursor") -> int | None:
    """The id a cursor made by encode_cursor carries, or None when absent."""
    raw = request.args.get(name) or None
    if raw is None:
        return None
    try:
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    prefix, _sep, number = text.partition(":")
    last_id = whole_number(number)
    if prefix != "id" or last_id is None:
        raise invalid_fields({name: [_("This cursor is not valid.")]})
    return last_id
