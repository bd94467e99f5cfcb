"""Withdrawing consent (issue 19; Decree 13/2023/ND-CP: health data is sensitive personal
data, and its subject may withdraw consent at any time).

A patient ends, in one action, every connection to their data, in every family: each live
one is disconnected exactly as a disconnect does (BR-040/056: six OFF, the six before kept
in the history for a restore), and every one of them — those the admin had disconnected
already too — is marked consent_withdrawn_at. From then on only the patient's own restore
brings one back (app/connections/control.py refuses the admin's, and clears the mark on
the patient's). Silent as BR-056 unless the patient asks for the caregivers to be told:
one CONSENT_WITHDRAWN notice each.
"""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select

from app.audit.services import audit_record
from app.connections.control import PATIENT, Controlled, disconnect_held
from app.connections.queries import current_connections
from app.db import utcnow
from app.errors import Conflict, Invalid
from app.extensions import db
from app.models.accounts import User
from app.models.connections import Connection
from app.notifications.services import notify_user


def nothing_to_withdraw() -> Conflict:
    return Conflict(_("Nobody follows you now, so there is no consent to withdraw."),
                    code="nothing_to_withdraw")


def consent_withdraw(*, actor: User, tell: bool, ip: str | None = None) -> list[Controlled]:
    """The actor, as a patient, withdraws consent: every current connection where they are
    the patient and have not withdrawn it already is disconnected (if live) and marked
    consent_withdrawn_at, in this transaction. tell: False is silent (BR-056: no outbox
    row at all); True sends each caregiver one CONSENT_WITHDRAWN notice (in-app and the
    usual channel). One connection.consent_withdrawn event per connection. Answers the
    connections, in the order of "Who follows me".

    Raises Invalid(invalid: tell is not a bool), Conflict(nothing_to_withdraw).
    """
    if not isinstance(tell, bool):
        message = _("Choose whether your caregivers are told.")
        raise Invalid(message, code="invalid", fields={"tell": [message]})
    if db.session.get_bind().dialect.name != "sqlite":
        # Lock the patient's rows (a toggle or restore in flight waits); on SQLite the
        # transaction's BEGIN IMMEDIATE already holds the write lock.
        db.session.scalars(select(Connection.id).where(
            Connection.user_id == actor.id, Connection.linked_user_id.is_not(None))
            .order_by(Connection.id).with_for_update()).all()
    connections, users = current_connections(patient_id=actor.id, fresh=True)
    targets = [c for c in connections if c.consent_withdrawn_at is None]
    if not targets:
        raise nothing_to_withdraw()
    now = utcnow()
    held = []
    for connection in targets:
        one = Controlled(connection=connection, group=connection.group, patient=actor,
                         caregiver=users[connection.linked_user_id], part=PATIENT)
        was_revoked = connection.permission_revoked
        if not was_revoked:
            disconnect_held(one, actor=actor, reason=None, scope="consent", ip=ip)
        connection.consent_withdrawn_at = now
        connection.updated_at = now
        audit_record(actor=actor, action="connection.consent_withdrawn", subject=connection,
                     group_id=one.group.id, ip=ip,
                     details={"patient_id": actor.id, "caregiver_id": one.caregiver.id,
                              "told": tell, "was_disconnected": was_revoked})
        if tell:
            notify_user(user=one.caregiver, notification_type="CONSENT_WITHDRAWN",
                        group_id=one.group.id,
                        payload={"group_id": one.group.id,
                                 "group_name": one.group.name or "",
                                 "patient_name": actor.name})
        held.append(one)
    db.session.flush()
    return held
