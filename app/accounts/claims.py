"""Claim links (SPEC §8): a user created by the legacy import has no password and signs in
the first time through a one-time link sent to their phone — never by merely typing the
number.

The link machinery is the invite links' (SPEC §4, app/tokens.py): 256 random bits,
only the SHA-256 stored, the token sealed in the outbox row until the SMS has gone out, a
conditional update so that a link works once, and the token kept out of every log line.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, insert, select, update

from app.accounts.passwords import hash_password
from app.accounts.services import password_check, phone_proved
from app.audit.services import audit_record
from app.db import utcnow
from app.errors import Conflict, Forbidden, Gone, NotFound
from app.extensions import db
from app.models.accounts import AccountClaim, User
from app.models.notifications import InviteNotification
from app.observability import current_request_id
from app.phone import InvalidPhone, normalize_phone
from app.tokens import new_token, seal, token_hash

CLAIM_TYPE = "ACCOUNT_CLAIM"
CLAIM_LINK_DAYS = 30


def claim_url(token: str) -> str:
    """The link, built from PUBLIC_BASE_URL and never from the request's Host header."""
    return f"{current_app.config['PUBLIC_BASE_URL']}/claim/{token}"


def claim_rows(*, user_id: int, phone: str, name: str, now: datetime,
               group_id: int | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The account_claims row and the outbox row (an SMS carrying the sealed token) of a
    new claim link, as plain values for a multi-row insert (the import writes thousands)."""
    token = new_token()
    days = current_app.config.get("CLAIM_LINK_DAYS", CLAIM_LINK_DAYS)
    claim = {"user_id": user_id, "token_hash": token_hash(token),
             "expires_at": now + timedelta(days=days), "created_at": now}
    message = {"invite_id": None, "recipient": phone, "recipient_user_id": user_id,
               "notification_type": CLAIM_TYPE, "channel": "sms", "status": "pending",
               "retry_count": 0, "next_attempt_at": now, "family_group_id": group_id,
               "payload": {"sealed_token": seal(token), "name": name},
               "created_at": now, "updated_at": now,
               # the model's default, given here: the import inserts these in bulk
               "request_id": current_request_id()}
    return claim, message


def claim_by_token(token: str) -> AccountClaim | None:
    if not token or len(token) > 200:
        return None
    return db.session.scalar(select(AccountClaim)
                             .where(AccountClaim.token_hash == token_hash(token)))


def claim_state(claim: AccountClaim | None, *, now: datetime | None = None) -> str:
    """open, used, expired or not_found."""
    if claim is None:
        return "not_found"
    if claim.used_at is not None:
        return "used"
    if claim.expires_at <= (now or utcnow()):
        return "expired"
    return "open"


def claim_refusal(state: str) -> NotFound | Gone | Conflict:
    """What a link that cannot be used says, in the user's language."""
    if state == "used":
        return Conflict(_("This sign-in link has already been used; a link works once. "
                          "Log in with the password you chose."), code="claim_used")
    if state == "expired":
        return Gone(_("This sign-in link has expired. Ask for a new one on the log-in page."),
                    code="claim_expired")
    return NotFound(_("This sign-in link does not work. Check that you opened the whole "
                      "link from your message, or ask for a new one on the log-in page."),
                    code="claim_not_found")


def account_claim(*, token: str, password: str, ip: str | None = None) -> User:
    """Set the password of the account a claim link belongs to, once.

    Raises Invalid(weak_password) (the registration's rules), Forbidden(account_suspended),
    and NotFound, Gone or Conflict (see claim_refusal) for an unknown, expired or used
    link. Of two posts of the same link at once, exactly one wins: the claim is taken by a
    conditional update.
    """
    claim = claim_by_token(token)
    state = claim_state(claim)
    if state != "open":
        raise claim_refusal(state)
    user = db.session.get(User, claim.user_id)
    if not user.is_active:
        raise Forbidden(_("This account is suspended. Contact support to restore it."),
                        code="account_suspended")
    password_check(password, phone=user.phone, name=user.name)
    now = utcnow()
    won = db.session.execute(
        update(AccountClaim)
        .where(AccountClaim.id == claim.id, AccountClaim.used_at.is_(None),
               AccountClaim.expires_at > now)
        .values(used_at=now).execution_options(synchronize_session=False)).rowcount
    if not won:
        raise claim_refusal("used")
    user.password_hash = hash_password(password)
    user.last_login_at = now
    audit_record(actor=user, action="account.claimed", subject=user, ip=ip,
                 details={"claim_id": claim.id})
    phone_proved(user=user, how="claim_link", ip=ip)  # the link reached the number
    db.session.flush()
    return user


def claim_send_new_link(*, phone: str, ip: str | None = None) -> bool:
    """"Got an SMS from the old app?": for an imported account that has never been claimed,
    void its open links (and the messages still carrying them) and send a new one to the
    phone on record. True when a link was sent; the caller answers the same either way, so
    that the page tells nobody which numbers have an account."""
    try:
        e164 = normalize_phone(phone)
    except InvalidPhone:
        return False
    user = db.session.scalar(select(User).where(User.phone == e164))
    if user is None or user.password_hash is not None or not user.is_active:
        return False
    imported = db.session.scalar(select(func.count()).select_from(AccountClaim)
                                 .where(AccountClaim.user_id == user.id))
    if not imported:
        return False
    now = utcnow()
    db.session.execute(update(AccountClaim)
                       .where(AccountClaim.user_id == user.id, AccountClaim.used_at.is_(None),
                              AccountClaim.expires_at > now)
                       .values(expires_at=now).execution_options(synchronize_session=False))
    N = InviteNotification
    db.session.execute(update(N).where(N.recipient_user_id == user.id,
                                       N.notification_type == CLAIM_TYPE,
                                       N.status.in_(("pending", "failed")))
                       .values(status="cancelled", next_attempt_at=None, updated_at=now,
                               payload={"name": user.name})
                       .execution_options(synchronize_session=False))
    claim, message = claim_rows(user_id=user.id, phone=user.phone, name=user.name, now=now)
    db.session.execute(insert(AccountClaim), [claim])
    db.session.execute(insert(N), [message])
    audit_record(actor=None, action="account.claim_link_resent", subject=user, ip=ip)
    db.session.flush()
    return True
