"""The outbox worker: claim due rows, deliver them outside any transaction, record results.

Several workers may run side by side (SPEC §10) and each message goes out once:

1. claim — a short transaction selects due rows `FOR UPDATE SKIP LOCKED` (PostgreSQL; on
   SQLite every transaction begins IMMEDIATE, so claims simply queue) and moves their
   next_attempt_at forward by a lease, then commits. Other workers no longer see them as
   due, and no lock is held while we talk to the network.
2. deliver — render and send, with no transaction open.
3. record — one short transaction per row: sent, or failed with a backoff, or failed for
   good (and, for email, an SMS copy queued: BR-004).

A worker that dies between 1 and 3 leaves its rows leased; they become due again when the
lease runs out, so a crash can repeat a message but never loses one.

A failed row that should not be tried again has next_attempt_at NULL; rescheduling it
(staff "resend") means setting status pending, retry_count 0 and next_attempt_at now.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app.accounts.claims import claim_url
from app.accounts.email_proof import PROOF_TYPE, email_proof_url
from app.db import utcnow
from app.extensions import db
from app.invites.links import accept_url
from app.metrics import delivery_recorded
from app.models.accounts import User
from app.models.notifications import InviteNotification
from app.notifications.channels import ChannelError, redact, send_email, send_sms
from app.notifications.messages import DEFAULT_LOCALE, render_message
from app.observability import request_id_context
from app.payments.provider import payment_provider
from app.tokens import unseal
from app.transaction import committed

log = logging.getLogger("app.notifications")

N = InviteNotification
DUE_STATUSES = ("pending", "failed")
# Messages that carry a link whose token is sealed in the row until it is sent (SPEC §4,
# §8): how the link is built, what it is, and what to do when it cannot be recovered.
LINKS: dict[str, tuple[Callable[[str], str], str, str]] = {
    "INVITE_CREATED": (accept_url, "invite link", "resend the invite"),
    "ACCOUNT_CLAIM": (claim_url, "claim link", "ask for a new one from the log-in page"),
    # A one-time code (ID-001/002): the secret is the code itself.
    "PHONE_CODE": (str, "code", "ask for a new code"),
    # The link that proves an e-mail address (issue 21).
    PROOF_TYPE: (email_proof_url, "e-mail proof link", "ask for a new one in the settings"),
}


class PermanentFailure(Exception):
    """Trying again cannot help (no key for the link, unknown channel, broken payload)."""


class AddressNotProved(Exception):
    """An e-mail queued to an address that is not, or no longer, the user's proved one
    (issue 21: someone else proved it meanwhile, or it was stored before proof existed):
    not sent, failed for good, and the SMS copy of BR-004 goes instead."""


@dataclass(frozen=True)
class Claimed:
    """What the worker needs of a claimed row, read inside the claim transaction, so that
    delivering touches no ORM object (and opens no transaction)."""

    id: int
    channel: str
    recipient: str
    notification_type: str
    payload: dict[str, Any] | None
    locale: str
    lease_until: datetime
    # The request that queued it (issue 20): the job's log lines run under its id.
    request_id: str | None = None
    # Whether the recipient user's proved address is this row's recipient (issue 21).
    address_proved: bool = False


@dataclass
class Counts:
    """What one round did; printed by the command, so operators see progress."""

    claimed: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    fallbacks: int = 0
    skipped: int = 0
    released: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(vars(self))


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def deliver_due(*, limit: int = 100, worker_id: str | None = None,
                should_stop: Callable[[], bool] | None = None) -> dict[str, int]:
    """Deliver up to `limit` due messages; the counts of what happened.

    should_stop: asked between messages; when it answers True the rest of the claim is
    handed back at once (due now) instead of waiting for the lease to run out.
    Commits: the worker is a process boundary, like a view.
    """
    worker_id = worker_id or default_worker_id()
    counts = Counts()
    claimed = _claim(limit)
    counts.claimed = len(claimed)
    for index, job in enumerate(claimed):
        if should_stop is not None and should_stop():
            counts.released = _release(claimed[index:])
            break
        _deliver_one(job, counts, worker_id)
    return counts.as_dict()


# --- 1. claim ---------------------------------------------------------------------------


def _claim(limit: int) -> list[Claimed]:
    config = current_app.config
    now = utcnow()
    lease_until = now + timedelta(seconds=config["NOTIFY_TIMEOUT"] * 3 + 30)
    with committed():
        rows = db.session.execute(
            select(N.id, N.channel, N.recipient, N.notification_type, N.payload, User.locale,
                   N.request_id, User.email, User.email_verified_at)
            .outerjoin(User, User.id == N.recipient_user_id)
            .where(N.status.in_(DUE_STATUSES), N.channel != "in_app",
                   N.retry_count < config["NOTIFY_MAX_ATTEMPTS"], N.next_attempt_at <= now)
            .order_by(N.next_attempt_at, N.id)
            .limit(limit)
            # OF: the outer-joined users row is neither locked nor lockable.
            .with_for_update(skip_locked=True, of=N)
        ).all()
        if rows:
            db.session.execute(update(N).where(N.id.in_([r.id for r in rows]))
                               .values(next_attempt_at=lease_until, updated_at=now))
    # A message to someone without an account yet (a sign-up's code) carries its language.
    return [Claimed(id=r.id, channel=r.channel, recipient=r.recipient,
                    notification_type=r.notification_type, payload=r.payload,
                    locale=r.locale or (r.payload or {}).get("locale") or DEFAULT_LOCALE,
                    lease_until=lease_until, request_id=r.request_id,
                    address_proved=r.email is not None and r.email_verified_at is not None
                    and r.email == r.recipient)
            for r in rows]


def _release(jobs: list[Claimed]) -> int:
    """Hand claimed rows back (due now), for a worker that is stopping."""
    if not jobs:
        return 0
    now = utcnow()
    released = 0
    with committed():
        for job in jobs:
            result = db.session.execute(
                update(N).where(N.id == job.id, N.next_attempt_at == job.lease_until,
                                N.status.in_(DUE_STATUSES))
                .values(next_attempt_at=now, updated_at=now))
            released += result.rowcount
    return released


# --- 2. deliver (no transaction open) ---------------------------------------------------


def _send(job: Claimed) -> str | None:
    """Send one message; the provider's message id. Raises on failure."""
    payload = job.payload or {}
    if job.channel == "payment":
        try:
            args = {"subscription_id": int(payload["subscription_id"]),
                    "action": str(payload["action"]), "user_id": int(payload["user_id"]),
                    "role": str(payload["role"])}
        except (KeyError, TypeError, ValueError) as exc:
            raise PermanentFailure(f"payment sync row without {exc}") from exc
        payment_provider().sync_member(**args)
        return None
    if job.channel not in ("sms", "email"):
        raise PermanentFailure(f"no delivery channel for {job.channel!r}")
    if job.channel == "email" and job.notification_type != PROOF_TYPE \
            and not job.address_proved:
        raise AddressNotProved("the address is not the user's proved address")
    link = None
    if job.notification_type == "PHONE_CODE" and _expired(payload.get("expires_at")):
        raise PermanentFailure("the code expired before it could be sent")
    if job.notification_type in LINKS:
        make_link, what, remedy = LINKS[job.notification_type]
        sealed = payload.get("sealed_token")
        token = unseal(sealed) if isinstance(sealed, str) else None
        if token is None:
            raise PermanentFailure(f"the {what} cannot be recovered (sealed under another "
                                   f"SECRET_KEY, or missing): {remedy}")
        link = make_link(token)
    subject, text = render_message(job, job.locale, link=link)
    if job.channel == "sms":
        return send_sms(to=job.recipient, text=text, notification_type=job.notification_type)
    return send_email(to=job.recipient, subject=subject, text=text,
                      notification_type=job.notification_type)


