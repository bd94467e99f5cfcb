"""Invites and their links (BR-006/007/011/037/041/047/055/057/059, SEC-005, SPEC §4),
called directly on a real database."""

from __future__ import annotations

import base64
import hashlib
import inspect
import json
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app.db import utcnow
from app.errors import Gone
from app.extensions import db
from app.invites.services import (
    invite_accept,
    invite_by_token,
    invite_cancel,
    invite_create,
    invite_for_admin,
    invite_for_invitee,
    invite_reject,
    invite_resend,
    invites_pending_for,
)
from app.membership.services import group_dissolve, group_self_add
from app.models.audit import AuditEvent
from app.models.billing import Subscription
from app.models.connections import Connection
from app.models.invites import ConnectionInvite
from app.models.notifications import InviteNotification
from app.tokens import unseal
from tests.factories import make_member, make_user, national
from tests.service_helpers import (
    ALL_ON,
    admin_group,
    audit_since,
    connection_between,
    invite,
    join,
    lapse,
    last_id,
    members_of,
    outbox_since,
    patient_and_caregiver,
    permission_map,
    refused,
    row_counts,
    told,
)


def near(when, expected, seconds: int = 60) -> bool:
    return abs((when - expected).total_seconds()) < seconds


def set_subscription(sub: Subscription, **values) -> None:
    db.session.execute(update(Subscription).where(Subscription.id == sub.id).values(**values))
    db.session.expire(sub)


def status_of(invite_row: ConnectionInvite) -> str:
    return db.session.scalar(select(ConnectionInvite.status)
                             .where(ConnectionInvite.id == invite_row.id))


def all_columns_text(table) -> str:
    return " ".join(str(v) for row in db.session.execute(select(table)) for v in row)


def created_messages(invite_row: ConnectionInvite) -> list[InviteNotification]:
    return list(db.session.scalars(select(InviteNotification).where(
        InviteNotification.invite_id == invite_row.id,
        InviteNotification.notification_type == "INVITE_CREATED")
        .order_by(InviteNotification.id).execution_options(populate_existing=True)))


# --- invite_create and the link (SPEC §4) ------------------------------------------------


def invited_then_joined_elsewhere():
    """(admin, group, person, invite): a caregiver invite to a person who has since joined
    another family as a caregiver; the invite is still pending."""
    admin, _sub, group = admin_group()
    person = make_user()
    pending = invite(group, person, role="caregiver").invite
    join(admin_group()[2], person, role="caregiver")
    return admin, group, person, pending


def test_invite_create_stores_phone_role_and_only_the_tokens_hash(ctx):
    admin, _sub, group = admin_group()
    invitee = make_user(name="Lê Thị Hoa")
    audit_mark = last_id(AuditEvent)

    issued = invite_create(actor=admin, group=group, phone=national(invitee.phone),
                           role="caregiver", ip="203.0.113.5")

    db.session.flush()
    row, token = issued.invite, issued.token
    assert (row.sender_id, row.family_group_id, row.receiver_phone, row.receiver_id) == (
        admin.id, group.id, invitee.phone, invitee.id)
    assert (row.invite_type, row.status, row.relationship_code, row.initial_permissions) == (
        "add_caregiver", "pending", None, None)
    # At least 128 random bits, stored only as SHA-256.
    assert len(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))) >= 16
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in all_columns_text(ConnectionInvite.__table__)
    assert near(row.expires_at, utcnow() + timedelta(days=7))
    assert invite_by_token(token).id == row.id
    # The outbox carries the token sealed, never in clear.
    messages = created_messages(row)
    assert [(m.channel, m.recipient_user_id, m.recipient) for m in messages] == [
        ("in_app", invitee.id, str(invitee.id)), ("sms", invitee.id, invitee.phone)]
    for message in messages:
        assert token not in json.dumps(message.payload)
        assert message.payload["sender_name"] == admin.name
        assert message.payload["role"] == "caregiver"
    # Only the row the worker sends carries the link, sealed; the in-app copy does not.
    in_app, sms = messages
    assert "sealed_token" not in in_app.payload
    assert unseal(sms.payload["sealed_token"]) == token
    assert token not in all_columns_text(InviteNotification.__table__)
    [event] = audit_since(audit_mark)
    assert (event.actor_id, event.action, event.subject_type, event.subject_id,
            event.family_group_id, event.ip) == (
        admin.id, "invite.created", "connection_invites", row.id, group.id, "203.0.113.5")
    assert event.details == {"phone": invitee.phone, "role": "caregiver",
                             "expires_at": row.expires_at.isoformat()}
    assert token not in all_columns_text(AuditEvent.__table__)


