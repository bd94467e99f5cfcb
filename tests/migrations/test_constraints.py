"""Every constraint of the seed and the spec is a real database constraint.

Each test writes a row the constraint must refuse and checks the database refuses it
(IntegrityError naming the constraint where the database names it), and, where the
rule has an allowed neighbour (BR-011, BR-048), that the neighbour is accepted.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from app.db import utcnow
from app.extensions import db
from app.models.accounts import User
from app.models.billing import ActivationCode
from app.models.connections import Connection, ConnectionPermission
from app.models.groups import FamilyGroup, FamilyGroupMember
from app.models.invites import ConnectionInvite
from app.models.notifications import InviteNotification
from app.models.reports import CaregiverReportView, PatientReport
from tests.conftest import BACKEND
from tests.factories import (
    make_connection,
    make_group,
    make_member,
    make_subscription,
    make_user,
    next_phone,
)

pytestmark = pytest.mark.usefixtures("app_ctx")


@contextmanager
def refused(constraint: str, sqlite_hint: str | None = None):
    """The block's flush must fail on `constraint` (PostgreSQL names it; SQLite names
    CHECK constraints and lists the columns of a unique one: sqlite_hint)."""
    # The caller's block is what must fail (a factory may flush inside it).
    with pytest.raises(IntegrityError) as info, db.session.begin_nested():  # noqa: PT012
        yield
        db.session.flush()
    message = str(info.value.orig)
    expected = constraint if BACKEND == "postgresql" or sqlite_hint is None else sqlite_hint
    assert expected in message, message


def accepted(*objects) -> None:
    with db.session.begin_nested():
        db.session.add_all(objects)
        db.session.flush()


def invite(group: FamilyGroup, phone: str, **fields) -> ConnectionInvite:
    values = {"sender_id": group.admin_user_id, "family_group_id": group.id,
              "receiver_phone": phone, "invite_type": "add_caregiver", "status": "pending"}
    values.update(fields)
    return ConnectionInvite(**values)


def test_chk_no_self_invite():
    group = make_group()
    with refused("chk_no_self_invite"):
        db.session.add(invite(group, next_phone(), receiver_id=group.admin_user_id))
    accepted(invite(group, next_phone(), receiver_id=make_user().id))


def test_chk_invite_type_refuses_legacy_and_unknown_types():
    group = make_group()
    for bad in ("patient_to_caregiver", "caregiver_to_patient", "add_admin"):
        with refused("chk_invite_type"):
            db.session.add(invite(group, next_phone(), invite_type=bad))
    accepted(invite(group, next_phone(), invite_type="add_patient"))


def test_chk_invite_status():
    group = make_group()
    with refused("chk_invite_status"):
        db.session.add(invite(group, next_phone(), status="opened"))


def test_idx_unique_pending_one_pending_invite_per_group_and_phone():
    group = make_group()
    phone = next_phone()
    accepted(invite(group, phone))
    with refused("idx_unique_pending", "connection_invites.family_group_id"):
        db.session.add(invite(group, phone, invite_type="add_patient"))
    # Another group may invite the same phone.
    accepted(invite(make_group(), phone))


def test_idx_unique_pending_allows_a_new_invite_after_reject_or_cancel():
    # BR-011: the partial index covers pending invites only.
    group = make_group()
    phone = next_phone()
    first = invite(group, phone)
    accepted(first)
    for status in ("rejected", "cancelled"):
        first.status = status
        db.session.flush()
        again = invite(group, phone)
        accepted(again)
        first = again


def test_member_unique_group_user_role():
    group = make_group()
    user = make_user()
    make_member(group, user, role="patient")
    with refused("uq_family_group_members_group_id_user_id_role", "family_group_members."):
        db.session.add(FamilyGroupMember(group_id=group.id, user_id=user.id, role="patient"))


def test_idx_user_single_group_one_group_per_user_per_role():
    # BR-057: one group per user per role ...
    user = make_user()
    make_member(make_group(), user, role="caregiver")
    with refused("idx_user_single_group",
                 "family_group_members.user_id, family_group_members.role"):
        db.session.add(FamilyGroupMember(group_id=make_group().id, user_id=user.id,
                                         role="caregiver"))


def test_a_user_may_hold_both_roles():
    # ... and BR-048: both roles, in the same group or in two groups.
    user = make_user()
    group = make_group()
    make_member(group, user, role="caregiver")
    accepted(FamilyGroupMember(group_id=group.id, user_id=user.id, role="patient"))


def test_chk_member_role():
    with refused("chk_member_role"):
        db.session.add(FamilyGroupMember(group_id=make_group().id, user_id=make_user().id,
                                         role="admin"))


def test_connection_permissions_unique_contact_and_code():
    connection = make_connection(make_user(), make_user())
    assert len(connection.permissions) == 6
    with refused("uq_connection_permissions_contact_id_permission_code",
                 "connection_permissions.contact_id"):
        db.session.add(ConnectionPermission(contact_id=connection.id,
                                            permission_code="health_overview"))


def test_connection_permission_code_must_exist():
    connection = make_connection(make_user(), make_user())
    db.session.execute(sa.delete(ConnectionPermission).where(
        ConnectionPermission.contact_id == connection.id,
        ConnectionPermission.permission_code == "encouragement"))
    with refused("fk_connection_permissions_permission_code", "FOREIGN KEY"):
        db.session.add(ConnectionPermission(contact_id=connection.id,
                                            permission_code="view_everything"))


def test_chk_no_self_connection():
    # BR-038: a dual-role member does not follow themselves.
    user = make_user()
    with refused("chk_no_self_connection"):
        db.session.add(Connection(user_id=user.id, linked_user_id=user.id,
                                  contact_type="caregiver"))


def test_one_connection_per_patient_and_caregiver():
    patient, caregiver = make_user(), make_user()
    make_connection(patient, caregiver)
    with refused("uq_contact_patient_caregiver", "user_emergency_contacts.user_id"):
        db.session.add(Connection(user_id=patient.id, linked_user_id=caregiver.id,
                                  contact_type="caregiver"))
    # The reverse direction is another connection; plain SOS contacts are not limited.
    accepted(Connection(user_id=caregiver.id, linked_user_id=patient.id, contact_type="caregiver"),
             Connection(user_id=patient.id, contact_type="emergency", contact_name="Hàng xóm"),
             Connection(user_id=patient.id, contact_type="emergency", contact_name="Bác sĩ"))


def test_permission_revoked_defaults_to_false_and_is_not_null():
    connection = make_connection(make_user(), make_user())
    db.session.refresh(connection)
    assert connection.permission_revoked is False
    with refused("permission_revoked", "NOT NULL"):
        db.session.execute(sa.update(Connection).where(Connection.id == connection.id)
                           .values(permission_revoked=None))


def test_one_active_group_per_subscription():
    # BR-041: a dissolved group's subscription may start a new group; two active ones may not.
    admin = make_user()
    subscription = make_subscription(admin)
    first = make_group(admin, subscription=subscription)
    with refused("idx_group_active_subscription", "family_groups.subscription_id"):
        db.session.add(FamilyGroup(admin_user_id=admin.id, subscription_id=subscription.id,
                                   name="Thứ hai"))
    first.status = "dissolved"
    db.session.flush()
    accepted(FamilyGroup(admin_user_id=admin.id, subscription_id=subscription.id, name="Mới"))


def test_chk_group_status():
    with refused("chk_group_status"):
        make_group(status="deleted")


def test_users_phone_and_email_are_unique():
    user = make_user(email="an@example.com")
    with refused("uq_users_phone", "users.phone"):
        db.session.add(User(phone=user.phone, name="X"))
    with refused("uq_users_email", "users.email"):
        db.session.add(User(phone=next_phone(), name="Y", email="an@example.com"))


def test_chk_users_gender_and_locale():
    with refused("chk_users_gender"):
        make_user(gender=2)
    with refused("chk_users_locale"):
        make_user(locale="fr")


def test_notification_idempotency_one_live_row_per_invite_type_channel_recipient():
    group = make_group()
    inv = invite(group, next_phone())
    accepted(inv)

    def note(**fields):
        values = {"invite_id": inv.id, "recipient": inv.receiver_phone,
                  "notification_type": "INVITE_CREATED", "channel": "sms"}
        values.update(fields)
        return InviteNotification(**values)

    first = note()
    accepted(first)
    with refused("idx_notifications_once", "invite_notifications.invite_id"):
        db.session.add(note())
    accepted(note(channel="in_app"))
    first.status = "cancelled"
    db.session.flush()
    accepted(note())


def test_notification_checks():
    for field, value, name in (("notification_type", "INVITE_OPENED", "chk_notification_type"),
                               ("channel", "fax", "chk_notification_channel"),
                               ("status", "lost", "chk_notification_status"),
                               ("retry_count", -1, "chk_notification_retry_count")):
        values = {"recipient": "x", "notification_type": "MEMBER_JOINED", "channel": "in_app"}
        values[field] = value
        with refused(name):
            db.session.add(InviteNotification(**values))


def test_caregiver_report_views_unique():
    patient, caregiver = make_user(), make_user()
    report = PatientReport(patient_id=patient.id, period="2026-10", summary="Ổn định")
    accepted(report)
    accepted(CaregiverReportView(caregiver_id=caregiver.id, report_id=report.id))
    with refused("uq_caregiver_report_views_caregiver_id_report_id",
                 "caregiver_report_views.caregiver_id"):
        db.session.add(CaregiverReportView(caregiver_id=caregiver.id, report_id=report.id))


def test_subscription_checks():
    with refused("chk_subscription_slots"):
        make_subscription(make_user(), patients=-1)
    with refused("chk_subscription_status"):
        make_subscription(make_user(), status="paused")


def test_activation_code_redeemed_pair():
    with refused("chk_code_redeemed_pair"):
        db.session.add(ActivationCode(code_hash="a" * 64, plan="family", duration_days=30,
                                      redeemed_by=make_user().id))
    with refused("chk_code_duration"):
        db.session.add(ActivationCode(code_hash="b" * 64, plan="family", duration_days=0))


def test_foreign_keys_are_enforced():
    # On SQLite only with PRAGMA foreign_keys=ON, which every connection sets.
    with refused("fk_family_group_members_group_id", "FOREIGN KEY"):
        db.session.add(FamilyGroupMember(group_id=987654, user_id=make_user().id,
                                         role="patient"))


def test_deleting_a_group_row_cascades_to_its_members_only():
    group = make_group()
    member = make_member(group)
    member_id, user_id = member.id, member.user_id
    db.session.execute(sa.delete(FamilyGroup).where(FamilyGroup.id == group.id))
    db.session.expunge_all()
    assert db.session.get(FamilyGroupMember, member_id) is None
    assert db.session.get(User, user_id) is not None


def test_timestamps_are_timezone_aware_utc():
    user = make_user()
    db.session.commit()
    db.session.expire_all()
    user = db.session.get(User, user.id)
    assert user.created_at.utcoffset() == timedelta(0)
    assert abs(user.created_at - utcnow()) < timedelta(minutes=5)
    user.last_login_at = utcnow().replace(tzinfo=None)
    with pytest.raises(sa.exc.StatementError, match="naive datetime"):
        db.session.flush()
