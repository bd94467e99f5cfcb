"""Group rules (BR-041, BR-037, BR-047, BR-057), called directly on a real database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app.db import utcnow
from app.errors import DomainError
from app.extensions import db
from app.groups.services import (
    admin_grant_check,
    free_slot_check,
    group_create,
    group_for_viewer,
    group_rename,
    role_check,
    single_group_check,
)
from app.invites.services import invite_accept, invite_cancel, invite_create, invite_resend
from app.membership.services import group_dissolve, group_self_add, member_leave, member_remove
from app.models.billing import Subscription
from app.models.groups import FamilyGroup
from app.payments.provider import PaymentUnavailable
from tests.factories import make_group, make_member, make_subscription, make_user
from tests.service_helpers import (
    admin_group,
    audit_since,
    invite,
    join,
    lapse,
    patient_and_caregiver,
    refused,
    row_counts,
)


def expire_subscription(sub: Subscription, **values) -> None:
    """Change the subscription row behind the session's back, as the payment side would."""
    values = values or {"status": "expired"}
    sub_id = sub.id  # read before the commit expires it: SQLite allows one writer
    db.session.commit()
    with db.engine.begin() as conn:
        conn.execute(update(Subscription).where(Subscription.id == sub_id).values(**values))


class CountingProvider:
    """Wraps the configured provider and counts the questions asked."""

    name = "counting"

    def __init__(self, inner):
        self.inner = inner
        self.asked: list[int] = []

    def subscription_for(self, user_id):
        self.asked.append(user_id)
        return self.inner.subscription_for(user_id)

    def sync_member(self, **kwargs):
        return self.inner.sync_member(**kwargs)


@pytest.fixture
def counting_provider(app, monkeypatch):
    from app.payments.provider import payment_provider

    with app.app_context():
        provider = CountingProvider(payment_provider())
    monkeypatch.setitem(app.extensions, "payment_provider", provider)
    return provider


# --- group_create (BR-041) ---------------------------------------------------------------


def test_br041_owner_of_active_subscription_creates_the_group(ctx):
    admin = make_user()
    sub = make_subscription(admin, plan="family")

    group = group_create(actor=admin, name="  Gia đình   Nguyễn ", ip="198.51.100.4")

    db.session.flush()
    stored = db.session.get(FamilyGroup, group.id)
    assert (stored.admin_user_id, stored.subscription_id, stored.name, stored.status) == (
        admin.id, sub.id, "Gia đình Nguyễn", "active")
    [event] = audit_since(action="group.created")
    assert (event.actor_id, event.subject_type, event.subject_id, event.family_group_id,
            event.ip) == (admin.id, "family_groups", group.id, group.id, "198.51.100.4")
    assert event.details == {"name": "Gia đình Nguyễn", "plan": "family",
                             "subscription_id": sub.id}


def test_br041_user_without_subscription_cannot_create_a_group(ctx):
    refused("not_admin", group_create, actor=make_user(), name="Gia đình")


def test_br041_member_of_a_group_cannot_create_one_with_the_admins_plan(ctx):
    _admin, _sub, group = admin_group()
    member = make_user()
    make_member(group, member, role="caregiver")
    refused("not_admin", group_create, actor=member, name="Gia đình")


def test_br041_one_active_group_per_subscription(ctx):
    admin, _sub, _group = admin_group()
    error = refused("group_exists", group_create, actor=admin, name="Thứ hai")
    assert "already has a family" in error.message


def test_br041_group_exists_is_also_held_by_the_unique_index(ctx):
    admin, sub, _group = admin_group()
    db.session.commit()
    with pytest.raises(IntegrityError):
        make_group(admin, subscription=sub)
    db.session.rollback()


def test_br041_a_dissolved_group_frees_the_subscription_for_a_new_one(ctx):
    admin, sub, group = admin_group()
    group.status = "dissolved"
    db.session.flush()

    assert group_create(actor=admin, name="Mới").subscription_id == sub.id


@pytest.mark.parametrize("name", ["", "   ", "x" * 101])
def test_group_create_needs_a_name(ctx, name):
    admin = make_user()
    make_subscription(admin)
    error = refused("invalid", group_create, actor=admin, name=name)
    assert list(error.fields) == ["name"]