def test_invite_expiry_follows_invite_ttl_days(ctx, app, monkeypatch):
    monkeypatch.setitem(app.config, "INVITE_TTL_DAYS", 2)
    _admin, _sub, group = admin_group()
    issued = invite(group, role="patient")
    assert near(issued.invite.expires_at, utcnow() + timedelta(days=2))


def test_invite_to_a_number_without_account_is_one_sms(ctx):
    _admin, _sub, group = admin_group()
    issued = invite(group, phone="0987 654 321", role="patient")
    assert issued.invite.receiver_id is None
    assert [(m.channel, m.recipient, m.recipient_user_id, m.status)
            for m in created_messages(issued.invite)] == [
        ("sms", "+84987654321", None, "pending")]


def test_br055_invite_holds_the_phone_and_role_only_names_come_from_profiles(ctx):
    params = set(inspect.signature(invite_create).parameters)
    assert params == {"actor", "group", "phone", "role", "initial_permissions", "ip"}
    assert not [c.name for c in ConnectionInvite.__table__.columns if "name" in c.name]
    _admin, _sub, group = admin_group()
    patient = join(group, role="patient")
    invitee = make_user(name="Tên Cũ")
    issued = invite(group, invitee, role="caregiver")
    invitee.name = "Tên Mới"  # the profile changes after the invite
    mark = last_id(InviteNotification)

    invite_accept(actor=invitee, invite=issued.invite)

    [joined] = [n for n in outbox_since(mark)
                if n.notification_type == "MEMBER_JOINED" and n.channel == "in_app"]
    assert (joined.recipient_user_id, joined.payload["member_name"]) == (patient.id, "Tên Mới")


def test_br006_self_invite_refused(ctx):
    admin, _sub, group = admin_group()
    error = refused("self_invite", invite_create, actor=admin, group=group,
                    phone=national(admin.phone), role="patient")
    assert error.status == 422
    assert list(error.fields) == ["phone"]


@pytest.mark.parametrize("phone", ["", "12345", "0212345678", "+1 415 555 0100"])
def test_invite_refused_for_an_invalid_phone(ctx, phone):
    admin, _sub, group = admin_group()
    refused("invalid_phone", invite_create, actor=admin, group=group, phone=phone,
            role="patient")


def test_invite_refused_for_an_unknown_role(ctx):
    admin, _sub, group = admin_group()
    refused("invalid", invite_create, actor=admin, group=group, phone="0987654321",
            role="admin")


def test_br041_invite_refused_for_a_member_or_another_admin(ctx):
    _admin, _sub, group = admin_group()
    member = join(group, role="patient")
    other_admin, _other_sub, _other = admin_group()
    for actor in (member, other_admin):
        refused("not_admin", invite_create, actor=actor, group=group, phone="0987654321",
                role="caregiver")


@pytest.mark.parametrize("values", [
    {"status": "expired"},
    {"status": "cancelled"},
    {"expires_at": utcnow() - timedelta(seconds=1)},
])
def test_br037_invite_refused_when_subscription_inactive(ctx, values):
    admin, sub, group = admin_group()
    set_subscription(sub, **values)
    error = refused("subscription_inactive", invite_create, actor=admin, group=group,
                    phone="0987654321", role="caregiver")
    assert error.status == 403
    assert "Renew it by redeeming an activation code" in error.message


def test_invite_refused_in_a_dissolved_group(ctx):
    admin, _sub, group = admin_group()
    group_dissolve(actor=admin, group=group)
    refused("group_not_active", invite_create, actor=admin, group=group, phone="0987654321",
            role="caregiver")


# --- slots (BR-047 / BR-059) -------------------------------------------------------------


def test_br047_invite_refused_when_no_slot_free(ctx):
    admin, _sub, group = admin_group(patients=1, caregivers=2)
    join(group, role="caregiver")
    invite(group, role="caregiver")

    error = refused("no_slot", invite_create, actor=admin, group=group, phone="0987654321",
                    role="caregiver")

    assert error.status == 409
    assert "Limit reached: the plan has 2 caregiver places" in error.message
    assert "activation code" in error.message
    invite(group, role="patient")  # slots are per role
    refused("no_slot", invite_create, actor=admin, group=group, phone="0987654322",
            role="patient")


