"""Account rules: register, authenticate, log out, change password, language, suspend,
personal API tokens."""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import bindparam, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from app.accounts.email_proof import email_proof_send, parse_email
from app.accounts.passwords import (
    MAX_LENGTH,
    MIN_LENGTH,
    hash_password,
    needs_rehash,
    password_problem,
    verify_password,
)
from app.audit.services import audit_reason, audit_record
from app.db import utcnow
from app.errors import Conflict, Forbidden, Invalid
from app.extensions import db
from app.metrics import login_failed
from app.models.accounts import GENDER_FEMALE, GENDER_MALE, ApiToken, PhoneCode, User
from app.models.notifications import InviteNotification
from app.models_base import MAX_ID
from app.notifications.services import notify_in_app
from app.phone import InvalidPhone, normalize_login, normalize_phone
from app.text import whole_number
from app.tokens import token_hash
from app.transaction import keep_on_refusal

LOCALES = ("vi", "en")


def password_rule() -> str:
    """The password rule in one sentence: the forms' hint, the API's description."""
    return _("At least %(min)d characters, any characters, spaces too; not a common or easily "
             "guessed password, and not made of your phone number or your name.", min=MIN_LENGTH)


def password_error(password: str | None, *, phone: str | None, name: str = "") -> str | None:
    """What is wrong with a new password for the account of `phone` (E.164) and `name`, in
    the user's language; None when it is good (ID-003)."""
    problem = password_problem(password or "", phone_digits=(phone or "").lstrip("+"),
                               name=name or "")
    if problem is None:
        return None
    return {
        "too_short": _("Use at least %(n)d characters.", n=MIN_LENGTH),
        "too_long": _("Use at most %(n)d characters.", n=MAX_LENGTH),
        "too_guessable": _("This password is too common or too easy to guess. A few words "
                           "of your own, with spaces between them, make a strong one."),
        "contains_phone": _("Do not use your phone number in the password."),
        "contains_name": _("Do not make the password from your name."),
    }[problem]


def weak_password(message: str, field: str = "password") -> Invalid:
    """Invalid(weak_password): the field says what is wrong, the message adds the rule."""
    return Invalid(f"{message} {password_rule()}", code="weak_password",
                   fields={field: [message]})


def password_check(password: str | None, *, phone: str | None, name: str = "",
                   field: str = "password") -> None:
    """Raises weak_password() when the password breaks the rule (ID-003)."""
    message = password_error(password, phone=phone, name=name)
    if message:
        raise weak_password(message, field)


def parse_phone(raw: str, field: str = "phone") -> str:
    """Normalised phone, or Invalid(invalid_phone) with a message for the field."""
    try:
        return normalize_phone(raw)
    except InvalidPhone:
        message = _("Enter a Vietnamese mobile number of 10 digits starting with 0, "
                    "for example 0912345678.")
        raise Invalid(message, code="invalid_phone", fields={field: [message]}) from None


@dataclass(frozen=True)
class Registration:
    """A registration's values once checked and normalised."""

    phone: str
    email: str | None
    name: str


def account_check_registration(*, phone: str, password: str, name: str, gender: int | None,
                               email: str | None = None, locale: str = "vi") -> Registration:
    """Check a registration's values without touching the database.

    Raises Invalid carrying every problem at once (fields), its code naming the first:
    invalid_phone, invalid_email, weak_password or invalid.
    """
    errors: dict[str, list[str]] = {}
    codes: list[str] = []
    e164 = email_norm = None
    try:
        e164 = parse_phone(phone)
    except Invalid as exc:
        errors.update(exc.fields)
        codes.append(exc.code)
    try:
        email_norm = parse_email(email)
    except Invalid as exc:
        errors.update(exc.fields)
        codes.append(exc.code)
    name = " ".join((name or "").split())
    if not name or len(name) > 100:
        errors["name"] = [_("Enter your name (at most 100 characters).")]
    if gender not in (None, GENDER_MALE, GENDER_FEMALE):
        errors["gender"] = [_("Choose male or female.")]
    if locale not in LOCALES:
        errors["locale"] = [_("Choose Vietnamese or English.")]
    weak = password_error(password, phone=e164, name=name)
    if weak:
        errors["password"] = [weak]
        codes.append("weak_password")
    if errors:
        first = (codes or ["invalid"])[0]
        message = weak_password(weak).message if first == "weak_password" else \
            next(iter(errors.values()))[0]
        raise Invalid(message, code=first, fields=errors)
    return Registration(phone=e164, email=email_norm, name=name)