@pytest.mark.parametrize("values", [
    {"status": "expired"},
    {"status": "cancelled"},
    {"expires_at": utcnow() - timedelta(seconds=1)},
])
def test_br037_group_create_refused_when_subscription_inactive(ctx, values):
    admin = make_user()
    sub = make_subscription(admin)
    expire_subscription(sub, **values)
    error = refused("subscription_inactive", group_create, actor=admin, name="Gia đình")
    assert "Renew" in error.message
    assert "activation code" in error.message


# --- admin_grant_check: the provider is asked every time (BR-041) ------------------------


def test_br041_provider_is_asked_at_every_check(ctx, counting_provider):
    admin, _sub, group = admin_group()
    patient = make_user()

    issued = invite_create(actor=admin, group=group, phone=patient.phone, role="patient")
    invite_create(actor=admin, group=group, phone=make_user().phone, role="caregiver")
    invite_resend(actor=admin, invite=issued.invite)
    group_self_add(actor=admin, group=group, role="caregiver")
    invite_accept(actor=patient, invite=issued.invite)  # asks about the group's admin

    assert counting_provider.asked == [admin.id] * 5


def test_br041_subscription_expired_between_two_calls_refuses_the_second(ctx):
    admin, sub, group = admin_group()
    invite(group, role="caregiver")
    admin_grant_check(actor=admin, group=group)

    expire_subscription(sub)

    refused("subscription_inactive", admin_grant_check, actor=admin, group=group)
    refused("subscription_inactive", invite_create, actor=admin, group=group,
            phone=make_user().phone, role="caregiver")


def test_br041_a_member_or_another_admin_is_not_the_groups_admin(ctx):
    _admin, _sub, group = admin_group()
    member = join(group, role="caregiver")
    other_admin, _other_sub, _other_group = admin_group()

    refused("not_admin", admin_grant_check, actor=member, group=group)
    refused("not_admin", admin_grant_check, actor=other_admin, group=group)


def test_br041_grant_check_follows_a_renewal_under_a_new_subscription(ctx):
    admin, old, group = admin_group()
    old.status = "cancelled"
    db.session.flush()
    new = make_subscription(admin, plan="family_plus", patients=4, caregivers=8)

    info = admin_grant_check(actor=admin, group=group)

    assert info.subscription_id == new.id
    assert group.subscription_id == new.id


# --- group_rename ------------------------------------------------------------------------


def test_group_rename_by_the_admin_is_audited(ctx):
    admin, sub, group = admin_group()
    group.name = "Cũ"
    db.session.flush()
    expire_subscription(sub)  # not a grant: billing does not block it

    group_rename(actor=admin, group=group, name=" Mới ", ip="192.0.2.1")

    assert db.session.get(FamilyGroup, group.id).name == "Mới"
    [event] = audit_since(action="group.renamed")
    assert (event.actor_id, event.subject_id, event.family_group_id, event.ip, event.details) == (
        admin.id, group.id, group.id, "192.0.2.1", {"from": "Cũ", "to": "Mới"})


def test_group_rename_refusals(ctx):
    admin, _sub, group = admin_group()
    member = join(group, role="patient")
    refused("not_admin", group_rename, actor=member, group=group, name="X")
    refused("invalid", group_rename, actor=admin, group=group, name=" ")
    group.status = "dissolved"
    refused("group_not_active", group_rename, actor=admin, group=group, name="X")


# --- free_slot_check (BR-047 / BR-059) ---------------------------------------------------


def test_br047_free_is_total_minus_members_minus_pending_per_role(ctx):
    admin, _sub, group = admin_group(patients=2, caregivers=3)
    info = admin_grant_check(actor=admin, group=group)
    join(group, role="caregiver")
    invite(group, role="caregiver")
    free_slot_check(group_id=group.id, info=info, role="caregiver")  # 1 + 1 of 3

    invite(group, role="caregiver")

    refused("no_slot", free_slot_check, group_id=group.id, info=info, role="caregiver")
    free_slot_check(group_id=group.id, info=info, role="patient")  # the other role is free
    # An accept needs a member place only: 1 member of 3.
    free_slot_check(group_id=group.id, info=info, role="caregiver", accepting=True)


def test_br059_expired_pending_invites_hold_no_slot(ctx):
    admin, _sub, group = admin_group(patients=1, caregivers=1)
    info = admin_grant_check(actor=admin, group=group)
    issued = invite(group, role="caregiver")
    refused("no_slot", free_slot_check, group_id=group.id, info=info, role="caregiver")

    lapse(issued.invite)

    free_slot_check(group_id=group.id, info=info, role="caregiver")


