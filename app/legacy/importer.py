"""The legacy import itself: checked records in, groups, members, connections and claim
links out, a batch at a time (SPEC §8; docs/decisions.md, "Issue 6: legacy import").

A batch is read with a fixed number of set-based statements (groups by legacy_id, users by
phone, the memberships of those users, the active subscriptions of the admins, the
connection rows of the pairs), planned in memory in the file's order, and written with
multi-row inserts inside a SAVEPOINT. When the write hits an IntegrityError (someone
registered one of the phones, or joined a group, between our read and our write) the batch
is rolled back to the savepoint and redone one record at a time, each re-read in its own
savepoint, so that only the record that still fails is lost.

Only counts and the current batch are kept: report lines go out as each batch is done.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import islice
from typing import IO

from flask import current_app
from sqlalchemy import bindparam, delete, func, select, tuple_, update
from sqlalchemy.exc import IntegrityError

from app.accounts.claims import claim_rows
from app.connections.services import family_pairs, inverse_table, relationship_inverse
from app.db import utcnow
from app.errors import Conflict
from app.extensions import db
from app.groups.services import groups_held, single_group_check
from app.legacy.bulk import (
    chunked_rows,
    chunked_scalars,
    chunks,
    insert,
    insert_dicts,
    new_ids,
    pipelined,
)
from app.legacy.records import (
    BadRecord,
    BrokenFile,
    Person,
    Record,
    check_record,
    read_records,
)
from app.models.accounts import AccountClaim, User
from app.models.audit import AuditEvent
from app.models.billing import Subscription
from app.models.connections import (
    PERMISSION_CODES,
    Connection,
    ConnectionPermission,
    Relationship,
)
from app.models.groups import ROLE_CAREGIVER, ROLE_PATIENT, FamilyGroup, FamilyGroupMember
from app.models.notifications import InviteNotification
from app.transaction import committed

IMPORT_PLAN_DAYS = 365
DEFAULT_BATCH = 1000
_GROUP = "\x00group\x00"  # in a report line: the batch group it names, once it has an id

# Called between a batch's reads and its writes, with the batch's records. Tests use it to
# register a phone from another connection at exactly the wrong moment (the race the
# record-by-record fallback exists for); it is None in normal runs.
between_read_and_write: Callable[[list[Record]], None] | None = None


@dataclass
class Counts:
    records: int = 0
    groups_created: int = 0
    groups_matched: int = 0
    users_created: int = 0
    users_matched: int = 0
    memberships: int = 0
    connections: int = 0
    claim_links: int = 0
    bad_records: int = 0
    conflicts: int = 0
    notes: int = 0

    def add(self, other: Counts) -> None:
        for key, value in vars(other).items():
            setattr(self, key, getattr(self, key) + value)

    def summary(self) -> list[str]:
        return [
            f"records read: {self.records}",
            f"groups created: {self.groups_created}",
            f"groups matched (already imported): {self.groups_matched}",
            f"users created: {self.users_created}",
            f"users matched: {self.users_matched}",
            f"memberships: {self.memberships}",
            f"connections: {self.connections}",
            f"claim links: {self.claim_links}",
            f"bad records: {self.bad_records}",
            f"conflicts: {self.conflicts}",
            f"notes: {self.notes}",
        ]


def _label(position: int, legacy_id: str | None) -> str:
    return f"record {position}" + (f" (legacyId {legacy_id})" if legacy_id else "")


@dataclass
class _Group:
    """A group the batch will create."""

    record: Record
    members: list[tuple[Person, str]] = field(default_factory=list)
    id: int | None = None


@dataclass
class _Plan:
    groups: list[_Group] = field(default_factory=list)
    # phone → (who, index of the group whose record creates them): first seen wins
    new_users: dict[str, tuple[Person, int]] = field(default_factory=dict)
    users: dict[str, tuple[int, int | None]] = field(default_factory=dict)  # phone → id, gender
    # (position, text, index of the batch group the text names, if any)
    lines: list[tuple[int, str, int | None]] = field(default_factory=list)
    counts: Counts = field(default_factory=Counts)


class LegacyImport:
    """One run of the import. `out` receives each report line."""

    def __init__(self, *, out: Callable[[str], None], batch_size: int = DEFAULT_BATCH,
                 dry_run: bool = False) -> None:
        self.out = out
        self.batch_size = max(1, batch_size)
        self.dry_run = dry_run
        self.counts = Counts()
        config = current_app.config
        self.plans: dict[str, dict[str, int]] = config["PLANS"]
        self.plan_days = int(config.get("IMPORT_PLAN_DAYS", IMPORT_PLAN_DAYS))
        self.relationships = frozenset(db.session.scalars(
            select(Relationship.code).where(Relationship.is_active.is_(True))))
        self.inverse = inverse_table()
        # Groups with a higher id were made by this run: the report names them by legacyId,
        # so that a dry run and a real run print the same lines (ids are not reused).
        self.last_group_before = db.session.scalar(select(func.max(FamilyGroup.id))) or 0

    # --- the run ------------------------------------------------------------------------

    def run(self, stream: IO[bytes]) -> Counts:
        """Import every record of `stream`; commits each batch (rolls everything back at
        the end of a dry run). Raises records.BrokenFile after importing what came before
        the break."""
        self._records = read_records(stream)
        self._ahead: tuple[list[Record | BadRecord], BaseException | None] | None = None
        try:
            while True:
                batch, error = self._ahead or self._read_batch()
                self._ahead = None
                self.counts.records += len(batch)
                if error is not None and not isinstance(error, BrokenFile):
                    raise error
                self._batch(batch)  # before a BrokenFile: what came before the break goes in
                if error is not None:
                    raise error
                if len(batch) < self.batch_size:
                    break
        finally:
            if self.dry_run:
                db.session.rollback()
        return self.counts

    def _read_batch(self) -> tuple[list[Record | BadRecord], BaseException | None]:
        """The file's next batch_size records, checked, and the error that stopped the
        reading if one did (raised by run() once the batch is dealt with: the read may
        happen while the batch before is still being written)."""
        batch: list[Record | BadRecord] = []
        try:
            for item in islice(self._records, self.batch_size):
                if not isinstance(item, BadRecord):
                    item = check_record(item[1], item[0], plans=self.plans,
                                        relationships=self.relationships)
                batch.append(item)
        except Exception as exc:  # raised by run(), after the batch before it
            return batch, exc
        return batch, None

    def _read_ahead(self) -> None:
        """Read and check the next batch now, while the database writes this one."""
        if self._ahead is None:
            self._ahead = self._read_batch()

    def _batch(self, items: list[Record | BadRecord]) -> None:
        if not items:
            return
        lines: list[tuple[int, str]] = []
        for bad in items:
            if isinstance(bad, BadRecord):
                self.counts.bad_records += 1
                lines.append((bad.position, f"{_label(bad.position, bad.legacy_id)}: "
                                            f"skipped, bad record: {bad.reason}"))
        records = [r for r in items if isinstance(r, Record)]
        # A batch is one transaction; a dry run's is rolled back at the end of run().
        with nullcontext() if self.dry_run else committed():
            if records:
                plan = self._plan(records)
                if between_read_and_write is not None:
                    between_read_and_write(records)
                try:
                    with db.session.begin_nested():
                        self._write(plan)
                    done = [plan]
                except IntegrityError:
                    done = [self._one_by_one(record) for record in records]
                for result in done:
                    self.counts.add(result.counts)
                    lines.extend(self._resolve(result))
        for _position, text in sorted(lines, key=lambda line: line[0]):
            self.out(text)

    def _one_by_one(self, record: Record) -> _Plan:
        try:
            with db.session.begin_nested():
                plan = self._plan([record])
                self._write(plan)
            return plan
        except IntegrityError as exc:
            failed = _Plan()
            failed.counts.conflicts += 1
            reason = str(exc.orig).splitlines()[0] if exc.orig else str(exc)
            failed.lines.append((record.position, f"{_label(record.position, record.legacy_id)}"
                                                  f": skipped, conflict while writing: {reason}",
                                 None))
            return failed

    @staticmethod
    def _resolve(plan: _Plan) -> Iterator[tuple[int, str]]:
        for position, text, index in plan.lines:
            if index is not None:
                text = text.replace(_GROUP, "the group imported from legacyId "
                                    + plan.groups[index].record.legacy_id)
            yield position, text

    # --- read and plan ------------------------------------------------------------------

    def _other(self, group_id: int, legacy_id: str | None) -> str:
        if group_id > self.last_group_before and legacy_id:
            return f"the group imported from legacyId {legacy_id}"
        return f"group {group_id}" + (f" (legacyId {legacy_id})" if legacy_id else "")

    def _held_elsewhere(self, found: tuple[int, int | None] | None, role: str,
                        held: dict[tuple[int, str], int],
                        legacy_ids: dict[int, str | None]) -> str | None:
        """The family an existing user already holds `role` in (BR-057), named for the
        report: the services' single_group_check on the batch's reading."""
        if found is None:
            return None
        try:
            single_group_check(user_id=found[0], group_id=None, role=role, held=held)
        except Conflict:
            group_id = held[(found[0], role)]
            return self._other(group_id, legacy_ids.get(group_id))
        return None

    def _plan(self, records: list[Record]) -> _Plan:
        plan = _Plan()
        known = set(chunked_scalars(select(FamilyGroup.legacy_id), FamilyGroup.legacy_id,
                                     [r.legacy_id for r in records]))
        # A record already imported is matched and left alone: its people need no reading
        # (a second run of the whole file reads the legacyIds and nothing else).
        fresh = [r for r in records if r.legacy_id not in known]
        phones = {p.phone for r in fresh for p in (r.admin, *r.patients, *r.caregivers)}
        for row in chunked_rows(select(User.id, User.phone, User.gender), User.phone, phones):
            plan.users[row.phone] = (row.id, row.gender)
        ids = [uid for uid, _g in plan.users.values()]
        held: dict[tuple[int, str], int] = {}  # BR-057, read as the services read it
        for chunk in chunks(ids):
            held.update(groups_held(chunk))
        legacy_ids = dict(chunked_rows(select(FamilyGroup.id, FamilyGroup.legacy_id),
                                       FamilyGroup.id, sorted(set(held.values()))))
        owners = set(chunked_scalars(
            select(Subscription.owner_user_id).where(Subscription.status == "active"),
            Subscription.owner_user_id,
            [plan.users[r.admin.phone][0] for r in fresh if r.admin.phone in plan.users]))

        seen: set[str] = set()
        admins: set[str] = set()
        taken: dict[tuple[str, str], int] = {}  # (phone, role) → index of the batch's group
        c = plan.counts
        for record in records:
            label = _label(record.position, record.legacy_id)
            if record.legacy_id in known or record.legacy_id in seen:
                c.groups_matched += 1
                plan.lines.append((record.position, f"{label}: matched (already imported)", None))
                continue
            admin = plan.users.get(record.admin.phone)
            if (admin and admin[0] in owners) or record.admin.phone in admins:
                c.conflicts += 1
                plan.lines.append((record.position, (
                    f"{label}: skipped, conflict: the admin {record.admin.phone} already owns "
                    "an active subscription"), None))
                continue
            seen.add(record.legacy_id)
            admins.add(record.admin.phone)
            index = len(plan.groups)
            group = _Group(record)
            plan.groups.append(group)
            for note in record.notes:
                c.notes += 1
                plan.lines.append((record.position, f"{label}: note: {note}", None))
            for role, people in ((ROLE_PATIENT, record.patients),
                                 (ROLE_CAREGIVER, record.caregivers)):
                for person in people:
                    found = plan.users.get(person.phone)
                    other = self._held_elsewhere(found, role, held, legacy_ids)
                    ref = taken.get((person.phone, role)) if other is None else None
                    if other is not None or ref is not None:
                        c.conflicts += 1
                        plan.lines.append((record.position, (
                            f"{label}: conflict: {person.phone} is already a {role} of "
                            f"{other or _GROUP}; not added as a {role} here"), ref))
                        continue
                    taken[(person.phone, role)] = index
                    group.members.append((person, role))
            involved = {record.admin.phone: record.admin}
            for person, _role in group.members:
                involved.setdefault(person.phone, person)
            for phone, person in involved.items():
                if phone in plan.users or phone in plan.new_users:
                    c.users_matched += 1
                else:
                    plan.new_users[phone] = (person, index)
                    c.users_created += 1
        return plan

    # --- write --------------------------------------------------------------------------

    def _write(self, plan: _Plan) -> None:
        """Take the ids and read the pairs connected before, then send every insert: on
        PostgreSQL without waiting for each (bulk.pipelined), so the next table's rows,
        and the claim links' sealing, are built while the server works on the last."""
        if not plan.groups:
            return
        now = utcnow()
        stamps = {"created_at": now, "updated_at": now}
        users, groups = plan.users, plan.groups
        new = [person for person, _index in plan.new_users.values()]
        for person, user_id in zip(new, new_ids(User, len(new)), strict=True):
            users[person.phone] = (user_id, person.gender)
        subscription_ids = new_ids(Subscription, len(groups))
        for group, group_id in zip(groups, new_ids(FamilyGroup, len(groups)), strict=True):
            group.id = group_id
        admin_ids = [users[g.record.admin.phone][0] for g in groups]
        members = [(g.id, users[p.phone][0], role) for g in groups for p, role in g.members]
        pairs = self._pairs(plan)
        fresh, reused = self._connected_before(plan, pairs)
        contact_ids = new_ids(Connection, len(fresh))

        def the_rest() -> None:
            insert(FamilyGroupMember, ("group_id", "user_id", "role"), members,
                   constants={"joined_at": now})
            insert(Connection, ("id", "user_id", "linked_user_id", "family_group_id",
                                "relationship_code", "inverse_relationship_code"),
                   [(cid, *pair) for cid, pair in zip(contact_ids, fresh, strict=True)],
                   constants={"contact_type": "caregiver", "permission_revoked": False,
                              "invite_id": None, **stamps})
            insert(ConnectionPermission, ("contact_id",),
                   [(cid,) for cid in (*contact_ids, *(cid for cid, _p in reused))],
                   each=("permission_code", PERMISSION_CODES),
                   constants={"is_enabled": True, "updated_at": now, "updated_by": None})
            self._audit(plan, now)
            plan.counts.claim_links += self._claims(plan, now)
            self._read_ahead()  # on PostgreSQL the server is still at work on the above

        with pipelined():
            insert(User, ("id", "phone", "name", "gender"),
                   [(users[p.phone][0], p.phone, p.name, p.gender) for p in new],
                   constants={"locale": "vi", "password_hash": None, **stamps})
            insert(Subscription,
                   ("id", "owner_user_id", "plan", "patient_slots", "caregiver_slots"),
                   [(sid, admin_id, g.record.plan, self.plans[g.record.plan]["patient"],
                     self.plans[g.record.plan]["caregiver"])
                    for sid, admin_id, g in zip(subscription_ids, admin_ids, groups,
                                                strict=True)],
                   constants={"status": "active", "starts_at": now,
                              "expires_at": now + timedelta(days=self.plan_days), **stamps})
            insert(FamilyGroup, ("id", "admin_user_id", "subscription_id", "name", "legacy_id"),
                   [(g.id, admin_id, sid, g.record.family_name, g.record.legacy_id)
                    for g, admin_id, sid in zip(groups, admin_ids, subscription_ids,
                                                strict=True)],
                   constants={"status": "active", **stamps})
            if not reused:
                the_rest()
        if reused:  # rare: through the session, once the group it points at exists
            self._reuse(reused, now)
            with pipelined():
                the_rest()
        plan.counts.groups_created += len(groups)
        plan.counts.memberships += len(members)
        plan.counts.connections += len(pairs)

    def _pairs(self, plan: _Plan) -> list[tuple[int, int, int, str, str]]:
        """(patient, caregiver, group, relationship, inverse) of the pairs joining makes
        (family_pairs: BR-045/038) in each new group."""
        users = plan.users
        pairs = []

        def user_id(person: Person) -> int:
            return users[person.phone][0]

        for group in plan.groups:
            patients = [p for p, role in group.members if role == ROLE_PATIENT]
            caregivers = [p for p, role in group.members if role == ROLE_CAREGIVER]
            for patient, caregiver in family_pairs(patients, caregivers, key=user_id):
                patient_id, gender = users[patient.phone]
                pairs.append((patient_id, user_id(caregiver), group.id, caregiver.relationship,
                              relationship_inverse(self.inverse, caregiver.relationship,
                                                   gender)))
        return pairs

    @staticmethod
    def _connected_before(plan: _Plan, pairs: list[tuple]) -> tuple[list[tuple],
                                                                     list[tuple[int, tuple]]]:
        """The pairs to connect anew, and (row id, pair) of those with a connection row
        already (an earlier group): joining reuses that row."""
        # Only users who existed before this batch can have a connection row already.
        old_ids = {uid for phone, (uid, _g) in plan.users.items()
                   if phone not in plan.new_users}
        wanted = sorted({(p[0], p[1]) for p in pairs if p[0] in old_ids and p[1] in old_ids})
        existing = {(row.user_id, row.linked_user_id): row.id for row in chunked_rows(
            select(Connection.id, Connection.user_id, Connection.linked_user_id),
            tuple_(Connection.user_id, Connection.linked_user_id), wanted)}
        fresh = [p for p in pairs if (p[0], p[1]) not in existing]
        reused = [(existing[(p[0], p[1])], p) for p in pairs if (p[0], p[1]) in existing]
        return fresh, reused

    @staticmethod
    def _reuse(reused: list[tuple[int, tuple]], now) -> None:
        """Point the rows of pairs connected before at the new group, ON again; their
        permission rows are deleted here and inserted again, six ON, with the new ones."""
        table = Connection.__table__
        db.session.execute(
            update(table).where(table.c.id == bindparam("b_id")).values(
                family_group_id=bindparam("family_group_id"), permission_revoked=False,
                invite_id=None, relationship_code=bindparam("relationship_code"),
                inverse_relationship_code=bindparam("inverse_relationship_code"),
                updated_at=bindparam("updated_at")),
            [{"b_id": cid, "family_group_id": p[2], "relationship_code": p[3],
              "inverse_relationship_code": p[4], "updated_at": now} for cid, p in reused])
        for chunk in chunks([cid for cid, _p in reused]):
            db.session.execute(delete(ConnectionPermission)
                               .where(ConnectionPermission.contact_id.in_(chunk)))

    def _audit(self, plan: _Plan, now) -> None:
        users = plan.users
        created: dict[int, list[int]] = {}
        for phone, (_person, index) in plan.new_users.items():
            created.setdefault(index, []).append(users[phone][0])
        insert(AuditEvent, ("subject_id", "family_group_id", "details"), [
            (group.id, group.id, {
                "legacyId": group.record.legacy_id, "position": group.record.position,
                "admin_id": users[group.record.admin.phone][0],
                "members": [{"user_id": users[p.phone][0], "role": role}
                            for p, role in group.members],
                "created_user_ids": sorted(created.get(index, []))})
            for index, group in enumerate(plan.groups)],
            constants={"actor_id": None, "action": "import.group_imported",
                       "subject_type": "family_groups", "created_at": now, "ip": None})

    def _claims(self, plan: _Plan, now) -> int:
        """One claim link per user the import created, queued as an SMS (SPEC §8)."""
        claims, messages = [], []
        for phone, (person, index) in plan.new_users.items():
            claim, message = claim_rows(user_id=plan.users[phone][0], phone=phone,
                                        name=person.name, now=now,
                                        group_id=plan.groups[index].id)
            claims.append(claim)
            messages.append(message)
        insert_dicts(AccountClaim, claims)
        insert_dicts(InviteNotification, messages)
        return len(claims)
