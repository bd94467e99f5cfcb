"""ID-003's rule is stated once (app.accounts.services.password_rule) and the same everywhere
it is shown: the hint of every form that sets a password, the weak_password error, and the
OpenAPI document. The rule itself is tested in tests/accounts/test_services.py."""

from __future__ import annotations

import html
from types import SimpleNamespace

import pytest
from flask_babel import force_locale

from app.accounts.passwords import MAX_LENGTH, MIN_LENGTH
from app.accounts.services import password_rule
from app.extensions import db
from tests.api import Api, person
from tests.factories import make_user

RULE_VI = ("Ít nhất 8 ký tự, dùng ký tự bất kỳ, kể cả dấu cách; không dùng mật khẩu phổ biến "
           "hoặc dễ đoán, và không tạo từ số điện thoại hay tên của bạn.")


def rule(app, locale: str) -> str:
    with app.test_request_context(), force_locale(locale):
        return password_rule()


def test_the_rule_reads_the_same_in_both_languages(app):
    assert rule(app, "vi") == RULE_VI
    assert rule(app, "en").startswith("At least 8 characters, any characters, spaces too")


@pytest.mark.parametrize("path", ["/account/register", "/account/password-reset/confirm"])
def test_every_form_that_sets_a_password_shows_the_rule(app, client, path):
    assert RULE_VI in html.unescape(client.get(path).get_data(as_text=True))


def test_the_settings_page_shows_the_rule(app, login):
    with app.app_context():
        user = make_user()
        db.session.commit()
        who = SimpleNamespace(phone=user.phone)
    page = html.unescape(login(who).get("/account/settings").get_data(as_text=True))
    assert RULE_VI in page


def test_the_api_error_and_the_document_state_the_rule(app, client):
    answer = Api(client).post("/auth/register", json={
        "phone": "0912345678", "password": "qwerty12", "name": "Lan", "gender": "female"})
    error = answer.get_json()["error"]
    assert error["code"] == "weak_password"
    assert error["message"].endswith(RULE_VI)
    assert not error["fields"]["password"][0].endswith(RULE_VI)  # the field says what is wrong

    caller = person(app, client)
    document = caller.api.get("/openapi.json").get_json()
    for path, method in (("/auth/register", "post"), ("/auth/password-reset/confirm", "post")):
        schema = document["paths"][path][method]["requestBody"]["content"][
            "application/json"]["schema"]["properties"]["password"]
        assert schema["description"] == RULE_VI
        assert (schema["minLength"], schema["maxLength"]) == (MIN_LENGTH, MAX_LENGTH) == (8, 128)