def account_register(*, phone: str, password: str, name: str, gender: int | None,
                     proved_by: str, email: str | None = None, locale: str = "vi",
                     ip: str | None = None) -> User:
    """Create an account whose number `proved_by` has just proved: an invite link that
    reached it (invite_link), create-staff (staff), the demo data (demo). Registering by
    hand goes through an SMS code first (app/accounts/identity.py).

    Raises Invalid (see account_check_registration) or Conflict(phone_taken).
    Nothing is written when it raises.
    """
    checked = account_check_registration(phone=phone, password=password, name=name,
                                         gender=gender, email=email, locale=locale)
    return account_create(phone=checked.phone, password_hash=hash_password(password),
                          name=checked.name, gender=gender, email=checked.email, locale=locale,
                          proved_by=proved_by, ip=ip)


def account_create(*, phone: str, password_hash: str | None, name: str, gender: int | None,
                   email: str | None, locale: str, proved_by: str,
                   ip: str | None = None) -> User:
    """Write an account for checked values, its number proved by `proved_by`. An account
    holding the number without having proved it loses it (ID-001): audited, and told in
    the portal. An `email` is not stored yet: a link goes to it, and it becomes the
    account's address once the link comes back (issue 21), so nobody learns here whether
    another account has it.

    Raises Conflict(phone_taken) when the holder has proved the number.
    """
    holder = db.session.scalar(select(User).where(User.phone == phone).with_for_update())
    if holder is not None and holder.phone_proved:
        raise _phone_taken()
    released = _release_number(holder) if holder is not None else None
    user = User(phone=phone, name=name, gender=gender, locale=locale,
                password_hash=password_hash, phone_verified_at=utcnow())
    try:
        with db.session.begin_nested():
            db.session.add(user)
    except IntegrityError:
        # A concurrent registration won the race; the unique index is the last line.
        raise _phone_taken() from None
    if holder is not None:
        audit_record(actor=user, action="account.phone_taken_over", subject=holder, ip=ip,
                     details={"phone": released, "proved_by": proved_by})
    audit_record(actor=user, action="account.register", subject=user, ip=ip,
                 details={"phone_proved_by": proved_by})
    if email:
        email_proof_send(user=user, email=email, paced=False, ip=ip)
    return user


def _release_number(holder: User) -> str:
    """Someone proved `holder`'s unproved number (ID-001): it leaves the account, with what
    came with it (open codes, in-app copies of invites to it), and the holder is told in
    the portal. Returns the number, for the audit."""
    phone = holder.phone
    holder.phone = None
    db.session.flush()  # the unique index: the number is free before anyone takes it
    db.session.execute(delete(PhoneCode).where(PhoneCode.user_id == holder.id))
    N = InviteNotification
    db.session.execute(
        update(N).where(N.recipient_user_id == holder.id, N.channel == "in_app",
                        N.notification_type == "INVITE_CREATED", N.status != "cancelled")
        .values(status="cancelled", updated_at=utcnow())
        .execution_options(synchronize_session=False))
    notify_in_app(user=holder, notification_type="PHONE_TAKEN_OVER", payload={"phone": phone})
    return phone


def phone_proved(*, user: User, how: str, ip: str | None = None) -> None:
    """Record that the user's number reached them: an SMS code, an invite link or a claim
    link (ID-001). Nothing when it is proved already."""
    if user.phone is None or user.phone_verified_at is not None:
        return
    user.phone_verified_at = utcnow()
    audit_record(actor=user, action="account.phone_proved", subject=user, ip=ip,
                 details={"phone": user.phone, "by": how})


def _phone_taken() -> Conflict:
    message = _("An account with this phone number already exists. Log in instead.")
    return Conflict(message, code="phone_taken", fields={"phone": [message]})


def find_user_by_login(login: str) -> User | None:
    """The user whose phone or proved email is `login`, or None: an address that no link
    has proved opens nothing (issue 21), so it is refused as an unknown login is."""
    key = normalize_login(login)
    if "@" in key:
        return db.session.scalar(select(User).where(func.lower(User.email) == key,
                                                    User.email_verified_at.is_not(None)))
    if key.startswith("+"):
        return db.session.scalar(select(User).where(User.phone == key))
    return None


