"""Deleting my account (issue 19, item 4; BR-022, BR-061), called as a service on a real
database: the tombstone, what ends, what is told, what is kept, and the scan that no copy
of the person's name, number or email is left in any text column of any table."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import JSON, String, Text, func, select

from app.accounts.email_proof import email_change, pending_proof
from app.accounts.identity import (
    confirm_code_send,
    phone_proof_start,
    registration_start,
    registration_verify,
)
from app.accounts.services import (
    account_authenticate,
    account_reactivate,
    account_suspend,
    api_token_create,
    api_token_user,
    phone_proved,
    user_from_session_id,
)
from app.audit.services import audit_record
from app.audit.words import SENTENCES, sentence
from app.db import utcnow
from app.errors import Conflict, Forbidden, Invalid
from app.extensions import db
from app.invites.services import invite_create, invite_reject
from app.membership.services import group_dissolve
from app.models.accounts import ERASED, AccountClaim, EmailProof, PhoneCode, User
from app.models.audit import AuditEvent
from app.models.connections import Connection, ConnectionPermission
from app.models.groups import FamilyGroupMember
from app.models.invites import ConnectionInvite
from app.models.notifications import InviteNotification
from app.models.reports import PatientReport
from app.models.staff import StaffReview
from app.notifications.messages import render_message
from app.outbox.delivery import deliver_due
from app.privacy.deletion import account_delete, national_forms
from tests.factories import PASSWORD, make_connection, make_user
from tests.service_helpers import (
    admin_group,
    audit_since,
    connection_between,
    invite,
    join,
    last_id,
    members_of,
    outbox_since,
    refused,
    told,
)
from tests.sms import CODE_RE

NAME = "Phạm Thị Xoá Bỏ"
EMAIL = "Xoa.Bo@Example.com"


@pytest.fixture
def sms(ctx, configure, gateway):
    """The real outbox worker and SMS gateway: sms(phone) → the texts it received."""
    configure(SMS_GATEWAY_URL=gateway.url, SMS_GATEWAY_TOKEN="gw-secret")

    def received(phone: str) -> list[str]:
        deliver_due()
        return [r.body["text"] for r in gateway.requests if r.body["to"] == phone]

    return received


def delete(user: User, **kwargs) -> None:
    account_delete(actor=user, password=kwargs.pop("password", PASSWORD), **kwargs)
    db.session.commit()


def reload(user: User) -> User:
    db.session.expire_all()
    return db.session.get(User, user.id)


# --- the tombstone ---------------------------------------------------------------------


def test_the_account_becomes_a_tombstone_with_no_personal_field(ctx):
    user = make_user(name=NAME, email=EMAIL, gender=1)
    user_id, epoch = user.id, user.session_epoch
    delete(user)
    gone = reload(user)
    assert gone is not None
    assert gone.is_deleted
    assert (gone.name, gone.phone, gone.email, gone.password_hash, gone.gender,
            gone.phone_verified_at) == ("", None, None, None, None, None)
    assert gone.is_active is False
    assert gone.session_epoch == epoch + 1
    assert gone.shown_name == f"deleted user #{user_id}"


def test_the_tombstone_is_named_in_vietnamese_too(vi_ctx):
    user = make_user()
    delete(user)
    assert reload(user).shown_name == f"người dùng đã xóa #{user.id}"


def test_every_session_and_token_ends_and_login_refuses_like_an_unknown_account(ctx):
    user = make_user(email=EMAIL)
    phone, session_id = user.phone, user.get_id()
    token = api_token_create(user=user, name="script")
    assert api_token_user(token) is not None
    delete(user)
    assert user_from_session_id(session_id) is None
    assert api_token_user(token) is None
    for login in (phone, EMAIL):
        with pytest.raises(Invalid) as caught:
            account_authenticate(login=login, password=PASSWORD)
        assert caught.value.code == "bad_credentials"  # the same as an unknown account
    db.session.rollback()


def test_a_wrong_password_deletes_nothing(ctx):
    user = make_user()
    error = refused("bad_password", account_delete, actor=user, password="not it")
    assert error.fields["password"]
    assert not reload(user).is_deleted


def test_without_password_or_code_it_asks_for_one(ctx):
    user = make_user()
    refused("confirmation_required", account_delete, actor=user, password=None)


def test_an_sms_code_confirms_it(sms):
    user = make_user()
    confirm_code_send(actor=user)
    db.session.commit()
    code = CODE_RE.search(sms(user.phone)[-1]).group(1)
    account_delete(actor=user, code=code)
    db.session.commit()
    assert reload(user).is_deleted
    event = audit_since(0, "account.deleted")[-1]
    assert event.details["confirmed_by"] == "sms_code"


def test_a_wrong_code_is_refused_and_counted(sms):
    user = make_user()
    confirm_code_send(actor=user)
    db.session.commit()
    code = CODE_RE.search(sms(user.phone)[-1]).group(1)
    with pytest.raises(Invalid) as caught:
        account_delete(actor=user, code=f"{(int(code) + 1) % 10**6:06d}")
    assert caught.value.code == "invalid_code"
    db.session.commit()  # as the views do: the try is counted
    assert not reload(user).is_deleted
    row = db.session.scalar(select(PhoneCode).where(PhoneCode.user_id == user.id))
    assert row.attempts == 1


# --- who may ---------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["active", "inactive"])
def test_an_admin_of_a_family_not_dissolved_is_refused(ctx, status):
    admin, _sub, group = admin_group()
    group.status = status
    error = refused("admin_must_hand_over", account_delete, actor=admin, password=PASSWORD)
    assert isinstance(error, Conflict)
    assert "Hand the family over" in error.message
    assert "dissolve" in error.message
    assert not reload(admin).is_deleted


def test_an_admin_whose_family_is_dissolved_may_go(ctx):
    admin, _sub, group = admin_group()
    member = join(group, role="patient")
    group_dissolve(actor=admin, group=group)
    delete(admin)
    assert reload(admin).is_deleted
    assert not reload(member).is_deleted


def test_a_staff_account_is_refused(ctx):
    staff = make_user(is_staff=True)
    error = refused("staff_account", account_delete, actor=staff, password=PASSWORD)
    assert isinstance(error, Forbidden)


# --- what ends and who is told (BR-022, BR-061) ----------------------------------------


def test_memberships_end_as_a_leave_slots_free_and_admin_and_patients_told(ctx):
    admin, _sub, group = admin_group(patients=1, caregivers=1)
    patient = join(group, role="patient")
    caregiver = join(group, role="caregiver")
    connection = connection_between(patient, caregiver)
    assert not connection.permission_revoked
    first_message, first_event = last_id(InviteNotification), last_id(AuditEvent)
    delete(caregiver)
    assert members_of(group) == {(patient.id, "patient")}
    connection = connection_between(patient, caregiver)
    assert connection.permission_revoked
    assert not any(p.is_enabled for p in connection.permissions)
    assert told(first_message) >= {("MEMBER_LEFT", admin.id), ("MEMBER_LEFT", patient.id)}
    left = audit_since(first_event, "group.member_left")
    assert [(e.actor_id, e.family_group_id) for e in left] == [(caregiver.id, group.id)]
    # The slot is free: the family has one caregiver place, and it takes a new one.
    newcomer = join(group, role="caregiver")
    assert (newcomer.id, "caregiver") in members_of(group)


def test_the_admin_reads_that_a_deleted_user_left(ctx):
    admin, _sub, group = admin_group()
    member = join(group, role="patient", name=NAME)
    first = last_id(InviteNotification)
    delete(member)
    left = [n for n in outbox_since(first)
            if n.notification_type == "MEMBER_LEFT" and n.channel == "in_app"]
    assert left
    assert all(n.recipient_user_id == admin.id for n in left)
    _subject, text = render_message(left[0], "en")
    assert f"deleted user #{member.id} left" in text
    assert NAME not in text


def test_connections_outside_families_end_too(ctx):
    patient, caregiver = make_user(), make_user()
    connection = make_connection(patient, caregiver)
    delete(patient)
    db.session.expire_all()
    row = db.session.get(Connection, connection.id)
    assert row.permission_revoked
    assert not any(p.is_enabled for p in row.permissions)
    released = audit_since(0, "connection.released")
    assert [(e.subject_id, e.details["cause"]) for e in released] == [(connection.id, "deleted")]


def test_pending_invites_to_their_number_are_cancelled(ctx):
    _admin, _sub, group = admin_group()
    user = make_user()
    issued = invite(group, user, role="caregiver")
    delete(user)
    row = db.session.get(ConnectionInvite, issued.invite.id)
    assert row.status == "cancelled"
    assert row.receiver_phone.startswith("del-")
    # The marker keeps the one-pending-per-number rule: the family invites someone else.
    other = invite(group, role="caregiver")
    assert other.invite.status == "pending"


def test_the_audit_trail_stays_pointing_at_the_tombstone(ctx):
    admin, _sub, group = admin_group()
    user = join(group, role="patient")
    before = db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.actor_id == user.id))
    delete(user)
    after = db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.actor_id == user.id))
    assert after == before + 2  # the leave and the deletion; none removed
    event = audit_since(0, "account.deleted")[-1]
    assert (event.actor_id, event.subject_type, event.subject_id) == (user.id, "users", user.id)
    assert event.details["families_left"] == [group.id]
    assert "account.deleted" in SENTENCES
    assert f"#{user.id}" in sentence(event)


def test_staff_cannot_suspend_or_reactivate_a_tombstone(ctx):
    staff, user = make_user(is_staff=True), make_user()
    delete(user)
    for call in (account_suspend, account_reactivate):
        with pytest.raises(Conflict) as caught:
            call(actor=staff, user=reload(user), reason="looking into it")
        assert caught.value.code == "account_deleted"


def test_the_number_and_the_email_are_free_for_a_new_account(sms):
    user = make_user(email=EMAIL)
    phone = user.phone
    delete(user)
    registration_start(phone=phone, password="hoa-sen-2026", name="Người Mới", gender=1,
                       email=EMAIL.lower(), locale="vi")
    db.session.commit()
    code = CODE_RE.search(sms(phone)[-1]).group(1)
    newcomer = registration_verify(phone=phone, code=code)
    db.session.commit()
    assert newcomer.id != user.id
    assert newcomer.phone == phone
    # The address goes to its link (issue 21), and nothing of the tombstone is in its way.
    assert pending_proof(newcomer).email == EMAIL.lower()
    assert reload(user).is_deleted


def test_an_address_waiting_for_its_link_goes_with_the_account(ctx):
    """Issue 21: the links' rows and their e-mails carry the address; both go."""
    user = make_user()
    email_change(actor=user, email="cho.xac.minh@example.com")
    db.session.commit()
    delete(user)
    assert db.session.scalars(select(EmailProof)).all() == []
    mail = db.session.scalar(select(InviteNotification).where(
        InviteNotification.notification_type == "EMAIL_PROOF"))
    assert "cho.xac.minh" not in mail.recipient
    assert mail.status == "cancelled"


