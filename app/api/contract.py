"""The API's declarations: what each route accepts and answers, checked at each request
and read by app/api/openapi.py to build the OpenAPI document, so the two cannot drift.

A route says what it takes and what it answers with @operation:

    @bp.post("/families/<int:group_id>/invites")
    @operation(body=Body(required={"phone": PHONE, "role": ROLE}),
               answers={201: "Invite"}, refusals={409: ("duplicate_pending", "no_slot")})
    def family_invite(group_id, body): ...

The decorator parses the JSON body and the query arguments before the route runs (422
`invalid` with `error.fields` otherwise, through app/api/body.py) and hands them over as
`body` and `args`. Only shapes and types are checked here (and NUL characters refused);
the rules (lengths, known codes, phone numbers) stay in the services, and a Field's
extra JSON Schema keywords document them where exact.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import request
from flask_babel import gettext as _

from app.api.body import Types, choice_arg, int_arg, json_body
from app.cursors import cursor_arg
from app.errors import Invalid, NotFound
from app.text import NUL_NOT_ALLOWED, has_nul

JSON_TYPES = {str: "string", int: "integer", bool: "boolean", dict: "object", list: "array",
              None: "null"}


def invalid(fields: dict[str, list[str]]) -> Invalid:
    return Invalid(_("Some fields are missing or not right."), code="invalid", fields=fields)


@dataclass(frozen=True)
class Field:
    """A body field: the Python types the parser accepts, and JSON Schema keywords that
    describe what the service then enforces (maxLength, enum, …); a callable when they
    come from the database (the relationship codes), asked when the document is built."""

    types: Types
    schema: dict[str, Any] | Callable[[], dict[str, Any]] = field(default_factory=dict)

    def json_schema(self) -> dict[str, Any]:
        names = [JSON_TYPES[t] for t in self.types]
        extra = self.schema() if callable(self.schema) else self.schema
        return {"type": names[0] if len(names) == 1 else names, **extra}


def text(*, nullable: bool = False, **schema: Any) -> Field:
    return Field((str, None) if nullable else (str,), schema)


def integer(**schema: Any) -> Field:
    return Field((int,), schema)


@dataclass(frozen=True)
class Body:
    """A JSON object with known keys: every required key present, no unknown key, each
    value of one of its types. empty: no body at all is accepted too (as {})."""

    required: dict[str, Field] = field(default_factory=dict)
    optional: dict[str, Field] = field(default_factory=dict)
    empty: bool = False

    def parse(self) -> dict[str, Any]:
        if self.empty and not request.get_data():
            return {}
        data = json_body(required={k: f.types for k, f in self.required.items()},
                         optional={k: f.types for k, f in self.optional.items()})
        fields = {key: [str(NUL_NOT_ALLOWED)] for key, value in data.items()
                  if has_nul(value)}
        if fields:
            raise invalid(fields)
        return data

    def json_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {
            "type": "object",
            "properties": {k: f.json_schema() for k, f in {**self.required,
                                                            **self.optional}.items()},
            "additionalProperties": False}
        if self.required:
            schema["required"] = list(self.required)
        return schema


# --- query arguments ---------------------------------------------------------------------

EMPTY_IS_ABSENT = "An empty value is the same as leaving it out."


@dataclass(frozen=True)
class IntArg:
    """An integer within [low, high]; absent or empty: the default (body.int_arg)."""

    name: str
    default: int
    low: int
    high: int

    def parse(self) -> int:
        return int_arg(self.name, default=self.default, low=self.low, high=self.high)

    def parameter(self) -> dict[str, Any]:
        return {"name": self.name, "in": "query", "required": False,
                "description": EMPTY_IS_ABSENT,
                "schema": {"anyOf": [{"type": "integer", "minimum": self.low,
                                      "maximum": self.high, "default": self.default},
                                     {"const": ""}]}}


@dataclass(frozen=True)
class ChoiceArg:
    """One of `choices`; None when absent or empty, unless required."""

    name: str
    choices: tuple[str, ...]
    required: bool = False
    message: Any = None  # the refusal of a missing required value (a lazy_gettext string)

    def parse(self) -> str | None:
        raw = choice_arg(self.name, self.choices)
        if raw is None and self.required:
            message = str(self.message or _("This field is required."))
            raise Invalid(message, code="invalid", fields={self.name: [message]})
        return raw

    def parameter(self) -> dict[str, Any]:
        choices = list(self.choices) if self.required else [*self.choices, ""]
        answer = {"name": self.name, "in": "query", "required": self.required,
                  "schema": {"type": "string", "enum": choices}}
        if not self.required:
            answer["description"] = EMPTY_IS_ABSENT
        return answer


@dataclass(frozen=True)
class TextArg:
    """Free text of at most max_length characters ("" when absent); what it must name is
    the route's business."""

    name: str
    max_length: int
    required: bool = False
    description: str = ""

    def parse(self) -> str:
        raw = request.args.get(self.name) or ""
        if len(raw) > self.max_length:
            raise invalid({self.name: [_("At most %(n)d characters.", n=self.max_length)]})
        if has_nul(raw):
            raise invalid({self.name: [str(NUL_NOT_ALLOWED)]})
        return raw

    def parameter(self) -> dict[str, Any]:
        return {"name": self.name, "in": "query", "required": self.required,
                "description": self.description,
                "schema": {"type": "string", "maxLength": self.max_length}}


@dataclass(frozen=True)
class CursorArg:
    """The id a cursor made by encode_cursor carries, or None when absent."""

    name: str = "cursor"

    def parse(self) -> int | None:
        return cursor_arg(self.name)

    def parameter(self) -> dict[str, Any]:
        return {"name": self.name, "in": "query", "required": False,
                "description": "The nextCursor of the previous page (opaque). "
                               + EMPTY_IS_ABSENT,
                "schema": {"type": "string"}}


Arg = IntArg | ChoiceArg | TextArg | CursorArg


# --- operations --------------------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    """What a route takes and answers. answers: status → a component name of
    app/api/schemas.py (None: no body). refusals: status → the error codes the route's
    services can answer, besides those every route shares (app/api/openapi.py)."""

    summary: str
    body: Body | None
    query: tuple[Arg, ...]
    answers: dict[int, str | None]
    refusals: dict[int, tuple[str, ...]]
    public: bool = False
    rate_limited: bool = False


OPERATION_ATTR = "api_operation"


def operation(*, answers: dict[int, str | None], body: Body | None = None,
              query: tuple[Arg, ...] = (), refusals: dict[int, tuple[str, ...]] | None = None,
              public: bool = False, rate_limited: bool = False) -> Callable:
    """Declare a route's contract; the route gets `body` (with a Body) and `args` (a dict
    by name, with query arguments) as keyword arguments, already checked."""

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def checked(**kwargs: Any):
            if any(has_nul(v) for v in kwargs.values()):
                raise NotFound(_("There is nothing at this address."), code="not_found")
            if body is not None:
                kwargs["body"] = body.parse()
            if query:
                kwargs["args"] = {arg.name: arg.parse() for arg in query}
            return view(**kwargs)

        summary = (view.__doc__ or "").strip().splitlines()[0] if view.__doc__ else ""
        setattr(checked, OPERATION_ATTR, Operation(
            summary=summary, body=body, query=query, answers=answers,
            refusals=refusals or {}, public=public, rate_limited=rate_limited))
        return checked

    return decorate