def test_br059_expired_pending_invite_holds_no_slot(ctx):
    _admin, _sub, group = admin_group(patients=1, caregivers=1)
    stale = invite(group, role="caregiver").invite
    refused("no_slot", invite, group=group, role="caregiver")
    lapse(stale)

    fresh = invite(group, role="caregiver").invite

    assert (status_of(stale), status_of(fresh)) == ("expired", "pending")


def test_br047_cancel_frees_a_slot(ctx):
    admin, _sub, group = admin_group(patients=1, caregivers=1)
    pending = invite(group, role="patient").invite
    refused("no_slot", invite, group=group, role="patient")
    invite_cancel(actor=admin, invite=pending)
    invite(group, role="patient")


def test_br047_rejected_invite_frees_a_slot(ctx):
    _admin, _sub, group = admin_group(patients=1, caregivers=1)
    invitee = make_user()
    pending = invite(group, invitee, role="patient").invite
    refused("no_slot", invite, group=group, role="patient")
    invite_reject(actor=invitee, invite=pending)
    invite(group, role="patient")


# --- one pending invite per group and phone (BR-007 / BR-011) -----------------------------


def test_br007_duplicate_pending_invite_refused(ctx):
    admin, _sub, group = admin_group()
    invitee = make_user()
    invite(group, invitee, role="caregiver")

    error = refused("duplicate_pending", invite_create, actor=admin, group=group,
                    phone=national(invitee.phone), role="patient")

    assert "Resend" in error.message
    assert list(error.fields) == ["phone"]
    _other_admin, _other_sub, other = admin_group()
    invite(other, invitee, role="caregiver")  # another group may invite the same number


def test_br007_duplicate_pending_is_held_by_the_unique_index(ctx):
    _admin, _sub, group = admin_group()
    first = invite(group, phone="0987654321", role="caregiver").invite
    db.session.commit()
    copy = ConnectionInvite(sender_id=first.sender_id, family_group_id=group.id,
                            receiver_phone=first.receiver_phone, invite_type="add_caregiver",
                            status="pending")
    db.session.add(copy)
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_br011_new_invite_allowed_after_reject(ctx):
    _admin, _sub, group = admin_group()
    invitee = make_user()
    first = invite(group, invitee, role="caregiver").invite
    invite_reject(actor=invitee, invite=first)
    second = invite(group, invitee, role="caregiver").invite
    assert (status_of(first), status_of(second)) == ("rejected", "pending")


def test_br011_new_invite_allowed_after_cancel(ctx):
    admin, _sub, group = admin_group()
    first = invite(group, phone="0987654321", role="patient").invite
    invite_cancel(actor=admin, invite=first)
    second = invite(group, phone="0987654321", role="patient").invite
    assert (status_of(first), status_of(second)) == ("cancelled", "pending")


def test_br007_expired_pending_invite_does_not_block_a_new_one(ctx):
    _admin, _sub, group = admin_group()
    first = invite(group, phone="0987654321", role="patient").invite
    lapse(first)
    second = invite(group, phone="0987654321", role="patient").invite
    assert (status_of(first), status_of(second)) == ("expired", "pending")


# --- one group per user per role (BR-057 / BR-048) ---------------------------------------


def test_br057_invite_refused_when_already_in_another_group_in_that_role(ctx):
    admin, _sub, group = admin_group()
    _other_admin, _other_sub, other = admin_group()
    person = join(other, role="caregiver")

    error = refused("already_in_group", invite_create, actor=admin, group=group,
                    phone=person.phone, role="caregiver")

    assert "another family" in error.message
    invite(group, person, role="patient")  # BR-048: the other role is free


def test_br057_invite_refused_for_a_member_in_the_same_role(ctx):
    admin, _sub, group = admin_group()
    person = join(group, role="patient")
    error = refused("already_in_group", invite_create, actor=admin, group=group,
                    phone=person.phone, role="patient")
    assert "in this family" in error.message


def test_br057_accept_refused_when_joined_another_group_meanwhile(ctx):
    _admin, group, person, first = invited_then_joined_elsewhere()

    refused("already_in_group", invite_accept, actor=person, invite=first)

    assert status_of(first) == "pending"
    assert members_of(group) == set()


