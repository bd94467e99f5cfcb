"""DELETE /api/v1/auth/token (app/api/routes_tokens.py, issue 15): the caller revokes the
bearer token the request comes with. Every answer is checked against the OpenAPI document
(tests/api/__init__.py)."""

from __future__ import annotations

from sqlalchemy import select

from app.accounts.services import api_token_create
from app.extensions import db
from app.models.accounts import ApiToken, User
from app.models.audit import AuditEvent
from tests.api import Api, count, person, refused
from tests.factories import PASSWORD


def second_token(app, user_id: int, name: str = "second") -> str:
    with app.app_context():
        token = api_token_create(user=db.session.get(User, user_id), name=name)
        db.session.commit()
        return token


def revoked_events(app) -> list[tuple]:
    with app.app_context():
        return [(e.actor_id, e.subject_type, e.details) for e in db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "account.api_token_revoked"))]


def test_delete_revokes_the_calling_token_only(app, client):
    user = person(app, client)
    other = person(app, client)
    kept = Api(client, second_token(app, user.id))
    response = user.api.delete("/auth/token")
    assert response.status_code == 204
    assert response.get_data() == b""
    assert response.headers["Cache-Control"] == "no-store"
    # that token is dead from now on ...
    refused(user.api.get("/me"), 401, "unauthorized")
    refused(user.api.delete("/auth/token"), 401, "unauthorized")
    # ... the user's other token and other users' tokens are not
    assert kept.get("/me").get_json()["id"] == user.id
    assert other.api.get("/me").status_code == 200
    assert count(app, ApiToken, ApiToken.revoked_at.is_not(None)) == 1
    assert revoked_events(app) == [(user.id, "api_tokens", {"name": "test", "via": "api"})]


def test_a_new_token_works_after_revoking_the_old_one(app, client):
    user = person(app, client)
    assert user.api.delete("/auth/token").status_code == 204
    answer = Api(client).post("/auth/token", json={"login": user.phone, "password": PASSWORD})
    assert answer.status_code == 201
    assert Api(client, answer.get_json()["token"]).get("/me").status_code == 200


def test_without_a_token_it_is_401(app, client):
    user = person(app, client)
    for headers in ({}, {"Authorization": "Bearer not-a-real-token"},
                    {"Authorization": "Basic dXNlcjpwYXNz"}):
        response = Api(client).delete("/auth/token", headers=headers)
        refused(response, 401, "unauthorized")
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="api"'
    assert user.api.get("/me").status_code == 200
    assert revoked_events(app) == []


def test_with_the_browser_session_it_is_400_token_required(app, client, csrf):
    user = person(app, client)
    login = client.post("/account/login", data={"login": user.phone, "password": PASSWORD,
                                                "csrf_token": csrf()})
    assert login.status_code == 303
    session = Api(client)
    # without the CSRF header: refused like every session write
    refused(session.delete("/auth/token"), 400, "csrf_failed")
    # with it: there is no token to revoke, and the answer says what to do
    error = refused(session.delete("/auth/token", headers={"X-CSRFToken": csrf()}), 400,
                    "token_required")
    assert "Authorization: Bearer" in error["message"]
    assert "đăng xuất" in error["message"]  # the user's language: Vietnamese
    assert session.get("/me").status_code == 200  # the session goes on
    assert user.api.get("/me").status_code == 200  # and no token was touched
    assert count(app, ApiToken, ApiToken.revoked_at.is_not(None)) == 0
    assert revoked_events(app) == []


def test_it_is_in_the_openapi_document(app, client):
    user = person(app, client)
    document = user.api.get("/openapi.json").get_json()
    operation = document["paths"]["/auth/token"]["delete"]
    assert operation["operationId"] == "auth_token_revoke"
    assert set(operation["responses"]) == {"204", "400", "401"}
    codes = operation["responses"]["400"]["content"]["application/json"]["schema"]["allOf"][1]
    assert codes["properties"]["error"]["properties"]["code"]["enum"] == [
        "csrf_failed", "token_required"]
    assert "security" not in operation  # needs a user, unlike POST /auth/token


def test_a_confirmation_code_goes_to_my_proved_number_only(app, client, use_gateway):
    """POST /api/v1/me/confirmation-code (issue 19): 202 and an SMS code to the caller's
    proved number; 409 phone_unverified for a number never proved; paced as every code."""
    from tests.sms import texted_code

    user = person(app, client)
    sent = user.api.post("/me/confirmation-code")
    assert sent.status_code == 202
    assert sent.get_json() == {"verification": "sent"}
    assert len(texted_code(app, use_gateway, user.phone)) == 6
    refused(user.api.post("/me/confirmation-code"), 429, "rate_limited")
    unproved = person(app, client, phone_verified_at=None)
    refused(unproved.api.post("/me/confirmation-code"), 409, "phone_unverified")
