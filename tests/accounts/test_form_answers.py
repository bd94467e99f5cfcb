"""Issue 18: the login-like forms answer their refusals in the form itself, for htmx as for
a plain post — a wrong password (401), a suspended account (403), a rate limit (429, with
how long to wait and, for logging in, the reset link) — and the language a visitor chose
before logging in is the one they keep, stored on the account."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models.accounts import User
from tests.conftest import sign_in
from tests.factories import national
from tests.pages import HX, csrf_from, csrf_of, errors, text

WRONG = ("Số điện thoại, email hoặc mật khẩu không đúng.",
         "The phone number, email or password is not right.")
SUSPENDED = "Tài khoản này đã bị khóa. Vui lòng liên hệ bộ phận hỗ trợ để mở lại."
WAIT = re.compile(r"(Quá nhiều lần thử\. Vui lòng thử lại sau|Too many attempts\. Try again in)"
                  r" (\d+) (giây|phút|giờ|seconds?|minutes?|hours?)\.")
RESET_LINK = 'href="/account/password-reset"'


def form_of(body: str, form_id: str) -> str:
    """The form `form_id` of a page or fragment, as HTML."""
    match = re.search(rf'<form id="{form_id}".*?</form>', body, re.S)
    assert match, body[:400]
    return html.unescape(match.group(0))


def locked_out(response, form_id: str, *, fragment: bool) -> str:
    """A 429 that says, inside the form, how long to wait (what Retry-After says too); the
    form's HTML. Answered by the form, not by app/errors.py: nothing retargeted to #flashes."""
    assert response.status_code == 429
    body = text(response)
    assert ("<html" in body) is not fragment
    assert "HX-Retarget" not in response.headers
    form = form_of(body, form_id)
    match = WAIT.search(form)
    assert match, form
    seconds = int(response.headers["Retry-After"])
    assert 1 <= seconds <= 60
    assert 'role="alert"' in form
    return form


@pytest.fixture
def account(person):
    return lambda **fields: person(**({"locale": "vi"} | fields))


