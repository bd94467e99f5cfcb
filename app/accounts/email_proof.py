"""Proved e-mail (issue 21): an address counts for login and for notifications only once a
link sent to it came back, as a phone number counts only once proved (ID-001).

- The address someone types (sign-up, settings, the API) waits in an email_proofs row,
  never in users.email: an address typed but not proved holds nothing and blocks nobody.
  users.email holds a proved address, or one stored before proof existed (migration 0013),
  which counts for nothing until proved.
- The link carries 256 random bits; only the SHA-256 is stored, the token is sealed in the
  outbox row until the e-mail has gone (app/tokens.py). It works once (a conditional
  update), for EMAIL_PROOF_HOURS, and a new link voids the account's earlier ones. It is the
  one message that goes to an unproved address, and never by SMS instead.
- The token is the proof: the link works whoever opens it, logged in or not (the page
  names the account, so a stranger's request can be ignored). Opening it (GET) changes
  nothing; the confirm button (POST) proves it.
- Whoever proves an address takes it over: any other account holding it, proved or not,
  loses it (audited, told in the portal), and other accounts' open links to it stop
  working.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, or_, select, update

from app.audit.services import audit_record
from app.db import utcnow
from app.errors import Conflict, Gone, Invalid, NotFound, TooSoon, wait_phrase
from app.extensions import db
from app.models.accounts import EmailProof, User
from app.models.notifications import InviteNotification
from app.notifications.services import notify_email_address, notify_in_app
from app.tokens import new_token, seal, token_hash

PROOF_TYPE = "EMAIL_PROOF"
TAKEN_OVER_TYPE = "EMAIL_TAKEN_OVER"


def parse_email(raw: str | None) -> str | None:
    """Normalised lower-case email, None when blank, or Invalid(invalid_email)."""
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        info = validate_email(raw, check_deliverability=False)
    except EmailNotValidError:
        message = _("Enter a valid email address, for example an@example.com.")
        raise Invalid(message, code="invalid_email", fields={"email": [message]}) from None
    return info.normalized.lower()


def email_proof_url(token: str) -> str:
    """The link, built from PUBLIC_BASE_URL and never from the request's Host header."""
    return f"{current_app.config['PUBLIC_BASE_URL']}/email/{token}"


def proof_hours() -> int:
    return current_app.config["EMAIL_PROOF_HOURS"]


# --- what the account's address is -----------------------------------------------------


def pending_proof(user: User) -> EmailProof | None:
    """The account's newest link still waiting to come back (possibly expired), or None."""
    return db.session.scalar(
        select(EmailProof).where(EmailProof.user_id == user.id, EmailProof.used_at.is_(None),
                                 EmailProof.cancelled_at.is_(None))
        .order_by(EmailProof.id.desc()).limit(1))


def address_to_prove(user: User) -> str | None:
    """The address a new link would prove: the one waiting for its link, else an address
    stored before proof existed; None when there is nothing to prove."""
    waiting = pending_proof(user)
    if waiting is not None:
        return waiting.email
    if user.email is not None and not user.email_proved:
        return user.email
    return None


# --- sending a link --------------------------------------------------------------------


def _too_soon(wait: float) -> TooSoon:
    return TooSoon(_("A link was sent a moment ago. You can ask for another in %(wait)s.",
                     wait=wait_phrase(wait)), retry_after=wait)


def _pace_check(user: User, email: str, now: datetime) -> None:
    """A new link goes to one account, and to one address, at most once per
    EMAIL_PROOF_RESEND_SECONDS. Raises TooSoon with the wait."""
    pace = current_app.config["EMAIL_PROOF_RESEND_SECONDS"]
    if not pace:
        return
    last = db.session.scalar(select(func.max(EmailProof.sent_at)).where(
        or_(EmailProof.user_id == user.id, EmailProof.email == email)))
    if last is not None and (wait := pace - (now - last).total_seconds()) > 0:
        raise _too_soon(wait)


def _cancel_open(where, now: datetime) -> None:
    """Void open links matching `where`, and the e-mails still carrying them (an account
    has one open link at most: each new one voids the earlier)."""
    rows = db.session.execute(select(EmailProof.id, EmailProof.user_id).where(
        where, EmailProof.used_at.is_(None), EmailProof.cancelled_at.is_(None))).all()
    if not rows:
        return
    db.session.execute(update(EmailProof).where(EmailProof.id.in_([r.id for r in rows]))
                       .values(cancelled_at=now).execution_options(synchronize_session=False))
    N = InviteNotification
    db.session.execute(
        update(N).where(N.notification_type == PROOF_TYPE, N.status.in_(("pending", "failed")),
                        N.recipient_user_id.in_({r.user_id for r in rows}))
        .values(status="cancelled", next_attempt_at=None, updated_at=now, payload={})
        .execution_options(synchronize_session=False))


def email_proof_send(*, user: User, email: str, paced: bool = True,
                     ip: str | None = None) -> EmailProof:
    """A new link to `email` (already normalised) for `user`: the account's earlier links
    stop working. paced=False for a link that a new account's creation sends (its own
    SMS code paced it). Raises TooSoon."""
    now = utcnow()
    if paced:
        _pace_check(user, email, now)
    _cancel_open(EmailProof.user_id == user.id, now)
    token = new_token()
    proof = EmailProof(user_id=user.id, email=email, token_hash=token_hash(token), sent_at=now,
                       expires_at=now + timedelta(hours=proof_hours()))
    db.session.add(proof)
    db.session.flush()
    notify_email_address(email=email, user=user, notification_type=PROOF_TYPE, payload={
        "proof_id": proof.id, "sealed_token": seal(token), "name": user.name,
        "hours": proof_hours(), "expires_at": proof.expires_at.isoformat()})
    audit_record(actor=user, action="account.email_proof_sent", subject=user, ip=ip,
                 details={"email": email})
    return proof


