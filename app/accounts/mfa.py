"""Staff's second factor (issue 21): a TOTP authenticator (RFC 6238, pyotp) and ten
single-use recovery codes, the one rule every door checks a code by.

- Enrolment: a secret is made and kept sealed (app/tokens.py, AES-GCM under SECRET_KEY: the
  server must read it to check codes, a copy of the database alone does not give it). It
  counts once a code from the authenticator came back; ten recovery codes are made then and
  shown once, only their keyed hashes stored.
- A code: six digits of the step now, the one before or the one after (a phone's clock
  may be 30 s off). A step is taken once: a code of a step at or before the last one taken
  is refused (no replay inside its window). A recovery code works once.
- Failed codes are counted per staff member in the database (every worker, every door: the
  code step, an action's fresh code, the API's token): after FAILURES_ALLOWED in
  FAILURE_WINDOW, every code is refused until the window ends (429), however right.
- Where a request stands: a session passed the factor when it holds SESSION_KEY for its
  user (mark_session_passed); an API token when it was issued with a code (ApiToken.mfa_at).
  The two doors of a request (the session loader, the bearer token) call
  User.staff_factor_passed, and User.is_staff then says whether the request acts as staff.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
import segno
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import delete, func, select

from app.accounts.services import end_sessions_and_tokens, parse_phone
from app.audit.services import audit_reason, audit_record
from app.db import utcnow
from app.errors import Conflict, Forbidden, Invalid, NotFound, TooSoon
from app.extensions import db
from app.models.accounts import StaffFactor, StaffRecoveryCode, User
from app.tokens import seal, unseal
from app.transaction import keep_on_refusal

ISSUER = "Family Connect"
STEP_SECONDS = 30
RECOVERY_CODES = 10
FAILURES_ALLOWED = 5
FAILURE_WINDOW = timedelta(minutes=15)
SESSION_KEY = "staff_factor"  # the user id whose session passed the factor

_TOTP_RE = re.compile(r"[0-9]{6}")
_RECOVERY_RE = re.compile(r"[A-Z2-9]{10}")
_RECOVERY_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I


@dataclass(frozen=True)
class Enrolment:
    """What the enrolment page shows: the secret for typing, the otpauth link and its QR
    code as inline SVG (no image request, the CSP stays as it is)."""

    secret: str
    uri: str
    qr_svg: str

    @property
    def secret_grouped(self) -> str:
        return " ".join(self.secret[i:i + 4] for i in range(0, len(self.secret), 4))


# --- where a request stands -----------------------------------------------------------------


def mark_session_passed(session, user: User) -> None:
    session[SESSION_KEY] = user.id
    user.staff_factor_passed(True)


def session_passed(session, user: User) -> bool:
    return session.get(SESSION_KEY) == user.id


# --- codes ---------------------------------------------------------------------------------


def _recovery_hash(user_id: int, code: str) -> str:
    key = hashlib.sha256(b"staff-recovery:" + current_app.config["SECRET_KEY"].encode()).digest()
    return hmac.new(key, f"{user_id}:{code}".encode(), hashlib.sha256).hexdigest()


def _normalise(raw: str | None) -> str:
    return re.sub(r"[\s\-]", "", raw or "").upper()


def _totp(factor: StaffFactor) -> pyotp.TOTP:
    secret = unseal(factor.secret_sealed)
    if secret is None:  # sealed under another SECRET_KEY: the factor is lost
        raise Conflict(_("Your authenticator can no longer be checked. Ask an administrator "
                         "to reset your second factor."), code="mfa_unreadable")
    return pyotp.TOTP(secret, interval=STEP_SECONDS, issuer=ISSUER)


def _step_of(totp: pyotp.TOTP, code: str, now: float) -> int | None:
    """The time step (now, one before, one after) whose code this is, or None."""
    step = int(now // STEP_SECONDS)
    for candidate in (step, step - 1, step + 1):
        if hmac.compare_digest(totp.at(candidate * STEP_SECONDS), code):
            return candidate
    return None


def _invalid(message: str | None = None) -> Invalid:
    keep_on_refusal()  # the counted failure outlives the refusal
    message = message or _("This code is not right. Type the six digits your authenticator "
                           "app shows now, or one of your recovery codes.")
    return Invalid(message, code="invalid_code", fields={"code": [message]})


def _check_pace(factor: StaffFactor, now: datetime) -> None:
    if factor.failed_since is not None and factor.failed_since <= now - FAILURE_WINDOW:
        factor.failures, factor.failed_since = 0, None
    if factor.failures >= FAILURES_ALLOWED:
        wait = (factor.failed_since + FAILURE_WINDOW - now).total_seconds()
        raise TooSoon(code="rate_limited", retry_after=wait)


def _failed(factor: StaffFactor, user: User, now: datetime, purpose: str,
            ip: str | None) -> None:
    factor.failures += 1
    factor.failed_since = factor.failed_since or now
    audit_record(actor=user, action="staff.mfa_failed", subject=user, ip=ip,
                 details={"purpose": purpose, "failures": factor.failures})


def _factor_locked(user: User) -> StaffFactor | None:
    return db.session.scalar(select(StaffFactor).where(StaffFactor.user_id == user.id)
                             .with_for_update())


def factor_of(user: User) -> StaffFactor | None:
    return db.session.get(StaffFactor, user.id)


def is_enrolled(user: User) -> bool:
    factor = factor_of(user)
    return factor is not None and factor.confirmed_at is not None


def mfa_check(*, actor: User, code: str | None, purpose: str, ip: str | None = None,
              recovery: bool = True) -> str:
    """Check a staff member's code: a TOTP code not taken before, or (recovery) an unused
    recovery code, which is then used up. Returns "totp" or "recovery". purpose: what the
    code is for (sign_in, action, api_token), written into the audit.

    Raises Forbidden(mfa_not_enrolled), TooSoon(rate_limited) while too many codes failed,
    Invalid(invalid_code) (the failure is counted and kept), Invalid(code_reused) for a
    code already taken.
    """
    user = actor
    factor = _factor_locked(user)
    if factor is None or factor.confirmed_at is None:
        raise Forbidden(_("Set up your authenticator app first: the staff area asks for it "
                          "when you open it."), code="mfa_not_enrolled")
    now = utcnow()
    _check_pace(factor, now)
    given = _normalise(code)
    if _TOTP_RE.fullmatch(given):
        step = _step_of(_totp(factor), given, time.time())
        if step is not None and (factor.last_step is None or step > factor.last_step):
            factor.last_step = step
            factor.failures, factor.failed_since = 0, None
            audit_record(actor=user, action="staff.mfa_passed", subject=user, ip=ip,
                         details={"purpose": purpose, "method": "totp"})
            db.session.flush()
            return "totp"
        _failed(factor, user, now, purpose, ip)
        if step is not None:
            error = _invalid(_("This code was used already. Wait for the next code in your "
                               "authenticator app."))
            error.code = "code_reused"
            raise error
        raise _invalid()
    if recovery and _RECOVERY_RE.fullmatch(given):
        row = db.session.scalar(select(StaffRecoveryCode).where(
            StaffRecoveryCode.user_id == user.id, StaffRecoveryCode.used_at.is_(None),
            StaffRecoveryCode.code_hash == _recovery_hash(user.id, given)).with_for_update())
        if row is not None:
            row.used_at = now
            factor.failures, factor.failed_since = 0, None
            db.session.flush()
            left = recovery_codes_left(user)
            audit_record(actor=user, action="staff.mfa_passed", subject=user, ip=ip,
                         details={"purpose": purpose, "method": "recovery",
                                  "recovery_codes_left": left})
            db.session.flush()
            return "recovery"
    _failed(factor, user, now, purpose, ip)
    raise _invalid()


def recovery_codes_left(user: User) -> int:
    return db.session.scalar(select(func.count()).select_from(StaffRecoveryCode).where(
        StaffRecoveryCode.user_id == user.id, StaffRecoveryCode.used_at.is_(None))) or 0


def _new_recovery_codes(user: User) -> list[str]:
    """Ten new recovery codes in clear (the one time they can be read); the old ones end."""
    db.session.execute(delete(StaffRecoveryCode).where(StaffRecoveryCode.user_id == user.id))
    codes = ["".join(secrets.choice(_RECOVERY_ALPHABET) for _i in range(10))
             for _n in range(RECOVERY_CODES)]
    db.session.add_all(StaffRecoveryCode(user_id=user.id, code_hash=_recovery_hash(user.id, c))
                       for c in codes)
    return codes


def show_recovery_code(code: str) -> str:
    return f"{code[:5]}-{code[5:]}"


# --- enrolment -----------------------------------------------------------------------------


def _staff_only(user: User) -> None:
    if not user.staff_role:
        raise Forbidden(_("This part of the portal is for staff only."), code="staff_only")


def mfa_enrolment(*, actor: User, ip: str | None = None) -> Enrolment:
    """The secret being enrolled: made on the first call, the same until it is confirmed
    (a reload shows the same QR code). Raises Conflict(mfa_enrolled) once enrolled."""
    _staff_only(actor)
    factor = _factor_locked(actor)
    if factor is not None and factor.confirmed_at is not None:
        raise Conflict(_("Your authenticator app is already set up."), code="mfa_enrolled")
    secret = unseal(factor.secret_sealed) if factor is not None else None
    if secret is None:
        secret = pyotp.random_base32(32)
        if factor is None:
            factor = StaffFactor(user_id=actor.id, secret_sealed=seal(secret))
            db.session.add(factor)
        else:
            factor.secret_sealed = seal(secret)
        db.session.flush()
    account = actor.phone or actor.email or f"staff-{actor.id}"
    uri = pyotp.TOTP(secret, interval=STEP_SECONDS).provisioning_uri(
        name=account, issuer_name=ISSUER)
    qr = segno.make(uri, error="m")
    svg = qr.svg_inline(scale=4, border=2, dark="#000", light="#fff", omitsize=True)
    return Enrolment(secret=secret, uri=uri, qr_svg=svg)


def mfa_enrol(*, actor: User, code: str | None, ip: str | None = None) -> list[str]:
    """Confirm the enrolment with a code from the authenticator; returns the ten recovery
    codes in clear. Raises Conflict(mfa_enrolled | mfa_not_started), TooSoon, Invalid."""
    _staff_only(actor)
    factor = _factor_locked(actor)
    if factor is None:
        raise Conflict(_("Open the set-up page again to get a new QR code."),
                       code="mfa_not_started")
    if factor.confirmed_at is not None:
        raise Conflict(_("Your authenticator app is already set up."), code="mfa_enrolled")
    now = utcnow()
    _check_pace(factor, now)
    given = _normalise(code)
    step = _step_of(_totp(factor), given, time.time()) if _TOTP_RE.fullmatch(given) else None
    if step is None:
        _failed(factor, actor, now, "enrol", ip)
        raise _invalid(_("This code is not right. Type the six digits the app shows now for "
                         "Family Connect."))
    factor.confirmed_at, factor.last_step = now, step
    factor.failures, factor.failed_since = 0, None
    codes = _new_recovery_codes(actor)
    audit_record(actor=actor, action="staff.mfa_enrolled", subject=actor, ip=ip)
    db.session.flush()
    return codes


def mfa_recovery_renew(*, actor: User, code: str | None, ip: str | None = None) -> list[str]:
    """Ten new recovery codes for a fresh authenticator code; the old ones stop working."""
    _staff_only(actor)
    mfa_check(actor=actor, code=code, purpose="recovery_codes", ip=ip, recovery=False)
    codes = _new_recovery_codes(actor)
    audit_record(actor=actor, action="staff.mfa_recovery_renewed", subject=actor, ip=ip)
    db.session.flush()
    return codes


def mfa_reset(*, phone: str, reason: str | None) -> User:
    """A lost device (flask staff-mfa-reset): the factor and its recovery codes are removed,
    every session and API token of the staff member ends; they enrol again at their next
    sign-in. Raises NotFound(not_found), Invalid(reason_required | reason_too_long),
    Conflict(not_staff)."""
    reason = audit_reason(reason)
    user = db.session.scalar(select(User).where(User.phone == parse_phone(phone)))
    if user is None:
        raise NotFound(_("No account has this phone number."), code="not_found")
    if not user.staff_role:
        raise Conflict(_("This account is not staff."), code="not_staff")
    had = db.session.execute(delete(StaffFactor).where(StaffFactor.user_id == user.id)).rowcount
    db.session.execute(delete(StaffRecoveryCode).where(StaffRecoveryCode.user_id == user.id))
    end_sessions_and_tokens(user)
    audit_record(actor=None, action="staff.mfa_reset", subject=user,
                 details={"reason": reason, "had_factor": bool(had)})
    db.session.flush()
    return user
