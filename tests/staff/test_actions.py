"""Staff actions from the pages: suspend and reactivate an account, resend a failed
notification, issue activation codes. Each is a plain form post that also works under
htmx, needs a reason that goes into the audit trail with the staff member, and changes
nothing when refused."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from sqlalchemy import select, update

from app.accounts.services import account_suspend
from app.billing.services import code_hash, subscription_redeem
from app.extensions import db
from app.models.accounts import User
from app.models.billing import ActivationCode
from app.models.invites import ConnectionInvite
from app.models.notifications import InviteNotification
from app.outbox.delivery import deliver_due
from tests.conftest import person_of, sign_in
from tests.factories import PASSWORD, make_user

# Staff actions are confirmed by a fresh authenticator code (issue 21): staff_post adds one.
from tests.pages import HX, errors, flashes, text
from tests.pages import staff_post as post
from tests.service_helpers import admin_group, audits, counts, invite, lapse

REASON = "Người dùng báo mất điện thoại"


# --- helpers ----------------------------------------------------------------------------


def someone(app, **fields) -> SimpleNamespace:
    with app.app_context():
        user = make_user(locale="en", name="Trần Thị Lan", **fields)
        db.session.commit()
        return person_of(user)


def is_active(app, user_id: int) -> bool:
    with app.app_context():
        return db.session.get(User, user_id).is_active


def api_token(app, who) -> str:
    response = app.test_client().post("/api/v1/auth/token",
                                      json={"login": who.phone, "password": PASSWORD})
    assert response.status_code == 201
    return response.get_json()["token"]


def me(app, token: str) -> int:
    return app.test_client().get(
        "/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code


def login_status(app, who) -> int:
    return sign_in(app.test_client(), who.phone).status_code


def is_logged_out(c) -> bool:
    response = c.get("/account/settings")
    return response.status_code == 302 and "/account/login" in response.headers["Location"]


def suspend_now(app, staff, user) -> None:
    with app.app_context():
        account_suspend(actor=db.session.get(User, staff.id), user=db.session.get(User, user.id),
                        reason="set-up")
        db.session.commit()


# --- suspend ----------------------------------------------------------------------------


def test_suspend_ends_sign_in_sessions_and_api_tokens(app, as_staff, staff, login):
    user = someone(app)
    session = login(user)
    assert session.get("/account/settings").status_code == 200
    token = api_token(app, user)
    assert me(app, token) == 200

    response = post(as_staff, f"/staff/users/{user.id}/suspend", {"reason": REASON})

    assert response.status_code == 303
    assert response.headers["Location"] == f"/staff/users/{user.id}"
    assert any("Trần Thị Lan is suspended" in m for m in flashes(as_staff))
    assert not is_active(app, user.id)
    assert is_logged_out(session)
    assert login_status(app, user) == 403
    assert me(app, token) == 401
    (event,) = audits(app, "staff.account_suspended")
    assert (event.actor_id, event.subject_type, event.subject_id) == (staff.id, "users", user.id)
    assert event.details == {"reason": REASON}
    page = text(as_staff.get(f"/staff/users/{user.id}"))
    assert f'action="/staff/users/{user.id}/reactivate"' in page


def test_suspend_under_htmx_redirects_the_page(app, as_staff):
    user = someone(app)
    response = post(as_staff, f"/staff/users/{user.id}/suspend", {"reason": REASON}, HX)
    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == f"/staff/users/{user.id}"
    assert not is_active(app, user.id)


@pytest.mark.parametrize("reason", [None, "", "   ", "\x00"])
def test_suspend_without_a_reason_is_a_422_and_changes_nothing(app, as_staff, reason):
    user = someone(app)
    before = counts(app)
    data = {} if reason is None else {"reason": reason}

    response = post(as_staff, f"/staff/users/{user.id}/suspend", data)

    assert response.status_code == 422
    body = text(response)
    assert "<html" in body
    assert 'id="account-form"' in body
    # Every form refuses a NUL before the service sees the reason (app/forms.py).
    assert (("This text contains a character that is not allowed." if reason == "\x00" else
             "Say why, in a few words: the reason is kept in the audit trail.")
            in errors(response))
    assert is_active(app, user.id)
    assert counts(app) == before
    assert audits(app, "staff.account_suspended") == []


def test_suspend_without_a_reason_under_htmx_is_the_form_again(app, as_staff):
    user = someone(app)
    response = post(as_staff, f"/staff/users/{user.id}/suspend", {"reason": ""}, HX)
    assert response.status_code == 422
    body = text(response)
    assert "<html" not in body
    assert body.lstrip().startswith('<form id="account-form"')
    assert 'aria-invalid="true"' in body
    assert is_active(app, user.id)


def test_a_reason_too_long_is_a_422(app, as_staff):
    user = someone(app)
    response = post(as_staff, f"/staff/users/{user.id}/suspend", {"reason": "x" * 501})
    assert response.status_code == 422
    assert "Keep the reason under 500 characters." in errors(response)
    assert is_active(app, user.id)


def test_staff_cannot_suspend_themselves(app, as_staff, staff):
    before = counts(app)
    response = post(as_staff, f"/staff/users/{staff.id}/suspend", {"reason": REASON})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/staff/users/{staff.id}"
    assert "You cannot suspend your own account." in flashes(as_staff)
    assert is_active(app, staff.id)
    assert counts(app) == before

    response = post(as_staff, f"/staff/users/{staff.id}/suspend", {"reason": REASON}, HX)
    assert response.status_code == 403
    assert 'data-code="forbidden"' in text(response)
    assert response.headers["HX-Redirect"] == f"/staff/users/{staff.id}"
    assert as_staff.get("/staff/").status_code == 200  # still signed in


def test_suspending_a_suspended_account_is_a_409(app, as_staff, staff):
    user = someone(app)
    suspend_now(app, staff, user)
    before = counts(app)
    response = post(as_staff, f"/staff/users/{user.id}/suspend", {"reason": REASON}, HX)
    assert response.status_code == 409
    assert 'data-code="already_suspended"' in text(response)
    assert "This account is already suspended." in flashes(as_staff)
    assert counts(app) == before


def test_an_unknown_user_is_a_404(app, as_staff):
    before = counts(app)
    assert post(as_staff, "/staff/users/999999/suspend", {"reason": REASON}).status_code == 404
    assert post(as_staff, "/staff/users/999999/reactivate", {"reason": REASON}).status_code == 404
    assert counts(app) == before


def test_the_suspend_form_needs_its_csrf_token(app, as_staff):
    user = someone(app)
    response = as_staff.post(f"/staff/users/{user.id}/suspend", data={"reason": REASON})
    assert response.status_code == 400
    assert is_active(app, user.id)


@pytest.mark.parametrize(("back", "lands"), [
    ("/staff/groups?status=active", "/staff/groups?status=active"),
    ("/staff/", "/staff/"),
    ("https://evil.example/staff/", None),
    ("//evil.example/staff/", None),
    ("/\\evil.example", None),
    ("/account/settings", None),
    ("/staffing", None),
    ("/staff/../account/settings", None),
    ("/staff/%2e%2e/account/settings", None),
    ("", None),
])
def test_back_is_limited_to_staff_pages(app, as_staff, back, lands):
    user = someone(app)
    response = post(as_staff, f"/staff/users/{user.id}/suspend",
                    {"reason": REASON, "back": back})
    assert response.status_code == 303
    assert response.headers["Location"] == (lands or f"/staff/users/{user.id}")


def test_non_staff_cannot_suspend(app, login):
    user, other = someone(app), login(someone(app))
    before = counts(app)
    response = post(other, f"/staff/users/{user.id}/suspend", {"reason": REASON})
    assert response.status_code == 403
    assert is_active(app, user.id)
    assert counts(app) == before


# --- reactivate -------------------------------------------------------------------------


def test_reactivate_lets_the_user_log_in_and_old_tokens_stay_dead(app, as_staff, staff):
    user = someone(app)
    token = api_token(app, user)
    suspend_now(app, staff, user)
    assert login_status(app, user) == 403

    response = post(as_staff, f"/staff/users/{user.id}/reactivate", {"reason": "Đã xác minh"})

    assert response.status_code == 303
    assert response.headers["Location"] == f"/staff/users/{user.id}"
    assert any("can log in again" in m for m in flashes(as_staff))
    assert is_active(app, user.id)
    assert login_status(app, user) == 303
    assert me(app, token) == 401
    assert me(app, api_token(app, user)) == 200  # a new token works
    (event,) = audits(app, "staff.account_reactivated")
    assert (event.actor_id, event.subject_id, event.details) == (
        staff.id, user.id, {"reason": "Đã xác minh"})


def test_reactivate_without_a_reason_changes_nothing(app, as_staff, staff):
    user = someone(app)
    suspend_now(app, staff, user)
    before = counts(app)
    response = post(as_staff, f"/staff/users/{user.id}/reactivate", {"reason": " "}, HX)
    assert response.status_code == 422
    assert text(response).lstrip().startswith('<form id="account-form"')
    assert not is_active(app, user.id)
    assert counts(app) == before


def test_reactivating_an_active_account_is_refused(app, as_staff):
    user = someone(app)
    before = counts(app)
    response = post(as_staff, f"/staff/users/{user.id}/reactivate", {"reason": REASON})
    assert response.status_code == 303
    assert "This account is not suspended." in flashes(as_staff)
    response = post(as_staff, f"/staff/users/{user.id}/reactivate", {"reason": REASON}, HX)
    assert response.status_code == 409
    assert 'data-code="not_suspended"' in text(response)
    assert counts(app) == before


# --- resend a failed notification -------------------------------------------------------


def pending_invite(app, *, email: str | None = None) -> SimpleNamespace:
    """A group's invite to a user (email: the message goes by email, else by SMS)."""
    with app.app_context():
        _admin, _sub, group = admin_group(locale="en")
        invitee = make_user(email=email, locale="en", name="Người Được Mời")
        issued = invite(group, invitee, role="caregiver")
        db.session.commit()
        row = db.session.scalar(select(InviteNotification).where(
            InviteNotification.invite_id == issued.invite.id,
            InviteNotification.channel == ("email" if email else "sms")))
        return SimpleNamespace(group_id=group.id, invite_id=issued.invite.id, row_id=row.id,
                               invitee=person_of(invitee))


