"""The "Delete my account" page through the test client (no JavaScript): the consequences
in the user's language, the refusal for an admin, the 422 of a wrong password, the plain
"done" page, and no way back in."""

from __future__ import annotations

import pytest

from app.extensions import db
from app.models.accounts import User
from tests.conftest import sign_in
from tests.factories import PASSWORD, make_group, make_user
from tests.pages import ReasonGiving, errors, flashes, post, staff_post, text

PAGE = "/me/delete"
DONE = "/me/deleted"

WORDS = {
    "en": {"title": "Delete my account", "kept": "What is kept, and why",
           "tombstone": "deleted user #{id}", "done": "Your account is deleted",
           "wrong": "This password is not right.",
           "admin": "Hand the family over to another member, or dissolve it"},
    "vi": {"title": "Xóa tài khoản của tôi", "kept": "Những gì được giữ lại, và vì sao",
           "tombstone": "người dùng đã xóa #{id}", "done": "Tài khoản của bạn đã bị xóa",
           "wrong": "Mật khẩu này không đúng.",
           "admin": "Hãy chuyển giao gia đình cho một thành viên khác, hoặc giải thể"},
}


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_the_page_writes_out_the_consequences_in_the_users_language(person, login, lang):
    who = person(locale=lang)
    response = login(who).get(PAGE)
    assert response.status_code == 200
    body = text(response)
    words = WORDS[lang]
    assert words["title"] in body
    assert words["kept"] in body
    assert words["tombstone"].format(id=who.id) in body
    assert 'id="delete-form"' in body
    assert 'name="password"' in body


def test_settings_links_to_the_page(person, login):
    body = text(login(person()).get("/account/settings"))
    assert 'id="settings-delete"' in body
    assert f'href="{PAGE}"' in body


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_an_admin_sees_the_refusal_up_front_with_the_way_out(app, login, lang):
    with app.app_context():
        admin = make_user(locale=lang)
        group = make_group(admin)
        db.session.commit()
        admin_id, phone, group_id = admin.id, admin.phone, group.id
    c = login(type("Who", (), {"phone": phone})())
    body = text(c.get(PAGE))
    assert WORDS[lang]["admin"] in body
    assert f'href="/family/{group_id}"' in body
    assert 'id="delete-form"' not in body
    # Posting anyway (an old tab): refused with the same message, nothing deleted.
    response = post(c, PAGE, {"password": PASSWORD})
    assert response.status_code == 303
    assert any(WORDS[lang]["admin"] in m for m in flashes(c))
    with app.app_context():
        assert not db.session.get(User, admin_id).is_deleted


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_a_wrong_password_is_a_422_with_the_form(person, login, app, lang):
    who = person(locale=lang)
    c = login(who)
    response = post(c, PAGE, {"password": "not my password"})
    assert response.status_code == 422
    assert WORDS[lang]["wrong"] in errors(response)
    assert 'id="delete-form"' in text(response)
    with app.app_context():
        assert not db.session.get(User, who.id).is_deleted


def test_no_password_and_no_code_is_a_422(person, login):
    response = post(login(person()), PAGE, {})
    assert response.status_code == 422
    assert errors(response)


def test_without_the_csrf_token_nothing_happens(person, login, app):
    who = person()
    response = post(login(who), PAGE, {"password": PASSWORD}, csrf=False)
    assert response.status_code in (400, 422)
    with app.app_context():
        assert not db.session.get(User, who.id).is_deleted


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_deleting_logs_out_and_lands_on_the_done_page(person, login, app, lang):
    who = person(locale=lang)
    c = login(who)
    response = post(c, PAGE, {"password": PASSWORD})
    assert response.status_code == 303
    assert response.headers["Location"].endswith(DONE)
    done = c.get(DONE)
    assert done.status_code == 200
    assert WORDS[lang]["done"] in text(done)
    # Logged out: the page needs a login again, and the login refuses the old number.
    assert c.get(PAGE).status_code in (302, 303)
    again = sign_in(app.test_client(), who.phone)
    assert again.status_code != 303
    with app.app_context():
        assert db.session.get(User, who.id).is_deleted


def test_the_page_needs_a_login(client):
    response = client.get(PAGE)
    assert response.status_code in (302, 303)
    assert "/account/login" in response.headers["Location"]


def test_staff_see_the_tombstone_as_deleted_user_with_the_date(app, person, login):
    who = person(name="Đỗ Thị Riêng Tư")
    c = login(who)
    assert post(c, PAGE, {"password": PASSWORD}).status_code == 303
    staff = person(is_staff=True)
    body = text(ReasonGiving(login(staff)).get(f"/staff/users/{who.id}"))
    assert f"deleted user #{who.id}" in body
    assert 'id="profile-deleted"' in body
    assert 'id="suspend-button"' not in body
    assert who.name not in body
    # The trail keeps the deletion, in words.
    assert "Deleted their own account" in body
    refused = staff_post(login(staff), f"/staff/users/{who.id}/suspend",
                         {"reason": "checking"})
    assert refused.status_code == 303
    with app.app_context():
        assert db.session.get(User, who.id).is_active is False


def test_guessing_the_password_is_rate_limited(person, login, app, configure):
    """A session left open is not a way to guess the password: the deletion form's tries
    share the per-address bucket of code checks (LOGIN_RATE_LIMIT), then 429."""
    from app.extensions import limiter

    configure(LOGIN_RATE_LIMIT="3 per minute")
    limiter.reset()
    who = person()
    c = login(who)
    answers = [post(c, PAGE, {"password": f"guess {n}"}).status_code for n in range(4)]
    assert answers == [422, 422, 422, 429]
    with app.app_context():
        assert not db.session.get(User, who.id).is_deleted
    limiter.reset()
