"""Issue 15's limits on guessing: one-time SMS codes per number and per address (ID-001/002),
and invite tokens, whose guesses cost the same whatever route they go through (F3), kept
out of the readable session cookie (F10)."""

from __future__ import annotations

import base64
import json
import zlib

import pytest

from tests.pages import csrf_from, csrf_of, text
from tests.security.conftest import as_who

BAD = "A" * 43  # the shape of a real token, matching nothing


def at(address: str) -> dict:
    return {"environ_base": {"REMOTE_ADDR": address}}


@pytest.fixture
def limited(limited, app, monkeypatch):
    """security/conftest.py's limits, and the phone-proof codes' (two an hour)."""
    monkeypatch.setitem(app.config, "PHONE_CODE_RATE_LIMIT", "2 per hour")
    monkeypatch.setitem(app.config, "PHONE_CODE_RESEND_SECONDS", 0)  # the limiter alone


# --- F3: a guess costs the same through every invite route -----------------------------


def test_an_anonymous_accept_with_a_guessed_token_is_a_counted_404(app, world, limited):
    client = app.test_client()
    for n in range(3):
        response = client.post("/i/accept", data={"token": f"{BAD}{n}",
                                                  "csrf_token": csrf_of(client)})
        assert response.status_code == 404
    # No oracle left behind: the session holds nothing to resume.
    assert client.get("/i/resume").status_code == 429
    assert client.get(f"/i/{world.invite_token}").status_code == 429


def test_resume_is_limited_like_the_link(app, world, limited):
    client = app.test_client()
    for _ in range(3):
        assert client.get("/i/resume").status_code == 404
    assert client.get(f"/i/{world.invite_token}").status_code == 429


def test_an_anonymous_accept_with_a_real_token_goes_to_log_in(app, world, limited):
    client = app.test_client()
    response = client.post("/i/accept", data={"token": world.invite_token,
                                              "csrf_token": csrf_of(client)})
    assert response.status_code == 303
    assert response.headers["Location"] == "/i/login"
    assert client.get("/i/resume").status_code == 200


# --- F10: the session keeps no raw invite token ----------------------------------------


def session_payload(client) -> str:
    """What anyone holding the cookie reads in it (signed, not encrypted)."""
    cookie = client.get_cookie("fc_session").value
    data = cookie.lstrip(".").split(".")[0]
    raw = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
    return (zlib.decompress(raw) if cookie.startswith(".") else raw).decode()


def test_the_session_cookie_does_not_give_the_invite_token_away(app, world):
    client = app.test_client()
    assert client.get(f"/i/{world.invite_token}").status_code == 200
    payload = session_payload(client)
    assert json.loads(payload)  # the cookie was read
    assert world.invite_token not in payload
    assert client.get("/i/login").status_code == 200  # and the link still carries on


# --- one-time codes ----------------------------------------------------------------------


def test_codes_to_one_number_are_limited_whatever_the_address(app, limited):
    for n, path in enumerate(("/account/password-reset", "/account/password-reset")):
        client = app.test_client()
        page = client.get(path, **at(f"10.1.0.{n}"))
        assert client.post(path, data={"phone": "0912 345 678",
                                       "csrf_token": csrf_from(text(page))},
                           **at(f"10.1.0.{n}")).status_code == 303
    api = app.test_client().post("/api/v1/auth/password-reset", json={"phone": "0912345678"},
                                 **at("10.1.0.9"))
    assert (api.status_code, api.get_json()["error"]["code"]) == (429, "rate_limited")
    register = app.test_client().post("/api/v1/auth/register", json={
        "phone": "+84 912 345 678", "password": "hoa-sen-2026", "name": "Lan",
        "gender": "female"}, **at("10.1.0.10"))
    assert register.status_code == 429  # one bucket per number for every kind of code
    # Another number is not held back.
    other = app.test_client().post("/api/v1/auth/password-reset", json={"phone": "0912000111"},
                                   **at("10.1.0.11"))
    assert other.status_code == 202


def test_code_tries_are_limited_per_address(app, limited):
    client = app.test_client()
    for _ in range(3):
        response = client.post("/api/v1/auth/register/verify",
                               json={"phone": "0912345678", "code": "000000"})
        assert response.get_json()["error"]["code"] == "invalid_code"
    for path, body in (("/api/v1/auth/register/verify", {"phone": "0912000111", "code": "1"}),
                       ("/api/v1/auth/password-reset/confirm",
                        {"phone": "0912000111", "code": "1", "password": "x"})):
        assert client.post(path, json=body).status_code == 429
    page = client.get("/account/password-reset/confirm")
    assert page.status_code == 200  # looking is never limited
    assert client.post("/account/password-reset/confirm", data={
        "phone": "0912000111", "code": "123456", "password": "hoa-sen-2026",
        "csrf_token": csrf_from(text(page))}).status_code == 429
    # Another address tries on.
    assert app.test_client().post("/api/v1/auth/register/verify", json={
        "phone": "0912345678", "code": "000000"}, **at("10.2.0.1")).status_code == 422


def test_an_unproved_users_code_requests_are_limited_on_its_number(app, world, limited):
    client = as_who(app, world, "unproved")
    bearer = {"Authorization": f"Bearer {world.api_tokens['unproved']}"}
    assert client.post("/api/v1/me/phone-verification", headers=bearer).status_code == 202
    page = client.get("/account/phone")
    assert client.post("/account/phone/send", data={"csrf_token": csrf_from(text(page))}
                       ).status_code == 303
    assert client.post("/api/v1/me/phone-verification", headers=bearer).status_code == 429


def test_bearer_callers_each_have_their_own_numbers_bucket(app, world, limited):
    """The limiter runs before the API authenticates: it must still find each caller's
    number, or every token would share one bucket (the F2 mistake)."""
    anon = app.test_client()
    mine = {"Authorization": f"Bearer {world.api_tokens['unproved']}"}
    for _ in range(2):
        assert anon.post("/api/v1/me/phone-verification", headers=mine).status_code in (202, 429)
    assert anon.post("/api/v1/me/phone-verification", headers=mine).status_code == 429
    # Another caller (whose number is proved) reaches the service: its own answer, not 429.
    theirs = {"Authorization": f"Bearer {world.api_tokens['admin']}"}
    answer = anon.post("/api/v1/me/phone-verification", headers=theirs, **at("10.3.0.1"))
    assert (answer.status_code, answer.get_json()["error"]["code"]) == (409, "already_proved")
