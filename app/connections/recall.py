"""What a connection's audit trail remembers of its permissions (BR-040: "the history holds
them"): the six as they were just before its latest disconnect, which a restore brings back.
The audit trail is the truth; the permission rows only say how things are now."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import aliased

from app.connections.services import initial_permission_map
from app.extensions import db
from app.models.audit import AuditEvent
from app.models.connections import PERMISSION_CODES, Connection
from app.models.invites import ConnectionInvite

CREATED, CHANGED = "connection.created", "connection.permission_changed"
DISCONNECTED, RESTORED = "connection.disconnected", "connection.restored"


def six(values: Any) -> dict[str, bool] | None:
    """values as the six permissions {code: bool} in their order, or None when it does not
    name each of them with true or false (an event written before issue 18, a hand edit)."""
    if not isinstance(values, dict) or any(not isinstance(values.get(code), bool)
                                           for code in PERMISSION_CODES):
        return None
    return {code: values[code] for code in PERMISSION_CODES}


def _events(connection: Connection, actions: tuple[str, ...]):
    """The connection's events of `actions` in its present family (a pair that met again
    in another family reuses its row)."""
    return select(AuditEvent).where(
        AuditEvent.subject_type == Connection.__tablename__,
        AuditEvent.subject_id == connection.id,
        AuditEvent.family_group_id == connection.family_group_id,
        AuditEvent.action.in_(actions))


def permissions_before_disconnect(connection: Connection) -> dict[str, bool]:
    """The six permissions as they were just before the connection's latest disconnect:
    what a restore brings back (BR-040), and what its confirmation names.

    A disconnect records them (details.permissions, since issue 18). One recorded before
    that is replayed from the history: from the connection's latest creation (six ON, or
    its invite's initial_permissions) through each permission change and each restore (as
    it recorded them, or six ON: the rule before issue 18) up to that disconnect. Six ON
    when the history has no disconnect, or when what it says would leave nothing ON
    (BR-039: a live connection keeps one).
    """
    return permissions_before_disconnects([connection])[connection.id]


def permissions_before_disconnects(connections: list[Connection]) -> dict[int, dict[str, bool]]:
    """permissions_before_disconnect() of each connection, by id: one statement for all of
    them (a caregiver restored from every patient at once), and one more for each whose
    disconnect was recorded before issue 18 (its history replayed)."""
    if not connections:
        return {}
    inner = aliased(AuditEvent)
    latest = select(func.max(inner.id)).where(
        inner.subject_type == Connection.__tablename__, inner.action == DISCONNECTED,
        or_(*(and_(inner.subject_id == c.id, inner.family_group_id == c.family_group_id)
              for c in connections))).group_by(inner.subject_id)
    events = {e.subject_id: e for e in db.session.scalars(
        select(AuditEvent).where(AuditEvent.id.in_(latest)))}
    found = {}
    for connection in connections:
        event = events.get(connection.id)
        if event is None:
            found[connection.id] = dict.fromkeys(PERMISSION_CODES, True)
            continue
        values = six((event.details or {}).get("permissions")) or _replayed(connection, event)
        found[connection.id] = (values if any(values.values())
                                else dict.fromkeys(PERMISSION_CODES, True))
    return found


def _replayed(connection: Connection, disconnect: AuditEvent) -> dict[str, bool]:
    """The six permissions just before `disconnect`, replayed from the events before it."""
    events = list(db.session.scalars(
        _events(connection, (CREATED, CHANGED, DISCONNECTED, RESTORED))
        .where(AuditEvent.id < disconnect.id).order_by(AuditEvent.id)))
    created = max((i for i, e in enumerate(events) if e.action == CREATED), default=None)
    values = dict.fromkeys(PERMISSION_CODES, True)
    if created is not None and connection.invite_id is not None:
        invite = db.session.get(ConnectionInvite, connection.invite_id)
        values = initial_permission_map(invite.initial_permissions if invite else None)
    for event in events[(created or 0):]:
        details = event.details or {}
        if event.action == CHANGED and details.get("permission") in values:
            values[details["permission"]] = bool(details.get("to"))
        elif event.action in (DISCONNECTED, RESTORED):
            # A disconnect's record is the state then; a restore's is what it brought
            # back, and a restore before issue 18 turned all six ON.
            recorded = six(details.get("permissions"))
            if recorded is not None:
                values = recorded
            elif event.action == RESTORED:
                values = dict.fromkeys(PERMISSION_CODES, True)
    return values