def test_br048_patient_in_one_group_and_caregiver_in_another(ctx):
    _a, _s, group = admin_group()
    _b, _t, other = admin_group()
    person = join(group, role="patient")
    join(other, person, role="caregiver")
    assert (person.id, "patient") in members_of(group)
    assert (person.id, "caregiver") in members_of(other)


def test_br048_br038_both_roles_in_one_group_never_follow_themselves(ctx):
    _admin, _sub, group = admin_group()
    other_patient = join(group, role="patient")
    other_caregiver = join(group, role="caregiver")
    person = join(group, role="patient")

    join(group, person, role="caregiver")

    assert {(person.id, "patient"), (person.id, "caregiver")} <= members_of(group)
    assert connection_between(person, person) is None
    assert db.session.scalar(select(Connection.id).where(
        Connection.user_id == Connection.linked_user_id)) is None
    assert connection_between(other_patient, person) is not None
    assert connection_between(person, other_caregiver) is not None


# --- accept (BR-045 / 008 / 009 / 030 / 050 / 028, SEC-005) -------------------------------


def test_br045_caregiver_accepting_connects_to_every_patient(ctx):
    admin, _sub, group = admin_group(caregivers=4)
    father, mother = join(group, role="patient", gender=0), join(group, role="patient", gender=1)
    other_caregiver = join(group, role="caregiver")
    daughter = make_user(gender=1)
    pending = invite(group, daughter, role="caregiver").invite
    audit_mark = last_id(AuditEvent)

    result = invite_accept(actor=daughter, invite=pending, relationship="con_gai",
                           ip="198.51.100.2")

    assert (result.role, result.group.id, result.member.user_id) == ("caregiver", group.id,
                                                                     daughter.id)
    db.session.refresh(pending)
    assert (pending.status, pending.receiver_id) == ("accepted", daughter.id)
    to_father, to_mother = connection_between(father, daughter), connection_between(mother,
                                                                                     daughter)
    assert {c.id for c in result.connections} == {to_father.id, to_mother.id}
    # What the daughter is to each patient, and what each is to her (their gender).
    assert (to_father.relationship_code, to_father.inverse_relationship_code) == ("con_gai",
                                                                                  "bo")
    assert (to_mother.relationship_code, to_mother.inverse_relationship_code) == ("con_gai",
                                                                                  "me")
    for link in (to_father, to_mother):
        assert (link.family_group_id, link.invite_id, link.permission_revoked,
                link.contact_type) == (group.id, pending.id, False, "caregiver")
        assert permission_map(link) == ALL_ON
    assert db.session.scalar(select(Connection.id).where(
        Connection.linked_user_id == daughter.id, Connection.user_id == other_caregiver.id)) \
        is None
    events = audit_since(audit_mark)
    assert sorted(e.action for e in events) == ["connection.created", "connection.created",
                                                "group.member_joined", "invite.accepted"]
    accepted = next(e for e in events if e.action == "invite.accepted")
    assert (accepted.actor_id, accepted.subject_id, accepted.family_group_id, accepted.ip,
            accepted.details) == (daughter.id, pending.id, group.id, "198.51.100.2",
                                  {"role": "caregiver", "relationship": "con_gai"})
    joined = next(e for e in events if e.action == "group.member_joined")
    assert (joined.details["user_id"], joined.details["invite_id"],
            sorted(joined.details["connections"])) == (
        daughter.id, pending.id, sorted([to_father.id, to_mother.id]))
    created = sorted((e.details["patient_id"], e.details["relationship"],
                      e.details["inverse_relationship"])
                     for e in events if e.action == "connection.created")
    assert created == sorted([(father.id, "con_gai", "bo"), (mother.id, "con_gai", "me")])
    assert admin.id not in {c.user_id for c in result.connections}


def test_br008_patient_accepting_is_followed_by_every_caregiver(ctx):
    _admin, _sub, group = admin_group()
    son, daughter = join(group, role="caregiver", gender=0), join(group, role="caregiver",
                                                                  gender=1)
    mother = make_user(gender=1)
    pending = invite(group, mother, role="patient").invite

    result = invite_accept(actor=mother, invite=pending, relationship="me")

    assert len(result.connections) == 2
    by_son, by_daughter = connection_between(mother, son), connection_between(mother, daughter)
    # relationship_code: what the caregiver is to the patient; the inverse: the other way.
    assert (by_son.relationship_code, by_son.inverse_relationship_code) == ("con_trai", "me")
    assert (by_daughter.relationship_code, by_daughter.inverse_relationship_code) == (
        "con_gai", "me")
    assert permission_map(by_son) == permission_map(by_daughter) == ALL_ON


