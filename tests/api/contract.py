"""Every answer the API tests get, checked against the OpenAPI document (app/api/openapi.py):
the operation is the one Flask's URL adapter finds for the request; its status must be
documented; a JSON body must validate against that status's schema, which for an error
lists the codes the operation may answer; a header it requires (a 429's Retry-After) is
there.
"""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from werkzeug.exceptions import HTTPException

from app.api.openapi import openapi_document

DOCUMENT_URI = "urn:family-connect:openapi"
_checkers: dict[int, DocumentChecker] = {}


def _pointer(*parts: str) -> str:
    return "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


class DocumentChecker:
    """The document of one app, its operations by endpoint, a validator per schema."""

    def __init__(self, app):
        with app.app_context():
            self.document = openapi_document(app)
        self.app = app
        self.registry = Registry().with_resource(
            DOCUMENT_URI, Resource(contents=self.document, specification=DRAFT202012))
        self.operations: dict[str, tuple[str, str, dict]] = {}
        for path, item in self.document["paths"].items():
            for method, op in item.items():
                self.operations["api." + op["operationId"]] = (path, method, op)
        self._validators: dict[str, Draft202012Validator] = {}

    def validator(self, pointer: str) -> Draft202012Validator:
        if pointer not in self._validators:
            self._validators[pointer] = Draft202012Validator(
                {"$ref": f"{DOCUMENT_URI}#/{pointer}"}, registry=self.registry)
        return self._validators[pointer]

    def operation_for(self, method: str, url: str) -> tuple[str, str, dict] | None:
        adapter = self.app.url_map.bind("portal.test")
        try:
            endpoint, _args = adapter.match(url.split("?", 1)[0], method=method)
        except HTTPException:
            return None  # no route: werkzeug's 404 or 405
        return self.operations.get(endpoint)

    def check(self, method: str, url: str, response) -> None:
        found = self.operation_for(method, url)
        body: Any = response.get_json(silent=True)
        if found is None:
            assert response.status_code in (404, 405), (method, url, response.status_code)
            assert body["error"]["code"] in ("not_found", "method_not_allowed"), body
            return
        path, op_method, op = found
        status = str(response.status_code)
        assert status in op["responses"], (
            f"{method} {url}: {status} is not documented for {op_method.upper()} {path}: "
            f"{response.get_data(as_text=True)[:300]}")
        documented = op["responses"][status]
        for name, header in documented.get("headers", {}).items():  # Retry-After of a 429
            if header.get("required"):
                assert response.headers.get(name, "").isdigit(), (method, url, name)
        if "content" not in documented:
            assert not response.get_data(), f"{method} {url}: {status} has a body"
            return
        if response.mimetype != "application/json" and response.mimetype in documented[
                "content"]:  # a file the document names by its media type (an export)
            assert response.get_data(), f"{method} {url}: {status} has no body"
            return
        assert response.mimetype == "application/json", (method, url, response.mimetype)
        pointer = _pointer("paths", path, op_method, "responses", status, "content",
                           "application/json", "schema")
        errors = sorted(self.validator(pointer).iter_errors(body), key=lambda e: e.path)
        assert not errors, (f"{method} {url} → {status} breaks the document:\n"
                            + "\n".join(f"  {list(e.absolute_path)}: {e.message}"
                                        for e in errors[:5]))


def check_answer(app, method: str, url: str, response) -> None:
    """Assert that `response` to `method url` is what the document says."""
    checker = _checkers.get(id(app))
    if checker is None or checker.app is not app:
        checker = _checkers[id(app)] = DocumentChecker(app)
    checker.check(method, url, response)