# --- the scan: no personal value left anywhere -----------------------------------------


def busy_user(gateway_sms) -> tuple[User, dict]:
    """A user who did everything: a caregiver in one family (connected, told of joins), a
    patient in another, invited and declining a third, an admin of a family they dissolved
    (invites sent, members released), with an unproved number they proved, codes, an old
    app claim link, an SOS contact, a health report, an API token, a staff search and a
    review about their number, messages by SMS and email."""
    user = make_user(name=NAME, email=EMAIL, phone_verified_at=None)
    phone_proof_start(actor=user)
    db.session.commit()
    phone_proved(user=user, how="sms_code")
    gateway_sms(user.phone)
    # Invited to family C, declined.
    _c_admin, _sub, family_c = admin_group()
    declined = invite(family_c, user, role="patient")
    invite_reject(actor=user, invite=declined.invite)
    # Invited to family D, still pending.
    _d_admin, _sub, family_d = admin_group()
    invite(family_d, user, role="caregiver")
    # A caregiver in family A; a patient joins after them, so they are told by name.
    _a_admin, _sub, family_a = admin_group()
    join(family_a, role="patient")
    join(family_a, user, role="caregiver")
    join(family_a, role="caregiver")
    # A patient in family B, followed by a caregiver who sees their name.
    _b_admin, _sub, family_b = admin_group()
    join(family_b, user, role="patient")
    join(family_b, role="caregiver")
    # Admin of family E: invited people, one joined, then dissolved it.
    _e, _sub, family_e = admin_group(admin=user)
    join(family_e, role="patient")
    invite_create(actor=user, group=family_e, phone=make_user().phone, role="caregiver")
    group_dissolve(actor=user, group=family_e)
    # A connection of the old app, outside any family, with its contact fields.
    old = make_connection(make_user(), user)
    old.contact_name, old.contact_phone = NAME, user.phone
    db.session.add(Connection(user_id=user.id, contact_name="Mẹ", contact_phone="+84987654321",
                              contact_type="emergency"))
    confirm_code_send(actor=user)
    db.session.add(AccountClaim(user_id=user.id, token_hash="c" * 64, expires_at=utcnow()))
    db.session.add(PatientReport(patient_id=user.id, period="2026-W49",
                                 summary=f"{NAME}: huyết áp ổn định"))
    api_token_create(user=user, name="script")
    staff = make_user(is_staff=True)
    audit_record(actor=staff, action="staff.searched", details={
        "what": "users", "q": national_forms(user.phone)[1], "found": 1})
    db.session.add(StaffReview(signal="phone_many_groups", subject_key=user.phone, level=2,
                               note=f"Checked {user.phone} ({EMAIL}) with the family."))
    db.session.commit()
    gateway_sms(user.phone)  # the outbox goes out (sent rows, delivery states)
    return user, {"family_a": family_a, "family_b": family_b}


