"""Strict input for the API: a JSON object with known keys of known types, and query
arguments. Anything else is Invalid(invalid) with the offending fields (SPEC §7).
The routes declare their input through app/api/contract.py, which calls these."""

from __future__ import annotations

from typing import Any

from flask import request
from flask.json.provider import DefaultJSONProvider
from flask_babel import gettext as _

from app.errors import Invalid, invalid_fields
from app.text import whole_number

# A field's allowed types; None in the tuple means null is allowed.
Types = tuple[type | None, ...]


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON, except that a document nested deeper than Python's recursion limit
    is malformed (ValueError: get_json(silent=True) gives None, the route a 422) instead
    of a RecursionError that nobody expects (a 500)."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return super().loads(s, **kwargs)
        except RecursionError as exc:
            raise ValueError("JSON nested too deeply") from exc


def _type_ok(value: Any, types: Types) -> bool:
    if value is None:
        return None in types
    if isinstance(value, bool):
        return bool in types  # True is an int to Python, not to the API
    return any(t is not None and t is not bool and isinstance(value, t) for t in types)


def json_body(*, required: dict[str, Types] | None = None,
              optional: dict[str, Types] | None = None) -> dict[str, Any]:
    """The request's JSON object, checked: every required key present, no unknown key,
    each value of one of its types. Optional keys that are absent are left out."""
    required, optional = required or {}, optional or {}
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise Invalid(_("Send a JSON object (Content-Type: application/json)."), code="invalid")
    fields: dict[str, list[str]] = {}
    for key in data:
        if key not in required and key not in optional:
            fields[key] = [_("Unknown field.")]
    for key in required:
        if key not in data:
            fields[key] = [_("This field is required.")]
    for key, types in {**required, **optional}.items():
        if key in data and not _type_ok(data[key], types):
            fields[key] = [_("This value has the wrong type.")]
    if fields:
        raise invalid_fields(fields)
    return data


def int_arg(name: str, *, default: int, low: int, high: int) -> int:
    """An integer query argument within [low, high]."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    value = whole_number(raw)
    if value is None or not low <= value <= high:
        raise invalid_fields({name: [_("Use a whole number from %(low)d to %(high)d.",
                                 low=low, high=high)]})
    return value


def choice_arg(name: str, choices: tuple[str, ...]) -> str | None:
    """A query argument that is one of `choices`, or None when absent or empty."""
    raw = request.args.get(name) or None
    if raw is not None and raw not in choices:
        raise invalid_fields({name: [_("Use one of: %(choices)s.", choices=", ".join(choices))]})
    return raw
