"""What the accept writes, row for row, now that each table takes one INSERT (issue 17):
the audit trail and the outbox in the order they were written one row at a time, a
returning member's earlier rows reused as the ORM reused them, the answer's connections
carrying their permissions, and a concurrent join refused without a broken transaction."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import event, select

from app.errors import Conflict
from app.extensions import db
from app.invites.services import invite_accept
from app.membership.services import member_join, member_leave
from app.models.audit import AuditEvent
from app.models.connections import PERMISSION_CODES, Connection, ConnectionPermission
from app.models.groups import FamilyGroupMember
from app.models.notifications import InviteNotification
from tests.factories import make_group, make_member, make_subscription, make_user
from tests.service_helpers import (
    ALL_ON,
    admin_group,
    audit_since,
    connection_between,
    invite,
    join,
    last_id,
    outbox_since,
    permission_map,
)


def test_audit_trail_and_outbox_of_an_accept_in_their_order(ctx):
    admin, _sub, group = admin_group(patients=4, caregivers=4, email="admin@example.com")
    first, second = join(group, role="patient", gender=0), join(group, role="patient", gender=1)
    other = join(group, role="caregiver", email="other@example.com")
    daughter = make_user(gender=1)
    pending = invite(group, daughter, role="caregiver").invite
    audit_mark, outbox_mark = last_id(AuditEvent), last_id(InviteNotification)

    result = invite_accept(actor=daughter, invite=pending, relationship="con_gai",
                           ip="198.51.100.7")

    made = [connection_between(first, daughter), connection_between(second, daughter)]
    assert [c.id for c in result.connections] == [c.id for c in made]  # by patient id
    member = db.session.scalar(select(FamilyGroupMember).where(
        FamilyGroupMember.user_id == daughter.id))
    assert [(e.actor_id, e.action, e.subject_type, e.subject_id, e.family_group_id, e.ip,
             e.details) for e in audit_since(audit_mark)] == [
        (daughter.id, "invite.accepted", "connection_invites", pending.id, group.id,
         "198.51.100.7", {"role": "caregiver", "relationship": "con_gai"}),
        *[(daughter.id, "connection.created", "user_emergency_contacts", c.id, group.id, None,
           {"patient_id": c.user_id, "caregiver_id": daughter.id, "relationship": "con_gai",
            "inverse_relationship": inverse})
          for c, inverse in zip(made, ("bo", "me"), strict=True)],
        (daughter.id, "group.member_joined", "family_group_members", member.id, group.id,
         "198.51.100.7", {"user_id": daughter.id, "role": "caregiver",
                          "invite_id": pending.id, "connections": [c.id for c in made]}),
    ]
    joined = {"group_id": group.id, "group_name": group.name, "member_name": daughter.name,
              "role": "caregiver"}
    assert [(n.notification_type, n.recipient_user_id, n.recipient, n.channel, n.status,
             n.invite_id, n.family_group_id, n.payload, n.sent_at is not None,
             n.next_attempt_at is not None) for n in outbox_since(outbox_mark)] == [
        ("INVITE_ACCEPTED", admin.id, str(admin.id), "in_app", "sent", pending.id, group.id,
         joined, True, False),
        ("INVITE_ACCEPTED", admin.id, "admin@example.com", "email", "pending", pending.id,
         group.id, joined, False, True),
        *[row for person in sorted((first, second, other), key=lambda u: u.id) for row in (
            ("MEMBER_JOINED", person.id, str(person.id), "in_app", "sent", pending.id,
             group.id, joined, True, False),
            ("MEMBER_JOINED", person.id, person.email or person.phone,
             "email" if person.email else "sms", "pending", pending.id, group.id, joined,
             False, True))],
    ]


def test_the_answers_connections_carry_their_permissions_without_a_statement(ctx):
    _admin, _sub, group = admin_group()
    join(group, role="patient")
    join(group, role="patient")
    caregiver = make_user()
    pending = invite(group, caregiver, role="caregiver").invite

    result = invite_accept(actor=caregiver, invite=pending)

    statements = []
    record = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", record)
    try:
        shown = [[(p.permission_code, p.is_enabled) for p in c.permissions]
                 for c in result.connections]
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert statements == []
    assert shown == [[(code, True) for code in PERMISSION_CODES]] * 2


def test_back_after_leaving_the_rows_are_reused_as_the_orm_reused_them(ctx):
    """The connection keeps its id, type and creation time, and (no relationship chosen
    this time) its relationship; a permission row whose value and updater are unchanged
    keeps its updated_at, the others get a new one."""
    admin, _sub, group = admin_group()
    patient = join(group, role="patient", gender=0)
    caregiver = make_user(gender=1)
    first = invite(group, caregiver, role="caregiver",
                   initial_permissions={"emergency_alert": False}).invite
    invite_accept(actor=caregiver, invite=first, relationship="con_gai")
    member_leave(actor=caregiver, group=group, role="caregiver")  # all six OFF, by her
    db.session.commit()
    before = connection_between(patient, caregiver)
    before_values = (before.id, before.created_at, before.contact_type)
    before_updated = before.updated_at
    stamps = dict(db.session.execute(
        select(ConnectionPermission.permission_code, ConnectionPermission.updated_at)
        .where(ConnectionPermission.contact_id == before.id)).tuples().all())
    time.sleep(0.01)

    again = invite(group, caregiver, role="caregiver",
                   initial_permissions={"emergency_alert": False}).invite
    result = invite_accept(actor=caregiver, invite=again)

    after = connection_between(patient, caregiver)
    assert [c.id for c in result.connections] == [after.id]
    assert (after.id, after.created_at, after.contact_type) == before_values
    assert (after.relationship_code, after.inverse_relationship_code) == ("con_gai", "bo")
    assert (after.invite_id, after.permission_revoked, after.family_group_id) == (
        again.id, False, group.id)
    assert after.updated_at > before_updated
    assert permission_map(after) == {**ALL_ON, "emergency_alert": False}
    rows = {r.permission_code: r for r in db.session.scalars(
        select(ConnectionPermission).where(ConnectionPermission.contact_id == after.id)
        .execution_options(populate_existing=True))}
    assert rows["emergency_alert"].updated_at == stamps["emergency_alert"]  # unchanged
    assert all(rows[code].updated_at > stamps[code] for code in PERMISSION_CODES
               if code != "emergency_alert")
    assert {r.updated_by for r in rows.values()} == {caregiver.id}
    assert db.session.scalar(select(Connection.id).where(
        Connection.user_id == patient.id).order_by(Connection.id.desc())) == after.id
    assert admin.id not in {after.user_id, after.linked_user_id}


def test_a_join_the_unique_index_catches_is_refused_and_leaves_the_transaction_usable(ctx):
    """BR-057's last line: a membership made meanwhile in another family (as a concurrent
    accept would) makes the INSERT add nothing; the refusal is already_in_group and the
    transaction goes on (no failed statement, PostgreSQL included)."""
    _admin, _sub, group = admin_group()
    person = make_user()
    elsewhere = make_group(make_user(), subscription=None)
    make_member(elsewhere, person, role="caregiver")
    members = db.session.scalar(select(db.func.count()).select_from(FamilyGroupMember))

    with pytest.raises(Conflict) as caught:
        member_join(actor=person, group=group, user=person, role="caregiver")

    assert caught.value.code == "already_in_group"
    assert db.session.scalar(select(db.func.count()).select_from(FamilyGroupMember)) == members
    make_subscription(person)  # the transaction still works
    db.session.flush()


def test_back_after_leaving_with_a_new_member_meanwhile_reuses_one_row_and_makes_one(ctx):
    _admin, _sub, group = admin_group()
    earlier_patient = join(group, role="patient", gender=1)
    caregiver = join(group, role="caregiver", gender=0)
    kept = connection_between(earlier_patient, caregiver).id
    member_leave(actor=caregiver, group=group, role="caregiver")
    new_patient = join(group, role="patient", gender=0)
    connections = db.session.scalar(select(db.func.count()).select_from(Connection))
    audit_mark = last_id(AuditEvent)

    result = invite_accept(actor=caregiver, invite=invite(group, caregiver).invite,
                           relationship="con_trai")

    again, made = (connection_between(earlier_patient, caregiver),
                   connection_between(new_patient, caregiver))
    assert again.id == kept
    assert db.session.scalar(select(db.func.count()).select_from(Connection)) == connections + 1
    assert [c.id for c in result.connections] == [
        c.id for c in sorted((again, made), key=lambda c: c.user_id)]
    for link, inverse in ((again, "me"), (made, "bo")):
        assert (link.relationship_code, link.inverse_relationship_code,
                link.permission_revoked) == ("con_trai", inverse, False)
        assert permission_map(link) == ALL_ON
        assert [(p.permission_code, p.is_enabled) for p in next(
            c for c in result.connections if c.id == link.id).permissions] == [
            (code, True) for code in PERMISSION_CODES]
    assert [e.subject_id for e in audit_since(audit_mark, "connection.created")] == [
        c.id for c in result.connections]