def fail(app, row_id: int) -> None:
    with app.app_context():
        db.session.execute(update(InviteNotification).where(InviteNotification.id == row_id)
                           .values(status="failed", retry_count=3, next_attempt_at=None,
                                   error="SMS gateway answered HTTP 500"))
        db.session.commit()


def notification(app, row_id: int) -> InviteNotification:
    with app.app_context():
        return db.session.get(InviteNotification, row_id)


def test_resend_puts_a_failed_message_back_in_the_queue(app, as_staff, staff):
    made = pending_invite(app)
    fail(app, made.row_id)

    response = post(as_staff, f"/staff/notifications/{made.row_id}/resend", {"reason": REASON})

    assert response.status_code == 303
    assert response.headers["Location"] == f"/staff/groups/{made.group_id}"
    assert any("queued again" in m for m in flashes(as_staff))
    row = notification(app, made.row_id)
    assert (row.status, row.retry_count) == ("pending", 0)
    assert row.next_attempt_at is not None
    (event,) = audits(app, "staff.notification_resent")
    assert (event.actor_id, event.subject_type, event.subject_id, event.family_group_id) == (
        staff.id, "invite_notifications", made.row_id, made.group_id)
    assert event.details["reason"] == REASON
    assert event.details["retry_count"] == 3


