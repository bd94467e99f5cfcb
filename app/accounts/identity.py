"""A phone number proved by the phone (ID-001) and the forgotten password (ID-002).

A one-time code of 6 digits goes by SMS, through the outbox's SMS channel only, to the
number; the account exists (registration), gets its new password (reset) or has its number
proved (an existing account) only once that code comes back. Only a keyed hash of a code
is stored (HMAC-SHA256 under SECRET_KEY: a copy of the database alone cannot be brute-forced
for six digits); a code lasts PHONE_CODE_MINUTES, allows PHONE_CODE_TRIES tries, and a new
one goes to a number at most once per PHONE_CODE_RESEND_SECONDS.

Registration and reset answer the same whatever the number: a number that already has an
account gets an SMS that says so instead of a code, one with no account gets nothing, and
either way a row is written and paced as for any other number.

An account whose number was never proved holds no claim on it: whoever proves the number
gets it, and that account loses it (app.accounts.services.account_create).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app.accounts.claims import claim_send_new_link
from app.accounts.passwords import hash_password, verify_password
from app.accounts.services import (
    account_check_registration,
    account_create,
    end_sessions_and_tokens,
    parse_phone,
    password_check,
    phone_proved,
)
from app.audit.services import audit_record
from app.db import utcnow
from app.errors import Conflict, Forbidden, Invalid, TooSoon, wait_phrase
from app.extensions import db
from app.models.accounts import PhoneCode, User
from app.notifications.services import notify_phone
from app.tokens import seal
from app.transaction import keep_on_refusal

CODE_TYPE = "PHONE_CODE"
_CODE_RE = re.compile(r"[0-9]{6}")


# --- codes -------------------------------------------------------------------------------


def _code_hash(purpose: str, phone: str, code: str) -> str:
    key = hashlib.sha256(b"phone-code:" + current_app.config["SECRET_KEY"].encode()).digest()
    return hmac.new(key, f"{purpose}:{phone}:{code}".encode(), hashlib.sha256).hexdigest()


def _normalise_code(raw: str | None) -> str | None:
    """Six ASCII digits, spaces allowed between them (as an SMS may be copied)."""
    code = re.sub(r"[\s\-]", "", raw or "")
    return code if _CODE_RE.fullmatch(code) else None


def invalid_code() -> Invalid:
    """The refusal of a code. The request's try at it, counted before, is kept: the
    transaction commits despite the refusal (keep_on_refusal)."""
    keep_on_refusal()
    message = _("This code is not right, or it has expired or been tried too many times. "
                "Check the SMS, or ask for a new code.")
    return Invalid(message, code="invalid_code", fields={"code": [message]})


def code_minutes() -> int:
    return current_app.config["PHONE_CODE_MINUTES"]


def _row(purpose: str, phone: str) -> PhoneCode | None:
    return db.session.scalar(select(PhoneCode).where(PhoneCode.purpose == purpose,
                                                     PhoneCode.phone == phone)
                             .with_for_update())


def _pace_check(row: PhoneCode | None, now: datetime) -> None:
    """A new code (or its stand-in) goes to a number at most once per
    PHONE_CODE_RESEND_SECONDS. Raises TooSoon with the wait."""
    if row is None:
        return
    wait = current_app.config["PHONE_CODE_RESEND_SECONDS"] - (now - row.sent_at).total_seconds()
    if wait > 0:
        raise _code_too_soon(wait)


def _code_too_soon(wait: float) -> TooSoon:
    """The pace's refusal, saying how long is left, as every 429 does."""
    return TooSoon(_("A code was sent to this number a moment ago. You can ask for another "
                     "in %(wait)s.", wait=wait_phrase(wait)), retry_after=wait)