def test_br047_cancel_frees_the_slot(ctx):
    admin, _sub, group = admin_group(patients=1, caregivers=1)
    info = admin_grant_check(actor=admin, group=group)
    issued = invite(group, role="patient")
    refused("no_slot", free_slot_check, group_id=group.id, info=info, role="patient")

    invite_cancel(actor=admin, invite=issued.invite)

    free_slot_check(group_id=group.id, info=info, role="patient")


def test_br047_no_slot_message_says_how_to_get_more(ctx):
    admin, _sub, group = admin_group(patients=0, caregivers=0)
    info = admin_grant_check(actor=admin, group=group)
    error = refused("no_slot", free_slot_check, group_id=group.id, info=info, role="patient")
    assert "Limit reached" in error.message
    assert "activation code" in error.message


# --- single_group_check (BR-057 / BR-048) ------------------------------------------------


def test_br057_single_group_check_per_role(ctx):
    _a, _s, group = admin_group()
    _b, _t, other = admin_group()
    user = make_user()
    make_member(group, user, role="caregiver")

    here = refused("already_in_group", single_group_check, user_id=user.id, group_id=group.id,
                   role="caregiver")
    elsewhere = refused("already_in_group", single_group_check, user_id=user.id,
                        group_id=other.id, role="caregiver")
    assert "in this family" in here.message
    assert "another family" in elsewhere.message
    # BR-048: the other role is free, here and elsewhere.
    single_group_check(user_id=user.id, group_id=group.id, role="patient")
    single_group_check(user_id=user.id, group_id=other.id, role="patient")


def test_role_check_knows_two_roles(ctx):
    assert role_check("patient") == "patient"
    assert role_check("caregiver") == "caregiver"
    with pytest.raises(DomainError) as caught:
        role_check("admin")
    assert (caught.value.code, list(caught.value.fields)) == ("invalid", ["role"])


# --- group_for_viewer --------------------------------------------------------------------


def test_group_for_viewer_shows_admin_members_and_staff(ctx):
    admin, _sub, group = admin_group()
    patient = join(group, role="patient")
    invite(group, role="caregiver")
    staff = make_user(is_staff=True)

    for_admin = group_for_viewer(actor=admin, group_id=group.id)
    for_member = group_for_viewer(actor=patient, group_id=group.id)
    for_staff = group_for_viewer(actor=staff, group_id=group.id)

    assert for_admin.member_ids == for_member.member_ids == {patient.id}
    assert len(for_admin.invites) == len(for_staff.invites) == 1
    assert for_member.invites == []


def test_group_for_viewer_hides_the_group_from_anyone_else(ctx):
    _admin, _sub, group = admin_group()
    outsider = make_user()
    before = row_counts()
    with pytest.raises(DomainError) as hidden:
        group_for_viewer(actor=outsider, group_id=group.id)
    with pytest.raises(DomainError) as missing:
        group_for_viewer(actor=outsider, group_id=group.id + 1000)
    assert hidden.value.code == missing.value.code == "not_found"
    assert hidden.value.message == missing.value.message
    assert row_counts() == before
    assert db.session.scalar(select(FamilyGroup.id)) == group.id


class DownProvider:
    """A payment service that does not answer."""

    name = "down"

    def subscription_for(self, user_id):
        raise PaymentUnavailable()

    def sync_member(self, **kwargs):
        raise PaymentUnavailable()


def test_br041_grants_fail_closed_when_the_payment_service_is_down(ctx, app, monkeypatch):
    admin, group, patient, caregiver = patient_and_caregiver()
    invitee = make_user()
    pending = invite(group, invitee, role="caregiver").invite
    monkeypatch.setitem(app.extensions, "payment_provider", DownProvider())

    error = refused("payment_unavailable", invite_create, actor=admin, group=group,
                    phone="0987654321", role="patient")
    assert error.status == 503
    refused("payment_unavailable", group_self_add, actor=admin, group=group, role="patient")
    refused("payment_unavailable", invite_resend, actor=admin, invite=pending)
    refused("payment_unavailable", invite_accept, actor=invitee, invite=pending)
    refused("payment_unavailable", group_create, actor=make_user(), name="X")
    # Revocations keep working (SPEC §6).
    invite_cancel(actor=admin, invite=pending)
    member_remove(actor=admin, group=group, user_id=caregiver.id, role="caregiver")
    member_leave(actor=patient, group=group, role="patient")
    group_dissolve(actor=admin, group=group)
    assert db.session.get(FamilyGroup, group.id).status == "dissolved"