@pytest.fixture
def low_limit(app, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT", "2 per minute")


# --- 401 and 403, in the form, for htmx too ---------------------------------------------


def test_a_wrong_password_with_htmx_is_401_with_the_message_in_the_form(client, account):
    user = account()
    response = sign_in(client, national(user.phone), "sai-matkhau-1", headers=HX)
    assert response.status_code == 401  # htmx swaps every status (base.html)
    body = text(response)
    assert "<html" not in body
    assert body.lstrip().startswith('<form id="login-form"')
    assert errors(response) == [WRONG[0]]


def test_a_suspended_account_with_htmx_is_403_in_the_form(client, account):
    user = account(is_active=False)
    response = sign_in(client, national(user.phone), headers=HX)
    assert response.status_code == 403
    assert "<html" not in text(response)
    assert errors(response) == [SUSPENDED]


# --- 429: the wait and the reset link, in the form ----------------------------------------


def test_the_login_limit_is_answered_in_the_form_for_htmx(client, account, low_limit):
    user = account()
    for _ in range(2):
        assert sign_in(client, national(user.phone), "sai-matkhau-1",
                       headers=HX).status_code == 401
    response = sign_in(client, national(user.phone), headers=HX)
    form = locked_out(response, "login-form", fragment=True)
    assert RESET_LINK in form
    assert 'id="login-form-locked"' in form
    assert "Vui lòng thử lại sau" in form  # the visitor's language: Vietnamese


def test_the_login_limit_is_answered_in_the_form_without_javascript(client, account, low_limit):
    user = account(email="binh@example.com")
    for _ in range(2):
        sign_in(client, "binh@example.com", "sai-matkhau-1")
    response = sign_in(client, "binh@example.com")
    form = locked_out(response, "login-form", fragment=False)
    assert RESET_LINK in form
    assert 'value="binh@example.com"' in form  # what was typed stays; the password does not
    assert "sai-matkhau" not in text(response)
    with client.session_transaction() as session:
        assert "_user_id" not in session
    del user


def test_the_login_limit_speaks_english_to_an_english_visitor(client, account, low_limit):
    client.post("/language", data={"locale": "en", "csrf_token": csrf_of(client)})
    user = account()
    for _ in range(2):
        sign_in(client, national(user.phone), "wrong-password-1", headers=HX)
    form = locked_out(sign_in(client, national(user.phone), headers=HX), "login-form",
                      fragment=True)
    assert "Too many attempts. Try again in" in form
    assert "Locked out of your account? Reset your password" in form


def test_the_sign_up_limit_is_answered_in_the_form(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT", "1 per minute")
    bad = {"phone": "12", "name": "", "gender": "0", "password": "x"}
    assert client.post("/account/register", headers=HX, data={
        **bad, "csrf_token": csrf_of(client)}).status_code == 422
    response = client.post("/account/register", headers=HX, data={
        **bad, "name": "Trần Thị Lan", "csrf_token": csrf_of(client)})
    form = locked_out(response, "register-form", fragment=True)
    assert 'value="Trần Thị Lan"' in form
    assert RESET_LINK not in form  # nothing to reset before an account exists


def test_the_code_forms_answer_their_limit_in_the_form(app, client, monkeypatch):
    """The plain forms of the reset and of the sign-up code: the page again, the wait in
    its form (they used to get the generic error page)."""
    monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT", "1 per minute")
    # The two share one bucket per address (CODE_CHECK_SCOPE): one address each.
    for n, (path, form_id) in enumerate((
            ("/account/password-reset/confirm", "password-reset-confirm-form"),
            ("/account/register/verify", "register-verify-form"))):
        at = {"environ_base": {"REMOTE_ADDR": f"10.7.0.{n + 1}"}}
        page = client.get(path, **at)
        data = {"phone": "0912345678", "code": "000000", "password": "hoa sen nở 2026",
                "csrf_token": csrf_from(text(page))}
        assert client.post(path, data=data, **at).status_code == 422
        locked_out(client.post(path, data=data, **at), form_id, fragment=False)


def test_a_paced_sign_up_with_htmx_is_429_in_the_form(app, client, use_gateway, monkeypatch):
    """TooSoon (a code was just sent to the number) used to be a 422 for htmx."""
    monkeypatch.setitem(app.config, "PHONE_CODE_RESEND_SECONDS", 120)
    data = {"phone": "0912345678", "name": "Trần Thị Lan", "gender": "1", "email": "",
            "password": "hoa-sen-2026"}
    assert client.post("/account/register", data={
        **data, "csrf_token": csrf_of(client)}).status_code == 303
    again = client.post("/account/register", headers=HX,
                        data={**data, "csrf_token": csrf_of(client)})
    assert again.status_code == 429
    assert 60 < int(again.headers["Retry-After"]) <= 120
    assert text(again).lstrip().startswith('<form id="register-form"')
    assert any("sau 2 phút" in error for error in errors(again))


# --- the language chosen before logging in ----------------------------------------------


def stored_locale(app, user_id: int) -> str:
    with app.app_context():
        return db.session.scalar(select(User.locale).where(User.id == user_id))


@pytest.mark.parametrize(("stored", "chosen"), [("vi", "en"), ("en", "vi")])
def test_the_language_chosen_before_logging_in_is_kept_and_stored(app, client, account,
                                                                   stored, chosen):
    user = account(locale=stored, name="Lê Văn Bình")
    assert client.post("/language", data={"locale": chosen, "csrf_token": csrf_of(client)}
                       ).status_code == 303
    assert sign_in(client, national(user.phone)).status_code == 303
    home = text(client.get("/"))
    assert f'<html lang="{chosen}">' in home
    assert ("Hello, Lê Văn Bình" if chosen == "en" else "Xin chào, Lê Văn Bình") in home
    assert stored_locale(app, user.id) == chosen


def test_without_a_choice_the_stored_language_wins(app, client, account):
    user = account(locale="en", name="Lê Văn Bình")
    assert sign_in(client, national(user.phone)).status_code == 303
    assert '<html lang="en">' in text(client.get("/"))
    assert stored_locale(app, user.id) == "en"


def test_the_language_left_by_the_last_user_is_no_choice(app, client, account):
    """A shared computer: the first user logs out (the session keeps their language), the
    next one logs in and reads their own, which is not overwritten."""
    first = account(locale="en")
    second = account(locale="vi", name="Trần Thị Hoa")
    assert sign_in(client, national(first.phone)).status_code == 303
    assert client.post("/account/logout", data={"csrf_token": csrf_of(client)}
                       ).status_code == 303
    assert '<html lang="en">' in text(client.get("/account/login"))
    assert sign_in(client, national(second.phone)).status_code == 303
    assert "Xin chào, Trần Thị Hoa" in text(client.get("/"))
    assert stored_locale(app, second.id) == "vi"


def test_a_failed_login_stores_nothing(app, client, account):
    user = account(locale="vi")
    client.post("/language", data={"locale": "en", "csrf_token": csrf_of(client)})
    assert sign_in(client, national(user.phone), "wrong-password-1").status_code == 401
    assert stored_locale(app, user.id) == "vi"
