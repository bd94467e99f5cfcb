"""Self-add (BR-049), removal (BR-058), leave (BR-061/020) and dissolve, called directly on
a real database."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from app.db import utcnow
from app.extensions import db
from app.groups.services import group_create
from app.invites.services import invite_cancel
from app.membership.services import (
    group_dissolve,
    group_self_add,
    member_join,
    member_leave,
    member_remove,
)
from app.models.audit import AuditEvent
from app.models.billing import Subscription
from app.models.connections import Connection
from app.models.groups import FamilyGroup
from app.models.invites import ConnectionInvite
from app.models.notifications import InviteNotification
from tests.factories import make_user
from tests.service_helpers import (
    ALL_OFF,
    ALL_ON,
    admin_group,
    audit_since,
    connection_between,
    invite,
    join,
    last_id,
    members_of,
    outbox_since,
    patient_and_caregiver,
    permission_map,
    refused,
    row_counts,
    told,
)


def expire(sub: Subscription) -> None:
    db.session.execute(update(Subscription).where(Subscription.id == sub.id)
                       .values(status="expired"))
    db.session.expire(sub)


def messages_since(first_id: int) -> set[tuple[str, int | None, str]]:
    return {(n.notification_type, n.recipient_user_id, n.channel)
            for n in outbox_since(first_id)}


def last_id_audit() -> int:
    return last_id(AuditEvent)


# --- group_self_add (BR-049 / BR-006) ----------------------------------------------------


def test_br049_admin_self_add_uses_a_slot_and_writes_no_invite(ctx):
    admin, _sub, group = admin_group(patients=1, caregivers=2, gender=0)
    son = join(group, role="caregiver", gender=0)
    invites_before, outbox_mark, audit_mark = row_counts()["invites"], last_id(
        InviteNotification), last_id_audit()

    result = group_self_add(actor=admin, group=group, role="patient", relationship="bo",
                            ip="192.0.2.7")

    assert (result.member.user_id, result.role) == (admin.id, "patient")
    assert members_of(group) == {(son.id, "caregiver"), (admin.id, "patient")}
    assert row_counts()["invites"] == invites_before
    assert not [n for n in outbox_since(outbox_mark) if n.notification_type == "INVITE_CREATED"]
    # The admin is the son's father; the son is then the admin's con_trai.
    link = connection_between(admin, son)
    assert (link.relationship_code, link.inverse_relationship_code) == ("con_trai", "bo")
    assert (link.family_group_id, link.permission_revoked, link.invite_id) == (
        group.id, False, None)
    assert permission_map(link) == ALL_ON
    assert told(outbox_mark) == {("MEMBER_JOINED", son.id)}
    joined = audit_since(audit_mark, "group.member_joined")
    assert [(e.actor_id, e.subject_id, e.family_group_id, e.ip, e.details) for e in joined] == [
        (admin.id, result.member.id, group.id, "192.0.2.7",
         {"user_id": admin.id, "role": "patient", "invite_id": None,
          "connections": [link.id]})]
    # The slot is used: the plan's one patient place is taken.
    refused("no_slot", invite, group=group, role="patient")


def test_br048_br038_admin_in_both_roles_never_follows_themselves(ctx):
    admin, group, patient, caregiver = patient_and_caregiver()

    group_self_add(actor=admin, group=group, role="patient")
    group_self_add(actor=admin, group=group, role="caregiver")

    assert members_of(group) >= {(admin.id, "patient"), (admin.id, "caregiver")}
    assert connection_between(admin, admin) is None
    assert db.session.scalar(select(Connection.id).where(
        Connection.user_id == Connection.linked_user_id)) is None
    assert connection_between(admin, caregiver) is not None  # admin as patient
    assert connection_between(patient, admin) is not None  # admin as caregiver
    link = connection_between(patient, admin)
    assert (link.relationship_code, link.inverse_relationship_code) == (None, None)


def test_br049_self_add_refusals_write_nothing(ctx):
    admin, sub, group = admin_group(patients=1, caregivers=1)
    member = join(group, role="caregiver")
    other_admin, _other_sub, _other = admin_group()
    refused("not_admin", group_self_add, actor=member, group=group, role="patient")
    refused("not_admin", group_self_add, actor=other_admin, group=group, role="patient")
    refused("invalid", group_self_add, actor=admin, group=group, role="admin")
    refused("unknown_relationship", group_self_add, actor=admin, group=group, role="patient",
            relationship="hang_xom")
    refused("no_slot", group_self_add, actor=admin, group=group, role="caregiver")
    invite(group, role="patient")
    refused("no_slot", group_self_add, actor=admin, group=group, role="patient")
    expire(sub)
    error = refused("subscription_inactive", group_self_add, actor=admin, group=group,
                    role="caregiver")
    assert "Renew" in error.message


def test_br057_self_add_refused_when_admin_is_in_another_group_in_that_role(ctx):
    admin, _sub, group = admin_group()
    _other_admin, _other_sub, other = admin_group()
    join(other, admin, role="patient")

    refused("already_in_group", group_self_add, actor=admin, group=group, role="patient")
    group_self_add(actor=admin, group=group, role="caregiver")  # BR-048: the other role


def test_br057_the_unique_index_is_the_last_line(ctx):
    """member_join itself turns the index's refusal into already_in_group."""
    _a, _s, group = admin_group()
    _b, _t, other = admin_group()
    person = join(other, role="caregiver")
    refused("already_in_group", member_join, actor=person, group=group, user=person,
            role="caregiver")


