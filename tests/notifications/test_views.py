"""The in-app notifications page, the unread count in the header, and mark-as-read."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models.accounts import User
from app.models.notifications import InviteNotification
from app.notifications.messages import render_message
from app.notifications.services import notify_user
from tests.conftest import sign_in
from tests.factories import make_user
from tests.pages import text

N = InviteNotification
PAGE = "/notifications"


def payload(member: str) -> dict:
    return {"group_id": 1, "group_name": "Gia đình Nguyễn", "member_name": member,
            "role": "caregiver"}


@pytest.fixture
def person(app):
    """A committed user with `count` in-app messages (MEMBER_JOINED of member 1..count)."""

    def make(*, locale: str = "en", count: int = 2) -> int:
        with app.app_context():
            user = make_user(locale=locale)
            for i in range(1, count + 1):
                notify_user(user=user, notification_type="MEMBER_JOINED",
                            payload=payload(f"Member {i}"))
            db.session.commit()
            return user.id

    return make


@pytest.fixture
def log_in(app, client, csrf):
    def do(user_id: int, c=None) -> None:
        c = c or client
        with app.app_context():
            phone = db.session.get(User, user_id).phone
        assert sign_in(c, phone).status_code == 303

    return do


def in_app(app, user_id: int) -> list[InviteNotification]:
    with app.app_context():
        return list(db.session.scalars(select(N).where(
            N.recipient_user_id == user_id, N.channel == "in_app").order_by(N.id)))


def unread_badge(body: str) -> str | None:
    match = re.search(r'<span class="badge" id="unread-count">(\d+)</span>', body)
    return match.group(1) if match else None


def test_the_page_needs_a_login(client, csrf):
    response = client.get(PAGE)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/account/login")
    response = client.post(f"{PAGE}/read", data={"csrf_token": csrf()})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/account/login")


def test_the_page_lists_the_users_own_messages_newest_first(app, client, person, log_in):
    me = person(locale="en", count=2)
    with app.app_context():
        other = make_user()
        notify_user(user=other, notification_type="MEMBER_LEFT", payload=payload("Stranger"))
        db.session.commit()
    log_in(me)

    response = client.get(PAGE)

    assert response.status_code == 200
    assert "HX-Request" in response.headers["Vary"]
    body = text(response)
    assert "<html" in body
    first = body.index("Member 2 joined “Gia đình Nguyễn” as a caregiver.")
    second = body.index("Member 1 joined “Gia đình Nguyễn” as a caregiver.")
    assert first < second
    assert "Stranger" not in body
    assert body.count('class="notification unread"') == 2
    assert unread_badge(body) == "2"
    # Looking does not mark anything read: only the POST does.
    assert {r.status for r in in_app(app, me)} == {"sent"}
    assert unread_badge(text(client.get(PAGE))) == "2"


def test_the_page_speaks_the_users_language(app, client, person, log_in):
    me = person(locale="vi", count=1)
    log_in(me)
    body = text(client.get(PAGE))
    (row,) = in_app(app, me)
    with app.app_context():
        subject, message = render_message(row, "vi")
    assert '<html lang="vi">' in body
    assert subject in body
    assert message in body


def test_the_header_shows_the_unread_count_on_every_page(app, client, person, log_in):
    assert "notifications-link" not in text(client.get("/"))  # logged out: no link
    me = person(count=3)
    log_in(me)
    body = text(client.get("/"))
    assert 'id="notifications-link"' in body
    assert unread_badge(body) == "3"


def test_an_in_app_invite_shows_no_link(app, client, log_in):
    with app.app_context():
        user = make_user(locale="en")
        notify_user(user=user, notification_type="INVITE_CREATED", payload={
            "group_id": 1, "group_name": "Gia đình Nguyễn", "sender_name": "Nguyễn Văn An",
            "role": "patient", "expires_at": "2030-01-01T00:00:00+00:00",
            "sealed_token": "not-to-be-shown"})
        db.session.commit()
        user_id = user.id
    log_in(user_id)
    body = text(client.get(PAGE))
    assert "Nguyễn Văn An invites you to join “Gia đình Nguyễn” as a patient" in body
    assert "/i/" not in body
    assert "not-to-be-shown" not in body


def test_mark_read_without_javascript_redirects(app, client, person, log_in, csrf):
    me = person(count=2)
    other = person(count=1)
    log_in(me)
    newest = max(r.id for r in in_app(app, me))

    response = client.post(f"{PAGE}/read", data={"csrf_token": csrf(), "up_to": newest})

    assert response.status_code == 303
    assert response.headers["Location"] == PAGE
    mine = in_app(app, me)
    assert {r.status for r in mine} == {"delivered"}
    assert all(r.delivered_at is not None for r in mine)
    assert {r.status for r in in_app(app, other)} == {"sent"}
    body = text(client.get(PAGE))
    assert unread_badge(body) is None
    assert 'class="notification unread"' not in body
    assert body.count('class="notification read"') == 2
    assert 'id="mark-read-form"' not in body


def test_mark_read_with_htmx_answers_a_client_redirect(app, client, person, log_in, csrf):
    me = person(count=1)
    log_in(me)
    response = client.post(f"{PAGE}/read", data={"csrf_token": csrf()},
                           headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == PAGE
    assert {r.status for r in in_app(app, me)} == {"delivered"}


def test_mark_read_keeps_what_arrived_after_the_page_was_shown(app, client, person, log_in,
                                                               csrf):
    me = person(count=1)
    log_in(me)
    body = text(client.get(PAGE))
    shown = re.search(r'name="up_to" value="(\d+)"', body).group(1)
    with app.app_context():
        notify_user(user=db.session.get(User, me), notification_type="MEMBER_LEFT",
                    payload=payload("Late"))
        db.session.commit()

    client.post(f"{PAGE}/read", data={"csrf_token": csrf(), "up_to": shown})

    assert [r.status for r in in_app(app, me)] == ["delivered", "sent"]


def test_mark_read_needs_the_csrf_token(app, client, person, log_in):
    me = person(count=1)
    log_in(me)
    response = client.post(f"{PAGE}/read", data={})
    assert response.status_code == 400
    assert {r.status for r in in_app(app, me)} == {"sent"}


def test_an_empty_page_says_so(client, person, log_in):
    log_in(person(count=0))
    body = text(client.get(PAGE))
    assert "No notifications yet." in body
    assert 'id="mark-read-form"' not in body


def test_the_count_is_one_query(app, client, person, log_in, count_queries):
    log_in(person(count=5))
    with count_queries() as statements:
        client.get("/")
    counts = [s for s in statements if "count(" in s.lower() and "invite_notifications" in s]
    assert len(counts) == 1