def test_br009_invite_initial_permissions_apply_to_the_new_connections(ctx):
    admin, _sub, group = admin_group()
    patient = join(group, role="patient")
    caregiver = make_user()
    issued = invite_create(actor=admin, group=group, phone=caregiver.phone, role="caregiver",
                           initial_permissions={"task_config": False, "proxy_execution": False})

    invite_accept(actor=caregiver, invite=issued.invite)

    assert permission_map(connection_between(patient, caregiver)) == {
        **ALL_ON, "task_config": False, "proxy_execution": False}


def test_br050_no_relationship_at_accept_leaves_both_directions_empty(ctx):
    _admin, group, patient, caregiver = patient_and_caregiver()
    link = connection_between(patient, caregiver)
    assert (link.relationship_code, link.inverse_relationship_code) == (None, None)


def test_br028_unknown_gender_of_the_other_party_gives_khac(ctx):
    _admin, _sub, group = admin_group()
    patient = join(group, role="patient", gender=None)
    caregiver = join(group, role="caregiver", relationship="con_trai")
    link = connection_between(patient, caregiver)
    assert (link.relationship_code, link.inverse_relationship_code) == ("con_trai", "khac")


def test_br030_unknown_relationship_refused_and_nothing_written(ctx):
    _admin, _sub, group = admin_group()
    join(group, role="patient")
    caregiver = make_user()
    pending = invite(group, caregiver, role="caregiver").invite

    error = refused("unknown_relationship", invite_accept, actor=caregiver, invite=pending,
                    relationship="hang_xom")

    assert (error.status, list(error.fields)) == (422, ["relationship"])
    assert status_of(pending) == "pending"


def test_sec005_accept_rechecks_the_slot_after_the_plan_was_lowered(ctx):
    _admin, sub, group = admin_group(caregivers=4)
    invitees = [make_user() for _ in range(4)]
    pending = [invite(group, user, role="caregiver").invite for user in invitees]
    set_subscription(sub, caregiver_slots=2)

    invite_accept(actor=invitees[0], invite=pending[0])
    invite_accept(actor=invitees[1], invite=pending[1])
    error = refused("no_slot", invite_accept, actor=invitees[2], invite=pending[2])

    assert "no free place" in error.message
    assert [status_of(p) for p in pending] == ["accepted", "accepted", "pending", "pending"]
    assert {u for u, role in members_of(group) if role == "caregiver"} == {
        invitees[0].id, invitees[1].id}


@pytest.mark.parametrize("values", [{"status": "expired"}, {"status": "cancelled"},
                                    {"expires_at": utcnow() - timedelta(seconds=1)}])
def test_br037_accept_refused_when_the_admins_subscription_is_inactive(ctx, values):
    _admin, sub, group = admin_group()
    invitee = make_user()
    pending = invite(group, invitee, role="patient").invite
    set_subscription(sub, **values)

    error = refused("subscription_inactive", invite_accept, actor=invitee, invite=pending)

    assert "Ask the family's admin to renew it" in error.message
    assert status_of(pending) == "pending"


def test_accept_refused_for_another_phone(ctx):
    _admin, _sub, group = admin_group()
    pending = invite(group, make_user(), role="patient").invite
    error = refused("phone_mismatch", invite_accept, actor=make_user(), invite=pending)
    assert error.status == 403


def test_accept_of_an_expired_link_is_gone(ctx):
    _admin, _sub, group = admin_group()
    invitee = make_user()
    pending = invite(group, invitee, role="patient").invite
    lapse(pending)
    error = refused("invite_expired", invite_accept, actor=invitee, invite=pending)
    assert isinstance(error, Gone)
    assert error.status == 410


def test_link_works_once(ctx):
    _admin, _sub, group = admin_group()
    join(group, role="patient")
    invitee = make_user()
    issued = invite(group, invitee, role="caregiver")
    invite_accept(actor=invitee, invite=issued.invite)
    db.session.commit()
    counts = row_counts()

    again = invite_by_token(issued.token)
    error = refused("invite_not_pending", invite_accept, actor=invitee, invite=again)

    assert "already been accepted" in error.message
    assert row_counts() == counts