def _issue(*, purpose: str, phone: str, user: User | None, send: bool,
           payload: dict[str, Any] | None = None, locale: str | None = None) -> None:
    """Write the (purpose, phone) row with a new code, paced, and — when `send` — queue the
    code's SMS. Without `send` the row is a stand-in: its code goes nowhere, so that every
    number costs the same and is paced the same. Raises TooSoon."""
    now = utcnow()
    row = _row(purpose, phone)
    _pace_check(row, now)
    code = f"{secrets.randbelow(10**6):06d}"
    if row is None:
        row = PhoneCode(purpose=purpose, phone=phone, code_hash="", sent_at=now,
                        expires_at=now)
        try:
            with db.session.begin_nested():
                db.session.add(row)
        except IntegrityError:  # the same number asked at the same moment
            raise _code_too_soon(current_app.config["PHONE_CODE_RESEND_SECONDS"]) from None
    row.user_id = user.id if user is not None else None
    row.code_hash = _code_hash(purpose, phone, code)
    row.expires_at = now + timedelta(minutes=code_minutes())
    row.attempts = 0
    row.sent_at = now
    row.used_at = None
    row.payload = payload
    if send:
        notify_phone(phone=phone, notification_type=CODE_TYPE, user=user, payload={
            "purpose": purpose, "sealed_token": seal(code), "locale": locale,
            "minutes": code_minutes(), "expires_at": row.expires_at.isoformat()})
    db.session.flush()


def _check(purpose: str, phone: str, raw_code: str | None) -> PhoneCode:
    """The row whose code this is, its try counted. Raises Invalid(invalid_code): wrong,
    expired, used, or tried PHONE_CODE_TRIES times; invalid_code() keeps the count, so that
    a wrong try stays counted."""
    code = _normalise_code(raw_code)
    row = db.session.scalar(select(PhoneCode).where(PhoneCode.purpose == purpose,
                                                    PhoneCode.phone == phone))
    if code is None or row is None:
        raise invalid_code()
    now = utcnow()
    # Counted first, by a conditional update: two tries at once cannot both slip through.
    counted = db.session.execute(
        update(PhoneCode).where(PhoneCode.id == row.id, PhoneCode.used_at.is_(None),
                                PhoneCode.expires_at > now,
                                PhoneCode.attempts < current_app.config["PHONE_CODE_TRIES"])
        .values(attempts=PhoneCode.attempts + 1)
        .execution_options(synchronize_session=False)).rowcount
    if not counted or not hmac.compare_digest(row.code_hash, _code_hash(purpose, phone, code)):
        raise invalid_code()
    db.session.refresh(row)
    return row


def _use(row: PhoneCode) -> None:
    """The code worked: it never works again, and a registration's values go."""
    won = db.session.execute(
        update(PhoneCode).where(PhoneCode.id == row.id, PhoneCode.used_at.is_(None))
        .values(used_at=utcnow(), payload=None)
        .execution_options(synchronize_session=False)).rowcount
    if not won:
        raise invalid_code()
    db.session.refresh(row)


def _holder(phone: str) -> User | None:
    return db.session.scalar(select(User).where(User.phone == phone).with_for_update())


def _imported_unclaimed(user: User) -> bool:
    return user.password_hash is None


def _owned(holder: User | None) -> bool:
    """Whether the number belongs to an account: proved, or imported and waiting for its
    claim (the import meant its number's holder). Otherwise whoever proves it gets it."""
    return holder is not None and (holder.phone_proved or _imported_unclaimed(holder))


def phone_unverified() -> Forbidden:
    """The refusal of ID-001; the API adds its routes to the message (api_hint), the page
    its button (templates/errors/error.html)."""
    return Forbidden(_("Prove your phone number first: invites go to phone numbers, so we "
                       "send a 6-digit code to yours by SMS before you can see or answer "
                       "them."), code="phone_unverified")


def api_hint(code: str) -> str | None:
    """What an API caller does about a refusal of this module, or None."""
    if code == "phone_unverified":
        return _("In the API: POST /api/v1/me/phone-verification, then "
                 "POST /api/v1/me/phone-verification/confirm with the code.")
    return None