def account_authenticate(*, login: str, password: str, ip: str | None = None) -> User:
    """Check a login (phone or email) and password.

    Raises Invalid(bad_credentials) with one generic message whatever was wrong, and
    Forbidden(account_suspended) only after a correct password.
    """
    user = find_user_by_login(login)
    if not verify_password(user.password_hash if user else None, password or ""):
        # The actor is unknown (whoever typed it); the account, if any, is the subject.
        audit_record(actor=None, action="account.login_failed", subject=user, ip=ip)
        keep_on_refusal()  # the failed attempt's audit event outlives the refusal
        login_failed("bad_password" if user else "unknown_account")
        raise Invalid(_("The phone number, email or password is not right."),
                      code="bad_credentials")
    if not user.is_active:
        audit_record(actor=user, action="account.login_refused_suspended", subject=user, ip=ip)
        keep_on_refusal()
        login_failed("suspended")
        raise Forbidden(_("This account is suspended. Contact support to restore it."),
                        code="account_suspended")
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = utcnow()
    audit_record(actor=user, action="account.login", subject=user, ip=ip)
    return user


def _end_all_sessions(user: User) -> None:
    user.session_epoch = (user.session_epoch or 0) + 1


def _revoke_api_tokens(user: User) -> int:
    """A new password, a suspension or logging out also ends what the old credentials
    handed out. Returns how many live tokens it revoked (expired ones stay as they are)."""
    now = utcnow()
    return db.session.execute(
        update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None),
                               or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > now))
        .values(revoked_at=now).execution_options(synchronize_session=False)).rowcount


def end_sessions_and_tokens(user: User) -> None:
    """Every session of the user ends at its next request, every API token at once."""
    _end_all_sessions(user)
    _revoke_api_tokens(user)


def account_logout(*, actor: User, ip: str | None = None) -> None:
    """End every session of the actor, on every device, and revoke every API token of
    theirs (issue 15: "everywhere" includes the scripts holding a token)."""
    _end_all_sessions(actor)
    revoked = _revoke_api_tokens(actor)
    audit_record(actor=actor, action="account.logout", subject=actor, ip=ip,
                 details={"api_tokens_revoked": revoked})
    db.session.flush()


def account_change_password(*, actor: User, current_password: str, new_password: str,
                            ip: str | None = None) -> None:
    """Change the actor's password and end their other sessions.

    Raises Invalid(bad_credentials) for a wrong current password, Invalid(weak_password).
    """
    if not verify_password(actor.password_hash, current_password or ""):
        message = _("The current password is not right.")
        raise Invalid(message, code="bad_credentials", fields={"current_password": [message]})
    password_check(new_password, phone=actor.phone, name=actor.name, field="new_password")
    actor.password_hash = hash_password(new_password)
    _end_all_sessions(actor)
    _revoke_api_tokens(actor)
    audit_record(actor=actor, action="account.password_changed", subject=actor, ip=ip)
    db.session.flush()


def account_set_locale(*, actor: User, locale: str) -> None:
    """Store the interface language on the user. Raises Invalid for other than vi/en."""
    if locale not in LOCALES:
        raise Invalid(_("Choose Vietnamese or English."), code="invalid")
    actor.locale = locale
    db.session.flush()


def _tombstone_check(user: User) -> None:
    """A deleted account (issue 19) is neither suspended nor reactivated: it is gone."""
    if user.is_deleted:
        raise Conflict(_("This account was deleted by its owner: there is nothing to suspend "
                         "or reactivate."), code="account_deleted")


def account_suspend(*, actor: User, user: User, reason: str | None,
                    ip: str | None = None) -> None:
    """Staff suspend an account: it cannot log in, its sessions end at once and its API
    tokens stop working (for good: a reactivated user makes new ones).

    Raises Forbidden when the actor is not staff or suspends themselves, Invalid for a
    missing reason, Conflict(already_suspended).
    """
    if not actor.is_staff:
        raise Forbidden(_("Only staff can suspend accounts."), code="forbidden")
    if actor.id == user.id:
        raise Forbidden(_("You cannot suspend your own account."), code="forbidden")
    reason = audit_reason(reason)
    _tombstone_check(user)
    if not user.is_active:
        raise Conflict(_("This account is already suspended."), code="already_suspended")
    user.is_active = False
    _end_all_sessions(user)
    _revoke_api_tokens(user)
    audit_record(actor=actor, action="staff.account_suspended", subject=user, ip=ip,
                 details={"reason": reason})
    db.session.flush()