def test_resend_under_htmx_goes_back_to_the_page_it_came_from(app, as_staff):
    made = pending_invite(app)
    fail(app, made.row_id)
    back = f"/staff/users/{made.invitee.id}"
    response = post(as_staff, f"/staff/notifications/{made.row_id}/resend",
                    {"reason": REASON, "back": back}, HX)
    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == back
    assert notification(app, made.row_id).status == "pending"


def test_resending_a_message_that_did_not_fail_is_a_409(app, as_staff):
    made = pending_invite(app)  # pending, not failed
    before = counts(app)
    response = post(as_staff, f"/staff/notifications/{made.row_id}/resend", {"reason": REASON},
                    HX)
    assert response.status_code == 409
    assert 'data-code="not_failed"' in text(response)
    assert response.headers["HX-Redirect"] == f"/staff/groups/{made.group_id}"
    response = post(as_staff, f"/staff/notifications/{made.row_id}/resend", {"reason": REASON})
    assert response.status_code == 303
    assert "Only a failed notification can be sent again." in flashes(as_staff)
    assert counts(app) == before
    assert notification(app, made.row_id).status == "pending"


@pytest.mark.parametrize("ending", ["cancelled", "expired", "lapsed"])
def test_resending_an_invitation_whose_invite_is_no_longer_open_is_a_409(app, as_staff,
                                                                        ending):
    made = pending_invite(app)
    fail(app, made.row_id)
    with app.app_context():
        row = db.session.get(ConnectionInvite, made.invite_id)
        if ending == "lapsed":
            lapse(row)  # still "pending", past its expiry
        else:
            row.status = ending
        db.session.commit()
    before = counts(app)
    response = post(as_staff, f"/staff/notifications/{made.row_id}/resend", {"reason": REASON},
                    HX)
    assert response.status_code == 409
    assert 'data-code="invite_not_pending"' in text(response)
    assert counts(app) == before
    row = notification(app, made.row_id)
    assert (row.status, row.retry_count) == ("failed", 3)