def test_self_add_refused_in_a_dissolved_group(ctx):
    admin, _sub, group = admin_group()
    group.status = "dissolved"
    refused("group_not_active", group_self_add, actor=admin, group=group, role="patient")


# --- member_remove (BR-058) --------------------------------------------------------------


@pytest.fixture
def family(ctx):
    """An admin (not a member), two patients and two caregivers, all connected."""
    admin, sub, group = admin_group(patients=2, caregivers=2)
    p1, p2 = join(group, role="patient"), join(group, role="patient")
    c1, c2 = join(group, role="caregiver"), join(group, role="caregiver")
    db.session.commit()
    return {"admin": admin, "sub": sub, "group": group, "p1": p1, "p2": p2, "c1": c1, "c2": c2}


def test_br058_remove_revokes_connections_frees_the_slot_and_tells_the_member(family):
    admin, group, c1, c2 = family["admin"], family["group"], family["c1"], family["c2"]
    p1, p2 = family["p1"], family["p2"]
    refused("no_slot", invite, group=group, role="caregiver")
    expire(family["sub"])  # BR-037: never blocked by billing
    outbox_mark, audit_mark = last_id(InviteNotification), last_id_audit()
    revoked_ids = sorted([connection_between(p1, c1).id, connection_between(p2, c1).id])

    member_remove(actor=admin, group=group, user_id=c1.id, role="caregiver", ip="192.0.2.8")

    assert (c1.id, "caregiver") not in members_of(group)
    for patient in (p1, p2):
        gone = connection_between(patient, c1)
        assert gone.permission_revoked is True
        assert permission_map(gone) == ALL_OFF
        kept = connection_between(patient, c2)
        assert kept.permission_revoked is False
        assert permission_map(kept) == ALL_ON
    assert messages_since(outbox_mark) == {("MEMBER_REMOVED", c1.id, "in_app"),
                                           ("MEMBER_REMOVED", c1.id, "sms")}
    [event] = audit_since(audit_mark, "group.member_removed")
    assert (event.actor_id, event.action, event.subject_type, event.subject_id,
            event.family_group_id, event.ip) == (
        admin.id, "group.member_removed", "users", c1.id, group.id, "192.0.2.8")
    # Each ended connection's own history says how it ended.
    assert sorted((e.subject_id, e.details["cause"]) for e in audit_since(
        audit_mark, "connection.released")) == [(i, "removed") for i in revoked_ids]
    assert {**event.details, "revoked": sorted(event.details["revoked"])} == {
        "user_id": c1.id, "role": "caregiver", "revoked": revoked_ids}
    # The slot is free again (renewed plan), and the removed member may join elsewhere.
    db.session.execute(update(Subscription).where(Subscription.id == family["sub"].id)
                       .values(status="active"))
    invite(group, role="caregiver")
    _b, _s, other = admin_group()
    join(other, c1, role="caregiver")


def test_br058_admin_cannot_remove_themselves(ctx):
    admin, _sub, group = admin_group()
    group_self_add(actor=admin, group=group, role="patient")
    error = refused("admin_cannot_remove_self", member_remove, actor=admin, group=group,
                    user_id=admin.id, role="patient")
    assert "Dissolve" in error.message
    assert (admin.id, "patient") in members_of(group)


