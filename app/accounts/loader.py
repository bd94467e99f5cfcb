"""Flask-Login's loader: the session's user, with the header's unread count in the same
statement."""

from __future__ import annotations

import functools

from flask import g

from app.accounts.services import user_from_session_id
from app.models.accounts import User
from app.notifications.queries import unread_count_of


@functools.cache
def _unread_column():
    return unread_count_of(User.id)  # one object, so the user's statement is built once


def load_user_with_unread(session_id: str) -> User | None:
    """Flask-Login loader: the session's user and, in the same statement, their unread
    count for the header (kept for this request only, see notification_context)."""
    found = user_from_session_id(session_id, _unread_column())
    if found is None:
        return None
    user, (unread,) = found
    g.unread_notifications = (user.id, unread or 0)
    return user
