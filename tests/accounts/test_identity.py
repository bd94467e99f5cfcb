"""A phone number proved by the phone (ID-001) and the forgotten password (ID-002), called
as services on a real database; the codes travel through the real outbox worker to a real
SMS gateway on 127.0.0.1 (tests/notifications/servers.py)."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from app.accounts.email_proof import pending_proof
from app.accounts.identity import (
    confirm_code_send,
    identity_confirm,
    password_reset_confirm,
    password_reset_start,
    phone_proof_confirm,
    phone_proof_start,
    registration_resend,
    registration_start,
    registration_verify,
    require_proved_phone,
)
from app.accounts.passwords import verify_password
from app.accounts.services import account_register, api_token_user, staff_create
from app.db import utcnow
from app.errors import Conflict, Forbidden, Invalid, TooSoon
from app.extensions import db
from app.models.accounts import AccountClaim, ApiToken, PhoneCode, User
from app.models.audit import AuditEvent
from app.models.notifications import InviteNotification
from app.notifications.services import notify_user
from app.outbox.delivery import deliver_due
from tests.factories import PASSWORD, make_user
from tests.sms import CODE_RE

N = InviteNotification
PHONE = "+84912345678"
NEW_PASSWORD = "hoa sen nở sớm 2026"


@pytest.fixture
def sms(app, ctx, configure, gateway):
    """Deliver the outbox through the real gateway; sms(phone) → the texts it received."""
    configure(SMS_GATEWAY_URL=gateway.url, SMS_GATEWAY_TOKEN="gw-secret")

    def received(phone: str = PHONE) -> list[str]:
        deliver_due()
        return [r.body["text"] for r in gateway.requests if r.body["to"] == phone]

    received.gateway = gateway
    return received


def code_in(texts: list[str]) -> str:
    match = CODE_RE.search(texts[-1])
    assert match, texts
    return match.group(1)


def start(**fields) -> None:
    values = {"phone": "0912 345 678", "password": "hoa-sen-2026", "name": "Trần Thị Lan",
              "gender": 1, "email": "lan@example.com", "locale": "vi"}
    values.update(fields)
    registration_start(**values)
    db.session.commit()


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def code_row(purpose: str = "register", phone: str = PHONE) -> PhoneCode:
    return db.session.scalar(select(PhoneCode).where(PhoneCode.purpose == purpose,
                                                     PhoneCode.phone == phone))


def users() -> int:
    return db.session.scalar(select(func.count()).select_from(User))


def actions() -> list[str]:
    return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def later(seconds: int, purpose: str = "register", phone: str = PHONE) -> None:
    """As if the code had been sent `seconds` ago."""
    row = code_row(purpose, phone)
    row.sent_at -= timedelta(seconds=seconds)
    db.session.commit()


def tried(code: str | None, phone: str = PHONE) -> str:
    """registration_verify as a view runs it: the try is committed even when refused."""
    try:
        registration_verify(phone=phone, code=code)
    except Invalid as exc:
        db.session.commit()
        return exc.code
    db.session.commit()
    return "ok"


# --- registration --------------------------------------------------------------------


def test_registration_waits_for_the_code_and_stores_only_its_keyed_hash(sms):
    start()
    assert users() == 0
    row = code_row()
    (message,) = db.session.scalars(select(N).where(N.notification_type == "PHONE_CODE"))
    assert (message.channel, message.recipient) == ("sms", PHONE)
    texts = sms()
    code = code_in(texts)
    assert texts == [f"Family Connect: mã đăng ký của bạn là {code}. Mã có hiệu lực trong 10 "
                     "phút. Tuyệt đối không đưa mã cho ai."]
    # Only an HMAC under SECRET_KEY is kept: neither the code nor its plain SHA-256.
    db.session.refresh(row)
    assert code not in row.code_hash
    assert row.code_hash != hashlib.sha256(code.encode()).hexdigest()
    assert len(row.code_hash) == 64
    # The registration waits with its password hashed; the sent SMS no longer carries the
    # sealed code.
    assert row.payload["password_hash"].startswith("$argon2id$")
    assert "hoa-sen-2026" not in str(row.payload)
    db.session.refresh(message)
    assert message.status == "sent"
    assert "sealed_token" not in message.payload
    assert code not in str(message.payload)


def test_the_code_creates_the_account_with_its_number_proved(sms):
    start()
    code = code_in(sms())
    user = registration_verify(phone="0912345678", code=f" {code[:3]} {code[3:]}")
    db.session.commit()
    # The email waits for its link (issue 21): not the account's address until it is back.
    assert (user.phone, user.email, user.name, user.gender) == (
        PHONE, None, "Trần Thị Lan", 1)
    assert pending_proof(user).email == "lan@example.com"
    assert user.phone_proved
    assert verify_password(user.password_hash, "hoa-sen-2026")
    row = code_row()
    assert row.used_at is not None
    assert row.payload is None  # the password hash does not linger
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "account.register"))
    assert event.details == {"phone_proved_by": "sms_code"}
    assert tried(code) == "invalid_code"  # a code works once
    assert users() == 1


@pytest.mark.parametrize("code", [None, "", "12345", "1234567", "abcdef", "١٢٣٤٥٦", "12 34 5"])
def test_a_malformed_code_is_refused(sms, code):
    start()
    sms()
    assert tried(code) == "invalid_code"
    assert users() == 0


def test_five_wrong_tries_and_the_code_is_dead(app, sms):
    start()
    code = code_in(sms())
    tries = app.config["PHONE_CODE_TRIES"]
    assert tries == 5
    for n in range(tries):
        assert tried(wrong(code)) == "invalid_code"
        assert code_row().attempts == n + 1
    assert tried(code) == "invalid_code"  # the right code, too late
    assert users() == 0


def test_the_right_code_after_four_wrong_tries_still_works(sms):
    start()
    code = code_in(sms())
    for _ in range(4):
        assert tried(wrong(code)) == "invalid_code"
    assert tried(code) == "ok"


def test_the_code_expires(app, sms):
    start()
    code = code_in(sms())
    assert app.config["PHONE_CODE_MINUTES"] == 10
    db.session.execute(update(PhoneCode).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert tried(code) == "invalid_code"
    assert users() == 0


def test_resends_are_paced_and_a_new_code_voids_the_old(app, sms):
    start()
    first = code_in(sms())
    with pytest.raises(TooSoon) as info:
        registration_resend(phone=PHONE)
    assert 0 < info.value.retry_after <= app.config["PHONE_CODE_RESEND_SECONDS"]
    db.session.rollback()
    with pytest.raises(TooSoon):
        start()  # asking again with the whole form is paced the same
    db.session.rollback()
    later(61)
    registration_resend(phone=PHONE)
    db.session.commit()
    texts = sms()
    assert len(texts) == 2
    second = code_in(texts)
    if second != first:
        assert tried(first) == "invalid_code"
    assert tried(second) == "ok"
    assert db.session.scalar(select(User.name)) == "Trần Thị Lan"  # the values stayed


def test_a_number_with_an_account_gets_told_not_a_code(sms):
    owner = make_user(phone=PHONE, name="Chủ Số", email="chu@example.com")
    db.session.commit()
    start()
    texts = sms()
    assert len(texts) == 1
    assert "đã có tài khoản" in texts[0]
    assert "http://portal.test/account/password-reset" in texts[0]
    assert not CODE_RE.search(texts[0])
    # The same row and pace as for any number, so nothing tells the two apart.
    assert code_row() is not None
    with pytest.raises(TooSoon):
        start()
    db.session.rollback()
    # No code went out, and even a lucky guess makes no account.
    row = code_row()
    assert row.payload is None
    for guess in ("000000", "123456"):
        assert tried(guess) == "invalid_code"
    assert users() == 1
    assert db.session.get(User, owner.id).phone == PHONE
    assert "account.register_existing" in actions()


def test_a_number_of_an_imported_account_gets_a_new_sign_in_link(sms):
    imported = make_user(phone=PHONE, password_hash=None, phone_verified_at=None)
    db.session.add(AccountClaim(user_id=imported.id, token_hash="0" * 64,
                                expires_at=utcnow() + timedelta(days=30)))
    db.session.commit()
    start()
    texts = sms()
    assert len(texts) == 1
    assert "http://portal.test/claim/" in texts[0]
    assert tried("000000") == "invalid_code"
    assert db.session.get(User, imported.id).phone == PHONE


def test_proving_a_number_takes_it_from_an_account_that_never_proved_it(sms):
    squatter = make_user(phone=PHONE, name="Người Chiếm", phone_verified_at=None)
    notify_user(user=squatter, notification_type="INVITE_CREATED", payload={
        "group_name": "Gia đình Khác", "sender_name": "Ai Đó", "role": "caregiver"})
    db.session.commit()
    start()
    code = code_in(sms())
    assert db.session.get(User, squatter.id).phone == PHONE  # nothing moves before the code
    assert tried(code) == "ok"
    user = db.session.scalar(select(User).where(User.phone == PHONE))
    assert user.id != squatter.id
    assert user.phone_proved
    lost = db.session.get(User, squatter.id)
    assert lost.phone is None
    assert verify_password(lost.password_hash, PASSWORD)  # the account itself stays
    event = db.session.scalar(select(AuditEvent).where(
        AuditEvent.action == "account.phone_taken_over"))
    assert (event.actor_id, event.subject_id) == (user.id, squatter.id)
    assert event.details == {"phone": PHONE, "proved_by": "sms_code"}
    # Told in the portal, and what it was shown of invites to the number is withdrawn.
    in_app = {(n.notification_type, n.status) for n in db.session.scalars(
        select(N).where(N.recipient_user_id == squatter.id, N.channel == "in_app"))}
    assert in_app == {("PHONE_TAKEN_OVER", "sent"), ("INVITE_CREATED", "cancelled")}


def test_an_email_another_account_has_neither_blocks_nor_tells(sms):
    """Issue 21: the address goes to its link, whoever holds it; nothing says who does."""
    start(email="Lan@Example.com")
    code = code_in(sms())
    holder = make_user(email="lan@example.com")
    db.session.commit()
    user = registration_verify(phone=PHONE, code=code)
    assert user.email is None
    assert pending_proof(user).email == "lan@example.com"
    assert holder.email == "lan@example.com"  # until the link comes back


def test_the_code_goes_by_sms_only_never_by_email(app, sms):
    """A user with an email gets the code by SMS; when the SMS fails for good, no email
    copy follows (BR-004's fallback is for email rows only)."""
    owner = make_user(phone=PHONE, email="lan@example.com")
    db.session.commit()
    sms.gateway.fail_always = True
    password_reset_start(phone=PHONE)
    db.session.commit()
    for _ in range(app.config["NOTIFY_MAX_ATTEMPTS"]):
        db.session.execute(update(N).values(next_attempt_at=utcnow()))
        db.session.commit()
        deliver_due()
    rows = list(db.session.scalars(select(N).where(N.recipient_user_id == owner.id)))
    assert [(r.channel, r.notification_type, r.status) for r in rows] == [
        ("sms", "PHONE_CODE", "failed")]


def test_a_code_is_not_sent_once_it_has_expired(app, sms):
    start()
    db.session.execute(update(PhoneCode).values(expires_at=utcnow() - timedelta(seconds=1)))
    message = db.session.scalar(select(N).where(N.notification_type == "PHONE_CODE"))
    message.payload = {**message.payload, "expires_at": (utcnow() - timedelta(1)).isoformat()}
    db.session.commit()
    assert sms() == []
    db.session.refresh(message)
    assert message.status == "failed"
    assert "expired" in message.error


def test_a_code_message_speaks_the_registrations_language(sms):
    start(locale="en")
    assert sms()[0].startswith("Family Connect: your sign-up code is ")


# --- the forgotten password (ID-002) ---------------------------------------------------


@pytest.fixture
def owner(app_ctx):
    user = make_user(phone=PHONE, name="Trần Thị Lan", email="lan@example.com")
    db.session.commit()
    return user


def test_a_reset_sets_the_password_and_ends_every_session_and_token(app, sms, owner):
    from app.accounts.services import api_token_create

    token = api_token_create(user=owner, name="script")
    epoch = owner.session_epoch
    db.session.commit()
    password_reset_start(phone="0912 345 678", ip="10.0.0.9")
    db.session.commit()
    texts = sms()
    assert "đặt lại mật khẩu" in texts[0]
    user = password_reset_confirm(phone=PHONE, code=code_in(texts), password=NEW_PASSWORD)
    db.session.commit()
    assert user.id == owner.id
    assert verify_password(user.password_hash, NEW_PASSWORD)
    assert not verify_password(user.password_hash, PASSWORD)
    assert user.session_epoch == epoch + 1
    assert api_token_user(token) is None
    assert db.session.scalar(select(ApiToken.revoked_at)) is not None
    assert actions() == ["account.api_token_created", "account.password_reset_requested",
                         "account.password_reset"]


@pytest.mark.parametrize("who", ["nobody", "unproved", "suspended"])
def test_a_reset_sends_nothing_to_a_number_without_a_proved_active_account(sms, who):
    if who == "unproved":
        make_user(phone=PHONE, phone_verified_at=None)
    elif who == "suspended":
        make_user(phone=PHONE, is_active=False)
    db.session.commit()
    password_reset_start(phone=PHONE)  # the same answer: nothing raised
    db.session.commit()
    assert sms() == []
    assert code_row("reset") is not None  # and the same row and pace as for anyone
    with pytest.raises(TooSoon):
        password_reset_start(phone=PHONE)
    db.session.rollback()
    with pytest.raises(Invalid) as info:
        password_reset_confirm(phone=PHONE, code="123456", password=NEW_PASSWORD)
    assert info.value.code == "invalid_code"


def test_a_weak_new_password_keeps_the_code_usable(sms, owner):
    password_reset_start(phone=PHONE)
    db.session.commit()
    code = code_in(sms())
    for weak, problem in [("qwerty12", "weak_password"), ("tran thi lan", "weak_password"),
                          ("lan-912345678", "weak_password")]:
        with pytest.raises(Invalid) as info:
            password_reset_confirm(phone=PHONE, code=code, password=weak)
        assert info.value.code == problem
        db.session.rollback()
    user = password_reset_confirm(phone=PHONE, code=code, password=NEW_PASSWORD)
    db.session.commit()
    assert verify_password(user.password_hash, NEW_PASSWORD)


def test_a_reset_code_is_only_for_its_number(sms, owner):
    other = make_user(name="Người Khác")
    db.session.commit()
    password_reset_start(phone=PHONE)
    db.session.commit()
    code = code_in(sms())
    with pytest.raises(Invalid) as info:
        password_reset_confirm(phone=other.phone, code=code, password=NEW_PASSWORD)
    assert info.value.code == "invalid_code"


# --- proving the number of an existing account --------------------------------------


def test_an_unproved_account_proves_its_number_with_a_code(sms):
    user = make_user(phone=PHONE, phone_verified_at=None)
    db.session.commit()
    with pytest.raises(Forbidden) as info:
        require_proved_phone(user)
    assert info.value.code == "phone_unverified"
    phone_proof_start(actor=user)
    db.session.commit()
    texts = sms()
    assert "xác minh số điện thoại" in texts[0]
    with pytest.raises(Invalid):
        phone_proof_confirm(actor=user, code=wrong(code_in(texts)))
    db.session.rollback()
    phone_proof_confirm(actor=user, code=code_in(texts))
    db.session.commit()
    assert db.session.get(User, user.id).phone_proved
    require_proved_phone(user)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "account.phone_proved"))
    assert event.details == {"phone": PHONE, "by": "sms_code"}
    with pytest.raises(Conflict) as info:
        phone_proof_start(actor=user)
    assert info.value.code == "already_proved"


