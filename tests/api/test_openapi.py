"""The OpenAPI document (GET /api/v1/openapi.json), its page /api/docs, and the contract
check every API test goes through (tests/api/contract.py)."""

from __future__ import annotations

import json
import re

import pytest
from flask import Response
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

from app.api.openapi import ARGUMENT_RE, api_rules
from tests.api import PREFIX, Api, family, person, refused
from tests.api.contract import DocumentChecker
from tests.factories import PASSWORD

METHODS = {"get", "put", "post", "patch", "delete"}


@pytest.fixture
def document(app, client):
    me = person(app, client)
    response = me.api.get("/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def _walk(node, path=()):
    """Every (json pointer parts, object) in the document."""
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _walk(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, (*path, str(index)))


def _schemas(document):
    """Every schema in the document: components, parameters, bodies, answers."""
    yield from document["components"]["schemas"].items()
    for path, item in document["paths"].items():
        for method, op in item.items():
            for param in op["parameters"]:
                yield f"{method} {path} {param['name']}", param["schema"]
            if "requestBody" in op:
                yield f"{method} {path} body", op["requestBody"]["content"][
                    "application/json"]["schema"]
            for status, answer in op["responses"].items():
                for content in answer.get("content", {}).values():
                    yield f"{method} {path} {status}", content["schema"]


# --- who may read it ---------------------------------------------------------------------


def test_the_document_needs_a_user(app, client):
    refused(Api(client).get("/openapi.json"), 401, "unauthorized")
    me = person(app, client)
    assert me.api.get("/openapi.json").get_json()["openapi"] == "3.1.0"
    browser = app.test_client()
    assert browser.get("/account/login").status_code == 200
    csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"',
                     browser.get("/account/login").get_data(as_text=True)).group(1)
    browser.post("/account/login", data={"login": me.phone, "password": PASSWORD,
                                         "csrf_token": csrf})
    response = browser.get(PREFIX + "/openapi.json")  # the page's way: the session
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"


# --- a valid OpenAPI 3.1 document --------------------------------------------------------


def test_every_schema_is_valid_json_schema_2020_12(document):
    assert document["openapi"] == "3.1.0"
    assert document["info"]["title"]
    assert document["info"]["version"]
    checked = 0
    for where, schema in _schemas(document):
        try:
            Draft202012Validator.check_schema(schema)
        except Exception as exc:  # noqa: BLE001 - name the schema at fault
            pytest.fail(f"{where}: {exc}")
        checked += 1
    assert checked > 150


def test_every_ref_resolves(document):
    resolver = Registry().with_resource(
        "urn:doc", Resource(contents=document, specification=DRAFT202012)).resolver("urn:doc")
    refs = [node["$ref"] for _path, node in _walk(document) if "$ref" in node]
    assert len(refs) > 50
    for ref in set(refs):
        assert ref.startswith("#/components/schemas/"), ref
        try:
            resolver.lookup(ref)
        except Unresolvable:
            pytest.fail(f"{ref} does not resolve")


# Anyone may call these: signing up, its code, the forgotten password, a token.
PUBLIC_OPERATIONS = ("auth_register", "auth_register_verify", "auth_password_reset",
                     "auth_password_reset_confirm", "auth_token", "auth_email_prove")


def test_operations_are_well_formed(document):
    ids = []
    for path, item in document["paths"].items():
        assert set(item) <= METHODS, path
        for method, op in item.items():
            ids.append(op["operationId"])
            assert op["summary"], (method, path)
            assert op["tags"], (method, path)
            names = {p["name"] for p in op["parameters"] if p["in"] == "path"}
            assert names == set(re.findall(r"{(\w+)}", path)), (method, path)
            for status, answer in op["responses"].items():
                assert re.fullmatch(r"[1-5]\d\d", status)
                assert answer["description"]
                if int(status) >= 400:
                    codes = answer["content"]["application/json"]["schema"]["allOf"][1][
                        "properties"]["error"]["properties"]["code"]["enum"]
                    assert codes, (method, path, status)
            security = op.get("security", document["security"])
            if op["operationId"] in PUBLIC_OPERATIONS:
                assert security == []
            else:
                assert security, (method, path)
                assert "401" in op["responses"], (method, path)
    assert len(ids) == len(set(ids))


def test_operations_and_the_url_map_are_the_same_set(app, document):
    rules = set()
    for rule in api_rules(app):
        path = ARGUMENT_RE.sub(r"{\1}", rule.rule.removeprefix(PREFIX))
        rules |= {(m.lower(), path) for m in rule.methods - {"HEAD", "OPTIONS"}}
    documented = {(m, path) for path, item in document["paths"].items() for m in item}
    assert documented == rules
    assert len(rules) >= 43


def test_converters_become_typed_parameters(document):
    [action] = [p for p in document["paths"]["/staff/users/{user_id}/{action}"]["post"][
        "parameters"] if p["name"] == "action"]
    assert action["schema"]["enum"] == ["reactivate", "suspend"]
    [group_id] = [p for p in document["paths"]["/families/{group_id}"]["get"]["parameters"]
                  if p["in"] == "path"]
    assert group_id["schema"] == {"type": "integer", "minimum": 0,
                                  "maximum": 9223372036854775807}