def text_columns():
    for table in db.metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, String | Text | JSON):
                yield table, column


def found_anywhere(needles: list[str]) -> list[tuple[str, str, str]]:
    """(table, column, value) of every text or JSON value holding one of `needles`."""
    hits = []
    for table, column in text_columns():
        for value in db.session.execute(select(column).where(column.is_not(None))).scalars():
            text = (json.dumps(value, ensure_ascii=False) if isinstance(column.type, JSON)
                    else str(value))
            hits += [(table.name, column.name, text) for needle in needles
                     if needle.lower() in text.lower()]
    return hits


def test_no_copy_of_the_name_phone_or_email_is_left_in_any_table(sms):
    user, _families = busy_user(sms)
    needles = [NAME, EMAIL, *national_forms(user.phone)]
    # The scan finds them before: it is looking in the right places.
    before = {(t, c) for t, c, _v in found_anywhere(needles)}
    assert {("users", "name"), ("users", "phone"), ("users", "email"),
            ("audit_events", "details"), ("invite_notifications", "recipient"),
            ("invite_notifications", "payload"), ("connection_invites", "receiver_phone"),
            ("phone_codes", "phone"), ("staff_reviews", "note"),
            ("user_emergency_contacts", "contact_name")} <= before
    delete(user)
    assert found_anywhere(needles) == []
    # What stays: the tombstone, its audit rows, the messages marked as scrubbed.
    assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.actor_id == user.id)) > 10
    assert db.session.scalar(select(func.count()).select_from(FamilyGroupMember).where(
        FamilyGroupMember.user_id == user.id)) == 0
    scrubbed = db.session.scalars(select(InviteNotification).where(
        InviteNotification.recipient_user_id != user.id)).all()
    named = [n for n in scrubbed if ERASED in json.dumps(n.payload or {})]
    assert named
    assert all(n.payload["deleted_user_id"] == user.id for n in named)
    assert not db.session.scalars(select(ConnectionPermission).join(
        Connection, Connection.id == ConnectionPermission.contact_id).where(
        (Connection.user_id == user.id) | (Connection.linked_user_id == user.id),
        ConnectionPermission.is_enabled.is_(True))).all()
