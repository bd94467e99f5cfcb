"""Reads of the in-app notifications, and their one write: marking them read."""

from __future__ import annotations

from sqlalchemy import ScalarSelect, func, select

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