def test_accept_of_a_cancelled_or_rejected_invite_is_refused(ctx):
    admin, _sub, group = admin_group()
    first, second = make_user(), make_user()
    cancelled = invite(group, first, role="patient").invite
    invite_cancel(actor=admin, invite=cancelled)
    rejected = invite(group, second, role="caregiver").invite
    invite_reject(actor=second, invite=rejected)

    assert "cancelled" in refused("invite_not_pending", invite_accept, actor=first,
                                  invite=cancelled).message
    assert "declined" in refused("invite_not_pending", invite_accept, actor=second,
                                 invite=rejected).message


# --- who is told (BR-052 / BR-010) -------------------------------------------------------


def test_br052_join_tells_the_admin_and_existing_members_exactly(ctx):
    admin, _sub, group = admin_group(email="admin@example.com")
    patient = join(group, role="patient", email="patient@example.com")
    caregiver = join(group, role="caregiver")
    bystander = make_user()
    invite(group, bystander, role="patient")  # invited, not a member: not told
    joiner = make_user()
    pending = invite(group, joiner, role="caregiver").invite
    mark = last_id(InviteNotification)

    invite_accept(actor=joiner, invite=pending)

    assert {(n.notification_type, n.recipient_user_id, n.channel, n.status)
            for n in outbox_since(mark)} == {
        ("INVITE_ACCEPTED", admin.id, "in_app", "sent"),
        ("INVITE_ACCEPTED", admin.id, "email", "pending"),
        ("MEMBER_JOINED", patient.id, "in_app", "sent"),
        ("MEMBER_JOINED", patient.id, "email", "pending"),
        ("MEMBER_JOINED", caregiver.id, "in_app", "sent"),
        ("MEMBER_JOINED", caregiver.id, "sms", "pending"),
    }
    assert {n.invite_id for n in outbox_since(mark)} == {pending.id}
    assert {n.family_group_id for n in outbox_since(mark)} == {group.id}


def test_br052_admin_who_is_a_member_hears_the_accept_once(ctx):
    admin, _sub, group = admin_group()
    group_self_add(actor=admin, group=group, role="patient")
    joiner = make_user()
    pending = invite(group, joiner, role="caregiver").invite
    mark = last_id(InviteNotification)

    invite_accept(actor=joiner, invite=pending)

    assert told(mark) == {("INVITE_ACCEPTED", admin.id)}


def test_br010_reject_tells_the_sender(ctx):
    admin, _sub, group = admin_group()
    join(group, role="patient")
    invitee = make_user()
    pending = invite(group, invitee, role="caregiver").invite
    mark, audit_mark = last_id(InviteNotification), last_id(AuditEvent)

    rejected = invite_reject(actor=invitee, invite=pending, ip="192.0.2.44")

    db.session.flush()
    assert (rejected.status, rejected.receiver_id) == ("rejected", invitee.id)
    assert {(n.notification_type, n.recipient_user_id, n.channel, n.status)
            for n in outbox_since(mark)} == {
        ("INVITE_REJECTED", admin.id, "in_app", "sent"),
        ("INVITE_REJECTED", admin.id, "sms", "pending"),
    }
    # The unsent invite SMS is called off, and so is the unread in-app invite.
    assert {(m.channel, m.status) for m in created_messages(pending)} == {
        ("in_app", "cancelled"), ("sms", "cancelled")}
    [event] = audit_since(audit_mark)
    assert (event.actor_id, event.action, event.subject_id, event.family_group_id, event.ip,
            event.details) == (invitee.id, "invite.rejected", pending.id, group.id,
                               "192.0.2.44", {"role": "caregiver"})
    assert invitee.id not in {user_id for user_id, _role in members_of(group)}


def test_reject_refusals(ctx):
    _admin, sub, group = admin_group()
    invitee = make_user()
    pending = invite(group, invitee, role="patient").invite
    refused("phone_mismatch", invite_reject, actor=make_user(), invite=pending)
    set_subscription(sub, status="expired")  # declining is never blocked by billing
    invite_reject(actor=invitee, invite=pending)
    refused("invite_not_pending", invite_reject, actor=invitee, invite=pending)