def test_br058_only_the_admin_removes_and_only_members(family):
    group, p1, c1 = family["group"], family["p1"], family["c1"]
    refused("not_admin", member_remove, actor=c1, group=group, user_id=p1.id, role="patient")
    refused("not_found", member_remove, actor=family["admin"], group=group, user_id=p1.id,
            role="caregiver")
    refused("invalid", member_remove, actor=family["admin"], group=group, user_id=p1.id,
            role="owner")
    assert permission_map(connection_between(p1, c1)) == ALL_ON


def test_br058_removing_a_patient_revokes_the_caregivers_following_them(family):
    group, p1, c1, c2 = family["group"], family["p1"], family["c1"], family["c2"]
    member_remove(actor=family["admin"], group=group, user_id=p1.id, role="patient")
    for caregiver in (c1, c2):
        assert connection_between(p1, caregiver).permission_revoked is True
        assert connection_between(family["p2"], caregiver).permission_revoked is False


# --- member_leave (BR-061 / BR-020) ------------------------------------------------------


def test_br061_caregiver_leaves_the_admin_and_connected_patients_are_told(family):
    admin, group, c1 = family["admin"], family["group"], family["c1"]
    p1, p2 = family["p1"], family["p2"]
    # p2 silently disconnected c1 (BR-056): p2 is not a connected patient any more.
    silent = connection_between(p2, c1)
    silent.permission_revoked = True
    db.session.flush()
    expire(family["sub"])  # BR-037: leaving is never blocked by billing
    outbox_mark, audit_mark = last_id(InviteNotification), last_id_audit()

    member_leave(actor=c1, group=group, role="caregiver", ip="192.0.2.9")

    assert (c1.id, "caregiver") not in members_of(group)
    assert told(outbox_mark) == {("MEMBER_LEFT", admin.id), ("MEMBER_LEFT", p1.id)}
    assert messages_since(outbox_mark) == {
        ("MEMBER_LEFT", admin.id, "in_app"), ("MEMBER_LEFT", admin.id, "sms"),
        ("MEMBER_LEFT", p1.id, "in_app"), ("MEMBER_LEFT", p1.id, "sms")}
    assert connection_between(p1, c1).permission_revoked is True
    assert permission_map(connection_between(p1, c1)) == ALL_OFF
    # Both connections end, the silently disconnected one too: their histories say so.
    ended = sorted([connection_between(p1, c1).id, silent.id])
    assert sorted((e.subject_id, e.details["cause"]) for e in audit_since(
        audit_mark, "connection.released")) == [(i, "left") for i in ended]
    [event] = audit_since(audit_mark, "group.member_left")
    assert (event.actor_id, event.action, event.subject_id, event.family_group_id, event.ip,
            event.details) == (c1.id, "group.member_left", c1.id, group.id, "192.0.2.9",
                               {"role": "caregiver", "revoked": ended})


def test_br061_leave_frees_the_slot(family):
    group = family["group"]
    refused("no_slot", invite, group=group, role="patient")
    member_leave(actor=family["p1"], group=group, role="patient")
    invite(group, role="patient")


def test_br020_patient_leaves_only_the_admin_is_told(family):
    admin, group, p1 = family["admin"], family["group"], family["p1"]
    outbox_mark = last_id(InviteNotification)

    member_leave(actor=p1, group=group, role="patient")

    assert told(outbox_mark) == {("MEMBER_LEFT", admin.id)}
    assert connection_between(p1, family["c1"]).permission_revoked is True


def test_br020_admin_who_is_also_a_followed_patient_is_told_once(ctx):
    admin, _sub, group = admin_group()
    group_self_add(actor=admin, group=group, role="patient")
    caregiver = join(group, role="caregiver")
    outbox_mark = last_id(InviteNotification)

    member_leave(actor=caregiver, group=group, role="caregiver")

    assert [(n.notification_type, n.recipient_user_id, n.channel)
            for n in outbox_since(outbox_mark)] == [("MEMBER_LEFT", admin.id, "in_app"),
                                                    ("MEMBER_LEFT", admin.id, "sms")]


def test_br061_admin_cannot_leave(ctx):
    admin, _sub, group = admin_group()
    group_self_add(actor=admin, group=group, role="caregiver")
    error = refused("admin_cannot_leave", member_leave, actor=admin, group=group,
                    role="caregiver")
    assert "Dissolve" in error.message


