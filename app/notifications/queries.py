"""Reads of the in-app notifications, and their one write: marking them read; the
outbox's backlog, for operators (`flask notifications status`, the metrics)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ScalarSelect, case, func, select

from app.extensions import db
from app.models.notifications import InviteNotification

N = InviteNotification
PAGE_SIZE = 50


def in_app_for_user(user_id: int, *, limit: int = PAGE_SIZE) -> list[InviteNotification]:
    """The user's in-app notifications, newest first."""
    return list(db.session.scalars(
        select(N).where(N.recipient_user_id == user_id, N.channel == "in_app",
                        N.status.in_(("sent", "delivered")))
        .order_by(N.created_at.desc(), N.id.desc()).limit(limit)))


def unread_count_of(user_id_column) -> ScalarSelect:
    """The unread count as a column correlated on `user_id_column` (for a query that loads
    the user anyway: one statement instead of two)."""
    return (select(func.count()).select_from(N)
            .where(N.recipient_user_id == user_id_column, N.channel == "in_app",
                   N.status == "sent").scalar_subquery())


def unread_count(user_id: int) -> int:
    """How many in-app notifications the user has not read (one COUNT)."""
    return db.session.scalar(
        select(func.count()).select_from(N)
        .where(N.recipient_user_id == user_id, N.channel == "in_app", N.status == "sent")) or 0


# --- the outbox's backlog ---------------------------------------------------------------

# The channels a worker sends; in-app messages are read in the portal, never sent.
OUTBOX_CHANNELS = ("sms", "email", "payment", "push")


@dataclass(frozen=True)
class Backlog:
    """What waits in the outbox on one channel.

    due: to be sent now; later: to be tried later (a backoff after a failure, or leased by a
    worker sending it this moment); failed: failed for good (staff may resend it);
    oldest_due: when the longest-waiting due message became due (None when none is)."""

    channel: str
    due: int = 0
    later: int = 0
    failed: int = 0
    oldest_due: datetime | None = None


def outbox_backlog(now: datetime) -> list[Backlog]:
    """The backlog of every sending channel, in OUTBOX_CHANNELS order: one statement over
    the rows the partial index idx_notifications_due holds (pending and failed)."""
    rows = db.session.execute(
        select(N.channel,
               func.sum(case((N.next_attempt_at <= now, 1), else_=0)),
               func.sum(case((N.next_attempt_at > now, 1), else_=0)),
               func.sum(case((N.next_attempt_at.is_(None), 1), else_=0)),
               func.min(case((N.next_attempt_at <= now, N.next_attempt_at))))
        .where(N.status.in_(("pending", "failed")), N.channel != "in_app")
        .group_by(N.channel)).all()
    found = {channel: Backlog(channel, int(due or 0), int(later or 0), int(failed or 0), oldest)
             for channel, due, later, failed, oldest in rows}
    return [found.get(channel, Backlog(channel)) for channel in OUTBOX_CHANNELS]