# --- cancel ------------------------------------------------------------------------------


def test_cancel_kills_the_link_calls_off_its_messages_and_writes_no_new_ones(ctx):
    admin, sub, group = admin_group()
    invitee = make_user()
    issued = invite(group, invitee, role="caregiver")
    set_subscription(sub, status="expired")  # BR-037: never blocked by billing
    before = row_counts()
    audit_mark = last_id(AuditEvent)

    invite_cancel(actor=admin, invite=issued.invite, ip="192.0.2.50")

    assert status_of(issued.invite) == "cancelled"
    after = row_counts()
    assert after["outbox"] == before["outbox"]  # SPEC §5: the invitee is not messaged
    assert after["audit"] == before["audit"] + 1
    assert {(m.channel, m.status) for m in created_messages(issued.invite)} == {
        ("in_app", "cancelled"), ("sms", "cancelled")}
    [event] = audit_since(audit_mark)
    assert (event.actor_id, event.action, event.subject_id, event.family_group_id, event.ip,
            event.details) == (admin.id, "invite.cancelled", issued.invite.id, group.id,
                               "192.0.2.50", {"phone": invitee.phone, "role": "caregiver"})
    refused("invite_not_pending", invite_accept, actor=invitee,
            invite=invite_by_token(issued.token))


def test_cancel_refusals(ctx):
    admin, _sub, group = admin_group()
    member = join(group, role="patient")
    pending = invite(group, role="caregiver").invite
    refused("not_admin", invite_cancel, actor=member, invite=pending)
    invite_cancel(actor=admin, invite=pending)
    refused("invite_not_pending", invite_cancel, actor=admin, invite=pending)


# --- resend ------------------------------------------------------------------------------


def test_resend_voids_the_old_token_and_supersedes_the_old_messages(ctx, app, monkeypatch):
    admin, _sub, group = admin_group()
    invitee = make_user()
    issued = invite(group, invitee, role="caregiver")
    old_expiry, old_hash = issued.invite.expires_at, issued.invite.token_hash
    old_ids = [m.id for m in created_messages(issued.invite)]
    monkeypatch.setitem(app.config, "INVITE_TTL_DAYS", 10)
    audit_mark = last_id(AuditEvent)

    again = invite_resend(actor=admin, invite=issued.invite, ip="192.0.2.60")

    db.session.flush()
    assert again.token != issued.token
    assert again.invite.id == issued.invite.id
    assert again.invite.token_hash not in (old_hash, None)
    assert invite_by_token(issued.token) is None
    assert invite_by_token(again.token).id == issued.invite.id
    assert again.invite.expires_at > old_expiry
    assert near(again.invite.expires_at, utcnow() + timedelta(days=10))
    messages = created_messages(issued.invite)
    assert {(m.id in old_ids, m.channel, m.status) for m in messages} == {
        (True, "in_app", "cancelled"), (True, "sms", "cancelled"),
        (False, "in_app", "sent"), (False, "sms", "pending")}
    for message in messages:
        assert again.token not in json.dumps(message.payload)
        if message.id not in old_ids and message.channel == "sms":
            assert unseal(message.payload["sealed_token"]) == again.token
    [event] = audit_since(audit_mark)
    assert (event.actor_id, event.action, event.subject_id, event.family_group_id, event.ip,
            event.details) == (admin.id, "invite.resent", issued.invite.id, group.id,
                               "192.0.2.60", {"phone": invitee.phone, "role": "caregiver",
                                              "expires_at": again.invite.expires_at.isoformat()})
    invite_accept(actor=invitee, invite=invite_by_token(again.token))


def test_resend_refusals(ctx):
    admin, sub, group = admin_group()
    member = join(group, role="patient")
    invitee = make_user()
    pending = invite(group, invitee, role="caregiver").invite
    refused("not_admin", invite_resend, actor=member, invite=pending)
    set_subscription(sub, status="expired")
    error = refused("subscription_inactive", invite_resend, actor=admin, invite=pending)
    assert "Renew" in error.message
    set_subscription(sub, status="active")
    invite_accept(actor=invitee, invite=pending)
    refused("invite_not_pending", invite_resend, actor=admin, invite=pending)