def test_br061_leave_needs_a_membership_in_that_role(family):
    refused("not_found", member_leave, actor=family["p1"], group=family["group"],
            role="caregiver")
    refused("not_found", member_leave, actor=make_user(), group=family["group"],
            role="patient")


# --- group_dissolve ----------------------------------------------------------------------


def test_dissolve_releases_everyone_revokes_cancels_and_messages_nobody(family):
    admin, group = family["admin"], family["group"]
    people = [family[k] for k in ("p1", "p2", "c1", "c2")]
    family["sub"].caregiver_slots = 4
    family["sub"].patient_slots = 4
    db.session.flush()
    to_user = invite(group, make_user(), role="caregiver").invite
    to_phone = invite(group, phone="0987000111", role="patient").invite
    expire(family["sub"])  # BR-037: never blocked by billing
    before = row_counts()
    audit_mark = last_id_audit()

    group_dissolve(actor=admin, group=group, ip="192.0.2.10")

    stored = db.session.get(FamilyGroup, group.id)
    assert stored.status == "dissolved"
    assert stored.dissolved_at is not None
    assert members_of(group) == set()
    links = list(db.session.scalars(select(Connection).where(
        Connection.family_group_id == group.id).execution_options(populate_existing=True)))
    assert len(links) == 4
    assert all(link.permission_revoked for link in links)
    assert all(permission_map(link) == ALL_OFF for link in links)
    for pending in (to_user, to_phone):
        db.session.refresh(pending)
        assert pending.status == "cancelled"
    # SPEC §5: no new message; the invites' unsent messages are cancelled.
    after = row_counts()
    assert after["outbox"] == before["outbox"]
    assert after["members"] == before["members"] - 4
    unsent = db.session.scalars(select(InviteNotification.status).where(
        InviteNotification.invite_id.in_([to_user.id, to_phone.id]),
        InviteNotification.channel != "in_app"))
    assert set(unsent) == {"cancelled"}
    assert sorted(e.subject_id for e in audit_since(audit_mark, "connection.released")) == (
        sorted(link.id for link in links))
    [event] = audit_since(audit_mark, "group.dissolved")
    assert (event.actor_id, event.action, event.subject_id, event.family_group_id, event.ip) == (
        admin.id, "group.dissolved", group.id, group.id, "192.0.2.10")
    assert sorted(m["user_id"] for m in event.details["members"]) == sorted(p.id for p in people)
    assert sorted(event.details["revoked"]) == sorted(link.id for link in links)
    assert sorted(event.details["invites_cancelled"]) == sorted([to_user.id, to_phone.id])


def test_dissolve_frees_members_and_the_subscription(family):
    admin, group, c1 = family["admin"], family["group"], family["c1"]
    group_dissolve(actor=admin, group=group)

    _b, _s, other = admin_group()
    join(other, c1, role="caregiver")
    assert group_create(actor=admin, name="Lần hai").subscription_id == family["sub"].id


def test_dissolve_refusals(family):
    admin, group = family["admin"], family["group"]
    refused("not_admin", group_dissolve, actor=family["p1"], group=group)
    group_dissolve(actor=admin, group=group)
    refused("group_not_active", group_dissolve, actor=admin, group=group)


def test_dissolve_leaves_answered_invites_alone(family):
    group = family["group"]
    accepted = db.session.scalar(select(ConnectionInvite).where(
        ConnectionInvite.family_group_id == group.id, ConnectionInvite.status == "accepted")
        .limit(1))
    group_dissolve(actor=family["admin"], group=group)
    db.session.refresh(accepted)
    assert accepted.status == "accepted"
    assert accepted.updated_at <= utcnow()


def test_br037_revocations_are_never_blocked_by_billing(family):
    """Cancel, remove, leave and dissolve all work on an expired plan."""
    admin, group = family["admin"], family["group"]
    family["sub"].caregiver_slots = 3
    db.session.flush()
    pending = invite(group, role="caregiver").invite
    expire(family["sub"])

    invite_cancel(actor=admin, invite=pending)
    member_remove(actor=admin, group=group, user_id=family["c1"].id, role="caregiver")
    member_leave(actor=family["p1"], group=group, role="patient")
    group_dissolve(actor=admin, group=group)

    assert db.session.get(ConnectionInvite, pending.id).status == "cancelled"
    assert db.session.get(FamilyGroup, group.id).status == "dissolved"
    assert members_of(group) == set()