def _expired(value: Any) -> bool:
    try:
        return datetime.fromisoformat(str(value)) <= utcnow()
    except ValueError:
        return False


def _error_text(exc: Exception) -> str:
    text = str(exc) if isinstance(exc, ChannelError | PermanentFailure) else (
        f"{type(exc).__name__}: {exc}")
    return redact(text)[:500]


def _deliver_one(job: Claimed, counts: Counts, worker_id: str) -> None:
    with request_id_context(job.request_id):  # its lines carry the queuing request's id
        _deliver_in_context(job, counts, worker_id)


def _deliver_in_context(job: Claimed, counts: Counts, worker_id: str) -> None:
    try:
        message_id = _send(job)
    except Exception as exc:  # noqa: BLE001 - any failure of a channel is recorded, not raised
        _record_failure(job, counts, worker_id, _error_text(exc),
                        permanent=isinstance(exc, PermanentFailure | AddressNotProved),
                        fallback=isinstance(exc, AddressNotProved))
    else:
        _record_success(job, counts, worker_id, message_id)


# --- 3. record --------------------------------------------------------------------------


def _still_ours(job: Claimed) -> InviteNotification | None:
    """The row, locked, if our lease on it still holds (not re-claimed, not cancelled)."""
    row = db.session.execute(select(N).where(N.id == job.id).with_for_update()
                             .execution_options(populate_existing=True)).scalar_one_or_none()
    if row is None or row.status not in DUE_STATUSES or row.next_attempt_at != job.lease_until:
        return None
    return row


