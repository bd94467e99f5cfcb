"""Account services, called directly on a real database (SQLite or PostgreSQL)."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from flask_babel import force_locale
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.accounts.email_proof import pending_proof
from app.accounts.passwords import verify_password
from app.accounts.services import (
    account_authenticate,
    account_change_password,
    account_logout,
    account_register,
    account_set_locale,
    account_suspend,
    load_user_from_session_id,
    parse_phone,
    staff_create,
)
from app.errors import Conflict, Forbidden, Invalid
from app.extensions import db
from app.models.accounts import User
from app.models.audit import AuditEvent
from tests.factories import PASSWORD, make_user, national

GOOD_PASSWORD = "hoa-sen-2026"

MSG_PHONE_VI = "Nhập số di động Việt Nam gồm 10 chữ số, bắt đầu bằng 0, ví dụ 0912345678."
MSG_EMAIL_VI = "Nhập địa chỉ email hợp lệ, ví dụ an@example.com."
MSG_PHONE_TAKEN_VI = "Số điện thoại này đã có tài khoản. Vui lòng đăng nhập."
MSG_BAD_CREDENTIALS_VI = "Số điện thoại, email hoặc mật khẩu không đúng."
MSG_SUSPENDED_VI = "Tài khoản này đã bị khóa. Vui lòng liên hệ bộ phận hỗ trợ để mở lại."


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def actions(**where) -> list[str]:
    query = select(AuditEvent.action).order_by(AuditEvent.id)
    for column, value in where.items():
        query = query.where(getattr(AuditEvent, column) == value)
    return list(db.session.scalars(query))


def register(**fields) -> User:
    """An account whose number an invite link proved (the one direct way in: signing up
    by hand waits for an SMS code, tests/accounts/test_identity.py)."""
    values = {"phone": "0912345678", "password": GOOD_PASSWORD, "name": "Trần Thị Lan",
              "gender": 1, "proved_by": "invite_link"}
    values.update(fields)
    return account_register(**values)


# --- register -------------------------------------------------------------------------


def test_register_stores_e164_phone_argon2id_hash_and_audits(vi_ctx):
    user = register(email="  Lan@Example.COM ", name="  Trần   Thị  Lan ", ip="10.0.0.7")

    stored = db.session.scalar(select(User).where(User.id == user.id))
    assert stored.phone == "+84912345678"
    # The address waits for its link (issue 21): it is not the account's until it is back.
    assert stored.email is None
    assert pending_proof(stored).email == "lan@example.com"
    assert stored.name == "Trần Thị Lan"
    assert stored.gender == 1
    assert stored.locale == "vi"
    assert stored.password_hash.startswith("$argon2id$")
    assert GOOD_PASSWORD not in stored.password_hash
    assert verify_password(stored.password_hash, GOOD_PASSWORD)
    assert stored.phone_verified_at is not None
    assert stored.phone_proved
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "account.register"))
    assert (event.actor_id, event.subject_type, event.subject_id, event.ip) == (
        user.id, "users", user.id, "10.0.0.7")
    assert event.details == {"phone_proved_by": "invite_link"}


@pytest.mark.parametrize("raw", ["0912345678", "0912 345 678", "0912.345.678", "0912-345-678",
                                 "+84912345678", "+84 912 345 678"])
def test_register_accepts_separators_and_international_form(vi_ctx, raw):
    assert register(phone=raw).phone == "+84912345678"


@pytest.mark.parametrize(("field", "raw"), [
    *(("phone", raw) for raw in ["12345", "0123456789", "09123456789", "091234567", "",
                                 "abcdefghij", "+85512345678"]),
    *(("email", raw) for raw in ["lan@", "lan", "lan@@example.com", "@example.com"]),
])
def test_register_invalid_phone_or_email(vi_ctx, field, raw):
    with pytest.raises(Invalid) as info:
        register(**{field: raw})
    assert info.value.code == f"invalid_{field}"
    assert info.value.fields == {field: [{"phone": MSG_PHONE_VI, "email": MSG_EMAIL_VI}[field]]}
    assert count(User) == 0
    assert count(AuditEvent) == 0


def test_register_blank_email_is_stored_as_null(vi_ctx):
    assert register(email="   ").email is None


GUESSABLE_VI = ("Mật khẩu này quá phổ biến hoặc quá dễ đoán. Vài từ của riêng bạn, cách "
                "nhau bằng dấu cách, sẽ tạo nên một mật khẩu mạnh.")


@pytest.mark.parametrize(("password", "message"), [
    ("abc1234", "Dùng ít nhất 8 ký tự."),
    ("a1" * 64 + "x", "Dùng tối đa 128 ký tự."),
    # The examples, and common ones in both languages (zxcvbn, ID-003).
    ("aaaaaaa1", GUESSABLE_VI),
    ("qwerty12", GUESSABLE_VI),
    ("12345678a", GUESSABLE_VI),
    ("abcdefg1", GUESSABLE_VI),
    ("98765432101", GUESSABLE_VI),
    ("Password123", GUESSABLE_VI),
    ("matkhau123", GUESSABLE_VI),
    ("a" * 128, GUESSABLE_VI),  # long, and still a repeat: judged on its first 72
    ("lan912345678", "Không dùng số điện thoại của bạn trong mật khẩu."),
    ("lan-0912-345-678", "Không dùng số điện thoại của bạn trong mật khẩu."),
    ("tranthilan", "Không tạo mật khẩu từ tên của bạn."),
    ("Lan Trần Thị 2024", "Không tạo mật khẩu từ tên của bạn."),
])
def test_register_weak_password(vi_ctx, password, message):
    with pytest.raises(Invalid) as info:
        register(password=password)
    assert info.value.code == "weak_password"
    assert info.value.fields == {"password": [message]}
    assert count(User) == 0
    assert count(AuditEvent) == 0


@pytest.mark.parametrize("password", [
    "chiconchuthoi",  # letters only: no composition rule (ASVS v5 6.2.5)
    "correct horse battery staple",  # a passphrase with spaces
    "đi chợ sáng thứ bảy",  # any characters
    "🌸🌸 hoa đào nở 🌸🌸",
    "x" * 20 + " the rest of a long passphrase, " + "y" * 10 + " and more words " * 4,
])
def test_register_accepts_any_strong_password(vi_ctx, password):
    assert len(password) <= 128
    user = register(password=password)
    assert verify_password(user.password_hash, password)


def test_register_reports_every_problem_at_once(vi_ctx):
    with pytest.raises(Invalid) as info:
        register(phone="12345", email="lan@", password="short", name="  ", gender=5,
                 locale="fr")
    assert info.value.code == "invalid_phone"
    assert set(info.value.fields) == {"phone", "email", "password", "name", "gender", "locale"}
    assert info.value.fields["phone"] == [MSG_PHONE_VI]
    assert info.value.fields["email"] == [MSG_EMAIL_VI]
    assert count(User) == 0


def test_register_phone_taken(vi_ctx):
    make_user(phone="+84912345678")  # proved
    before = count(User)
    with pytest.raises(Conflict) as info:
        register(phone="0912 345 678")
    assert info.value.code == "phone_taken"
    assert info.value.message == MSG_PHONE_TAKEN_VI
    assert info.value.fields == {"phone": [MSG_PHONE_TAKEN_VI]}
    assert count(User) == before
    assert count(AuditEvent) == 0


def test_register_with_an_address_another_account_holds_neither_refuses_nor_tells(vi_ctx):
    """Issue 21: no email_taken (it would tell who has an address); the link goes to the
    address, and the holder keeps it until the link comes back."""
    holder = make_user(email="lan@example.com")
    user = register(email="LAN@Example.Com")
    assert user.email is None
    assert pending_proof(user).email == "lan@example.com"
    assert holder.email == "lan@example.com"
    assert holder.email_proved


def test_unique_index_holds_the_phone_and_the_service_answers_conflict(vi_ctx):
    first = make_user(phone="+84912345678")
    with pytest.raises(IntegrityError), db.session.begin_nested():
        db.session.add(User(phone="+84912345678", name="Bản sao", password_hash="x"))
    with pytest.raises(Conflict) as info:
        register(phone="0912345678")
    assert info.value.code == "phone_taken"
    assert list(db.session.scalars(select(User.id))) == [first.id]


@pytest.mark.parametrize(("taken", "code"), [
    ({"phone": "+84912345678"}, "phone_taken"),
])
def test_register_race_past_the_precheck_becomes_conflict(vi_ctx, monkeypatch, taken, code):
    # Another request registered the same phone/email between our pre-check and our
    # insert: make the pre-checks see nothing, so only the unique index can refuse.
    make_user(**taken)
    before = count(User)
    monkeypatch.setattr(db.session, "scalar", lambda *_a, **_k: None)
    with pytest.raises(Conflict) as info:
        register(phone="0912345678", email="lan@example.com")
    monkeypatch.undo()
    assert info.value.code == code
    assert count(User) == before
    assert count(AuditEvent) == 0


def test_domain_errors_raised_outside_a_request_are_translatable(app_ctx):
    # The CLI (create-staff) and the outbox worker call services with no request:
    # a bad phone must come out as Invalid, not as a crash of the locale selector.
    with pytest.raises(Invalid) as info:
        parse_phone("12345")
    assert info.value.code == "invalid_phone"


def test_register_messages_follow_the_locale(vi_ctx):
    with force_locale("en"), pytest.raises(Invalid) as info:
        register(phone="12345")
    assert info.value.fields["phone"] == [
        "Enter a Vietnamese mobile number of 10 digits starting with 0, for example 0912345678."]


# --- authenticate ---------------------------------------------------------------------


@pytest.mark.parametrize("form", ["national", "e164", "spaced"])
def test_authenticate_with_phone(vi_ctx, form):
    user = make_user()
    login = {"national": national(user.phone), "e164": user.phone,
             "spaced": " " + national(user.phone)[:4] + " " + national(user.phone)[4:]}[form]
    assert account_authenticate(login=login, password=PASSWORD, ip="10.0.0.8") is user
    assert user.last_login_at is not None
    assert actions(actor_id=user.id) == ["account.login"]


def test_authenticate_with_email_in_any_case(vi_ctx):
    user = make_user(email="binh@example.com")
    assert account_authenticate(login="  BINH@Example.COM ", password=PASSWORD) is user


@pytest.mark.parametrize("case", ["wrong_password", "unknown_phone", "unknown_email",
                                  "malformed_login", "empty_password"])
def test_authenticate_failures_share_one_generic_error(vi_ctx, case):
    user = make_user(email="binh@example.com")
    login, password = {
        "wrong_password": (national(user.phone), "sai-matkhau-1"),
        "unknown_phone": ("0987654321", PASSWORD),
        "unknown_email": ("ai@example.com", PASSWORD),
        "malformed_login": ("12345", PASSWORD),
        "empty_password": ("binh@example.com", ""),
    }[case]
    with pytest.raises(Invalid) as info:
        account_authenticate(login=login, password=password)
    assert info.value.code == "bad_credentials"
    assert info.value.message == MSG_BAD_CREDENTIALS_VI
    assert info.value.fields == {}
    assert actions() == ["account.login_failed"]
    assert user.last_login_at is None


def test_failed_login_audit_names_the_known_account_as_subject_not_actor(vi_ctx):
    user = make_user()
    with pytest.raises(Invalid):
        account_authenticate(login=user.phone, password="sai-matkhau-1", ip="10.0.0.9")
    with pytest.raises(Invalid):
        account_authenticate(login="0987654321", password=PASSWORD)
    events = list(db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)))
    assert [(e.action, e.actor_id, e.subject_id) for e in events] == [
        # Whoever typed the password is unknown: no actor, the account is the subject.
        ("account.login_failed", None, user.id),
        ("account.login_failed", None, None),
    ]
    assert events[0].ip == "10.0.0.9"


def test_account_without_password_cannot_log_in(vi_ctx):
    # Imported users have no hash until they claim the account; the dummy hash that
    # evens out timing must never let its own plaintext in.
    user = make_user(password_hash=None)
    for password in ("", "no such account, constant work"):
        with pytest.raises(Invalid) as info:
            account_authenticate(login=user.phone, password=password)
        assert info.value.code == "bad_credentials"


def test_suspended_account_with_right_password_is_forbidden(vi_ctx):
    user = make_user(is_active=False)
    with pytest.raises(Forbidden) as info:
        account_authenticate(login=national(user.phone), password=PASSWORD)
    assert info.value.code == "account_suspended"
    assert info.value.message == MSG_SUSPENDED_VI
    assert user.last_login_at is None
    assert actions() == ["account.login_refused_suspended"]


def test_suspended_account_with_wrong_password_gets_the_generic_error(vi_ctx):
    user = make_user(is_active=False)
    with pytest.raises(Invalid) as info:
        account_authenticate(login=national(user.phone), password="sai-matkhau-1")
    assert info.value.code == "bad_credentials"
    assert info.value.message == MSG_BAD_CREDENTIALS_VI


def test_authenticate_rehashes_an_outdated_hash(vi_ctx):
    old_hash = PasswordHasher(time_cost=1, memory_cost=8192).hash(PASSWORD)
    user = make_user(password_hash=old_hash)
    account_authenticate(login=user.phone, password=PASSWORD)
    assert user.password_hash != old_hash
    assert user.password_hash.startswith("$argon2id$")
    assert verify_password(user.password_hash, PASSWORD)


# --- sessions: logout, password change, suspension ------------------------------------


def test_logout_ends_every_session(vi_ctx):
    user = make_user()
    old_session_id = user.get_id()
    assert load_user_from_session_id(old_session_id) is user
    account_logout(actor=user, ip="10.0.0.1")
    assert user.session_epoch == 1
    assert load_user_from_session_id(old_session_id) is None
    assert load_user_from_session_id(user.get_id()) is user
    assert actions(actor_id=user.id) == ["account.logout"]


def test_change_password(vi_ctx):
    user = make_user()
    old_session_id = user.get_id()
    account_change_password(actor=user, current_password=PASSWORD, new_password="moi-matkhau-77")
    assert verify_password(user.password_hash, "moi-matkhau-77")
    assert not verify_password(user.password_hash, PASSWORD)
    assert user.password_hash.startswith("$argon2id$")
    assert load_user_from_session_id(old_session_id) is None
    assert actions(actor_id=user.id) == ["account.password_changed"]


def test_change_password_wrong_current(vi_ctx):
    user = make_user()
    old_hash, epoch = user.password_hash, user.session_epoch
    with pytest.raises(Invalid) as info:
        account_change_password(actor=user, current_password="sai-matkhau-1",
                                new_password="moi-matkhau-77")
    assert info.value.code == "bad_credentials"
    assert info.value.fields == {"current_password": ["Mật khẩu hiện tại không đúng."]}
    assert (user.password_hash, user.session_epoch) == (old_hash, epoch)
    assert actions() == []


@pytest.mark.parametrize("new_password", ["ngan1", "12345678901", "password1", "x{phone}y"])
def test_change_password_weak(vi_ctx, new_password):
    user = make_user()
    old_hash = user.password_hash
    new_password = new_password.format(phone=national(user.phone))
    with pytest.raises(Invalid) as info:
        account_change_password(actor=user, current_password=PASSWORD, new_password=new_password)
    assert info.value.code == "weak_password"
    assert list(info.value.fields) == ["new_password"]
    assert user.password_hash == old_hash
    assert user.session_epoch == 0


def test_suspend_by_staff_ends_sessions_and_blocks_login(vi_ctx):
    staff = make_user(is_staff=True)
    user = make_user()
    session_id = user.get_id()
    account_suspend(actor=staff, user=user, reason="Lừa đảo", ip="10.0.0.2")
    assert user.is_active is False
    assert user.session_epoch == 1
    assert load_user_from_session_id(session_id) is None
    # Not even a session minted under the new epoch is accepted while suspended.
    assert load_user_from_session_id(user.get_id()) is None
    event = db.session.scalar(select(AuditEvent))
    assert (event.action, event.actor_id, event.subject_id) == (
        "staff.account_suspended", staff.id, user.id)
    with pytest.raises(Forbidden):
        account_authenticate(login=user.phone, password=PASSWORD)


def test_suspend_by_non_staff_is_forbidden(vi_ctx):
    actor = make_user()
    user = make_user()
    session_id = user.get_id()
    with pytest.raises(Forbidden) as info:
        account_suspend(actor=actor, user=user, reason="x")
    assert info.value.message == "Chỉ nhân viên mới có thể khóa tài khoản."
    assert user.is_active is True
    assert load_user_from_session_id(session_id) is user
    assert actions() == []


def test_staff_cannot_suspend_themselves(vi_ctx):
    staff = make_user(is_staff=True)
    with pytest.raises(Forbidden):
        account_suspend(actor=staff, user=staff, reason="x")
    assert staff.is_active is True


@pytest.mark.parametrize("session_id", ["", "abc", "1", "1:", ":0", "1:x", "x:0", "-1:0",
                                        "999999:0"])
def test_session_loader_refuses_malformed_or_unknown_ids(vi_ctx, session_id):
    make_user()
    assert load_user_from_session_id(session_id) is None


def test_session_loader_refuses_a_stale_epoch(vi_ctx):
    user = make_user(session_epoch=3)
    assert load_user_from_session_id(f"{user.id}:3") is user
    assert load_user_from_session_id(f"{user.id}:2") is None
    assert load_user_from_session_id(f"{user.id}:4") is None


# --- language, staff ------------------------------------------------------------------


def test_set_locale(vi_ctx):
    user = make_user()
    account_set_locale(actor=user, locale="en")
    assert db.session.scalar(select(User.locale).where(User.id == user.id)) == "en"


def test_set_locale_refuses_other_languages(vi_ctx):
    user = make_user(locale="en")
    with pytest.raises(Invalid):
        account_set_locale(actor=user, locale="fr")
    assert user.locale == "en"


def test_staff_create_new_and_existing(vi_ctx):
    created = staff_create(phone="0912 345 678", name="Nhân Viên", password=GOOD_PASSWORD)
    assert (created.phone, created.is_staff) == ("+84912345678", True)
    existing = make_user(phone="+84987654321")
    promoted = staff_create(phone="0987654321", name="ignored", password="ignored")
    assert promoted is existing
    assert existing.is_staff is True
    assert count(User) == 2


def test_new_password_and_suspension_revoke_api_tokens(vi_ctx):
    from app.accounts.services import api_token_create, api_token_user

    user = make_user()
    staff = make_user(is_staff=True)
    token = api_token_create(user=user, name="app")
    assert api_token_user(token) == user
    account_change_password(actor=user, current_password=PASSWORD, new_password="moi-matkhau-77")
    assert api_token_user(token) is None
    fresh = api_token_create(user=user, name="app")
    assert api_token_user(fresh) == user
    account_suspend(actor=staff, user=user, reason="x")
    user.is_active = True  # even once restored, the token handed out before stays dead
    assert api_token_user(fresh) is None
