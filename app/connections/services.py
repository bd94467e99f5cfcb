"""Connections between a group's caregivers and patients: made on joining (BR-045/008/
009), released on removal, leave and dissolve. The controls (toggles, the silent
disconnect, the relationship) live in app/connections/control.py."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from operator import attrgetter
from typing import TypeVar

from flask_babel import gettext as _
from sqlalchemy import and_, select, tuple_, update
from sqlalchemy.orm import selectinload

from app.audit.services import audit_record
from app.db import utcnow
from app.errors import Invalid
from app.extensions import db
from app.models.accounts import User
from app.models.audit import AuditEvent
from app.models.connections import (
    PERMISSION_CODES,
    Connection,
    ConnectionPermission,
    Relationship,
    RelationshipInverse,
)
from app.models.groups import ROLE_PATIENT, FamilyGroup, FamilyGroupMember


def relationship_check(code: str | None) -> str | None:
    """An active relationship code, None for none. Raises Invalid(unknown_relationship)."""
    if code in (None, ""):
        return None
    known = db.session.scalar(select(Relationship.code).where(
        Relationship.code == code, Relationship.is_active.is_(True)))
    if known is None:
        message = _("Choose a relationship from the list.")
        raise Invalid(message, code="unknown_relationship", fields={"relationship": [message]})
    return known


def inverse_table() -> dict[tuple[str, int], str]:
    """The 28 rows of relationship_inverse_mapping, read once per operation."""
    return {(r.relationship_code, r.target_gender): r.inverse_code
            for r in db.session.scalars(select(RelationshipInverse))}


def relationship_inverse(table: dict[tuple[str, int], str], code: str | None,
                         gender: int | None) -> str | None:
    """If A says B is my `code` and A's gender is `gender`, what B says A is (BR-028).
    Unknown gender → khac."""
    if code is None:
        return None
    if gender is None:
        return "khac"
    return table.get((code, gender), "khac")


def initial_permission_map(initial: dict | None) -> dict[str, bool]:
    """All six ON, or the invite's initial_permissions (unknown codes ignored)."""
    values = dict.fromkeys(PERMISSION_CODES, True)
    for code, enabled in (initial or {}).items():
        if code in values:
            values[code] = bool(enabled)
    if not any(values.values()):
        values = dict.fromkeys(PERMISSION_CODES, True)  # BR-039: a live one keeps one ON
    return values


M = TypeVar("M")
_USER_ID = attrgetter("id")


def family_pairs(patients: Iterable[M], caregivers: Iterable[M],
                 key: Callable[[M], Hashable] = lambda member: member) -> list[tuple[M, M]]:
    """The (patient, caregiver) pairs a family connects: every patient with every
    caregiver (BR-045/008/009), never a member holding both roles with themselves
    (BR-038). key: the user id of a member as the caller holds it. Joining and the
    legacy import both pair members this way."""
    caregivers = list(caregivers)
    return [(p, c) for p in patients for c in caregivers if key(p) != key(c)]


def pair_connections(pairs: list[tuple[int, int]]) -> dict[tuple[int, int], Connection]:
    """The rows of these (patient, caregiver) pairs with their permissions, in two queries."""
    return {(c.user_id, c.linked_user_id): c for c in db.session.scalars(
        select(Connection).options(selectinload(Connection.permissions))
        .where(tuple_(Connection.user_id, Connection.linked_user_id).in_(pairs)))}


def connection_put(connection: Connection | None, *, pair: tuple[int, int], group_id: int,
                   permissions: dict[str, bool], updated_by: int | None) -> Connection:
    """The live connection of `pair` (patient, caregiver) in the group, its six rows set to
    `permissions`: the pair's earlier row reused (one row per pair, kept for its history)
    or a new one, added to the session."""
    if connection is None:
        connection = Connection(user_id=pair[0], linked_user_id=pair[1],
                                contact_type="caregiver")
        connection.permissions = []
        db.session.add(connection)
    connection.family_group_id = group_id
    connection.permission_revoked = False
    rows = {p.permission_code: p for p in connection.permissions}
    for code in PERMISSION_CODES:
        row = rows.get(code)
        if row is None:
            row = ConnectionPermission(permission_code=code)
            connection.permissions.append(row)
        row.is_enabled = permissions[code]
        row.updated_by = updated_by
    return connection