def test_an_account_that_lost_its_number_cannot_ask_for_a_code(ctx):
    user = make_user(phone=None, phone_verified_at=None, email="mat-so@example.com")
    with pytest.raises(Conflict) as info:
        phone_proof_start(actor=user)
    assert info.value.code == "no_phone"


# --- who counts as proved -------------------------------------------------------------


def test_link_sign_ups_and_create_staff_are_proved(ctx):
    linked = account_register(phone="0912000222", password="hoa-sen-2026", name="Khách Mời",
                              gender=0, proved_by="invite_link")
    staff = staff_create(phone="0912000333", name="Nhân Viên", password="hoa-sen-2026")
    assert linked.phone_proved
    assert staff.phone_proved


def test_create_staff_vouches_for_an_existing_unproved_account(ctx):
    existing = make_user(phone="+84912000444", phone_verified_at=None)
    promoted = staff_create(phone="0912000444", name="ignored", password="ignored")
    assert promoted.id == existing.id
    assert promoted.is_staff
    assert promoted.phone_proved


def test_the_demo_family_counts_as_proved(app, fresh_database_url):
    from flask_migrate import upgrade

    from app.demo import load_demo_data
    from tests.conftest import make_app

    demo = make_app(fresh_database_url())
    with demo.app_context():
        upgrade()
        load_demo_data()
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(User)
                                 .where(User.phone_verified_at.is_(None))) == 0
        db.session.remove()