def _record_success(job: Claimed, counts: Counts, worker_id: str,
                    message_id: str | None) -> None:
    with committed():
        row = _still_ours(job)
        if row is None:
            counts.skipped += 1
            delivery_recorded(job.channel, "skipped")
            log.warning("[%s] notification %s was sent but changed meanwhile (lease expired "
                        "or cancelled); result not recorded", worker_id, job.id)
        else:
            now = utcnow()
            row.status, row.sent_at, row.error = "sent", now, None
            row.external_message_id = message_id
            row.next_attempt_at = None
            if row.payload and "sealed_token" in row.payload:
                # The link has gone out: the row no longer needs to carry it.
                row.payload = {k: v for k, v in row.payload.items() if k != "sealed_token"}
            counts.sent += 1
            delivery_recorded(job.channel, "sent")
            log.info("[%s] notification %s (%s, %s) sent", worker_id, job.id, job.channel,
                     job.notification_type)


def _record_failure(job: Claimed, counts: Counts, worker_id: str, error: str, *,
                    permanent: bool, fallback: bool = False) -> None:
    config = current_app.config
    max_attempts = config["NOTIFY_MAX_ATTEMPTS"]
    with committed():
        row = _still_ours(job)
        if row is None:
            counts.skipped += 1
            delivery_recorded(job.channel, "skipped")
        else:
            row.retry_count += 1
            if permanent:
                row.retry_count = max(row.retry_count, max_attempts)
            row.status, row.error = "failed", error
            if row.retry_count >= max_attempts:
                row.next_attempt_at = None
                counts.failed += 1
                delivery_recorded(job.channel, "failed")
                log.warning("[%s] notification %s (%s) failed for good after %s attempts: %s",
                            worker_id, job.id, job.channel, row.retry_count, error)
                if (fallback or not permanent) and _queue_sms_fallback(row):
                    counts.fallbacks += 1
            else:
                delay = config["NOTIFY_BACKOFF_SECONDS"] * 2 ** (row.retry_count - 1)
                row.next_attempt_at = utcnow() + timedelta(seconds=delay)
                counts.retrying += 1
                delivery_recorded(job.channel, "retrying")
                log.info("[%s] notification %s (%s) failed (attempt %s of %s), next try in "
                         "%ss: %s", worker_id, job.id, job.channel, row.retry_count,
                         max_attempts, delay, error)


def _queue_sms_fallback(row: InviteNotification) -> bool:
    """BR-004: an email that cannot be delivered goes to the user's phone instead, once."""
    if row.channel != "email" or row.recipient_user_id is None:
        return False
    if row.notification_type == PROOF_TYPE:  # it proves the address: an SMS would not
        return False
    user = db.session.get(User, row.recipient_user_id)
    if user is None or not user.phone:
        return False
    existing = db.session.scalars(select(N).where(
        N.channel == "sms", N.notification_type == row.notification_type,
        N.recipient == user.phone, N.status != "cancelled",
        N.invite_id.is_not_distinct_from(row.invite_id),
        N.family_group_id.is_not_distinct_from(row.family_group_id))).all()
    # With an invite, the partial unique index allows one live row: any is "the" copy.
    # Without one, only a row saying the same thing is.
    if any(row.invite_id is not None or other.payload == row.payload for other in existing):
        return False
    try:
        with db.session.begin_nested():
            db.session.add(N(
                invite_id=row.invite_id, recipient=user.phone,
                recipient_user_id=row.recipient_user_id, family_group_id=row.family_group_id,
                notification_type=row.notification_type, channel="sms", status="pending",
                next_attempt_at=utcnow(), payload=dict(row.payload or {}),
                request_id=row.request_id))
    except IntegrityError:
        return False  # queued by someone else meanwhile (idx_notifications_once)
    log.info("notification %s: email failed for good, SMS copy queued", row.id)
    return True
