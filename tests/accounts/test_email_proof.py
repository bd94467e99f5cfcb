"""Proved e-mail (issue 21, item 4): an address counts for login and for notifications only
once a link sent to it came back. The links go through the real outbox worker to the real
SMTP server of the `smtp` fixture; nothing is patched."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app.accounts.email_proof import email_change, email_prove, pending_proof
from app.accounts.services import account_authenticate
from app.db import utcnow
from app.demo import PASSWORD as DEMO_PASSWORD
from app.demo import load_demo_data
from app.errors import Conflict, Gone, Invalid, NotFound
from app.extensions import db
from app.logging_filters import RedactLinkTokens
from app.models.accounts import EmailProof, User
from app.models.audit import AuditEvent
from app.models.notifications import InviteNotification
from app.notifications.services import notify_user
from app.outbox.delivery import deliver_due
from app.tokens import unseal
from tests.factories import PASSWORD, make_user
from tests.pages import csrf_of, give_reason, post, text

N = InviteNotification
LINK = re.compile(r"http://portal\.test/email/([A-Za-z0-9_-]+)")
ADDRESS = "lan@example.com"
BAD_LOGIN = {"vi": "Số điện thoại, email hoặc mật khẩu không đúng.",
             "en": "The phone number, email or password is not right."}


def deliver(app) -> dict[str, int]:
    with app.app_context():
        return deliver_due()


def token_from(mail) -> str:
    (token,) = LINK.findall(mail.message.get_content())
    return token


def token_of(proof: EmailProof) -> str:
    """The token sealed in the link's outbox row (a service test's way to the link)."""
    row = db.session.scalar(select(N).where(N.notification_type == "EMAIL_PROOF",
                                            N.payload.is_not(None), N.status == "pending",
                                            N.recipient_user_id == proof.user_id)
                            .order_by(N.id.desc()).limit(1))
    return unseal(row.payload["sealed_token"])


def log_in_by(app, login: str):
    c = app.test_client()
    return c, c.post("/account/login", data={"login": login, "password": PASSWORD,
                                             "csrf_token": csrf_of(c)})


def user_row(app, user_id: int) -> User:
    with app.app_context():
        return db.session.get(User, user_id)


def actions(app) -> list[str]:
    with app.app_context():
        return sorted(db.session.scalars(select(AuditEvent.action)))


# --- the link, end to end ----------------------------------------------------------------


def test_the_link_arrives_by_email_proves_the_address_logged_out_and_works_once(
        app, login, person, use_smtp):
    lan = person()
    c = login(lan)
    response = post(c, "/account/settings/email", {"email": " Lan@Example.COM "})
    assert response.status_code == 303
    assert user_row(app, lan.id).email is None  # not before the link comes back

    assert deliver(app)["sent"] == 1
    (mail,) = use_smtp.messages
    assert mail.rcpt_tos == [ADDRESS]
    assert mail.message["Subject"] == "Prove your email address for Family Connect"
    token = token_from(mail)
    with app.app_context():  # only the hash is stored, and the sent row drops the sealed copy
        assert token not in str(db.session.scalars(select(EmailProof.token_hash)).all())
        assert "sealed_token" not in db.session.scalar(
            select(N.payload).where(N.notification_type == "EMAIL_PROOF"))
    assert log_in_by(app, ADDRESS)[1].status_code == 401

    visitor = app.test_client()  # the link works for whoever holds it, logged in or not
    page = visitor.get(f"/email/{token}")
    assert page.status_code == 200
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["Cache-Control"] == "no-store"
    assert ADDRESS in text(page)
    assert user_row(app, lan.id).email is None  # opening the link changes nothing

    proved = post(visitor, f"/email/{token}")
    assert proved.status_code == 200
    assert 'id="email-proved"' in text(proved)
    stored = user_row(app, lan.id)
    assert (stored.email, stored.email_proved) == (ADDRESS, True)
    assert "account.email_proved" in actions(app)
    assert log_in_by(app, ADDRESS)[1].status_code == 303

    again = post(visitor, f"/email/{token}")
    assert again.status_code == 409
    assert visitor.get(f"/email/{token}").status_code == 409


def test_an_expired_link_is_refused(app, login, person, use_smtp):
    lan = person()
    post(login(lan), "/account/settings/email", {"email": ADDRESS})
    deliver(app)
    token = token_from(use_smtp.messages[0])
    with app.app_context():
        db.session.execute(update(EmailProof).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    c = app.test_client()
    assert c.get(f"/email/{token}").status_code == 410
    response = post(c, f"/email/{token}")
    assert response.status_code == 410
    assert "Liên kết này đã hết hạn" in text(response)  # a visitor reads Vietnamese
    assert user_row(app, lan.id).email is None


@pytest.mark.parametrize(("locale", "title", "message"), [
    ("vi", "Không tìm thấy liên kết email",
     "Liên kết này không dùng được. Hãy kiểm tra rằng bạn đã mở toàn bộ liên kết trong email."),
    ("en", "Email link not found",
     "This link does not work. Check that you opened the whole link from the email."),
])
@pytest.mark.parametrize("token", ["not-a-token", "x" * 300, "%E2%80%AE%00"])
def test_a_wrong_or_garbled_token_is_a_404_page_in_the_reader_s_language(
        app, locale, title, message, token):
    c = app.test_client()
    if locale == "en":
        assert post(c, "/language", {"locale": "en"}).status_code == 303
    for response in (c.get(f"/email/{token}"), post(c, f"/email/{token}")):
        assert response.status_code == 404
        page = text(response)
        assert title in page
        assert message in page
        assert "Traceback" not in page


def test_the_link_never_goes_by_sms_even_when_the_email_fails_for_good(
        app, login, person, use_smtp, use_gateway, configure):
    configure(NOTIFY_MAX_ATTEMPTS=1)
    use_smtp.refuse = "550 5.1.1 No such user"
    lan = person()
    post(login(lan), "/account/settings/email", {"email": ADDRESS})
    counts = deliver(app)
    assert (counts["failed"], counts["fallbacks"]) == (1, 0)
    assert use_gateway.requests == []
    with app.app_context():
        assert db.session.scalars(select(N.channel).where(
            N.notification_type == "EMAIL_PROOF")).all() == ["email"]


# --- whoever proves it takes it over ------------------------------------------------------


def test_a_second_account_proving_the_address_takes_it_over(ctx):
    first = make_user(email=ADDRESS)  # proved
    second = make_user()
    proof = email_change(actor=second, email=ADDRESS)
    assert first.email == ADDRESS  # typing it takes nothing

    email_prove(token=token_of(proof))
    db.session.flush()
    db.session.refresh(first)
    assert (first.email, first.email_verified_at) == (None, None)
    assert (second.email, second.email_proved) == (ADDRESS, True)
    event = db.session.scalar(select(AuditEvent).where(
        AuditEvent.action == "account.email_taken_over"))
    assert (event.actor_id, event.subject_id) == (second.id, first.id)
    assert event.details == {"email": ADDRESS, "was_proved": True}
    told = db.session.scalar(select(N).where(N.recipient_user_id == first.id))
    assert (told.channel, told.notification_type, told.payload) == (
        "in_app", "EMAIL_TAKEN_OVER", {"email": ADDRESS})
    # The first account can no longer log in by it; the second can.
    with pytest.raises(Invalid) as refused:
        account_authenticate(login=ADDRESS, password="not-" + PASSWORD)
    assert refused.value.code == "bad_credentials"
    assert account_authenticate(login=ADDRESS, password=PASSWORD) is second


def test_an_unproved_holder_neither_blocks_nor_keeps_the_address(ctx):
    squatter = make_user(email=ADDRESS, email_verified_at=None)
    owner = make_user()
    proof = email_change(actor=owner, email="LAN@example.com")  # no email_taken
    assert proof.email == ADDRESS
    email_prove(token=token_of(proof))
    db.session.refresh(squatter)
    assert squatter.email is None
    assert owner.email_proved
    event = db.session.scalar(select(AuditEvent).where(
        AuditEvent.action == "account.email_taken_over"))
    assert event.details == {"email": ADDRESS, "was_proved": False}


def test_proving_voids_other_accounts_open_links_to_the_address(ctx):
    first, second = make_user(), make_user()
    first_link = token_of(email_change(actor=first, email=ADDRESS))
    db.session.execute(update(EmailProof).values(sent_at=utcnow() - timedelta(minutes=5)))
    second_link = token_of(email_change(actor=second, email=ADDRESS))
    email_prove(token=second_link)
    with pytest.raises(Gone) as info:
        email_prove(token=first_link)
    assert info.value.code == "email_proof_cancelled"
    assert second.email == ADDRESS
    assert first.email is None


def test_a_new_link_voids_the_earlier_one(ctx, configure):
    configure(EMAIL_PROOF_RESEND_SECONDS=0)
    lan = make_user()
    old = token_of(email_change(actor=lan, email=ADDRESS))
    new = token_of(email_change(actor=lan, email="lan.tran@example.com"))
    with pytest.raises(Gone):
        email_prove(token=old)
    email_prove(token=new)
    assert lan.email == "lan.tran@example.com"


def test_unknown_token_is_not_found_and_a_used_one_conflicts(ctx):
    lan = make_user()
    token = token_of(email_change(actor=lan, email=ADDRESS))
    with pytest.raises(NotFound):
        email_prove(token="nope")
    email_prove(token=token)
    with pytest.raises(Conflict) as info:
        email_prove(token=token)
    assert info.value.code == "email_proof_used"


# --- an unproved address counts for nothing ---------------------------------------------


@pytest.mark.parametrize("locale", ["vi", "en"])
def test_an_unproved_address_cannot_log_in_and_says_what_an_unknown_one_says(
        app, person, locale):
    person(email=ADDRESS, email_verified_at=None, locale=locale)
    c, unproved = log_in_by(app, ADDRESS)
    _c, unknown = log_in_by(app, "nobody@example.com")
    assert unproved.status_code == unknown.status_code == 401
    assert BAD_LOGIN["vi"] in text(unproved)  # a visitor's page is Vietnamese
    api = app.test_client().post("/api/v1/auth/token",
                                 json={"login": ADDRESS, "password": PASSWORD})
    assert api.status_code == 401
    assert api.get_json()["error"]["code"] == "bad_credentials"


def test_the_email_channel_skips_an_unproved_address(ctx):
    unproved = make_user(email=ADDRESS, email_verified_at=None)
    proved = make_user(email="an@example.com")
    for user in (unproved, proved):
        notify_user(user=user, notification_type="MEMBER_JOINED", payload={"group_name": "G"})
    db.session.flush()
    sent_to = dict(db.session.execute(select(N.recipient_user_id, N.channel).where(
        N.channel != "in_app")).all())
    assert sent_to == {unproved.id: "sms", proved.id: "email"}


def test_a_waiting_email_to_an_address_no_longer_proved_goes_by_sms(
        app, use_smtp, use_gateway):
    with app.app_context():
        user = make_user(email=ADDRESS, locale="en")
        notify_user(user=user, notification_type="MEMBER_JOINED", payload={"group_name": "G"})
        # Meanwhile the address stopped counting (migration 0013, or taken over).
        user.email_verified_at = None
        db.session.commit()
        phone = user.phone
    counts = deliver(app)
    assert use_smtp.messages == []
    assert counts["fallbacks"] == 1
    deliver(app)
    assert [r.body["to"] for r in use_gateway.requests] == [phone]


# --- settings --------------------------------------------------------------------------


def test_settings_show_the_address_s_state_and_pace_the_link(app, login, person, configure):
    configure(EMAIL_PROOF_RESEND_SECONDS=60)
    lan = person(email=ADDRESS, email_verified_at=None)
    c = login(lan)
    page = text(c.get("/account/settings"))
    assert f"{ADDRESS}, not proved yet" in page
    assert 'id="email-resend-form"' in page

    assert post(c, "/account/settings/email/resend").status_code == 303
    again = c.get(post(c, "/account/settings/email/resend").headers["Location"])
    assert "A link was sent a moment ago" in text(again)
    with app.app_context():
        assert db.session.scalar(select(EmailProof.email)) == ADDRESS
        assert len(db.session.scalars(select(EmailProof.id)).all()) == 1

    invalid = post(c, "/account/settings/email", {"email": "not an address"})
    assert invalid.status_code == 422
    assert "Enter a valid email address" in text(invalid)


def test_settings_show_a_proved_address(login, person):
    page = text(login(person(email=ADDRESS)).get("/account/settings"))
    assert f"{ADDRESS}, proved" in page
    assert 'id="email-resend-form"' not in page


def test_a_proved_address_stays_in_use_until_the_new_one_is_proved(ctx, configure):
    configure(EMAIL_PROOF_RESEND_SECONDS=0)
    lan = make_user(email=ADDRESS)
    email_change(actor=lan, email="new@example.com")
    assert (lan.email, lan.email_proved) == (ADDRESS, True)
    assert pending_proof(lan).email == "new@example.com"
    with pytest.raises(Conflict) as info:
        email_change(actor=lan, email=ADDRESS)
    assert info.value.code == "already_proved"


# --- the API -----------------------------------------------------------------------------


def _bearer(app, who) -> dict:
    token = app.test_client().post("/api/v1/auth/token", json={
        "login": who.phone, "password": PASSWORD}).get_json()["token"]
    return {"Authorization": f"Bearer {token}"}


def test_the_api_gives_an_address_and_proves_it_by_token(app, person, use_smtp):
    lan = person()
    auth = _bearer(app, lan)
    api = app.test_client()
    me = api.get("/api/v1/me", headers=auth).get_json()
    assert (me["email"], me["emailVerified"]) == (None, False)

    sent = api.post("/api/v1/me/email", json={"email": ADDRESS}, headers=auth)
    assert sent.status_code == 202
    assert sent.get_json()["email"] == ADDRESS
    deliver(app)
    token = token_from(use_smtp.messages[0])

    wrong = api.post("/api/v1/auth/email/prove", json={"token": "nope"})
    assert wrong.status_code == 404
    assert wrong.get_json()["error"]["code"] == "email_proof_not_found"
    proved = api.post("/api/v1/auth/email/prove", json={"token": token})
    assert proved.status_code == 200
    assert proved.get_json() == {"email": ADDRESS, "emailVerified": True}
    used = api.post("/api/v1/auth/email/prove", json={"token": token})
    assert used.status_code == 409
    me = api.get("/api/v1/me", headers=auth).get_json()
    assert (me["email"], me["emailVerified"]) == (ADDRESS, True)
    nothing = api.post("/api/v1/me/email/resend", json={}, headers=auth)
    assert nothing.status_code == 409
    assert nothing.get_json()["error"]["code"] == "nothing_to_prove"


def test_staff_see_whether_an_address_is_proved(app, login, person):
    staff = person(is_staff=True)
    unproved = person(email=ADDRESS, email_verified_at=None)
    proved = person(email="an@example.com")
    c = login(staff)
    for who, state in ((unproved, "not proved"), (proved, "proved")):
        assert give_reason(c, f"/staff/users/{who.id}").status_code == 303  # issue 21
        page = text(c.get(f"/staff/users/{who.id}"))
        assert re.search(r'id="profile-email-proof">\s*' + state + r"\s*<", page)


# --- the rest of the portal ----------------------------------------------------------------


def test_the_link_s_token_never_reaches_a_log_line():
    record_ = logging.LogRecord("werkzeug", logging.INFO, __file__, 1, '%s - - "%s" 200 -',
                                ("127.0.0.1", "POST /email/Secret_Token-123 HTTP/1.1"), None)
    RedactLinkTokens().filter(record_)
    assert "Secret_Token" not in record_.getMessage()
    assert "/email/[redacted]" in record_.getMessage()


def test_the_demo_admin_s_address_is_proved(ctx):
    load_demo_data()
    admin = db.session.scalar(select(User).where(User.email == "an@example.com"))
    assert admin.email_proved
    assert account_authenticate(login="an@example.com", password=DEMO_PASSWORD) is admin