def require_proved_phone(user: User) -> None:
    """Invites go to numbers: an account touches them only once its number is proved.
    Raises Forbidden(phone_unverified)."""
    if not user.phone_proved:
        raise phone_unverified()


# --- registration (ID-001) -----------------------------------------------------------


def registration_start(*, phone: str, password: str, name: str, gender: int | None,
                       email: str | None = None, locale: str = "vi",
                       ip: str | None = None) -> None:
    """Ask for an account: its values are checked and kept, and a code goes to the number.
    The answer is the same whether or not the number has an account: an owner whose
    number is proved gets an SMS that says so and how to reset the password; an imported
    account not yet claimed gets a new sign-in link.

    Raises Invalid (invalid_phone, invalid_email, weak_password, invalid), TooSoon.
    """
    checked = account_check_registration(phone=phone, password=password, name=name,
                                         gender=gender, email=email, locale=locale)
    holder = _holder(checked.phone)
    fresh = not _owned(holder)
    # Hashed either way: the answer takes as long whether or not the number has an account.
    password_hash = hash_password(password)
    payload = {"name": checked.name, "gender": gender, "email": checked.email,
               "locale": locale, "password_hash": password_hash} if fresh else None
    _issue(purpose="register", phone=checked.phone, user=None, send=fresh, payload=payload,
           locale=locale)
    if not fresh:
        _tell_holder(holder, ip=ip)


def registration_resend(*, phone: str, ip: str | None = None) -> None:
    """A new code for a registration waiting for its code (the values stay), with the
    same answer for any number. Raises Invalid(invalid_phone), TooSoon."""
    e164 = parse_phone(phone)
    row = _row("register", e164)
    holder = _holder(e164)
    owned = _owned(holder)
    waiting = row is not None and row.payload is not None and row.used_at is None \
        and not owned
    _issue(purpose="register", phone=e164, user=None, send=waiting,
           payload=row.payload if waiting else None,
           locale=(row.payload or {}).get("locale") if waiting else None)
    if owned and row is not None:  # someone signed up with it: the owner hears of it again
        _tell_holder(holder, ip=ip)


def _tell_holder(holder: User, *, ip: str | None) -> None:
    if _imported_unclaimed(holder):
        claim_send_new_link(phone=holder.phone, ip=ip)
        return
    notify_phone(phone=holder.phone, notification_type="ACCOUNT_EXISTS", user=holder,
                 payload={})
    audit_record(actor=None, action="account.register_existing", subject=holder, ip=ip)


def registration_verify(*, phone: str, code: str | None, ip: str | None = None) -> User:
    """The code came back: the account exists from here, its number proved; an unproved
    account holding the number loses it. An email given at sign-up gets its link now and
    counts once the link comes back (issue 21).

    Raises Invalid(invalid_phone | invalid_code). On invalid_code the caller commits (the
    try is counted).
    """
    e164 = parse_phone(phone)
    row = _check("register", e164, code)
    values = row.payload
    if values is None or _owned(_holder(e164)):
        raise invalid_code()
    _use(row)
    return account_create(phone=e164, password_hash=values["password_hash"],
                          name=values["name"], gender=values.get("gender"),
                          email=values.get("email"), locale=values.get("locale") or "vi",
                          proved_by="sms_code", ip=ip)


# --- forgotten password (ID-002) -----------------------------------------------------


def password_reset_start(*, phone: str, ip: str | None = None) -> None:
    """A reset code to the number, when an active account has it proved; the same answer
    for any number. An imported account not yet claimed gets a new sign-in link instead.

    Raises Invalid(invalid_phone), TooSoon.
    """
    e164 = parse_phone(phone)
    holder = _holder(e164)
    owner = holder if holder is not None and holder.phone_proved and holder.is_active else None
    _issue(purpose="reset", phone=e164, user=owner, send=owner is not None)
    if owner is not None:
        audit_record(actor=None, action="account.password_reset_requested", subject=owner,
                     ip=ip)
    elif holder is not None and _imported_unclaimed(holder):
        claim_send_new_link(phone=e164, ip=ip)


