"""GET /api/v1/openapi.json: the OpenAPI 3.1 document of the API, built from the URL map
and each route's @operation (app/api/contract.py) — the declarations that also check
the requests — with the answers' schemas of app/api/schemas.py.

Besides the codes a route declares, every operation lists the refusals it shares with
the others (COMMON below): who may call, CSRF, malformed input, unknown ids.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Flask, current_app, jsonify
from werkzeug.routing import AnyConverter, IntegerConverter, Rule

from app.api.blueprint import bp
from app.api.contract import OPERATION_ATTR, Operation, operation
from app.api.schemas import COMPONENTS, ref

TITLE = "Family Connect API"
VERSION = "1"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
STAFF_PREFIX = "/staff"
STATUS_TEXT = {200: "OK", 201: "Created", 202: "Accepted", 204: "No content",
               400: "Bad request", 401: "Not signed in", 403: "Refused", 404: "Not found",
               409: "Conflict", 410: "Gone", 422: "Invalid input", 429: "Too many requests",
               503: "Payment service unavailable"}
ARGUMENT_RE = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


def common_refusals(method: str, path: str, params: list[dict], op: Operation
                    ) -> dict[int, set[str]]:
    """The refusals any route of this shape can answer, whatever its services do."""
    found: dict[int, set[str]] = {}
    if not op.public:
        found.setdefault(401, set()).add("unauthorized")
        if method in UNSAFE:
            found.setdefault(400, set()).add("csrf_failed")  # session callers only
    if path == STAFF_PREFIX or path.startswith(STAFF_PREFIX + "/"):
        found.setdefault(403, set()).add("staff_only")
    if op.body is not None or op.query:
        found.setdefault(422, set()).add("invalid")
    if any(p["in"] == "path" for p in params):
        found.setdefault(404, set()).add("not_found")  # an id out of range or unknown
    if op.rate_limited:
        found.setdefault(429, set()).add("rate_limited")
    return found


def path_parameter(name: str, converter: Any) -> dict[str, Any]:
    if isinstance(converter, IntegerConverter):
        schema = {"type": "integer", "minimum": converter.min or 0}
        if converter.max is not None:
            schema["maximum"] = converter.max
    elif isinstance(converter, AnyConverter):
        schema = {"type": "string", "enum": sorted(converter.items)}
    else:
        schema = {"type": "string", "pattern": "^[^/]+$"}
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def error_schema(codes: set[str]) -> dict[str, Any]:
    """Error, its code one of those listed."""
    return {"allOf": [ref("Error"), {"properties": {"error": {"properties": {
        "code": {"type": "string", "enum": sorted(codes)}}}}}]}


def _answer_schema(answer: str | dict) -> dict[str, Any]:
    return ref(answer) if isinstance(answer, str) else answer


def describe(rule: Rule, method: str, view: Any) -> tuple[str, dict[str, Any]]:
    """(OpenAPI path, operation object) of one rule and method."""
    op: Operation = getattr(view, OPERATION_ATTR)
    path = ARGUMENT_RE.sub(r"{\1}", rule.rule[len(bp.url_prefix):])
    params = [path_parameter(name, rule._converters[name])
              for name in ARGUMENT_RE.findall(rule.rule)]
    params += [arg.parameter() for arg in op.query]
    responses: dict[str, Any] = {}
    for status, answer in sorted(op.answers.items()):
        response: dict[str, Any] = {"description": STATUS_TEXT.get(status, "OK")}
        if isinstance(answer, dict) and "contentMediaType" in answer:  # a file (a ZIP)
            response["content"] = {answer["contentMediaType"]: {"schema": answer}}
        elif answer is not None:
            response["content"] = _content(_answer_schema(answer))
        responses[str(status)] = response
    refusals = common_refusals(method, path, params, op)
    for status, codes in op.refusals.items():
        refusals.setdefault(status, set()).update(codes)
    for status, codes in sorted(refusals.items()):
        responses[str(status)] = {"description": STATUS_TEXT.get(status, "Refused"),
                                  "content": _content(error_schema(codes))}
    if "429" in responses:  # the wait the message states
        responses["429"]["headers"] = {"Retry-After": {
            "description": "Seconds until the request may be made again.", "required": True,
            "schema": {"type": "integer", "minimum": 1}}}
    doc = (view.__doc__ or "").strip()
    described: dict[str, Any] = {
        "operationId": rule.endpoint.removeprefix(bp.name + "."),
        "summary": op.summary, "tags": [view.__module__.rsplit("_", 1)[-1]],
        "parameters": params, "responses": responses}
    if "\n" in doc:
        described["description"] = " ".join(doc.split("\n", 1)[1].split())
    if op.body is not None:
        described["requestBody"] = {"required": not op.body.empty,
                                    "content": _content(op.body.json_schema())}
    if op.public:
        described["security"] = []
    return path, described


def api_rules(app: Flask) -> list[Rule]:
    return [r for r in app.url_map.iter_rules() if r.endpoint.startswith(bp.name + ".")]


def build_document(app: Flask) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(api_rules(app), key=lambda r: r.rule):
        view = app.view_functions[rule.endpoint]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            path, described = describe(rule, method, view)
            paths.setdefault(path, {})[method.lower()] = described
    return {
        "openapi": "3.1.0",
        "info": {"title": TITLE, "version": VERSION,
                 "description": "The JSON API of the Family Connect portal (SPEC §7). "
                                "Errors are {\"error\": {\"code\", \"message\", "
                                "\"fields\"?}}; each error answer lists its codes."},
        "servers": [{"url": bp.url_prefix}],
        "security": [{"bearerAuth": []}, {"sessionCookie": []}],
        "paths": paths,
        "components": {
            "schemas": COMPONENTS,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer",
                               "description": "A personal token from POST /auth/token."},
                "sessionCookie": {"type": "apiKey", "in": "cookie",
                                  "name": app.config.get("SESSION_COOKIE_NAME", "session"),
                                  "description": "The browser session; writes also need "
                                                 "the X-CSRFToken header."}}},
    }


def openapi_document(app: Flask) -> dict[str, Any]:
    """The document, built once per app (the routes do not change after start-up)."""
    if "api_openapi" not in app.extensions:
        app.extensions["api_openapi"] = build_document(app)
    return app.extensions["api_openapi"]


@bp.get("/openapi.json")
@operation(answers={200: {"type": "object", "description": "This document."}})
def openapi_json():
    """This OpenAPI 3.1 document.

    It needs a user like every route but register and token (SPEC §7).
    """
    return jsonify(openapi_document(current_app._get_current_object()))
