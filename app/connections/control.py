"""Who controls a connection and how (SPEC §3): permission toggles (BR-024, BR-039), the
silent disconnect and restore (BR-040, BR-056), and the relationship (BR-030/050/028).

Dual control: the admin of the connection's group and the connection's patient hold the
toggles, the disconnect and the restore; either party sets the relationship. Staff look
but do not act here. Every service locks the connection row first (SELECT … FOR UPDATE;
on SQLite every write transaction already holds the lock), so two requests on one
connection happen one after the other: two "turn off" requests can never switch off its
last two permissions between them.

Silent means silent: disconnect and restore write no outbox row, to anyone. A restore
brings back the six permissions as they were just before the disconnect (BR-040, issue 18):
the disconnect records them in its audit event, and app/connections/recall.py reads them
back. A permission change by the admin keeps the patient's one notice per net change up to
date (app/connections/notices.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask_babel import gettext as _
from sqlalchemy import select

from app.audit.services import audit_record
from app.connections.notices import permission_notice
from app.connections.queries import EMERGENCY, current_connections, permission_state
from app.connections.recall import permissions_before_disconnect, permissions_before_disconnects
from app.connections.services import inverse_table, relationship_check, relationship_inverse
from app.db import utcnow
from app.errors import Conflict, Forbidden, Invalid, NotFound
from app.extensions import db
from app.groups.services import not_admin
from app.models.accounts import User
from app.models.connections import PERMISSION_CODES, Connection
from app.models.groups import FamilyGroup, FamilyGroupMember

REASON_MAX = 500
ADMIN, PATIENT, CAREGIVER = "admin", "patient", "caregiver"


@dataclass
class Controlled:
    """A current connection, locked, with both parties, its group and the actor's part:
    admin or patient (the holders of the controls), or caregiver (relationship only).
    block: every current connection of its patient (this one included), read with it,
    and users their parties by id — what the pages show around a changed connection.
    restored: the six permissions {code: on} a restore brought back (connection_restore),
    or would bring back (connection_restore_preview); None when there is nothing to
    restore."""

    connection: Connection
    group: FamilyGroup
    patient: User
    caregiver: User
    part: str
    block: list[Connection] = field(default_factory=list)
    users: dict[int, User] = field(default_factory=dict)
    restored: dict[str, bool] | None = None


def not_found() -> NotFound:
    return NotFound(_("This connection does not exist or has ended."), code="not_found")


def _locked(connection_id: int, *, with_block: bool = True
            ) -> tuple[Connection, list[Connection], dict[int, User]]:
    """Lock the connection row, then load it, current, with its parties and permissions,
    and (with_block) its patient's other current connections (one statement). Raises
    NotFound when it is not current."""
    if db.session.get_bind().dialect.name != "sqlite":
        # On SQLite the transaction's BEGIN IMMEDIATE already holds the write lock.
        locked = db.session.scalar(select(Connection.id).where(Connection.id == connection_id)
                                   .with_for_update())
        if locked is None:
            raise not_found()
    # fresh: what the previous lock holder committed, not the session's older copy.
    connections, users = (current_connections(patient_of=connection_id, fresh=True)
                          if with_block else
                          current_connections(connection_id=connection_id, fresh=True))
    connection = next((c for c in connections if c.id == connection_id), None)
    if connection is None:
        raise not_found()
    return connection, connections, users


def connection_controlled(*, actor: User, connection_id: int, parties_too: bool = False,
                          with_block: bool = True) -> Controlled:
    """The connection, locked, if the actor holds its controls: its patient or its group's
    admin — or, with parties_too, its caregiver (for the relationship). Without with_block,
    held.block is the connection alone (its patient's others are not read).

    Raises NotFound (not current, or the actor is a stranger: the same answer either
    way), Forbidden(no_control) for a party or staff who may see it but not change it.
    """
    connection, block, users = _locked(connection_id, with_block=with_block)
    group = db.session.get(FamilyGroup, connection.family_group_id)  # loaded with it
    patient, caregiver = users[connection.user_id], users[connection.linked_user_id]
    # The admin who also follows this patient holds the controls as admin; for the
    # relationship, a party speaks as that party.
    if actor.id == connection.user_id:
        part = PATIENT
    elif actor.id == connection.linked_user_id and (parties_too
                                                    or actor.id != group.admin_user_id):
        part = CAREGIVER
    elif actor.id == group.admin_user_id:
        part = ADMIN
    elif actor.is_staff:
        raise Forbidden(_("Staff review connections; only the family's admin and the "
                          "patient change them."), code="no_control")
    else:
        raise not_found()
    if part == CAREGIVER and not parties_too:
        raise Forbidden(_("Only the patient and the family's admin can change this."),
                        code="no_control")
    return Controlled(connection=connection, group=group, patient=patient,
                      caregiver=caregiver, part=part, block=block, users=users)


def _set_all(connection: Connection, values: dict[str, bool], actor: User) -> None:
    """The connection's permissions set to `values` ({code: on}); rows that do not change
    keep their updated_at."""
    now = utcnow()
    for row in connection.permissions:
        enabled = values.get(row.permission_code, False)
        if row.is_enabled != enabled:
            row.is_enabled = enabled
            row.updated_at = now
            row.updated_by = actor.id
    connection.updated_at = now


def _reason_check(reason: str | None) -> str | None:
    reason = (reason or "").strip()
    if len(reason) > REASON_MAX:
        message = _("Keep the reason under %(n)d characters.", n=REASON_MAX)
        raise Invalid(message, code="invalid", fields={"reason": [message]})
    return reason or None


def unknown_permission(codes: list[str]) -> Invalid:
    message = _("Unknown permission: %(codes)s.", codes=", ".join(sorted(codes)))
    return Invalid(message, code="unknown_permission", fields={"permissions": [message]})


def last_permission() -> Conflict:
    return Conflict(_("A connection keeps at least one permission on. To stop this caregiver "
                      "from seeing or doing anything, use “Disconnect” instead."),
                    code="last_permission")


def connection_revoked() -> Conflict:
    return Conflict(_("This caregiver is disconnected. Restore the connection before "
                      "changing its permissions."), code="connection_revoked")


def permissions_set(*, actor: User, connection_id: int, changes: dict[str, bool],
                    ip: str | None = None) -> Controlled:
    """Turn some of a connection's permissions on or off (a partial change). ON applies at
    once (BR-024); the confirmation before OFF is the pages' business. The patient is told
    in-app what the admin turned ON for their follower, in one notice per net change
    (app/connections/notices.py): each change the admin makes brings it up to date.

    The patient's other connections are read only when emergency alerts change (who
    else receives them: BR-018's counter); held.block is the connection alone otherwise.

    Raises Invalid(unknown_permission), NotFound, Forbidden(no_control),
    Conflict(connection_revoked | last_permission) — BR-039.
    """
    unknown = [code for code in changes if code not in PERMISSION_CODES]
    if unknown:
        raise unknown_permission(unknown)
    if any(not isinstance(value, bool) for value in changes.values()):
        message = _("Each permission is true or false.")
        raise Invalid(message, code="invalid", fields={"permissions": [message]})
    held = connection_controlled(actor=actor, connection_id=connection_id,
                                 with_block=EMERGENCY in changes)
    connection = held.connection
    if connection.permission_revoked:
        raise connection_revoked()
    rows = {p.permission_code: p for p in connection.permissions}
    changed = {code: value for code, value in changes.items() if rows[code].is_enabled != value}
    if not changed:
        return held
    after = {code: (changed.get(code, row.is_enabled)) for code, row in rows.items()}
    if not any(after.values()):
        raise last_permission()
    now = utcnow()
    for code, value in changed.items():
        rows[code].is_enabled = value
        rows[code].updated_at = now
        rows[code].updated_by = actor.id
        audit_record(actor=actor, action="connection.permission_changed", subject=connection,
                     group_id=held.group.id, ip=ip,
                     details={"permission": code, "from": not value, "to": value,
                              "as": held.part, "patient_id": held.patient.id,
                              "caregiver_id": held.caregiver.id})
    connection.updated_at = now
    if held.part == ADMIN:
        permission_notice(actor=actor, connection=connection, group=held.group,
                          patient=held.patient, caregiver=held.caregiver)
    db.session.flush()
    return held


def consent_withdrawn() -> Conflict:
    return Conflict(_("The patient withdrew consent to this connection. Only the patient "
                      "can restore it, from “Who follows me”."), code="consent_withdrawn")


def _restore_check(held: Controlled) -> None:
    """A connection whose patient withdrew consent comes back only by the patient's own
    restore (issue 19). Raises Conflict(consent_withdrawn)."""
    if held.connection.consent_withdrawn_at is not None and held.part != PATIENT:
        raise consent_withdrawn()


def disconnect_held(held: Controlled, *, actor: User, reason: str | None, scope: str,
                    ip: str | None) -> None:
    """The disconnect of one locked connection (BR-040/056), for connection_revoke,
    caregiver_revoke and consent_withdraw (app/connections/consent.py): revoked, six OFF,
    the six before recorded in its audit event. The caller flushes."""
    connection = held.connection
    # What a restore brings back (BR-040): kept in the history, with the disconnect.
    state = permission_state(connection)
    before = {code: state.get(code, False) for code in PERMISSION_CODES}
    connection.permission_revoked = True
    _set_all(connection, {}, actor)  # all OFF: BR-039 does not hold for the batch revoke
    details = {"as": held.part, "scope": scope, "patient_id": held.patient.id,
               "caregiver_id": held.caregiver.id, "permissions": before}
    if reason:
        details["reason"] = reason
    audit_record(actor=actor, action="connection.disconnected", subject=connection,
                 group_id=held.group.id, ip=ip, details=details)


def _restore(held: Controlled, *, actor: User, scope: str, ip: str | None,
             values: dict[str, bool] | None = None) -> None:
    """Every restore comes here: the pages' (the admin's matrix, the patient's "Who follows
    me"), the API's, per caregiver, the demo data's. values: the connection's
    permissions_before_disconnect(), when the caller read them (read here otherwise)."""
    connection = held.connection
    held.restored = values or permissions_before_disconnect(connection)
    connection.permission_revoked = False
    withdrawn = connection.consent_withdrawn_at is not None
    connection.consent_withdrawn_at = None  # the patient's own restore gives it again
    _set_all(connection, held.restored, actor)
    audit_record(actor=actor, action="connection.restored", subject=connection,
                 group_id=held.group.id, ip=ip,
                 details={"as": held.part, "scope": scope, "patient_id": held.patient.id,
                          "caregiver_id": held.caregiver.id, "permissions": held.restored,
                          **({"consent_given_again": True} if withdrawn else {})})


def connection_revoke(*, actor: User, connection_id: int, reason: str | None = None,
                      ip: str | None = None) -> Controlled:
    """Silently disconnect (BR-040/056): permission_revoked on and all six OFF in this
    transaction; the row, the memberships and the slots stay; nothing is sent to anyone.
    reason: private, kept in the audit trail for staff (and its author). Disconnecting a
    disconnected connection changes nothing.

    Raises Invalid(invalid: reason too long), NotFound, Forbidden(no_control).
    """
    reason = _reason_check(reason)
    held = connection_controlled(actor=actor, connection_id=connection_id)
    if not held.connection.permission_revoked:
        disconnect_held(held, actor=actor, reason=reason, scope="connection", ip=ip)
        db.session.flush()
    return held


def connection_restore(*, actor: User, connection_id: int,
                       ip: str | None = None) -> Controlled:
    """Restore a disconnected connection, silently (BR-040): its six permissions as they
    were just before the disconnect (held.restored names them). Restoring a live
    connection changes nothing (held.restored is None). Not a grant of a place, so billing
    never blocks it. A connection whose patient withdrew consent is restored by the
    patient only (issue 19), which gives the consent again.

    Raises NotFound, Forbidden(no_control), Conflict(consent_withdrawn).
    """
    held = connection_controlled(actor=actor, connection_id=connection_id)
    if held.connection.permission_revoked:
        _restore_check(held)
        _restore(held, actor=actor, scope="connection", ip=ip)
        db.session.flush()
    return held


def connection_restore_preview(*, actor: User, connection_id: int) -> Controlled:
    """What connection_restore would bring back, changing nothing: held.restored, the six
    permissions {code: on} (None when the connection is live: nothing to restore). For
    the confirmation that names them.

    Raises NotFound, Forbidden(no_control), Conflict(consent_withdrawn).
    """
    held = connection_controlled(actor=actor, connection_id=connection_id, with_block=False)
    if held.connection.permission_revoked:
        _restore_check(held)
        held.restored = permissions_before_disconnect(held.connection)
    return held


def caregiver_check(*, actor: User, group: FamilyGroup, caregiver_id: int) -> None:
    """The actor is the group's admin and caregiver_id a caregiver of the active group.

    Raises Forbidden(not_admin), NotFound.
    """
    if group.admin_user_id != actor.id:
        raise not_admin()
    member = db.session.scalar(select(FamilyGroupMember.id).where(
        FamilyGroupMember.group_id == group.id, FamilyGroupMember.user_id == caregiver_id,
        FamilyGroupMember.role == CAREGIVER))
    if member is None or group.status != "active":
        raise NotFound(_("This person is not a caregiver of this family."), code="not_found")


def _caregiver_connections(*, actor: User, group: FamilyGroup,
                           caregiver_id: int) -> list[Controlled]:
    """Every current connection of a caregiver of the group, locked (the admin only): one
    lock statement and one read, whatever the number of patients. The admin who also
    follows a patient stays the admin here, as in connection_controlled."""
    caregiver_check(actor=actor, group=group, caregiver_id=caregiver_id)
    db.session.scalars(select(Connection.id).where(
        Connection.family_group_id == group.id, Connection.linked_user_id == caregiver_id)
        .order_by(Connection.id).with_for_update()).all()
    connections, users = current_connections(group_id=group.id, caregiver_id=caregiver_id,
                                             fresh=True)
    return [Controlled(connection=c, group=group, patient=users[c.user_id],
                       caregiver=users[c.linked_user_id],
                       part=PATIENT if c.user_id == actor.id else ADMIN)
            for c in connections]


def caregiver_revoke(*, actor: User, group: FamilyGroup, caregiver_id: int,
                     reason: str | None = None, ip: str | None = None) -> list[Controlled]:
    """Silently disconnect a caregiver from every patient of the group at once (the
    admin). The caregiver stays a member; nothing is sent.

    Raises Invalid(invalid), Forbidden(not_admin), NotFound.
    """
    reason = _reason_check(reason)
    held = _caregiver_connections(actor=actor, group=group, caregiver_id=caregiver_id)
    for one in held:
        if not one.connection.permission_revoked:
            disconnect_held(one, actor=actor, reason=reason, scope="caregiver", ip=ip)
    db.session.flush()
    return held


def caregiver_restore(*, actor: User, group: FamilyGroup, caregiver_id: int,
                      ip: str | None = None) -> list[Controlled]:
    """Restore every disconnected connection of a caregiver in the group (the admin), each
    with its permissions as they were just before its disconnect. Those whose patient
    withdrew consent stay disconnected (issue 19: the patient's own restore only), unless
    the admin is that patient.

    Raises Forbidden(not_admin), NotFound, Conflict(consent_withdrawn) when every
    disconnected one is such.
    """
    held = _caregiver_connections(actor=actor, group=group, caregiver_id=caregiver_id)
    disconnected = [one for one in held if one.connection.permission_revoked]
    revoked = [one for one in disconnected
               if one.connection.consent_withdrawn_at is None or one.part == PATIENT]
    if disconnected and not revoked:
        raise consent_withdrawn()
    before = permissions_before_disconnects([one.connection for one in revoked])
    for one in revoked:
        _restore(one, actor=actor, scope="caregiver", ip=ip, values=before[one.connection.id])
    db.session.flush()
    return held


def connection_party(*, actor: User, connection_id: int) -> Controlled:
    """The connection, locked, if the actor is one of its two parties (the relationship is
    theirs to say).

    Raises NotFound for strangers, Forbidden(no_control) for the admin or staff who are
    not a party.
    """
    held = connection_controlled(actor=actor, connection_id=connection_id, parties_too=True)
    if held.part == ADMIN:
        raise Forbidden(_("Only the patient and the caregiver say how they are related."),
                        code="no_control")
    return held


def relationship_set(*, actor: User, connection_id: int, relationship: str | None,
                     ip: str | None = None) -> Controlled:
    """BR-030: a party says what they are to the other; the other direction is derived
    from the other party's gender (BR-028). None clears both (names stand in, BR-054).
    Allowed on a disconnected connection too: refusing would tell the caregiver.

    Raises Invalid(unknown_relationship), NotFound, Forbidden(no_control) for the admin
    who is not a party.
    """
    relationship = relationship_check(relationship)
    held = connection_party(actor=actor, connection_id=connection_id)
    connection = held.connection
    other = held.patient if held.part == CAREGIVER else held.caregiver
    theirs = relationship_inverse(inverse_table(), relationship, other.gender)
    caregiver_to_patient, patient_to_caregiver = (
        (relationship, theirs) if held.part == CAREGIVER else (theirs, relationship))
    before = (connection.relationship_code, connection.inverse_relationship_code)
    after = (caregiver_to_patient, patient_to_caregiver)
    if before == after:
        return held
    connection.relationship_code, connection.inverse_relationship_code = after
    connection.updated_at = utcnow()
    audit_record(actor=actor, action="connection.relationship_changed", subject=connection,
                 group_id=held.group.id, ip=ip,
                 details={"as": held.part, "relationship": after[0], "inverse_relationship":
                          after[1], "from": {"relationship": before[0],
                                             "inverse_relationship": before[1]}})
    db.session.flush()
    return held