def test_declarations_say_what_is_checked(document):
    """The same declarations validate and describe: spot-check both ends."""
    invite = document["paths"]["/families/{group_id}/invites"]["post"]
    body = invite["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["phone", "role"]
    assert body["additionalProperties"] is False
    assert body["properties"]["role"]["enum"] == ["patient", "caregiver"]
    conflict = invite["responses"]["409"]["content"]["application/json"]["schema"]
    assert set(conflict["allOf"][1]["properties"]["error"]["properties"]["code"]["enum"]) == {
        "duplicate_pending", "no_slot", "already_in_group", "group_not_active"}
    permissions = document["paths"]["/connections/{connection_id}/permissions"]["put"]
    field = permissions["requestBody"]["content"]["application/json"]["schema"][
        "properties"]["permissions"]
    assert len(field["propertyNames"]["enum"]) == 6
    relationship = document["paths"]["/connections/{connection_id}/relationship"]["put"][
        "requestBody"]["content"]["application/json"]["schema"]["properties"]["relationship"]
    assert len(relationship["enum"]) > 10
    assert None in relationship["enum"]
    [limit] = document["paths"]["/notifications"]["get"]["parameters"]
    assert limit["schema"]["anyOf"][0] == {"type": "integer", "minimum": 1, "maximum": 200,
                                           "default": 50}


# --- the contract check itself -----------------------------------------------------------


def test_the_checker_catches_an_answer_that_breaks_the_document(app):
    checker = DocumentChecker(app)
    good = Response(json.dumps({"error": {"code": "unauthorized", "message": "x"}}), 401,
                    mimetype="application/json")
    checker.check("GET", PREFIX + "/me", good)
    cases = [
        (Response(json.dumps({"error": {"code": "no_slot", "message": "x"}}), 401,
                  mimetype="application/json"), "is not one of"),
        (Response("{}", 418, mimetype="application/json"), "not documented"),
        (Response(json.dumps({"id": 1}), 200, mimetype="application/json"), "breaks"),
    ]
    for response, message in cases:
        with pytest.raises(AssertionError, match=message):
            checker.check("GET", PREFIX + "/me", response)


# --- bugs the contract tests found -------------------------------------------------------


def test_nul_characters_are_refused_not_a_server_error(app, client):
    admin = person(app, client)
    group_id = family(app, admin)
    error = refused(admin.api.patch(f"/families/{group_id}", json={"name": "A\x00B"}),
                    422, "invalid")
    assert list(error["fields"]) == ["name"]
    refused(Api(client).post("/auth/register", json={
        "phone": "0912000111", "password": "matkhau-2026x", "name": "A\x00", "gender": None}),
        422, "invalid")
    staff = person(app, client, is_staff=True)
    refused(staff.api.get("/staff/users", query_string={"q": "0912\x00"}), 422, "invalid")
    refused(staff.api.post("/staff/queue/unreviewed_invites/k\x00/review",
                           json={"note": "n"}), 404, "not_found")


def test_an_id_past_the_database_range_is_404_not_405(app, client):
    admin = person(app, client)
    # PATCH has a rule on this path (GET too): werkzeug used to answer 405 "use GET".
    refused(admin.api.patch("/families/9223372036854775808", json={"name": "x"}),
            404, "not_found")
    refused(admin.api.get("/families/9223372036854775808/invites"), 404, "not_found")


def test_405_says_which_methods_work(app, client):
    admin = person(app, client)
    response = admin.api.call("PUT", "/me")
    refused(response, 405, "method_not_allowed")
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "HEAD"}


# --- /api/docs ---------------------------------------------------------------------------


def _fetch(client, url: str) -> tuple[Response, str]:
    """A static file's answer and text, its file closed (filterwarnings=error)."""
    response = client.get(url)
    text = response.get_data(as_text=True)
    response.close()
    return response, text


def test_the_docs_page_and_its_assets_are_served_from_static(client):
    page, html = _fetch(client, "/api/docs")
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    assert "http://" not in html  # nothing from a CDN
    assert "https://" not in html
    assert "<script>" not in html  # the CSP forbids inline scripts and styles
    assert "style=" not in html
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
    assert {"/static/vendor/swagger-ui/swagger-ui-bundle.js",
            "/static/vendor/swagger-ui/swagger-ui.css", "/static/api-docs/docs.js",
            "/static/api-docs/docs.css"} <= set(assets)
    for asset in assets:
        response, text = _fetch(client, asset)
        assert response.status_code == 200, asset
        assert text, asset
    script = _fetch(client, "/static/api-docs/docs.js")[1]
    assert PREFIX + "/openapi.json" in script
    assert "docs-login" in script
    assert _fetch(client, "/static/vendor/swagger-ui/LICENSE")[0].status_code == 200
    assert "5.35.0" in _fetch(client, "/static/vendor/swagger-ui/VERSION.txt")[1]