def test_resend_without_a_reason_is_the_form_again(app, as_staff):
    made = pending_invite(app)
    fail(app, made.row_id)
    before = counts(app)
    response = post(as_staff, f"/staff/notifications/{made.row_id}/resend", {"reason": ""})
    assert response.status_code == 422
    assert f'id="notification-{made.row_id}-resend"' in text(response)
    assert "Say why, in a few words: the reason is kept in the audit trail." in errors(response)
    response = post(as_staff, f"/staff/notifications/{made.row_id}/resend", {}, HX)
    assert response.status_code == 422
    body = text(response)
    assert body.lstrip().startswith(f'<form id="notification-{made.row_id}-resend"')
    assert f'aria-describedby="notification-{made.row_id}-reason-error"' in body
    assert counts(app) == before
    assert notification(app, made.row_id).status == "failed"


def test_resending_an_unknown_notification_is_a_404(app, as_staff):
    assert post(as_staff, "/staff/notifications/999999/resend",
                {"reason": REASON}).status_code == 404


def test_after_a_resend_the_worker_delivers_the_message(app, as_staff, use_smtp, configure):
    configure(NOTIFY_MAX_ATTEMPTS=1)
    made = pending_invite(app, email="moi@example.com")
    use_smtp.refuse = "554 5.7.1 Mailbox unavailable"
    with app.app_context():
        deliver_due()
    failed = notification(app, made.row_id)
    assert (failed.status, failed.error) == (
        "failed", "SMTP server answered 554 5.7.1 Mailbox unavailable")
    with app.app_context():
        assert deliver_due()["claimed"] == 1  # the SMS copy (BR-004), through the log
        assert deliver_due()["claimed"] == 0  # the email is given up
    use_smtp.refuse = None

    response = post(as_staff, f"/staff/notifications/{made.row_id}/resend",
                    {"reason": "Hộp thư đã hoạt động lại"})
    assert response.status_code == 303
    with app.app_context():
        assert deliver_due()["sent"] == 1

    (mail,) = use_smtp.messages
    assert mail.rcpt_tos == ["moi@example.com"]
    assert "http://portal.test/i/" in mail.message.get_content()
    sent = notification(app, made.row_id)
    assert (sent.status, sent.retry_count, sent.error) == ("sent", 0, None)


