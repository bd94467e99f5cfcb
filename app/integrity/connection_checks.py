"""The invariants of connections (SPEC §2, §3, §8), one Check each.

A connection is a row of user_emergency_contacts with a linked user (the caregiver);
"live" means permission_revoked is false, "current" that its group is active and both
parties are members of it in their roles (app/connections/queries.py).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import and_, case, delete, exists, func, not_, or_, select, update
from sqlalchemy.orm import aliased

from app.connections.services import connection_put, pair_connections
from app.db import utcnow
from app.extensions import db
from app.integrity.checks import RepairableCheck, Violation, ids_of
from app.models.accounts import User
from app.models.connections import (
    PERMISSION_CODES,
    Connection,
    ConnectionPermission,
    PermissionType,
    RelationshipInverse,
)
from app.models.groups import ROLE_CAREGIVER, ROLE_PATIENT, FamilyGroup, FamilyGroupMember

TABLE = Connection.__tablename__
LINKED = Connection.linked_user_id.is_not(None)
_PATIENT, _CAREGIVER = aliased(FamilyGroupMember), aliased(FamilyGroupMember)


def _enabled(connection_id) -> Any:
    return exists().where(ConnectionPermission.contact_id == connection_id,
                          ConnectionPermission.is_enabled.is_(True))


def revoke(ids: list[int]) -> None:
    """What the silent disconnect does (BR-040): revoked, all six OFF; no outbox row."""
    if not ids:
        return
    now = utcnow()
    db.session.execute(update(Connection).where(Connection.id.in_(ids))
                       .values(permission_revoked=True, updated_at=now)
                       .execution_options(synchronize_session=False))
    db.session.execute(update(ConnectionPermission)
                       .where(ConnectionPermission.contact_id.in_(ids),
                              ConnectionPermission.is_enabled.is_(True))
                       .values(is_enabled=False, updated_at=now, updated_by=None)
                       .execution_options(synchronize_session=False))


class _ConnectionCheck(RepairableCheck):
    """Violations that name one connection; the repair revokes it (override to differ)."""

    message: str
    page_row = "connection"

    def page_column(self):
        return Connection.id

    def violation(self, row: Any) -> Violation:
        return Violation(self.code, self.message, {"connection": row.id}, self.repairable,
                         group_id=row.family_group_id)

    def repair(self, batch: list[Violation]) -> None:
        revoke(ids_of(batch, "connection"))
        for v in batch:
            self.repaired(v, subject=(TABLE, v.rows["connection"]), done="revoked")


class SelfConnection(_ConnectionCheck):
    """BR-038 (chk_no_self_connection holds it where the constraint exists): nobody
    follows themselves. A revoked one grants nothing, so revoking is the repair."""

    code = "connection.self"
    title = "No live connection from a user to themselves (BR-038)"
    message = "a user follows themselves"

    def query(self):
        return (select(Connection.id, Connection.family_group_id)
                .where(LINKED, Connection.linked_user_id == Connection.user_id,
                       Connection.permission_revoked.is_(False))
                .order_by(Connection.id))


class OutsideFamily(_ConnectionCheck):
    """No live connection outside its family: no family, a family that is not active, or
    a party who is no longer a member of it in that role. Repair: the silent disconnect."""

    code = "connection.outside_family"
    title = "No live connection outside its family"

    def query(self):
        as_patient, as_caregiver = aliased(FamilyGroupMember), aliased(FamilyGroupMember)
        return (select(Connection.id, Connection.family_group_id, FamilyGroup.status,
                       as_patient.id.label("patient_member"),
                       as_caregiver.id.label("caregiver_member"))
                .outerjoin(FamilyGroup, FamilyGroup.id == Connection.family_group_id)
                .outerjoin(as_patient, and_(as_patient.group_id == Connection.family_group_id,
                                            as_patient.user_id == Connection.user_id,
                                            as_patient.role == ROLE_PATIENT))
                .outerjoin(as_caregiver, and_(
                    as_caregiver.group_id == Connection.family_group_id,
                    as_caregiver.user_id == Connection.linked_user_id,
                    as_caregiver.role == ROLE_CAREGIVER))
                .where(LINKED, Connection.permission_revoked.is_(False),
                       or_(FamilyGroup.id.is_(None), FamilyGroup.status != "active",
                           as_patient.id.is_(None), as_caregiver.id.is_(None)))
                .order_by(Connection.id))

    def violation(self, row: Any) -> Violation:
        if row.family_group_id is None:
            why = "a live connection belongs to no family"
        elif row.status is None:
            why = "a live connection belongs to a family that does not exist"
        elif row.status != "active":
            why = f"a live connection belongs to a family that is {row.status}"
        elif row.patient_member is None and row.caregiver_member is None:
            why = "a live connection's patient and caregiver are no longer members"
        elif row.patient_member is None:
            why = "a live connection's patient is no longer a patient of its family"
        else:
            why = "a live connection's caregiver is no longer a caregiver of its family"
        return Violation(self.code, why, {"connection": row.id,
                                          "family": row.family_group_id},
                         True, group_id=row.family_group_id)


class PermissionRows(_ConnectionCheck):
    """Every connection has exactly six permission rows, one per permission type.
    Repair: the missing ones are added OFF (fail closed), rows of unknown codes go."""

    code = "connection.permission_rows"
    title = "Every connection has one permission row per permission type"

    def query(self):
        known = func.count(PermissionType.code)
        rows = func.count(ConnectionPermission.id)
        types = select(func.count()).select_from(PermissionType).scalar_subquery()
        return (select(Connection.id, Connection.family_group_id, rows.label("rows"),
                       known.label("known"), types.label("types"))
                .outerjoin(ConnectionPermission, ConnectionPermission.contact_id == Connection.id)
                .outerjoin(PermissionType,
                           PermissionType.code == ConnectionPermission.permission_code)
                .where(LINKED)
                .group_by(Connection.id, Connection.family_group_id)
                .having(or_(known != types, rows != known))
                .order_by(Connection.id))

    def violation(self, row: Any) -> Violation:
        message = f"{row.known} of the {row.types} permission rows"
        if row.rows != row.known:
            message += f", and {row.rows - row.known} of unknown codes"
        return Violation(self.code, message, {"connection": row.id}, True,
                         group_id=row.family_group_id)

    def repair(self, batch: list[Violation]) -> None:
        ids = ids_of(batch, "connection")
        types = set(db.session.scalars(select(PermissionType.code)))
        held: dict[int, set[str]] = defaultdict(set)
        for contact_id, code in db.session.execute(
                select(ConnectionPermission.contact_id, ConnectionPermission.permission_code)
                .where(ConnectionPermission.contact_id.in_(ids))):
            held[contact_id].add(code)
        now = utcnow()
        for v in batch:
            contact_id = v.rows["connection"]
            added = sorted(types - held[contact_id])
            removed = sorted(held[contact_id] - types)
            db.session.add_all(ConnectionPermission(contact_id=contact_id, permission_code=code,
                                                    is_enabled=False, updated_at=now)
                               for code in added)
            if removed:
                db.session.execute(delete(ConnectionPermission).where(
                    ConnectionPermission.contact_id == contact_id,
                    ConnectionPermission.permission_code.in_(removed)))
            self.repaired(v, subject=(TABLE, contact_id), added_off=added, removed=removed)


class RevokedPermissionOn(_ConnectionCheck):
    """BR-040: a revoked connection has every permission OFF."""

    code = "connection.revoked_permission_on"
    title = "A revoked connection has every permission OFF (BR-040)"
    message = "a revoked connection still has permissions ON"

    def query(self):
        return (select(Connection.id, Connection.family_group_id)
                .where(LINKED, Connection.permission_revoked.is_(True),
                       _enabled(Connection.id))
                .order_by(Connection.id))


class LiveWithoutPermission(_ConnectionCheck):
    """BR-039: a live connection keeps at least one permission ON. Repair: mark it revoked
    (BR-040's state for "no access"); a permission is never turned ON by the check."""

    code = "connection.live_without_permission"
    title = "A live connection keeps at least one permission ON (BR-039)"
    message = "a live connection has no permission ON"

    def query(self):
        return (select(Connection.id, Connection.family_group_id)
                .where(LINKED, Connection.permission_revoked.is_(False),
                       not_(_enabled(Connection.id)))
                .order_by(Connection.id))


class MissingConnection(RepairableCheck):
    """BR-045/008/009: every patient/caregiver pair of an active family (two different
    users, both members) has its connection in that family. Repair: what the join would
    have done — the pair's row (reused if the pair met before, one row per pair) in this
    family, live, six permissions ON."""

    code = "connection.missing"
    title = "Every patient/caregiver pair of a family has its connection"
    page_row = "family"

    def page_column(self):
        return _PATIENT.group_id

    def query(self):
        patient, caregiver = _PATIENT, _CAREGIVER
        return (select(patient.group_id, patient.user_id.label("patient_id"),
                       caregiver.user_id.label("caregiver_id"))
                .join(caregiver, and_(caregiver.group_id == patient.group_id,
                                      caregiver.role == ROLE_CAREGIVER,
                                      caregiver.user_id != patient.user_id))
                .join(FamilyGroup, and_(FamilyGroup.id == patient.group_id,
                                        FamilyGroup.status == "active"))
                .where(patient.role == ROLE_PATIENT, ~exists().where(
                    Connection.user_id == patient.user_id,
                    Connection.linked_user_id == caregiver.user_id,
                    Connection.family_group_id == patient.group_id,
                    Connection.contact_type == "caregiver"))
                .order_by(patient.group_id, patient.user_id, caregiver.user_id))

    def violation(self, row: Any) -> Violation:
        return Violation(self.code, "a patient and a caregiver of a family are not connected",
                         {"family": row.group_id, "patient": row.patient_id,
                          "caregiver": row.caregiver_id}, True, group_id=row.group_id)

    def repair(self, batch: list[Violation]) -> None:
        pairs = [(v.rows["patient"], v.rows["caregiver"]) for v in batch]
        existing = pair_connections(pairs)
        for v, pair in zip(batch, pairs, strict=True):
            reused = pair in existing
            # What the join would have done (BR-045): live, all six ON.
            connection = connection_put(existing.get(pair), pair=pair, group_id=v.group_id,
                                        permissions=dict.fromkeys(PERMISSION_CODES, True),
                                        updated_by=None)
            connection.contact_type = "caregiver"  # a reused row may have been another kind
            db.session.flush()
            self.repaired(v, subject=(TABLE, connection.id), connection=connection.id,
                          reused=reused, done="connected, six permissions ON")


class InverseRelationship(_ConnectionCheck):
    """BR-028: the inverse relationship matches the mapping. relationship_code is what the
    caregiver is to the patient, inverse_relationship_code what the patient is to the
    caregiver; either party may have said theirs (app/connections/control.py), so the pair
    holds when one is the other's inverse through the other party's gender (unknown
    gender → khac), or both are empty. Repair: the inverse is recomputed from the
    caregiver's side, or the caregiver's side from the patient's when it alone is set."""

    code = "connection.inverse_relationship"
    title = "The inverse relationship matches the mapping (BR-028)"

    def query(self):
        patient, caregiver = aliased(User), aliased(User)
        by_patient, by_caregiver = aliased(RelationshipInverse), aliased(RelationshipInverse)
        expected_inverse = case((patient.gender.is_(None), "khac"),
                                else_=func.coalesce(by_patient.inverse_code, "khac"))
        expected_relationship = case((caregiver.gender.is_(None), "khac"),
                                     else_=func.coalesce(by_caregiver.inverse_code, "khac"))
        rel, inv = Connection.relationship_code, Connection.inverse_relationship_code
        holds = or_(and_(rel.is_(None), inv.is_(None)),
                    and_(rel.is_not(None), inv.is_not(None),
                         or_(inv == expected_inverse, rel == expected_relationship)))
        return (select(Connection.id, Connection.family_group_id, rel, inv,
                       expected_inverse.label("expected_inverse"),
                       expected_relationship.label("expected_relationship"))
                .join(patient, patient.id == Connection.user_id)
                .join(caregiver, caregiver.id == Connection.linked_user_id)
                .outerjoin(by_patient, and_(by_patient.relationship_code == rel,
                                            by_patient.target_gender == patient.gender))
                .outerjoin(by_caregiver, and_(by_caregiver.relationship_code == inv,
                                              by_caregiver.target_gender == caregiver.gender))
                .where(not_(holds))
                .order_by(Connection.id))

    def violation(self, row: Any) -> Violation:
        if row.relationship_code is not None:
            fix = {"inverse_relationship_code": row.expected_inverse}
        else:
            fix = {"relationship_code": row.expected_relationship}
        message = (f"relationship {row.relationship_code or '-'} with inverse "
                   f"{row.inverse_relationship_code or '-'} does not match the mapping")
        return Violation(self.code, message, {"connection": row.id}, True,
                         group_id=row.family_group_id,
                         data={"fix": fix, "before": [row.relationship_code,
                                                      row.inverse_relationship_code]})

    def repair(self, batch: list[Violation]) -> None:
        now = utcnow()
        for v in batch:
            db.session.execute(update(Connection)
                               .where(Connection.id == v.rows["connection"])
                               .values(updated_at=now, **v.data["fix"])
                               .execution_options(synchronize_session=False))
            self.repaired(v, subject=(TABLE, v.rows["connection"]), before=v.data["before"],
                          set=v.data["fix"])
