"""Connections: the caller's, and their controls — permissions (BR-024, BR-039), the
silent disconnect and restore (BR-040/056), the relationship (BR-030) and the history.

The rules are app/connections/control.py's; these routes parse, call and serialise.
"""

from __future__ import annotations

from flask import jsonify, request
from sqlalchemy import select

from app.api.auth import actor
from app.api.blueprint import bp
from app.api.contract import Body, Field, operation, text
from app.api.serializers import audit_json, connection_json
from app.connections.consent import consent_withdraw
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
from app.models.accounts import User
from app.models.connections import PERMISSION_CODES, Relationship

# Actions without input accept no body, or an empty JSON object.
NO_BODY = Body(empty=True)
# The optional private reason of a disconnect: no body, {} or {"reason": …}.
REASON_BODY = Body(optional={"reason": text(
    nullable=True, description="Private: kept in the audit trail for staff and its author; "
                               "at most 500 characters once trimmed.")}, empty=True)
CONTROL_REFUSALS = {403: ("no_control",)}
# A restore: the admin's is refused once the patient withdrew consent (issue 19).
RESTORE_REFUSALS = {**CONTROL_REFUSALS, 409: ("consent_withdrawn",)}


def _relationship_schema() -> dict:
    codes = db.session.scalars(select(Relationship.code).where(
        Relationship.is_active.is_(True)).order_by(Relationship.display_order)).all()
    return {"enum": [*codes, "", None], "description": "What the caller is to the other "
            "party; null or empty: none (the other direction is derived)."}


RELATIONSHIP = Field((str, None), _relationship_schema)


def controlled_json(held: Controlled, viewer: User) -> dict:
    """A connection a control service returned, as `viewer` may see it."""
    users = {held.patient.id: held.patient, held.caregiver.id: held.caregiver}
    return connection_json(held.connection, users, viewer=viewer)


def _answer(held: Controlled):
    answer = controlled_json(held, actor())
    return jsonify(answer)


@bp.get("/connections")
@operation(answers={200: "MyConnections"})
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
@operation(body=Body(required={"permissions": Field((dict,), {
               "propertyNames": {"enum": list(PERMISSION_CODES)},
               "additionalProperties": {"type": "boolean"},
               "description": "A partial change: code → on or off."})}),
           answers={200: "Connection"},
           refusals={**CONTROL_REFUSALS, 409: ("last_permission", "connection_revoked"),
                     422: ("unknown_permission",)})
def connection_permissions(connection_id: int, body: dict):
    """Turn some permissions on or off (the admin, the patient); 200 connection."""
    return _answer(permissions_set(actor=actor(), connection_id=connection_id,
                                   changes=body["permissions"], ip=request.remote_addr))


@bp.put("/connections/<int:connection_id>/revoke")
@operation(body=REASON_BODY, answers={200: "Connection"}, refusals=CONTROL_REFUSALS)
def connection_disconnect(connection_id: int, body: dict):
    """Silently disconnect (the admin, the patient): nobody is told; 200 connection."""
    return _answer(connection_revoke(actor=actor(), connection_id=connection_id,
                                     reason=body.get("reason"), ip=request.remote_addr))


@bp.put("/connections/<int:connection_id>/restore")
@operation(body=NO_BODY, answers={200: "Connection"}, refusals=RESTORE_REFUSALS)
def connection_reconnect(connection_id: int, body: dict):
    """Restore silently, the six permissions as before the disconnect; 200 connection. Once
    the patient withdrew consent, only the patient restores (409 consent_withdrawn)."""
    return _answer(connection_restore(actor=actor(), connection_id=connection_id,
                                      ip=request.remote_addr))


@bp.put("/connections/<int:connection_id>/relationship")
@operation(body=Body(required={"relationship": RELATIONSHIP}), answers={200: "Connection"},
           refusals={**CONTROL_REFUSALS, 422: ("unknown_relationship",)})
def connection_relationship(connection_id: int, body: dict):
    """What the caller is to the other party (either party); the inverse is derived."""
    return _answer(relationship_set(actor=actor(), connection_id=connection_id,
                                    relationship=body["relationship"],
                                    ip=request.remote_addr))


@bp.get("/connections/<int:connection_id>/history")
@operation(answers={200: "AuditList"})
def connection_story(connection_id: int):
    """The connection's history, oldest first (its patient, its group's admin)."""
    connection = connection_for_history(actor=actor(), connection_id=connection_id)
    events, _users = connection_history(connection)
    return jsonify(items=[audit_json(e, viewer=actor()) for e in events])


@bp.post("/me/consent-withdrawal")
@operation(body=Body(required={"tell": Field((bool,), {
               "description": "true: each caregiver gets one notice that you withdrew "
                              "consent; false: silent, nobody is told (BR-056)."})}),
           answers={200: "ConnectionList"}, refusals={409: ("nothing_to_withdraw",)})
def consent_withdrawal(body: dict):
    """Withdraw consent (the caller as a patient): every caregiver who follows them, in
    every family, is disconnected at once and only the caller can restore each; 200 the
    connections it ended, 409 nothing_to_withdraw when nobody follows them."""
    me = actor()
    held = consent_withdraw(actor=me, tell=body["tell"], ip=request.remote_addr)
    return jsonify(items=[controlled_json(h, me) for h in held])