# --- activation codes -------------------------------------------------------------------

CODE_RE = re.compile(r'<code class="activation-code">([^<]+)</code>')


def issue(c, headers=None, **fields):
    data = {"plan": "family", "days": "30", "count": "3", "reason": "Khuyến mãi Tết"}
    data.update(fields)
    return post(c, "/staff/codes", {k: v for k, v in data.items() if v is not None}, headers)


def test_the_codes_page_offers_the_configured_plans(app, as_staff):
    response = as_staff.get("/staff/codes")
    assert response.status_code == 200
    body = text(response)
    for plan in app.config["PLANS"]:
        assert f'<option value="{plan}"' in body
    assert '<label for="reason">Reason</label>' in body
    assert CODE_RE.findall(body) == []


def test_codes_are_shown_once_and_stored_only_hashed(app, as_staff, staff):
    response = issue(as_staff)

    assert response.status_code == 200
    codes = CODE_RE.findall(text(response))
    assert len(codes) == 3
    assert len(set(codes)) == 3
    with app.app_context():
        rows = list(db.session.scalars(select(ActivationCode)))
        assert sorted(r.code_hash for r in rows) == sorted(code_hash(c) for c in codes)
        for row in rows:
            assert (row.plan, row.duration_days, row.created_by) == ("family", 30, staff.id)
            assert all(code not in (row.code_hash, row.plan) for code in codes)
    assert flashes(as_staff) == []
    with as_staff.session_transaction() as session:
        assert not any(code in str(dict(session)) for code in codes)
    again = text(as_staff.get("/staff/codes"))
    assert CODE_RE.findall(again) == []
    assert not any(code in again for code in codes)
    (event,) = audits(app, "billing.codes_issued")
    assert event.actor_id == staff.id
    assert event.details == {"plan": "family", "days": 30, "count": 3,
                             "reason": "Khuyến mãi Tết"}
    assert not any(code in str(event.details) for code in codes)


def test_a_shown_code_redeems(app, as_staff):
    code = CODE_RE.findall(text(issue(as_staff, count="1", plan="family_plus")))[0]
    user = someone(app)
    with app.app_context():
        sub = subscription_redeem(actor=db.session.get(User, user.id), code=code)
        db.session.commit()
        assert (sub.plan, sub.patient_slots, sub.caregiver_slots) == ("family_plus", 4, 8)


def test_codes_under_htmx_are_the_partial(app, as_staff):
    response = issue(as_staff, HX, count="2")
    assert response.status_code == 200
    body = text(response)
    assert "<html" not in body
    assert body.lstrip().startswith('<div id="codes">')
    assert len(CODE_RE.findall(body)) == 2


@pytest.mark.parametrize(("fields", "message"), [
    ({"reason": ""}, "Say why, in a few words: the reason is kept in the audit trail."),
    ({"reason": None}, "Say why, in a few words: the reason is kept in the audit trail."),
    ({"days": "0"}, "Enter a whole number from 1 to 3660."),
    ({"days": "abc"}, "Enter a whole number from 1 to 3660."),
    ({"days": ""}, "This field is required."),
    ({"count": "1001"}, "Enter a whole number from 1 to 1000."),
    ({"plan": "gold"}, "Not a valid choice."),
])
def test_codes_refused_when_a_field_is_wrong(app, as_staff, fields, message):
    before = counts(app)
    for headers in (None, HX):
        response = issue(as_staff, headers, **fields)
        assert response.status_code == 422
        assert message in errors(response)
        assert CODE_RE.findall(text(response)) == []
        assert ("<html" in text(response)) == (headers is None)
    assert counts(app) == before
    assert audits(app, "billing.codes_issued") == []


def test_a_non_staff_user_cannot_issue_codes(app, login):
    other = login(someone(app))
    before = counts(app)
    assert issue(other).status_code == 403
    assert counts(app) == before