def account_reactivate(*, actor: User, user: User, reason: str | None,
                       ip: str | None = None) -> None:
    """Staff lift a suspension: the user can log in again (old sessions and tokens stay
    ended).

    Raises Forbidden when the actor is not staff, Invalid for a missing reason,
    Conflict(not_suspended).
    """
    if not actor.is_staff:
        raise Forbidden(_("Only staff can reactivate accounts."), code="forbidden")
    reason = audit_reason(reason)
    _tombstone_check(user)
    if user.is_active:
        raise Conflict(_("This account is not suspended."), code="not_suspended")
    user.is_active = True
    audit_record(actor=actor, action="staff.account_reactivated", subject=user, ip=ip,
                 details={"reason": reason})
    db.session.flush()


def staff_create(*, phone: str, name: str, password: str | None) -> User:
    """Create a staff account, or make an existing account staff (the create-staff command).
    An existing account keeps its password (none is asked); a new one needs one:
    Invalid(password_required) without it."""
    e164 = parse_phone(phone)
    user = db.session.scalar(select(User).where(User.phone == e164))
    # A staff account's number is vouched for by whoever runs the command.
    if user is None:
        if not password:
            raise Invalid(_("This number has no account yet: give the new account a "
                            "password."), code="password_required",
                          fields={"password": [_("A new account needs a password.")]})
        user = account_register(phone=phone, password=password, name=name, gender=None,
                                proved_by="staff")
    else:
        phone_proved(user=user, how="staff")
    user.is_staff = True
    audit_record(actor=None, action="staff.created", subject=user)
    db.session.flush()
    return user


def load_user_from_session_id(session_id: str) -> User | None:
    """Flask-Login loader: the id carries the session epoch, see User.session_epoch."""
    found = user_from_session_id(session_id)
    return found[0] if found else None


@functools.cache
def _user_statement(also: tuple):
    """Built once per process for the same columns (every request runs it)."""
    return select(User, *also).where(User.id == bindparam("user_id"))


def user_from_session_id(session_id: str, *also) -> tuple[User, tuple] | None:
    """The session's user, and in the same statement the values of the columns `also`
    (correlated on users.id: what every page asks about its user, such as the unread
    count of the header); None for a malformed id, an unknown or suspended user, or a
    session of an older epoch."""
    id_text, _sep, epoch_text = (session_id or "").partition(":")
    user_id, epoch = whole_number(id_text), whole_number(epoch_text)
    if user_id is None or epoch is None or user_id > MAX_ID:
        return None
    row = db.session.execute(_user_statement(also), {"user_id": user_id}).first()
    if row is None:
        return None
    user = row[0]
    if not user.is_active or user.session_epoch != epoch:
        return None
    return user, tuple(row[1:])


# --- personal API tokens (SPEC §7) -------------------------------------------------------

API_TOKEN_TTL_DAYS = 90
_LAST_USED_EVERY = timedelta(minutes=1)


def api_token_create(*, user: User, name: str, ttl: timedelta | None = None,
                     mfa: bool = False) -> str:
    """Issue a personal API token for `user`; returns it in clear (only its SHA-256 is
    stored, so this is the one time it can be read). It lasts `ttl` (API_TOKEN_TTL_DAYS
    from the config, default 90 days). mfa: a TOTP code came with the password (the caller
    checked it): the token may act as staff (issue 21)."""
    token = secrets.token_urlsafe(32)
    days = current_app.config.get("API_TOKEN_TTL_DAYS", API_TOKEN_TTL_DAYS)
    row = ApiToken(user_id=user.id, name=(name or "api")[:100],
                   token_hash=token_hash(token),
                   expires_at=utcnow() + (ttl if ttl is not None else timedelta(days=days)),
                   mfa_at=utcnow() if mfa else None)
    db.session.add(row)
    db.session.flush()
    audit_record(actor=user, action="account.api_token_created", subject=row,
                 details={"name": row.name} | ({"mfa": True} if mfa else {}))
    return token


def api_token_user(token: str | None) -> User | None:
    """The user a bearer token belongs to, or None: unknown, revoked or expired token,
    suspended user. Records when the token was last used, at most once a minute. A staff
    member acts as staff only with a token issued with a TOTP code (User.is_staff)."""
    if not token or len(token) > 200:
        return None
    row = db.session.execute(
        select(ApiToken, User).join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == token_hash(token))).first()
    if row is None:
        return None
    api_token, user = row
    now = utcnow()
    if (api_token.revoked_at is not None or not user.is_active
            or (api_token.expires_at is not None and api_token.expires_at <= now)):
        return None
    if api_token.last_used_at is None or api_token.last_used_at <= now - _LAST_USED_EVERY:
        api_token.last_used_at = now  # flushed with the request's commit
    user.staff_factor_passed(api_token.mfa_at is not None)
    return user
