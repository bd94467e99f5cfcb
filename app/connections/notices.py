"""The patient's notice of what the admin turned ON for one of their caregivers: one notice
per net change (issue 18), not one per toggle.

While the patient has not read it and its first change is less than NOTICE_WINDOW old, the
notice about a connection is *open*: each change the admin makes to that connection's
permissions replaces it with the net change since that first change. Otherwise a change
starts a new notice, covering what happened since the last notice about the connection was
read (or closed), at most NOTICE_WINDOW back.

The net change is read from the audit trail, which keeps every toggle: per permission, its
value now against its value before the admin's first change in that span, counted from the
patient's own last change of it (what the patient did, they know). Only what is ON in net
is told — turning one OFF tells nobody (issue 4) — so a permission toggled back to where it
was leaves nothing, and a notice left with nothing is removed.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, cast, null, or_, select, union_all

from app.connections.queries import permission_names_all_languages, permission_state
from app.db import utcnow
from app.extensions import db
from app.models.accounts import User
from app.models.audit import AuditEvent
from app.models.connections import PERMISSION_CODES, Connection
from app.models.groups import FamilyGroup
from app.models.notifications import InviteNotification
from app.notifications.services import notice_replace

NOTICE = "PERMISSION_ENABLED"
NOTICE_WINDOW = timedelta(hours=24)
CHANGED = "connection.permission_changed"
N, A = InviteNotification, AuditEvent


def _recent(connection: Connection, patient: User, now: datetime) -> list[Any]:
    """The patient's notices of this kind in the group written or read in the last
    NOTICE_WINDOW, and the connection's permission changes in the last two (an open
    notice's span begins at most one window before it opened), in one statement: the
    toggle is held to a count of statements (tests/core/test_page_statements.py). A
    notice has a status; a change has none."""
    cutoff = now - NOTICE_WINDOW
    notices = select(N.id, N.created_at.label("at"), N.status, N.delivered_at,
                     N.payload.label("data")).where(
        N.recipient_user_id == patient.id, N.channel == "in_app",
        N.notification_type == NOTICE, N.family_group_id == connection.family_group_id,
        N.status.in_(("sent", "delivered")),
        or_(N.created_at > cutoff, N.delivered_at > cutoff))
    changes = select(A.id, A.created_at, cast(null(), String), null(), A.details).where(
        A.subject_type == Connection.__tablename__, A.subject_id == connection.id,
        A.family_group_id == connection.family_group_id, A.action == CHANGED,
        A.created_at > cutoff - NOTICE_WINDOW)
    return list(db.session.execute(union_all(notices, changes)).all())


def _stamp(notice: Any, key: str) -> datetime | None:
    """A time an open notice keeps in its payload: since (where its span begins) or
    opened (its first change). None in a notice written before issue 18."""
    try:
        return datetime.fromisoformat((notice.data or {})[key])
    except (KeyError, TypeError, ValueError):
        return None


def net_turned_on(changes: list[Any], now: dict[str, bool]) -> list[str]:
    """The permissions the admin turned ON in net over `changes` (permission_changed
    details, oldest first), given their values `now`: per permission, its value before the
    admin's first change after the patient's last change of it. In display order."""
    before: dict[str, bool] = {}
    for details in changes:
        code = details.get("permission")
        if details.get("as") == "admin":
            before.setdefault(code, bool(details.get("from")))
        else:
            before.pop(code, None)  # the patient's own change: they know where it stands
    return [code for code in PERMISSION_CODES if before.get(code) is False and now.get(code)]


def permission_notice(*, actor: User, connection: Connection, group: FamilyGroup,
                      patient: User, caregiver: User) -> None:
    """After the admin changed some of the connection's permissions (its audit events
    written): the patient's open notice about it replaced with the net change, removed
    when nothing is left, or a new one started. Nothing is written when the notice would
    say what it says already."""
    now = utcnow()
    cutoff = now - NOTICE_WINDOW
    rows = _recent(connection, patient, now)
    cid = connection.id
    notices = [r for r in rows
               if r.status is not None and (r.data or {}).get("connection_id") == cid]
    open_notice = next((r for r in sorted(notices, key=lambda r: r.id, reverse=True)
                        if r.status == "sent" and (_stamp(r, "opened") or r.at) > cutoff), None)
    if open_notice is not None:
        opened = _stamp(open_notice, "opened") or open_notice.at
        since = _stamp(open_notice, "since") or cutoff
    else:
        # After the last notice the patient read (or that closed unread), within the window.
        opened, since = now, max([cutoff, *(r.delivered_at or r.at for r in notices)])
    changes = [r.data or {} for r in sorted(rows, key=lambda r: r.id)
               if r.status is None and r.at > since]
    turned_on = net_turned_on(changes, permission_state(connection))
    if open_notice is not None and (open_notice.data or {}).get("permissions") == turned_on:
        return
    if open_notice is None and not turned_on:
        return
    payload = None
    if turned_on:
        payload = {"group_id": group.id, "group_name": group.name,
                   "actor_name": actor.name, "caregiver_name": caregiver.name,
                   "connection_id": cid, "permissions": turned_on,
                   "permission_names": permission_names_all_languages(turned_on),
                   "since": since.isoformat(), "opened": opened.isoformat()}
    notice_replace(replaces=open_notice.id if open_notice is not None else None,
                   user=patient, notification_type=NOTICE, group_id=group.id,
                   payload=payload)
