"""Connections: the caller's, and their controls — permissions (BR-024, BR-039), the
silent disconnect and restore (BR-040/056), the relationship (BR-030) and the history.

The rules are app/connections/control.py's; these routes parse, call and serialise.
"""

from __future__ import annotations

from flask import jsonify, request

from app.accounts.models import User
from app.api import bp
from app.api.auth import actor
from app.api.body import json_body
from app.api.serializers import audit_json, connection_json
from app.connections.control import (
    Controlled,
    connection_restore,
    connection_revoke,
    permissions_set,
    relationship_set,
)
from app.connections.queries import (
    connection_for_history,
    connection_history,
    current_connections,
)
from app.extensions import db

REASON = {"reason": (str, None)}


def no_body() -> None:
    """Actions without input accept no body, or an empty JSON object."""
    if request.get_data():
        json_body()


def reason_body() -> str | None:
    """The optional private reason of a disconnect: no body, {} or {"reason": …}."""
    return json_body(optional=REASON).get("reason") if request.get_data() else None


def controlled_json(held: Controlled, viewer: User) -> dict:
    """A connection a control service returned, as `viewer` may see it."""
    users = {held.patient.id: held.patient, held.caregiver.id: held.caregiver}
    return connection_json(held.connection, users, viewer=viewer)


def _answer(held: Controlled):
    answer = controlled_json(held, actor())
    db.session.commit()
    return jsonify(answer)


@bp.get("/connections")
def connections_mine():
    """The caller's current connections: patients they follow, caregivers who follow them."""
    me = actor()
    connections, users = current_connections(user_id=me.id)
    return jsonify(
        following=[connection_json(c, users, viewer=me) for c in connections
                   if c.linked_user_id == me.id],
        followers=[connection_json(c, users, viewer=me) for c in connections
                   if c.user_id == me.id])


@bp.put("/connections/<int:connection_id>/permissions")
def connection_permissions(connection_id: int):
    """Turn some permissions on or off (the admin, the patient); 200 connection."""
    body = json_body(required={"permissions": (dict,)})
    return _answer(permissions_set(actor=actor(), connection_id=connection_id,
                                   changes=body["permissions"], ip=request.remote_addr))


@bp.put("/connections/<int:connection_id>/revoke")
def connection_disconnect(connection_id: int):
    """Silently disconnect (the admin, the patient): nobody is told; 200 connection."""
    reason = reason_body()
    return _answer(connection_revoke(actor=actor(), connection_id=connection_id,
                                     reason=reason, ip=request.remote_addr))


@bp.put("/connections/<int:connection_id>/restore")
def connection_reconnect(connection_id: int):
    """Restore a disconnected connection, all six on (the admin, the patient)."""
    no_body()
    return _answer(connection_restore(actor=actor(), connection_id=connection_id,
                                      ip=request.remote_addr))


@bp.put("/connections/<int:connection_id>/relationship")
def connection_relationship(connection_id: int):
    """What the caller is to the other party (either party); the inverse is derived."""
    body = json_body(required={"relationship": (str, None)})
    return _answer(relationship_set(actor=actor(), connection_id=connection_id,
                                    relationship=body["relationship"],
                                    ip=request.remote_addr))


@bp.get("/connections/<int:connection_id>/history")
def connection_story(connection_id: int):
    """The connection's history, oldest first (its patient, its group's admin)."""
    connection = connection_for_history(actor=actor(), connection_id=connection_id)
    events, _users = connection_history(connection)
    return jsonify(items=[audit_json(e, viewer=actor()) for e in events])