def test_resend_of_a_lapsed_invite_takes_a_slot_again(ctx):
    admin, _sub, group = admin_group(patients=1, caregivers=1)
    lapsed = invite(group, phone="0987654321", role="caregiver").invite
    lapse(lapsed)
    group_self_add(actor=admin, group=group, role="caregiver")  # the freed slot is taken

    refused("no_slot", invite_resend, actor=admin, invite=lapsed)

    other = invite(group, phone="0987654322", role="patient").invite
    lapse(other)
    renewed = invite_resend(actor=admin, invite=other)
    assert renewed.invite.expires_at > utcnow()
    assert status_of(other) == "pending"


def test_resend_refused_when_the_invitee_joined_another_group_meanwhile(ctx):
    admin, _group, _person, pending = invited_then_joined_elsewhere()
    refused("already_in_group", invite_resend, actor=admin, invite=pending)


# --- finding invites ---------------------------------------------------------------------


@pytest.mark.parametrize("token", ["", None, "x" * 101, "not-a-token"])
def test_invite_by_token_finds_nothing_for_a_bad_token(ctx, token):
    _admin, _sub, group = admin_group()
    invite(group, role="patient")
    assert invite_by_token(token) is None


def test_invites_pending_for_lists_open_invites_to_the_users_phone(ctx):
    person = make_user()
    _a, _s, first = admin_group()
    _b, _t, second = admin_group()
    _c, _u, third = admin_group()
    older = invite(first, person, role="patient").invite
    newer = invite(second, person, role="caregiver").invite
    db.session.execute(update(ConnectionInvite).where(ConnectionInvite.id == older.id)
                       .values(created_at=utcnow() - timedelta(hours=1)))
    lapsed = invite(third, person, role="caregiver").invite
    lapse(lapsed)
    invite(first, role="caregiver")  # someone else's

    assert [i.id for i in invites_pending_for(person)] == [newer.id, older.id]


def test_invite_lookups_hide_other_peoples_invites(ctx):
    admin, _sub, group = admin_group()
    other_admin, _s, _g = admin_group()
    invitee = make_user()
    pending = invite(group, invitee, role="patient").invite

    assert invite_for_admin(actor=admin, invite_id=pending.id).id == pending.id
    assert invite_for_invitee(actor=invitee, invite_id=pending.id).id == pending.id
    refused("not_found", invite_for_admin, actor=other_admin, invite_id=pending.id)
    refused("not_found", invite_for_admin, actor=invitee, invite_id=pending.id)
    refused("not_found", invite_for_invitee, actor=make_user(), invite_id=pending.id)
    refused("not_found", invite_for_invitee, actor=invitee, invite_id=pending.id + 999)


def test_br055_invite_to_a_number_finds_the_person_who_signs_up_later(ctx):
    """BR-055 seen from the other side: a number without an account is invited, signs up
    later, and the invite finds them by phone."""
    admin, _sub, group = admin_group()
    issued = invite_create(actor=admin, group=group, phone="0987654321", role="patient")
    person = make_user(phone="+84987654321", name="Người Mới")

    invite_accept(actor=person, invite=invite_by_token(issued.token))

    assert (person.id, "patient") in members_of(group)
    assert db.session.get(ConnectionInvite, issued.invite.id).receiver_id == person.id


def test_br047_members_count_as_used_slots(ctx):
    admin, _sub, group = admin_group(patients=1, caregivers=1)
    make_member(group, role="patient")
    refused("no_slot", invite_create, actor=admin, group=group, phone="0987654321",
            role="patient")


def test_accept_calls_off_the_unsent_link_and_the_unread_in_app_invite(ctx):
    _admin, _sub, group = admin_group()
    invitee = make_user()
    issued = invite(group, invitee, role="caregiver")
    assert {(m.channel, m.status) for m in created_messages(issued.invite)} == {
        ("in_app", "sent"), ("sms", "pending")}

    invite_accept(actor=invitee, invite=issued.invite)
    db.session.flush()

    # The link has done its work: no SMS carrying it goes out after the accept.
    assert {(m.channel, m.status) for m in created_messages(issued.invite)} == {
        ("in_app", "cancelled"), ("sms", "cancelled")}


def test_a_lapsed_invite_cannot_be_rejected(ctx):
    _admin, _sub, group = admin_group()
    invitee = make_user()
    issued = invite(group, invitee, role="caregiver")
    lapse(issued.invite)
    refused("invite_not_pending", invite_reject, actor=invitee, invite=issued.invite)
    assert status_of(issued.invite) == "pending"
