"""Who calls the API: register, tokens, bearer and session authentication, CSRF."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.accounts.services import api_token_create, api_token_user
from app.db import utcnow
from app.extensions import db
from app.models.accounts import ApiToken, EmailProof, User
from app.models.audit import AuditEvent
from app.models.groups import FamilyGroup
from tests.api import Api, count, person, refused, scalar
from tests.factories import PASSWORD, make_subscription, make_user, national
from tests.sms import CODE_RE, texted_code, texts_to

GOOD = {"phone": "0912345678", "password": "hoa-sen-2026", "name": "Trần Thị Lan",
        "gender": "female"}


@pytest.fixture
def anon(client):
    return Api(client)


# --- register ---------------------------------------------------------------------------


def test_register_sends_a_code_and_the_account_exists_after_it(app, anon, use_gateway):
    response = anon.post("/auth/register", json={**GOOD, "email": "Lan@Example.com",
                                                 "locale": "en"})
    assert response.status_code == 202
    assert response.get_json() == {"verification": "sent"}
    assert count(app, User) == 0  # not before the code comes back (ID-001)

    code = texted_code(app, use_gateway, "+84912345678")
    response = anon.post("/auth/register/verify", json={"phone": "0912 345 678", "code": code})
    assert response.status_code == 201
    body = response.get_json()
    user = body["user"]
    assert user == {"id": user["id"], "name": "Trần Thị Lan", "phone": "+84912345678",
                    "phoneVerified": True, "email": None, "emailVerified": False,
                    "gender": "female", "locale": "en", "familyIds": [], "roles": []}
    # The address waits for the link sent to it (issue 21).
    assert scalar(app, select(EmailProof.email)) == "lan@example.com"
    assert response.headers["Cache-Control"] == "no-store"
    assert scalar(app, select(User.name).where(User.id == user["id"])) == "Trần Thị Lan"
    # The token works at once.
    me = anon.client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200
    assert me.get_json()["id"] == user["id"]
    # And the code works once.
    refused(anon.post("/auth/register/verify", json={"phone": "0912345678", "code": code}),
            422, "invalid_code")


def test_register_invalid_phone(app, anon):
    error = refused(anon.post("/auth/register", json={**GOOD, "phone": "12345"}),
                    422, "invalid_phone")
    assert "phone" in error["fields"]
    assert count(app, User) == 0


def test_register_weak_password_says_the_rule(app, anon):
    error = refused(anon.post("/auth/register", json={**GOOD, "password": "qwerty12"}),
                    422, "weak_password")
    assert "password" in error["fields"]
    assert count(app, User) == 0


def test_register_answers_the_same_for_a_number_with_an_account(app, anon, use_gateway):
    """F7: no 409 phone_taken or email_taken; the owner is told by SMS instead."""
    person(app, anon.client, phone="+84912345678", email="lan@example.com")
    fresh = anon.post("/auth/register", json={**GOOD, "phone": "0912000999",
                                              "email": "other@example.com"})
    taken = anon.post("/auth/register", json={**GOOD, "email": "lan@example.com"})
    assert (taken.status_code, taken.get_json()) == (fresh.status_code, fresh.get_json()) == (
        202, {"verification": "sent"})
    owner_sms = texts_to(app, use_gateway, "+84912345678")
    assert len(owner_sms) == 1
    assert "already has an account" not in owner_sms[0]
    assert "/account/password-reset" in owner_sms[0]
    assert not CODE_RE.search(owner_sms[0])  # no code goes to an owned number
    assert count(app, User) == 1


@pytest.mark.parametrize(("body", "field"), [
    ({**GOOD, "admin": True}, "admin"),          # unknown field
    ({**GOOD, "gender": 1}, "gender"),           # wrong type
    ({**GOOD, "gender": "other"}, "gender"),     # not a gender
    ({k: v for k, v in GOOD.items() if k != "name"}, "name"),  # missing
])
def test_register_malformed_fields(app, anon, body, field):
    error = refused(anon.post("/auth/register", json=body), 422, "invalid")
    assert field in error["fields"]
    assert count(app, User) == 0


@pytest.mark.parametrize("kwargs", [
    {"data": "phone=0912345678", "content_type": "application/x-www-form-urlencoded"},
    {"data": "[1, 2]", "content_type": "application/json"},
    {"data": "{not json", "content_type": "application/json"},
])
def test_register_needs_a_json_object(app, anon, kwargs):
    refused(anon.post("/auth/register", **kwargs), 422, "invalid")
    assert count(app, User) == 0


# --- tokens -----------------------------------------------------------------------------


def ask_token(anon, who, **kwargs):
    """POST /auth/token with who's phone and the factories' password."""
    return anon.post("/auth/token", json={"login": who.phone, "password": PASSWORD}, **kwargs)


def test_token_for_phone_or_email_stores_only_its_hash(app, anon):
    user = person(app, anon.client, email="an@example.com")
    for login in (national(user.phone), "AN@example.com"):
        response = anon.post("/auth/token", json={"login": login, "password": PASSWORD})
        assert response.status_code == 201
        body = response.get_json()
        assert body["user"]["id"] == user.id
        assert body["user"]["phone"] == user.phone
        token = body["token"]
        assert len(token) >= 43
        digest = hashlib.sha256(token.encode()).hexdigest()
        assert count(app, ApiToken, ApiToken.token_hash == digest) == 1
        assert count(app, ApiToken, ApiToken.token_hash == token) == 0
        me = Api(anon.client, token).get("/me")
        assert me.status_code == 200
        assert me.get_json()["id"] == user.id


def test_token_bad_credentials(app, anon):
    user = person(app, anon.client)
    before = count(app, ApiToken)
    messages = set()
    for login, password in ((user.phone, "sai-matkhau-1"), ("0999999999", PASSWORD)):
        messages.add(refused(anon.post("/auth/token", json={"login": login,
                                                            "password": password}),
                             401, "bad_credentials")["message"])
    # One answer for both, and it shows the way back in (ID-002).
    [message] = messages
    assert "POST /api/v1/auth/password-reset" in message
    assert count(app, ApiToken) == before
    # the failed attempts are on the record
    assert count(app, AuditEvent, AuditEvent.action == "account.login_failed") == 2


def test_token_suspended_account(app, anon):
    user = person(app, anon.client, is_active=False)
    before = count(app, ApiToken)
    refused(ask_token(anon, user), 403, "account_suspended")
    assert count(app, ApiToken) == before


def test_token_rate_limited_per_address(app, anon):
    user = person(app, anon.client)
    before = count(app, ApiToken)
    for i in range(10):
        refused(anon.post("/auth/token", json={"login": f"x{i}@example.com", "password": "x"}),
                401, "bad_credentials")
    # even the right password is held back now
    refused(ask_token(anon, user), 429, "rate_limited")
    assert count(app, ApiToken) == before


def test_token_rate_limited_per_account_across_addresses(app, anon):
    user = person(app, anon.client)
    before = count(app, ApiToken)
    for i in range(10):
        response = anon.post("/auth/token", json={"login": national(user.phone), "password": "x"},
                             environ_base={"REMOTE_ADDR": f"10.0.0.{i + 1}"})
        assert response.status_code == 401
    refused(ask_token(anon, user, environ_base={"REMOTE_ADDR": "10.0.1.1"}), 429, "rate_limited")
    assert count(app, ApiToken) == before
    other = person(app, anon.client)
    assert ask_token(anon, other, environ_base={"REMOTE_ADDR": "10.0.2.1"}).status_code == 201


def test_token_and_login_page_share_their_limit(app, anon, csrf):
    user = person(app, anon.client)
    for i in range(10):
        response = anon.client.post("/account/login", data={
            "login": f"x{i}@example.com", "password": "x", "csrf_token": csrf()})
        assert response.status_code == 401
    refused(ask_token(anon, user), 429, "rate_limited")


# --- bearer authentication --------------------------------------------------------------

NEEDS_USER = [("GET", "/me"), ("GET", "/subscription"), ("POST", "/subscription/redeem"),
              ("POST", "/families"), ("GET", "/families"), ("GET", "/families/1"),
              ("PATCH", "/families/1"), ("DELETE", "/families/1"),
              ("GET", "/families/1/connections"), ("GET", "/families/1/audit"),
              ("GET", "/users/1"), ("GET", "/users/1/families"),
              ("POST", "/users/1/families/1"), ("DELETE", "/users/1/families/1"),
              ("POST", "/families/1/invites"), ("GET", "/families/1/invites"),
              ("DELETE", "/invites/1"), ("POST", "/invites/1/resend"),
              ("GET", "/invites/pending"), ("POST", "/invites/accept"),
              ("POST", "/invites/1/accept"), ("POST", "/invites/1/reject"),
              ("GET", "/notifications")]


@pytest.mark.parametrize(("method", "path"), NEEDS_USER)
def test_routes_need_a_user(app, anon, method, path):
    audit_before = count(app, AuditEvent)
    response = anon.call(method, path, json={} if method != "GET" else None)
    refused(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.headers["Cache-Control"] == "no-store"
    assert count(app, AuditEvent) == audit_before


@pytest.mark.parametrize("header", ["Bearer nonsense", "Bearer ", "Basic dXNlcjpwYXNz",
                                    "nonsense"])
def test_bad_authorization_header_is_401(app, client, header):
    refused(Api(client).get("/me", headers={"Authorization": header}), 401, "unauthorized")


@pytest.mark.parametrize("change", ["revoked", "expired", "suspended"])
def test_dead_tokens_are_refused(app, client, change):
    user = person(app, client)
    assert user.api.get("/me").status_code == 200
    with app.app_context():
        row = db.session.scalar(select(ApiToken).where(ApiToken.user_id == user.id))
        if change == "revoked":
            row.revoked_at = utcnow()
        elif change == "expired":
            row.expires_at = utcnow() - timedelta(seconds=1)
        else:
            db.session.get(User, user.id).is_active = False
        db.session.commit()
    refused(user.api.get("/me"), 401, "unauthorized")


def test_tokens_expire_after_their_lifetime(app_ctx):
    user = make_user()
    token = api_token_create(user=user, name="cli")
    row = db.session.scalar(select(ApiToken).where(ApiToken.user_id == user.id))
    assert timedelta(days=89) < row.expires_at - utcnow() <= timedelta(days=90)
    assert row.name == "cli"
    assert api_token_user(token) is user
    assert api_token_user(token + "x") is None
    assert api_token_user("") is None


def test_last_used_is_written_at_most_once_a_minute(app, client):
    user = person(app, client)

    def last_used():
        return scalar(app, select(ApiToken.last_used_at).where(ApiToken.user_id == user.id))

    assert last_used() is None
    assert user.api.get("/me").status_code == 200
    first = last_used()
    assert first is not None
    assert user.api.get("/me").status_code == 200
    assert last_used() == first
    with app.app_context():
        row = db.session.scalar(select(ApiToken).where(ApiToken.user_id == user.id))
        row.last_used_at = utcnow() - timedelta(minutes=2)
        db.session.commit()
    assert user.api.get("/me").status_code == 200
    assert last_used() > first


# --- the browser session ----------------------------------------------------------------


@pytest.fixture
def session_admin(app, client, csrf):
    """A user with a plan, logged in through the login page of `client`."""
    with app.app_context():
        user = make_user()
        make_subscription(user)
        db.session.commit()
        phone, user_id = user.phone, user.id
    response = client.post("/account/login", data={"login": phone, "password": PASSWORD,
                                                    "csrf_token": csrf()})
    assert response.status_code == 303
    return user_id


def test_session_reads_without_csrf(app, client, session_admin):
    response = Api(client).get("/me")
    assert response.status_code == 200
    assert response.get_json()["id"] == session_admin


def test_session_writes_need_the_csrf_header(app, client, csrf, session_admin):
    api = Api(client)
    audit_before = count(app, AuditEvent)
    for headers in ({}, {"X-CSRFToken": "forged"}):
        refused(api.post("/families", json={"name": "Nhà"}, headers=headers), 400,
                "csrf_failed")
    assert count(app, FamilyGroup) == 0
    assert count(app, AuditEvent) == audit_before
    response = api.post("/families", json={"name": "Nhà"}, headers={"X-CSRFToken": csrf()})
    assert response.status_code == 201
    assert count(app, FamilyGroup) == 1


def test_a_bearer_request_never_uses_the_session(app, client, session_admin):
    other = person(app, client)
    # a broken token is refused even though the session is logged in
    refused(Api(client, "wrong").get("/me"), 401, "unauthorized")
    # a token speaks for its own user, and needs no CSRF token
    assert other.api.get("/me").get_json()["id"] == other.id
    response = other.api.post("/families", json={"name": "Nhà"})
    refused(response, 403, "not_admin")  # checked as `other`, not as the session's admin