# --- confirming a sensitive action (issue 19) ---------------------------------------


def test_a_sensitive_action_is_confirmed_by_the_password_or_a_one_time_code(sms):
    user = make_user(phone=PHONE)
    db.session.commit()
    assert identity_confirm(actor=user, password=PASSWORD, code=None) == "password"
    for password, expected in ((None, "confirmation_required"), ("", "confirmation_required"),
                               (PASSWORD + "x", "bad_password")):
        with pytest.raises(Invalid) as info:
            identity_confirm(actor=user, password=password, code=None)
        assert info.value.code == expected
        assert list(info.value.fields) == ["password"]
    confirm_code_send(actor=user)
    db.session.commit()
    texts = sms()
    assert "xác nhận" in texts[-1]
    code = code_in(texts)
    assert code_row("confirm").user_id == user.id
    with pytest.raises(Invalid) as info:
        identity_confirm(actor=user, password=None, code=wrong(code))
    assert info.value.code == "invalid_code"
    db.session.commit()  # the try stays counted
    # A code wins over a wrong password, and works once.
    assert identity_confirm(actor=user, password="nope", code=code) == "sms_code"
    db.session.commit()
    with pytest.raises(Invalid):
        identity_confirm(actor=user, password=None, code=code)


def test_a_confirmation_code_is_only_for_its_own_account(sms):
    user = make_user(phone=PHONE)
    other = make_user()
    db.session.commit()
    confirm_code_send(actor=user)
    db.session.commit()
    code = code_in(sms())
    with pytest.raises(Invalid):
        identity_confirm(actor=other, password=None, code=code)
    db.session.rollback()
    unproved = make_user(phone_verified_at=None)
    with pytest.raises(Conflict) as info:
        confirm_code_send(actor=unproved)
    assert info.value.code == "phone_unverified"
    with pytest.raises(Invalid):
        identity_confirm(actor=unproved, password=None, code=code)
