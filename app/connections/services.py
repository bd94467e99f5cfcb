"""Connections between a group's caregivers and patients: made on joining (BR-045/008/
009), released on removal, leave and dissolve. The controls (toggles, the silent
disconnect, the relationship) live in app/connections/control.py."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping
from operator import attrgetter
from typing import Any, TypeVar

from flask_babel import gettext as _
from sqlalchemy import and_, insert, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.attributes import set_committed_value

from app.audit.services import audit_row, audit_write
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


def _unknown_relationship() -> Invalid:
    message = _("Choose a relationship from the list.")
    return Invalid(message, code="unknown_relationship", fields={"relationship": [message]})


def relationship_check(code: str | None) -> str | None:
    """An active relationship code, None for none. Raises Invalid(unknown_relationship)."""
    if code in (None, ""):
        return None
    known = db.session.scalar(select(Relationship.code).where(
        Relationship.code == code, Relationship.is_active.is_(True)))
    if known is None:
        raise _unknown_relationship()
    return known


def relationship_with_inverses(code: str | None) -> tuple[str | None, dict[tuple[str, int], str]]:
    """relationship_check(code) and the code's rows of the inverse mapping (the part of
    inverse_table() that relationship_inverse() reads for it), in one statement; (None, {})
    without a code, with no statement. Raises Invalid(unknown_relationship)."""
    if code in (None, ""):
        return None, {}
    rows = db.session.execute(
        select(Relationship.code, RelationshipInverse.target_gender,
               RelationshipInverse.inverse_code)
        .outerjoin(RelationshipInverse, RelationshipInverse.relationship_code == Relationship.code)
        .where(Relationship.code == code, Relationship.is_active.is_(True))).all()
    if not rows:
        raise _unknown_relationship()
    known = rows[0].code
    return known, {(known, r.target_gender): r.inverse_code
                   for r in rows if r.target_gender is not None}


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
_ID = attrgetter("id")


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


def dialect_insert(model: Any) -> Any:
    """An INSERT of `model` with the database's ON CONFLICT clauses (PostgreSQL and SQLite
    both have them, the same way): a write that meets a row already there, in one
    statement, with no savepoint. SQLAlchemy compiles these afresh each time (it caches
    no dialect INSERT): for the rarer paths."""
    dialect = db.session.get_bind().dialect.name
    return (postgresql if dialect == "postgresql" else sqlite).insert(model)


def _inserted(model: Any, rows: list[dict[str, Any]]) -> list[Any]:
    """New rows of `model` in one INSERT (a cached statement), read back (RETURNING)."""
    return list(db.session.scalars(
        insert(model).returning(model).execution_options(render_nulls=True), rows))


def _updated_by_id(model: Any, rows: list[dict[str, Any]], columns: Iterable[str]) -> list[Any]:
    """Rows of `model` already there, each dict naming its id and its full values, given
    their own values of `columns` in one statement (INSERT … ON CONFLICT (id) DO UPDATE:
    many rows, each its own values, and no sequence value spent on them), read back."""
    upsert = dialect_insert(model).values(rows)
    upsert = upsert.on_conflict_do_update(
        index_elements=[model.id], set_={name: upsert.excluded[name] for name in columns})
    return list(db.session.scalars(upsert.returning(model),
                                   execution_options={"populate_existing": True}))


def connections_for_new_member(*, actor: User | None, group: FamilyGroup, user: User,
                               role: str, relationship: str | None = None,
                               initial_permissions: dict | None = None,
                               invite_id: int | None = None,
                               members: Iterable[User] | None = None,
                               existing: Mapping[tuple[int, int], Connection] | None = None,
                               inverses: dict[tuple[str, int], str] | None = None,
                               events: list[dict[str, Any]] | None = None) -> list[Connection]:
    """Connect a member who just joined as `role` to every member of the other role.

    relationship: what the new member is to each other party (optional, BR-050); the
    other direction is derived from the other party's gender. A member holding both roles
    never follows themselves (BR-038). A pair that was connected before (an earlier group,
    a removal) reuses its row: one row per (patient, caregiver).

    The same statements whatever the family's size (issue 17): the new connections in one
    INSERT and their six permission rows each in another; reused rows, and their permission
    rows that change, in one statement each; the audit events in one more.
    members: the group's members of the other role, ordered by id, and existing: the pairs'
    earlier rows with their permissions, as the caller read them under the group lock
    (read here when not given). inverses: inverse_table(), or at least its rows of
    `relationship` (relationship_with_inverses); read here when needed. events: a list the
    connection.created events are queued on, for the caller to write with its own
    (audit_write); written here when not given.
    """
    other_role = "caregiver" if role == ROLE_PATIENT else ROLE_PATIENT
    if members is None:
        members = db.session.scalars(
            select(User).join(FamilyGroupMember, FamilyGroupMember.user_id == User.id)
            .where(FamilyGroupMember.group_id == group.id,
                   FamilyGroupMember.role == other_role)
            .order_by(User.id))
    matched = family_pairs([user], members, key=_ID) if role == ROLE_PATIENT \
        else family_pairs(members, [user], key=_ID)
    if not matched:
        return []
    pairs = [(p.id, c.id) for p, c in matched]
    if existing is None:
        existing = pair_connections(pairs)
    if inverses is None and relationship is not None:
        inverses = inverse_table()
    new_rows, reused_rows, earlier = [], [], {}
    for (patient, caregiver), pair in zip(matched, pairs, strict=True):
        other = caregiver if role == ROLE_PATIENT else patient
        # What the new member is to the other, and what the other is to them.
        mine = relationship
        theirs = relationship_inverse(inverses or {}, relationship, other.gender)
        caregiver_to_patient, patient_to_caregiver = (
            (theirs, mine) if role == ROLE_PATIENT else (mine, theirs))
        row = {"user_id": patient.id, "linked_user_id": caregiver.id,
               "contact_type": "caregiver", "family_group_id": group.id,
               "permission_revoked": False, "consent_withdrawn_at": None,
               "invite_id": invite_id,
               "relationship_code": caregiver_to_patient,
               "inverse_relationship_code": patient_to_caregiver}
        before = existing.get(pair)
        if before is None:
            new_rows.append(row)
        else:
            earlier[pair] = list(before.permissions)  # read back below, the list is reset
            reused_rows.append({**row, "id": before.id})
    # connection_put() on a reused row: its type, names and creation time stay, and so
    # does its relationship when none is given now.
    # A pair meeting again is connected anew: a consent withdrawn from the earlier
    # connection (issue 19) does not carry over to the new one.
    changed = ["family_group_id", "permission_revoked", "consent_withdrawn_at", "invite_id",
               "updated_at"]
    if relationship is not None:
        changed += ["relationship_code", "inverse_relationship_code"]
    put = {(c.user_id, c.linked_user_id): c for c in [
        *(_inserted(Connection, new_rows) if new_rows else []),
        *(_updated_by_id(Connection, reused_rows, changed) if reused_rows else [])]}
    made = [put[pair] for pair in pairs]
    _permissions_set(made, pairs, earlier, initial_permission_map(initial_permissions),
                     updated_by=actor.id if actor else None)
    queued = [] if events is None else events
    for connection in made:
        queued.append(audit_row(actor=actor, action="connection.created", subject=connection,
                                group_id=group.id,
                                details={"patient_id": connection.user_id,
                                         "caregiver_id": connection.linked_user_id,
                                         "relationship": connection.relationship_code,
                                         "inverse_relationship":
                                             connection.inverse_relationship_code}))
    if events is None:
        audit_write(queued)
    return made


def _permissions_set(made: list[Connection], pairs: list[tuple[int, int]],
                     earlier: dict[tuple[int, int], list[ConnectionPermission]],
                     permissions: dict[str, bool], *, updated_by: int | None) -> None:
    """connection_put()'s six rows for each connection, in two statements at most: the
    missing rows inserted, and the earlier rows whose value or updater changes updated (as
    the ORM would, which leaves an unchanged row and its updated_at alone). Each
    connection's permissions are then the rows as they are now, without another read."""
    rows: dict[int, list[ConnectionPermission]] = defaultdict(list)
    missing, changing = [], []
    for connection, pair in zip(made, pairs, strict=True):
        had = {p.permission_code: p for p in earlier.get(pair, ())}
        for code in PERMISSION_CODES:
            row = had.pop(code, None)
            value = {"contact_id": connection.id, "permission_code": code,
                     "is_enabled": permissions[code], "updated_by": updated_by}
            if row is None:
                missing.append(value)
            elif (row.is_enabled, row.updated_by) != (permissions[code], updated_by):
                changing.append({**value, "id": row.id})
            else:
                rows[connection.id].append(row)
        rows[connection.id] += had.values()  # codes outside the six stay as they were
    for row in [*(_inserted(ConnectionPermission, missing) if missing else []),
                *(_updated_by_id(ConnectionPermission, changing,
                                 ["is_enabled", "updated_by", "updated_at"])
                  if changing else [])]:
        rows[row.contact_id].append(row)
    for connection in made:
        # In the relationship's order (by id): the API's answer shows them.
        set_committed_value(connection, "permissions", sorted(rows[connection.id], key=_ID))


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


def connections_release_of_user(*, actor: User, user_id: int, cause: str) -> list[int]:
    """Release every live connection of a person, as patient or caregiver, in any family or
    none (the old app's rows): a deleted account's (issue 19), after its leaves. Returns
    their ids."""
    ids = list(db.session.scalars(select(Connection.id).where(
        or_(Connection.user_id == user_id, Connection.linked_user_id == user_id),
        Connection.linked_user_id.is_not(None), Connection.permission_revoked.is_(False))
        .order_by(Connection.id)))
    _release(actor, ids, None, cause)
    return ids


def _release(actor: User | None, ids: list[int], group_id: int | None, cause: str) -> None:
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


