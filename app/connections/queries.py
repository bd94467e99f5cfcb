"""Reads about connections: the lookups named in the reader's language, the current
connections of a group or a person (a fixed number of statements whatever the sizes),
emergency-alert coverage and a connection's history.

A connection is *current* when its group is active and both parties are still members
of it in their roles; it is *live* when it is current and not revoked. Connections whose
member left, was removed or whose group was dissolved are history: they are revoked and
no longer current.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from flask import current_app
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy import and_, bindparam, or_, select
from sqlalchemy.orm import aliased, contains_eager, joinedload

from app.errors import NotFound
from app.extensions import db
from app.models.accounts import User
from app.models.audit import AuditEvent
from app.models.connections import (
    Connection,
    ConnectionPermission,
    PermissionType,
    Relationship,
)
from app.models.groups import ROLE_PATIENT, FamilyGroup, FamilyGroupMember

EMERGENCY = "emergency_alert"
HEALTH = "health_overview"


def _english() -> bool:
    return getattr(get_locale(), "language", "vi") == "en"


@dataclass(frozen=True)
class LookupRow:
    code: str
    name_vi: str
    name_en: str
    is_active: bool


# How long a process keeps the lookups' names (display only: the rules read the tables).
LOOKUP_TTL_SECONDS = 300.0


def _lookup(model) -> list[LookupRow]:
    """A lookup table's rows in display order. They are schema data, filled and changed
    by the migrations only, and every page names things with them: each process keeps
    them for LOOKUP_TTL_SECONDS (per app) instead of reading them on every page. Only
    names and the order of lists come from here; whether a code is valid is asked of the
    table itself (relationship_check). Plain values, so a commit expires nothing."""
    cache = current_app.extensions.setdefault("fc_lookups", {})
    now = time.monotonic()
    kept = cache.get(model)
    if kept is None or kept[0] <= now:
        rows = [LookupRow(r.code, r.name_vi, r.name_en, r.is_active)
                for r in db.session.execute(
                    select(model.code, model.name_vi, model.name_en, model.is_active)
                    .order_by(model.display_order))]
        kept = cache[model] = (now + LOOKUP_TTL_SECONDS, rows)
    return kept[1]


def relationship_options() -> list[tuple[str, str]]:
    """(code, name) of the active relationships, in display order (BR-050's picker)."""
    en = _english()
    return [(r.code, r.name_en if en else r.name_vi) for r in _lookup(Relationship)
            if r.is_active]


def relationship_names() -> dict[str, str]:
    """Every relationship code (inactive ones too: old rows may carry them) → its name."""
    en = _english()
    return {r.code: (r.name_en if en else r.name_vi) for r in _lookup(Relationship)}


def permission_names() -> list[tuple[str, str]]:
    """(code, name) of the active permission types, in display order."""
    en = _english()
    return [(p.code, p.name_en if en else p.name_vi) for p in _lookup(PermissionType)
            if p.is_active]


def permission_names_all_languages(codes: Iterable[str]) -> dict[str, dict[str, str]]:
    """{code: {"vi": …, "en": …}} for messages rendered later in the reader's language."""
    codes = set(codes)
    return {p.code: {"vi": p.name_vi, "en": p.name_en} for p in _lookup(PermissionType)
            if p.code in codes}


# --- current connections --------------------------------------------------------------


def _current(query, patient, caregiver):
    """`query` (over Connection) restricted to current connections — active group, both
    parties members in their roles — with both parties joined as `patient` and `caregiver`,
    in the matrix's order. The one place that says what "current" means."""
    as_patient, as_caregiver = aliased(FamilyGroupMember), aliased(FamilyGroupMember)
    return (query
            .join(FamilyGroup, and_(FamilyGroup.id == Connection.family_group_id,
                                    FamilyGroup.status == "active"))
            .join(as_patient, and_(as_patient.group_id == Connection.family_group_id,
                                   as_patient.user_id == Connection.user_id,
                                   as_patient.role == ROLE_PATIENT))
            .join(as_caregiver, and_(as_caregiver.group_id == Connection.family_group_id,
                                     as_caregiver.user_id == Connection.linked_user_id,
                                     as_caregiver.role == "caregiver"))
            .join(patient, patient.id == Connection.user_id)
            .join(caregiver, caregiver.id == Connection.linked_user_id)
            .order_by(patient.name, patient.id, caregiver.name, caregiver.id))


def _current_query():
    """Connections with both parties and their group, restricted to current ones,
    permissions joined in: one statement."""
    patient, caregiver = aliased(User), aliased(User)
    return (_current(select(Connection, patient, caregiver), patient, caregiver)
            .options(joinedload(Connection.permissions), contains_eager(Connection.group)))


@dataclass(slots=True)
class PermissionCell:
    permission_code: str
    is_enabled: bool


@dataclass(slots=True)
class ConnectionRow:
    """A current connection as the matrix shows it: plain values, no ORM object (the
    page reads 50 of them and writes none). It answers what enabled_codes() and
    permission_state() ask of a Connection."""

    id: int
    user_id: int
    linked_user_id: int
    relationship_code: str | None
    permission_revoked: bool
    permissions: list[PermissionCell]
    consent_withdrawn_at: object = None  # truthy when the patient withdrew consent


@dataclass(frozen=True, slots=True)
class Party:
    id: int
    name: str


@functools.cache
def _group_rows_statement():
    patient, caregiver = aliased(User), aliased(User)
    query = select(Connection.id, Connection.user_id, Connection.linked_user_id,
                   Connection.relationship_code, Connection.permission_revoked,
                   Connection.consent_withdrawn_at,
                   patient.name, caregiver.name, ConnectionPermission.permission_code,
                   ConnectionPermission.is_enabled)
    return (_current(query, patient, caregiver)
            .outerjoin(ConnectionPermission, ConnectionPermission.contact_id == Connection.id)
            .where(Connection.family_group_id == bindparam("group_id"))
            .order_by(ConnectionPermission.id))


def current_rows(group_id: int) -> tuple[list[ConnectionRow], dict[int, Party]]:
    """current_connections(group_id=…) for reading only: the rows as plain values and
    both parties' names, in one statement of plain columns (no ORM objects to build)."""
    rows: dict[int, ConnectionRow] = {}
    parties: dict[int, Party] = {}
    for (cid, patient_id, caregiver_id, relationship, revoked, withdrawn, patient_name,
         caregiver_name, code, enabled) in db.session.execute(_group_rows_statement(),
                                                               {"group_id": group_id}):
        row = rows.get(cid)
        if row is None:
            row = rows[cid] = ConnectionRow(cid, patient_id, caregiver_id, relationship,
                                            bool(revoked), [], withdrawn)
            parties[patient_id] = Party(patient_id, patient_name)
            parties[caregiver_id] = Party(caregiver_id, caregiver_name)
        if code is not None:
            row.permissions.append(PermissionCell(code, bool(enabled)))
    return list(rows.values()), parties


def _filters() -> dict:
    """current_connections' filters, each on a bound parameter of its own name."""
    one = aliased(Connection)
    return {
        "group_id": Connection.family_group_id == bindparam("group_id"),
        "user_id": or_(Connection.user_id == bindparam("user_id"),
                       Connection.linked_user_id == bindparam("user_id")),
        "patient_id": Connection.user_id == bindparam("patient_id"),
        "caregiver_id": Connection.linked_user_id == bindparam("caregiver_id"),
        "connection_id": Connection.id == bindparam("connection_id"),
        "patient_of": Connection.user_id == select(one.user_id)
        .where(one.id == bindparam("patient_of")).scalar_subquery(),
    }


@functools.cache
def _statement(names: tuple[str, ...], fresh: bool):
    """The statement for one combination of filters, built once per process: building it
    costs more CPU than running it (the values travel as parameters)."""
    filters = _filters()
    query = _current_query().where(*(filters[name] for name in names))
    return query.execution_options(populate_existing=True) if fresh else query


def current_connections(*, group_id: int | None = None, user_id: int | None = None,
                        patient_id: int | None = None, caregiver_id: int | None = None,
                        connection_id: int | None = None, patient_of: int | None = None,
                        fresh: bool = False) -> tuple[list[Connection], dict[int, User]]:
    """Current connections of a group, of a person (user_id: either side; or one side),
    or one by id, or those of the patient of connection `patient_of`, with both parties
    by id: one statement whatever the number. Their groups come with them
    (connection.group; db.session.get then finds them without a query).
    fresh: overwrite the copies the session already holds (after taking a lock)."""
    given = {"group_id": group_id, "user_id": user_id, "patient_id": patient_id,
             "caregiver_id": caregiver_id, "connection_id": connection_id,
             "patient_of": patient_of}
    params = {name: value for name, value in given.items() if value is not None}
    rows = db.session.execute(_statement(tuple(params), fresh), params).unique().tuples().all()
    users = {u.id: u for _c, p, c in rows for u in (p, c)}
    return [c for c, _p, _c in rows], users


def enabled_codes(connection: Connection) -> set[str]:
    """The permissions a connection grants now: none when it is revoked."""
    if connection.permission_revoked:
        return set()
    return {p.permission_code for p in connection.permissions if p.is_enabled}


def permission_state(connection: Connection) -> dict[str, bool]:
    return {p.permission_code: bool(p.is_enabled) for p in connection.permissions}


def uncovered_patients(connections: Iterable[Connection], *,
                       without: Iterable[int] = (),
                       switched_off: tuple[int, str] | None = None) -> set[int]:
    """Patients (ids) among these connections that no live connection gives emergency
    alerts — as things would be if the connections in `without` were revoked, or the
    permission `switched_off` (connection id, code) were turned off."""
    without = set(without)
    patients, covered = set(), set()
    for c in connections:
        patients.add(c.user_id)
        if c.id in without:
            continue
        codes = enabled_codes(c)
        if switched_off is not None and switched_off[0] == c.id:
            codes.discard(switched_off[1])
        if EMERGENCY in codes:
            covered.add(c.user_id)
    return patients - covered


def newly_uncovered(connections: list[Connection], *, without: Iterable[int] = (),
                    switched_off: tuple[int, str] | None = None) -> set[int]:
    """Patients that a revoke (or a permission turned off) would leave with nobody
    receiving their emergency alerts, who have somebody now (BR-018's strong warning)."""
    before = uncovered_patients(connections)
    after = uncovered_patients(connections, without=without, switched_off=switched_off)
    return after - before


@dataclass
class PatientBlock:
    """One patient of the permission matrix with the caregivers who follow them."""

    patient: User
    connections: list[Connection] = field(default_factory=list)

    @property
    def alerted(self) -> int:
        """How many caregivers receive this patient's emergency alerts."""
        return sum(1 for c in self.connections if EMERGENCY in enabled_codes(c))


def matrix_blocks(patients: Iterable[User], connections: Iterable[Connection]
                  ) -> list[PatientBlock]:
    """The matrix, grouped by patient (in the order given), caregivers by name."""
    blocks = {p.id: PatientBlock(patient=p) for p in patients}
    for c in connections:
        if c.user_id in blocks:
            blocks[c.user_id].connections.append(c)
    return list(blocks.values())


# --- history --------------------------------------------------------------------------

HISTORY_ACTIONS = ("invite.created", "invite.resent", "invite.accepted", "connection.created",
                   "connection.permission_changed", "connection.disconnected",
                   "connection.restored", "connection.relationship_changed",
                   "connection.released", "connection.consent_withdrawn")


def connection_history(connection: Connection) -> tuple[list[AuditEvent], dict[int, User]]:
    """The connection's story from the audit trail, oldest first: the invite that made it,
    its creation, each permission change, disconnects, restores, relationship changes and
    its end, in its current (or last) family. Two statements."""
    subjects = [and_(AuditEvent.subject_type == Connection.__tablename__,
                     AuditEvent.subject_id == connection.id)]
    if connection.invite_id is not None:
        subjects.append(and_(AuditEvent.subject_type == "connection_invites",
                             AuditEvent.subject_id == connection.invite_id))
    # A pair that met again in another family reuses its row: show this family's story.
    events = list(db.session.scalars(
        select(AuditEvent).where(or_(*subjects), AuditEvent.action.in_(HISTORY_ACTIONS),
                                 AuditEvent.family_group_id == connection.family_group_id)
        .order_by(AuditEvent.created_at, AuditEvent.id)))
    ids = {e.actor_id for e in events if e.actor_id is not None}
    users = ({u.id: u for u in db.session.scalars(select(User).where(User.id.in_(ids)))}
             if ids else {})
    return events, users


def connection_for_history(*, actor: User, connection_id: int) -> Connection:
    """A connection whose history the actor may read — its patient or its group's admin,
    ended connections too (the same rule as the history page). NotFound for anyone else,
    its caregiver always included (they never learn of a disconnect) and staff (they read
    the family's audit trail), the same whether or not it exists."""
    connection = db.session.get(Connection, connection_id)
    if connection is not None and connection.linked_user_id not in (None, actor.id):
        group = (db.session.get(FamilyGroup, connection.family_group_id)
                 if connection.family_group_id is not None else None)
        if actor.id == connection.user_id or (group is not None
                                              and group.admin_user_id == actor.id):
            return connection
    raise NotFound(_("This connection does not exist or you cannot see it."), code="not_found")


def private_details(event: AuditEvent, viewer: User) -> dict:
    """An event's details as `viewer` may read them: a disconnect's private reason is kept
    for staff and for the person who wrote it."""
    details = dict(event.details or {})
    if "reason" in details and not (viewer.is_staff or event.actor_id == viewer.id):
        details.pop("reason")
    return details