def password_reset_confirm(*, phone: str, code: str | None, password: str,
                           ip: str | None = None) -> User:
    """Set a new password with the code: every session and API token of the account ends,
    and the account's per-account login limit starts again (an owner locked out by someone
    else's guessing gets back in this way).

    Raises Invalid(invalid_phone | weak_password | invalid_code); on invalid_code the
    caller commits (the try is counted).
    """
    e164 = parse_phone(phone)
    password_check(password, phone=e164, name="")
    row = _check("reset", e164, code)
    user = db.session.get(User, row.user_id) if row.user_id is not None else None
    if user is None or user.phone != e164 or not user.phone_proved or not user.is_active:
        raise invalid_code()
    password_check(password, phone=e164, name=user.name)
    _use(row)
    user.password_hash = hash_password(password)
    end_sessions_and_tokens(user)
    audit_record(actor=user, action="account.password_reset", subject=user, ip=ip)
    db.session.flush()
    return user


# --- proving the number of an existing account -------------------------------------


def _provable_check(actor: User) -> None:
    """An account proves its number once, and only while it has one. Raises
    Conflict(no_phone | already_proved)."""
    if actor.phone is None:
        raise Conflict(_("Your account has no phone number any more: someone else proved "
                         "the number it had. Contact support to add a new one."),
                       code="no_phone")
    if actor.phone_verified_at is not None:
        raise Conflict(_("Your phone number is already proved."), code="already_proved")


def phone_proof_start(*, actor: User, ip: str | None = None) -> None:
    """A code to the actor's own number. Raises Conflict(already_proved | no_phone),
    TooSoon."""
    _provable_check(actor)
    _issue(purpose="prove", phone=actor.phone, user=actor, send=True)


def phone_proof_confirm(*, actor: User, code: str | None, ip: str | None = None) -> None:
    """The code came back: the actor's number is proved. Raises Invalid(invalid_code)
    (the caller commits: the try is counted), Conflict(already_proved | no_phone)."""
    _provable_check(actor)
    row = _check("prove", actor.phone, code)
    if row.user_id != actor.id:
        raise invalid_code()
    _use(row)
    phone_proved(user=actor, how="sms_code", ip=ip)
    db.session.flush()


# --- confirming a sensitive action (issue 19) ------------------------------------------
# An export of one's data or the deletion of the account needs the person, not only their
# session: the password typed again, or an SMS code to the proved number. Each such form
# carries the check itself (ConfirmFields), so there is no "recently confirmed" state.


def confirm_code_send(*, actor: User, ip: str | None = None) -> None:
    """An SMS code to the actor's proved number, to confirm a sensitive action with.
    Raises Conflict(phone_unverified) without a proved number, TooSoon."""
    if not actor.phone_proved:
        raise Conflict(_("Your phone number is not proved, so no code can go to it. "
                         "Confirm with your password instead."), code="phone_unverified")
    _issue(purpose="confirm", phone=actor.phone, user=actor, send=True, locale=actor.locale)


def identity_confirm(*, actor: User, password: str | None, code: str | None) -> str:
    """The actor proved it is them: `code` (an SMS code from confirm_code_send) when given,
    else `password`. Returns how: "sms_code" or "password". A code works once.

    Raises Invalid(confirmation_required | bad_password | invalid_code); on invalid_code
    the caller commits (the try is counted).
    """
    if code and code.strip():
        if not actor.phone_proved:
            raise invalid_code()
        row = _check("confirm", actor.phone, code)
        if row.user_id != actor.id:
            raise invalid_code()
        _use(row)
        return "sms_code"
    if not password:
        message = _("Type your password, or a code we send to your phone, to confirm.")
        raise Invalid(message, code="confirmation_required", fields={"password": [message]})
    if not verify_password(actor.password_hash, password):
        message = _("This password is not right.")
        raise Invalid(message, code="bad_password", fields={"password": [message]})
    return "password"