def email_change(*, actor: User, email: str | None, ip: str | None = None) -> EmailProof:
    """The actor gives an address (settings, the API): a link goes to it, and it counts
    once the link comes back. A proved address stays in use until then; an unproved one
    is replaced at once (it counted for nothing).

    Raises Invalid(invalid_email), Conflict(already_proved) for the actor's own proved
    address, TooSoon.
    """
    address = parse_email(email)
    if address is None:
        message = _("Enter your email address.")
        raise Invalid(message, code="invalid_email", fields={"email": [message]})
    if actor.email_proved and actor.email == address:
        raise Conflict(_("This email address is already proved."), code="already_proved")
    proof = email_proof_send(user=actor, email=address, ip=ip)
    if actor.email is not None and not actor.email_proved and actor.email != address:
        audit_record(actor=actor, action="account.email_unproved_replaced", subject=actor,
                     ip=ip, details={"email": actor.email})
        actor.email = None
    db.session.flush()
    return proof


def email_proof_resend(*, actor: User, ip: str | None = None) -> EmailProof:
    """A new link for the address waiting to be proved. Raises Conflict(nothing_to_prove),
    TooSoon."""
    address = address_to_prove(actor)
    if address is None:
        raise Conflict(_("There is no email address waiting to be proved. Enter one first."),
                       code="nothing_to_prove")
    return email_proof_send(user=actor, email=address, ip=ip)


# --- the link comes back ---------------------------------------------------------------


def email_proof_by_token(token: str | None) -> EmailProof | None:
    if not token or len(token) > 200:
        return None
    return db.session.scalar(select(EmailProof)
                             .where(EmailProof.token_hash == token_hash(token)))


def email_proof_state(proof: EmailProof | None, *, now: datetime | None = None) -> str:
    """open, used, expired, cancelled or not_found."""
    if proof is None:
        return "not_found"
    if proof.used_at is not None:
        return "used"
    if proof.cancelled_at is not None:
        return "cancelled"
    if proof.expires_at <= (now or utcnow()):
        return "expired"
    return "open"


def email_proof_refusal(state: str) -> NotFound | Gone | Conflict:
    """What a link that cannot be used says, in the reader's language."""
    if state == "used":
        return Conflict(_("This link has already been used: the address is proved. A link "
                          "works once."), code="email_proof_used")
    if state == "expired":
        return Gone(_("This link has expired. Log in and ask for a new one in your settings."),
                    code="email_proof_expired")
    if state == "cancelled":
        return Gone(_("This link no longer works: a newer link was sent, or the address was "
                      "proved by another account. Use the newest link you received."),
                    code="email_proof_cancelled")
    return NotFound(_("This link does not work. Check that you opened the whole link from "
                      "the email."), code="email_proof_not_found")


def email_prove(*, token: str | None, ip: str | None = None) -> User:
    """Prove the address of a link: it becomes the account's address, and every other
    account holding it loses it. Of two posts of the same link, exactly one wins.

    Raises NotFound, Gone or Conflict (see email_proof_refusal).
    """
    proof = email_proof_by_token(token)
    state = email_proof_state(proof)
    if state != "open":
        raise email_proof_refusal(state)
    user = db.session.get(User, proof.user_id)
    if user is None or user.is_deleted:
        raise email_proof_refusal("not_found")
    now = utcnow()
    won = db.session.execute(
        update(EmailProof).where(EmailProof.id == proof.id, EmailProof.used_at.is_(None),
                                 EmailProof.cancelled_at.is_(None), EmailProof.expires_at > now)
        .values(used_at=now).execution_options(synchronize_session=False)).rowcount
    if not won:
        raise email_proof_refusal("used")
    address = proof.email
    holders = db.session.scalars(select(User).where(func.lower(User.email) == address,
                                                    User.id != user.id).with_for_update())
    for holder in holders:
        _release_address(holder, taken_by=user, ip=ip)
    _cancel_open((EmailProof.email == address) & (EmailProof.user_id != user.id), now)
    _cancel_open((EmailProof.user_id == user.id) & (EmailProof.id != proof.id), now)
    previous = user.email
    user.email = address
    user.email_verified_at = now
    audit_record(actor=user, action="account.email_proved", subject=user, ip=ip,
                 details={"email": address, "previous": previous if previous != address
                          else None})
    db.session.flush()
    return user


def _release_address(holder: User, *, taken_by: User, ip: str | None) -> None:
    """Someone proved `holder`'s address: it leaves the account (proved or not), audited,
    and the holder is told in the portal. The unique index wants it free first."""
    address, was_proved = holder.email, holder.email_proved
    holder.email = None
    holder.email_verified_at = None
    db.session.flush()
    audit_record(actor=taken_by, action="account.email_taken_over", subject=holder, ip=ip,
                 details={"email": address, "was_proved": was_proved})
    notify_in_app(user=holder, notification_type=TAKEN_OVER_TYPE, payload={"email": address})

