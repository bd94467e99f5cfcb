"""The review queue's pages: the queue, an item's evidence (audited), marking it reviewed
as a plain form and through htmx, the 422 and 409 answers, and nobody but staff."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.connections.control import connection_restore, connection_revoke
from app.db import utcnow
from app.extensions import db
from app.models.audit import AuditEvent
from app.models.invites import ConnectionInvite
from app.models.notifications import InviteNotification
from app.models.staff import StaffReview
from app.phone import display_phone
from tests.conftest import person_of
from tests.factories import make_group, make_user, next_phone
from tests.pages import HX, csrf_from, errors, flashes, text
from tests.service_helpers import admin_group, connection_between, join

DAY = timedelta(days=1)


def _invite(group, phone, **fields):
    values = {"sender_id": group.admin_user_id, "family_group_id": group.id,
              "receiver_phone": phone, "invite_type": "add_caregiver", "status": "pending",
              "expires_at": utcnow() + 7 * DAY}
    values.update(fields)
    db.session.add(ConnectionInvite(**values))


@pytest.fixture
def world(app):
    """A staff member, an ordinary user, a phone invited into three families (flagged),
    one into two (not flagged), a family with five expired invites and three failed
    messages to one number."""
    with app.app_context():
        staff = make_user(name="Nhân Viên", is_staff=True, locale="en")
        user = make_user(name="Người Dùng", locale="en")
        phone, near = next_phone(), next_phone()
        for _ in range(3):
            _invite(make_group(name="Nhà Mời"), phone)
        for _ in range(2):
            _invite(make_group(), near)
        expired = make_group(name="Nhà Hết Hạn")
        for _ in range(5):
            _invite(expired, next_phone(), status="expired", expires_at=utcnow() - DAY)
        failing = next_phone()
        notes = []
        for _ in range(3):
            note = InviteNotification(recipient=failing, notification_type="MEMBER_JOINED",
                                      channel="sms", status="failed", retry_count=3,
                                      error="SMS gateway answered HTTP 500",
                                      family_group_id=expired.id)
            db.session.add(note)
            notes.append(note)
        db.session.flush()
        world = {"staff": person_of(staff), "user": person_of(user), "phone": phone,
                 "near": near, "expired": expired.id, "failing": failing,
                 "notes": [n.id for n in notes]}
        db.session.commit()
        return world


def evidence_url(signal: str, key: str) -> str:
    return f"/staff/queue/{signal}/{key}"


def count(app, model, **where) -> int:
    with app.app_context():
        query = select(func.count()).select_from(model)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return db.session.scalar(query)


def post_review(c, signal: str, key: str, note: str | None, headers=None, page=None):
    token = csrf_from(c.get(page or "/").get_data(as_text=True))
    data = {"csrf_token": token}
    if note is not None:
        data["note"] = note
    return c.post(evidence_url(signal, key) + "/review", data=data, headers=headers or {})


# --- the queue ------------------------------------------------------------------------


def test_the_queue_lists_open_items_per_signal_with_their_evidence_links(world, login):
    page = login(world["staff"]).get("/staff/queue")
    body = text(page)

    assert page.status_code == 200
    assert body.count("<h1") == 1
    assert "Review queue" in body
    assert 'aria-current="page">Review queue' in body
    for signal in ("phone_many_groups", "caregiver_many_patients", "proxy_soon_after_join",
                   "disconnect_cycles", "expired_invites", "failing_notifications"):
        assert f'id="signal-{signal}"' in body
    assert f"{display_phone(world['phone'])} was invited into 3 families in 30 days" in body
    assert display_phone(world["near"]) not in body
    assert f'href="{evidence_url("expired_invites", world["expired"])}"' in body
    assert "5 invites of Nhà Hết Hạn expired unanswered in 30 days" in body
    assert "or more different families in the last 30 days" in body  # meaning + threshold
    assert 'id="signal-disconnect_cycles-empty"' in body
    assert 'id="reviewed-empty"' in body


# --- evidence -------------------------------------------------------------------------


def test_the_evidence_page_shows_the_rows_and_the_review_form_and_is_audited(
        app, world, login):
    c = login(world["staff"])
    page = c.get(evidence_url("expired_invites", world["expired"]))
    body = text(page)

    assert page.status_code == 200
    assert body.count("<h1") == 1
    assert 'id="evidence-flagged"' in body
    assert body.count('<tr id="invite-') == 5
    assert f'href="/staff/groups/{world["expired"]}"' in body
    assert '<label for="note">Review note</label>' in body
    assert "required" in body
    assert 'name="csrf_token"' in body
    assert 'id="review-form"' in body
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(
            AuditEvent.action == "staff.signal_viewed"))
        assert event.actor_id == world["staff"].id
        assert event.family_group_id == world["expired"]
        assert event.details == {"signal": "expired_invites", "key": str(world["expired"]),
                                 "level": 5, "rows": 5}


def test_failed_notifications_each_offer_a_resend_with_a_reason(world, login):
    body = text(login(world["staff"]).get(evidence_url("failing_notifications",
                                                       world["failing"])))

    for note_id in world["notes"]:
        assert f'action="/staff/notifications/{note_id}/resend"' in body
    assert body.count('name="reason"') == 3
    # the error in words, the stored text folded away beside it
    assert body.count("The SMS gateway had a fault of its own (HTTP 500).") == 3
    assert body.count('<summary>Technical detail</summary><code>SMS gateway answered HTTP 500'
                      '</code>') == 3


def test_an_item_not_flagged_shows_its_evidence_without_the_form(world, login):
    page = login(world["staff"]).get(evidence_url("phone_many_groups", world["near"]))
    body = text(page)

    assert page.status_code == 200
    assert 'id="evidence-not-flagged"' in body
    assert "level 2, threshold 3" in body
    assert body.count('<tr id="invite-') == 2
    assert 'id="review-form"' not in body


@pytest.mark.parametrize("path", ["/staff/queue/spam/1", "/staff/queue/disconnect_cycles/abc",
                                  "/staff/queue/expired_invites/0",
                                  "/staff/queue/failing_notifications/a%00b",
                                  "/staff/queue/proxy_soon_after_join/99999999999999999999"])
def test_an_unknown_signal_or_key_is_a_404_page_and_not_audited(app, world, login, path):
    page = login(world["staff"]).get(path)

    assert page.status_code == 404
    assert "<html" in page.get_data(as_text=True)
    assert count(app, AuditEvent, action="staff.signal_viewed") == 0


def test_disconnect_evidence_shows_who_did_it_and_the_private_reasons(app, world, login):
    with app.app_context():
        admin, _sub, group = admin_group()  # named "Quản Trị"
        connection = connection_between(join(group, role="patient"), join(group))
        for reason in ("cãi nhau", "lại cãi nhau", "lần thứ ba"):
            connection_revoke(actor=admin, connection_id=connection.id, reason=reason)
            connection_restore(actor=admin, connection_id=connection.id)
        db.session.commit()
        key, admin_id = str(connection.id), admin.id

    body = text(login(world["staff"]).get(evidence_url("disconnect_cycles", key)))

    assert 'id="evidence-flagged"' in body
    assert "3 times in 30 days" in body
    assert body.count("<tr id=\"event-") == 6
    for reason in ("cãi nhau", "lại cãi nhau", "lần thứ ba"):
        assert f"<td>{reason}</td>" in body
    assert f'<a href="/staff/users/{admin_id}">Quản Trị</a>' in body


# --- marking reviewed -----------------------------------------------------------------


def test_a_plain_review_post_redirects_to_the_queue_with_a_flash(app, world, login):
    c = login(world["staff"])
    answer = post_review(c, "phone_many_groups", world["phone"], "Đã gọi, là người môi giới")

    assert answer.status_code == 303
    assert answer.headers["Location"].endswith("/staff/queue")
    assert any("Marked reviewed at level 3" in m for m in flashes(c))
    with app.app_context():
        review = db.session.scalar(select(StaffReview))
        assert (review.signal, review.subject_key, review.level, review.reviewed_by) == (
            "phone_many_groups", world["phone"], 3, world["staff"].id)
    body = text(c.get("/staff/queue"))
    assert display_phone(world["phone"]) + " was invited" not in body.split(
        'id="reviewed"')[0]
    assert "Đã gọi, là người môi giới" in body.split('id="reviewed"')[1]


def test_an_htmx_review_answers_the_review_section(app, world, login):
    c = login(world["staff"])
    answer = post_review(c, "expired_invites", str(world["expired"]), "Gia đình thật",
                         headers=HX)
    body = text(answer)

    assert answer.status_code == 200
    assert "<html" not in body
    assert body.lstrip().startswith('<section class="review" id="review"')
    assert 'id="review-notice"' in body
    assert "Gia đình thật" in body
    assert count(app, StaffReview) == 1


@pytest.mark.parametrize("headers", [None, HX], ids=["plain", "htmx"])
@pytest.mark.parametrize("note", [None, "   "], ids=["missing", "blank"])
def test_a_review_without_a_note_is_a_422_with_the_message(app, world, login, headers, note):
    c = login(world["staff"])
    answer = post_review(c, "phone_many_groups", world["phone"], note, headers=headers)

    assert answer.status_code == 422
    assert errors(answer) == ["Say why, in a few words: the reason is kept in the audit trail."]
    assert ('<html' in answer.get_data(as_text=True)) is (headers is None)
    assert count(app, StaffReview) == 0


def test_reviewing_an_item_not_flagged_is_refused_with_409(app, world, login):
    c = login(world["staff"])
    back = evidence_url("phone_many_groups", world["near"])
    answer = post_review(c, "phone_many_groups", world["near"], "xem", headers=HX)

    assert answer.status_code == 409
    assert answer.headers["HX-Redirect"] == back
    assert "not flagged any more" in text(answer)
    plain = post_review(c, "phone_many_groups", world["near"], "xem")
    assert plain.status_code == 303
    assert plain.headers["Location"].endswith(back)
    assert count(app, StaffReview) == 0


def test_reviewing_under_an_unknown_signal_is_a_404(app, world, login):
    answer = post_review(login(world["staff"]), "spam", world["phone"], "xem")

    assert answer.status_code == 404
    assert count(app, StaffReview) == 0


# --- nobody but staff -----------------------------------------------------------------


def test_non_staff_get_403_and_anonymous_visitors_the_login_page(app, client, world, login):
    c = login(world["user"])
    paths = ["/staff/queue", evidence_url("phone_many_groups", world["phone"])]
    for path in paths:
        page = c.get(path)
        assert page.status_code == 403
        assert "was invited into" not in text(page)
        assert 'id="evidence-rows"' not in text(page)
        anonymous = client.get(path)
        assert anonymous.status_code == 302
        assert "/account/login" in anonymous.headers["Location"]
    answer = post_review(c, "phone_many_groups", world["phone"], "xem")
    assert answer.status_code == 403
    token = csrf_from(client.get("/").get_data(as_text=True))
    anonymous = client.post(evidence_url("phone_many_groups", world["phone"]) + "/review",
                            data={"csrf_token": token, "note": "xem"})
    assert anonymous.status_code == 302
    assert count(app, StaffReview) == 0
    assert count(app, AuditEvent, action="staff.signal_viewed") == 0
