"""Concurrent changes to one connection are serialised by its row lock (BR-039, BR-040):
real threads, each with its own session and database connection, released together."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from app.connections.control import connection_revoke, permissions_set
from app.extensions import db
from app.models.accounts import User
from app.models.connections import PERMISSION_CODES
from tests.invites.test_concurrency import run_together
from tests.service_helpers import (
    connection_between,
    patient_and_caregiver,
    permission_map,
)


def _family(app):
    with app.app_context():
        admin, group, patient, caregiver = patient_and_caregiver()
        db.session.commit()
        return admin.id, patient.id, connection_between(patient, caregiver).id


def _state(app, connection_id: int) -> tuple[bool, dict[str, bool]]:
    with app.app_context():
        from app.models.connections import Connection

        connection = db.session.get(Connection, connection_id)
        return connection.permission_revoked, permission_map(connection)


def test_br039_six_concurrent_turn_offs_leave_exactly_one_permission_on(app):
    admin_id, patient_id, connection_id = _family(app)

    def turning_off(code: str, user_id: int) -> Callable[[], object]:
        def call():
            return permissions_set(actor=db.session.get(User, user_id),
                                   connection_id=connection_id, changes={code: False})
        return call

    # The admin and the patient both hold the controls (dual control): half each.
    calls = [turning_off(code, admin_id if i % 2 else patient_id)
             for i, code in enumerate(PERMISSION_CODES)]
    outcomes = run_together(app, calls)

    assert Counter(outcomes) == {"ok": 5, "last_permission": 1}, outcomes
    revoked, permissions = _state(app, connection_id)
    assert revoked is False
    assert sum(permissions.values()) == 1
    [kept] = [code for code, on in permissions.items() if on]
    assert outcomes[PERMISSION_CODES.index(kept)] == "last_permission"


def test_br040_a_turn_on_racing_a_disconnect_never_leaves_a_revoked_connection_with_access(app):
    admin_id, patient_id, connection_id = _family(app)
    with app.app_context():
        permissions_set(actor=db.session.get(User, admin_id), connection_id=connection_id,
                        changes={"health_overview": False})
        db.session.commit()

    def turning_on():
        return permissions_set(actor=db.session.get(User, admin_id),
                               connection_id=connection_id, changes={"health_overview": True})

    def disconnecting():
        return connection_revoke(actor=db.session.get(User, patient_id),
                                 connection_id=connection_id)

    outcomes = run_together(app, [turning_on, disconnecting])

    assert outcomes[1] == "ok"
    assert outcomes[0] in ("ok", "connection_revoked"), outcomes
    revoked, permissions = _state(app, connection_id)
    assert revoked is True
    assert not any(permissions.values())
