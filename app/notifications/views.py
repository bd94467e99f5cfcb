"""The in-app notifications page, and the unread count in every page's header."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Blueprint, g, has_request_context, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy.exc import SQLAlchemyError

from app.errors import Invalid
from app.htmx import see_other
from app.models.notifications import InviteNotification
from app.models_base import MAX_ID
from app.notifications.messages import render_message
from app.notifications.queries import in_app_for_user, unread_count
from app.notifications.services import notifications_mark_read
from app.text import whole_number

log = logging.getLogger("app.notifications")

bp = Blueprint("notifications", __name__, url_prefix="/notifications")


@dataclass(frozen=True)
class Item:
    """A notification as the page shows it: rendered in the reader's language."""

    id: int
    subject: str
    text: str
    created_at: datetime
    unread: bool

    @classmethod
    def of(cls, row: InviteNotification, locale: str) -> Item:
        subject, text = render_message(row, locale)
        return cls(id=row.id, subject=subject, text=text, created_at=row.created_at,
                   unread=row.status == "sent")


def notification_context() -> dict[str, Any]:
    """Template context: the logged-in user's unread count for the header link — as the
    user's load read it at the start of this request, else counted now (a bearer-token
    caller, a test that logs in by hand)."""
    if not has_request_context() or not current_user.is_authenticated:
        return {}
    loaded = g.get("unread_notifications")
    if loaded is not None and loaded[0] == current_user.id:
        return {"unread_notifications": loaded[1]}
    try:
        return {"unread_notifications": unread_count(current_user.id)}
    except SQLAlchemyError:
        # The error page after a database failure must still render, without the count.
        log.warning("unread count unavailable", exc_info=True)
        return {}


@bp.get("")
@login_required
def index():
    """The user's notifications, newest first; unread ones stand out until marked read."""
    items = [Item.of(row, current_user.locale) for row in in_app_for_user(current_user.id)]
    return render_template("notifications/list.html", items=items,
                           newest_id=max((item.id for item in items), default=None),
                           has_unread=any(item.unread for item in items))


@bp.post("/read")
@login_required
def mark_read():
    """Mark everything shown on the page as read (CSRF-checked like every POST)."""
    raw = request.form.get("up_to") or None
    up_to = whole_number(raw)  # ASCII digits only: int() reads "١" as 1
    if raw is not None and up_to is None:
        raise Invalid(_("The request could not be understood."))
    if up_to is not None:  # past BIGINT the database fails (500): the same bound there
        up_to = min(up_to, MAX_ID)
    notifications_mark_read(actor=current_user, up_to=up_to)
    return see_other(url_for("notifications.index"))