def connections_for_new_member(*, actor: User | None, group: FamilyGroup, user: User,
                               role: str, relationship: str | None = None,
                               initial_permissions: dict | None = None,
                               invite_id: int | None = None) -> list[Connection]:
    """Connect a member who just joined as `role` to every member of the other role.

    relationship: what the new member is to each other party (optional, BR-050); the
    other direction is derived from the other party's gender. A member holding both roles
    never follows themselves (BR-038). A pair that was connected before (an earlier group,
    a removal) reuses its row: one row per (patient, caregiver).
    """
    other_role = "caregiver" if role == ROLE_PATIENT else ROLE_PATIENT
    members = list(db.session.scalars(
        select(User).join(FamilyGroupMember, FamilyGroupMember.user_id == User.id)
        .where(FamilyGroupMember.group_id == group.id, FamilyGroupMember.role == other_role)))
    matched = family_pairs([user], members, key=_USER_ID) if role == ROLE_PATIENT \
        else family_pairs(members, [user], key=_USER_ID)
    if not matched:
        return []
    others = [c if role == ROLE_PATIENT else p for p, c in matched]
    pairs = [(p.id, c.id) for p, c in matched]
    existing = pair_connections(pairs)
    table = inverse_table()
    permissions = initial_permission_map(initial_permissions)
    made = []
    for other, pair in zip(others, pairs, strict=True):
        # What the new member is to the other, and what the other is to them.
        mine = relationship
        theirs = relationship_inverse(table, relationship, other.gender)
        caregiver_to_patient, patient_to_caregiver = (
            (theirs, mine) if role == ROLE_PATIENT else (mine, theirs))
        connection = connection_put(existing.get(pair), pair=pair, group_id=group.id,
                                    permissions=permissions,
                                    updated_by=actor.id if actor else None)
        connection.invite_id = invite_id
        if relationship is not None:
            connection.relationship_code = caregiver_to_patient
            connection.inverse_relationship_code = patient_to_caregiver
        made.append(connection)
    db.session.flush()
    for connection in made:
        audit_record(actor=actor, action="connection.created", subject=connection,
                     group_id=group.id,
                     details={"patient_id": connection.user_id,
                              "caregiver_id": connection.linked_user_id,
                              "relationship": connection.relationship_code,
                              "inverse_relationship": connection.inverse_relationship_code})
    return made


def connections_revoke_for_member(*, actor: User | None, group_id: int, user_id: int,
                                  role: str, cause: str) -> list[int]:
    """Release the connections a member holds in a group in `role` (cause: removed, left,
    dissolved): revoked flag on, all six permissions OFF. Returns the connection ids."""
    mine, theirs = ((Connection.user_id, Connection.linked_user_id) if role == ROLE_PATIENT
                    else (Connection.linked_user_id, Connection.user_id))
    ids = list(db.session.scalars(_current_ids(group_id).where(mine == user_id)
                                  .join(FamilyGroupMember, and_(
                                      FamilyGroupMember.group_id == group_id,
                                      FamilyGroupMember.user_id == theirs,
                                      FamilyGroupMember.role != role))))
    _release(actor, ids, group_id, cause)
    return ids


def connections_revoke_for_group(*, actor: User | None, group_id: int) -> list[int]:
    """Release every connection of a group that has not ended yet (dissolve)."""
    patients = select(FamilyGroupMember.user_id).where(
        FamilyGroupMember.group_id == group_id, FamilyGroupMember.role == ROLE_PATIENT)
    caregivers = select(FamilyGroupMember.user_id).where(
        FamilyGroupMember.group_id == group_id, FamilyGroupMember.role != ROLE_PATIENT)
    ids = list(db.session.scalars(_current_ids(group_id).where(
        Connection.user_id.in_(patients), Connection.linked_user_id.in_(caregivers))))
    _release(actor, ids, group_id, "dissolved")
    return ids


def _current_ids(group_id: int):
    return (select(Connection.id).where(Connection.family_group_id == group_id,
                                        Connection.linked_user_id.is_not(None))
            .order_by(Connection.id))


def _release(actor: User | None, ids: list[int], group_id: int, cause: str) -> None:
    """Revoke and turn off, and write each connection's end into its history. A
    connection disconnected earlier ends too (its history says so)."""
    if not ids:
        return
    now = utcnow()
    db.session.execute(update(Connection).where(Connection.id.in_(ids))
                       .values(permission_revoked=True, updated_at=now)
                       .execution_options(synchronize_session="fetch"))
    db.session.execute(update(ConnectionPermission)
                       .where(ConnectionPermission.contact_id.in_(ids),
                              ConnectionPermission.is_enabled.is_(True))
                       .values(is_enabled=False, updated_at=now,
                               updated_by=actor.id if actor else None)
                       .execution_options(synchronize_session="fetch"))
    for connection_id in ids:
        db.session.add(AuditEvent(actor_id=actor.id if actor else None,
                                  action="connection.released",
                                  subject_type=Connection.__tablename__,
                                  subject_id=connection_id, family_group_id=group_id,
                                  details={"cause": cause}))


def live_patients_of_caregiver(group_id: int, caregiver_id: int) -> list[User]:
    """The patients a caregiver follows in a group through a live connection."""
    return list(db.session.scalars(
        select(User).join(Connection, Connection.user_id == User.id)
        .where(Connection.family_group_id == group_id, Connection.linked_user_id == caregiver_id,
               Connection.permission_revoked.is_(False))))


