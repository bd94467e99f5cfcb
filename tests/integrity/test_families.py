"""flask integrity-check: plans, orphans and admins — each invariant broken on purpose,
reported with its rows, repaired where it can be (with an audit event), then clean."""

from __future__ import annotations

from sqlalchemy import func, select, update

from app.extensions import db
from app.models.accounts import User
from app.models.billing import Subscription
from app.models.connections import PERMISSION_CODES, Connection
from app.models.groups import FamilyGroup, FamilyGroupMember
from app.models.invites import ConnectionInvite
from app.models.notifications import InviteNotification
from tests.factories import make_connection, make_group, make_member, make_subscription, make_user
from tests.integrity import check, repair_events, repaired, reported, violations, where
from tests.service_helpers import admin_group, invite, lapse, permission_map


def invite_statuses(app, group_id: int) -> dict[int, str]:
    with app.app_context():
        return dict(db.session.execute(select(ConnectionInvite.id, ConnectionInvite.status)
                                       .where(ConnectionInvite.family_group_id == group_id))
                    .tuples().all())


# --- 8. no plan exceeded -------------------------------------------------------------


def test_invites_beyond_the_plan_are_cancelled_newest_first(app, run):
    def make():
        admin, sub, group = admin_group(patients=1, caregivers=4)
        make_member(group, make_user(gender=1), role="caregiver")
        first, second = (invite(group).invite for _ in range(2))
        stale = invite(group).invite.id  # expired: it holds no slot and stays
        lapse(db.session.get(ConnectionInvite, stale))
        sub.caregiver_slots = 2  # the plan shrank: 1 member + 2 invites for 2 places
        return group.id, first.id, second.id, stale

    group_id, first, second, stale = run(make)
    output = reported(app, {"plan.invites_over_slots": [where(family=group_id,
                                                              role="caregiver")]})
    assert "1 caregivers and 2 pending invites for 2 places: 1 invites too many" in output
    with app.app_context():
        messages = db.session.scalar(select(func.count()).select_from(InviteNotification)
                                     .where(InviteNotification.invite_id == second,
                                            InviteNotification.status == "pending"))
    assert messages  # the invite's SMS/in-app rows, waiting
    repaired(app)
    assert invite_statuses(app, group_id) == {first: "pending", second: "cancelled",
                                              stale: "pending"}
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(InviteNotification).where(
            InviteNotification.invite_id == second,
            InviteNotification.status == "pending")) == 0  # the outbox-cancel helper
    [event] = repair_events(app, "plan.invites_over_slots")
    assert event["invites_cancelled"] == [second]


def test_members_beyond_the_plan_are_reported_and_not_repaired(app, run):
    def make():
        admin, sub, group = admin_group(patients=3, caregivers=4)
        patients = [make_member(group, make_user()).user_id for _ in range(2)]
        invite(group, role="patient")  # would be a third
        sub.patient_slots = 1
        return group.id, patients

    group_id, _patients = run(make)
    rows = where(family=group_id, role="patient")
    result = check(app)
    assert result.exit_code == 1
    assert violations(result.output) == {"plan.members_over_slots": [(rows, False)],
                                         "plan.invites_over_slots": [(rows, True)]}
    assert "2 patients for 1 places of the plan" in result.output
    output = repaired(app, remaining=1)
    assert violations(output, remaining=True) == {"plan.members_over_slots": [(rows, False)]}
    assert "1 not repairable" in check(app).output
    assert set(invite_statuses(app, group_id).values()) == {"cancelled"}
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(FamilyGroupMember)) == 2


# --- 9. no orphans -------------------------------------------------------------------


def test_members_of_a_dissolved_family_are_deleted_and_their_connections_released(app, run):
    def make():
        admin, _sub, group = admin_group()
        patient, caregiver = make_user(), make_user(gender=1)
        members = [make_member(group, patient).id,
                   make_member(group, caregiver, role="caregiver").id]
        connection = make_connection(patient, caregiver, group=group).id
        group.status = "dissolved"  # but the memberships stayed
        return group.id, members, connection, patient.id, caregiver.id

    group_id, [m_patient, m_caregiver], connection, patient, caregiver = run(make)
    reported(app, {
        "membership.dissolved_family": [
            where(membership=m_patient, family=group_id, user=patient),
            where(membership=m_caregiver, family=group_id, user=caregiver)],
        "connection.outside_family": [where(connection=connection, family=group_id)]})
    repaired(app)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(FamilyGroupMember)) == 0
        row = db.session.get(Connection, connection)
        assert row.permission_revoked is True
        assert permission_map(row) == dict.fromkeys(PERMISSION_CODES, False)
    events = repair_events(app, "membership.dissolved_family")
    assert [e["rows"]["membership"] for e in events] == [m_patient, m_caregiver]
    assert events[0]["revoked"] == [connection]


def test_pending_invites_of_a_family_that_is_not_active_are_cancelled(app, run):
    def make():
        _admin, _sub, dissolved = admin_group()
        sent = invite(dissolved).invite.id
        dissolved.status = "dissolved"
        _admin, _sub, inactive = admin_group()
        other = invite(inactive, role="patient").invite.id
        inactive.status = "inactive"
        _admin, _sub, active = admin_group()
        fine = invite(active).invite.id
        return dissolved.id, sent, inactive.id, other, active.id, fine

    dissolved, sent, inactive, other, active, fine = run(make)
    output = reported(app, {"invite.family_not_active": [
        where(invite=sent, family=dissolved), where(invite=other, family=inactive)]})
    assert "a pending invite of a family that is dissolved" in output
    repaired(app)
    assert invite_statuses(app, dissolved) == {sent: "cancelled"}
    assert invite_statuses(app, inactive) == {other: "cancelled"}
    assert invite_statuses(app, active) == {fine: "pending"}
    assert len(repair_events(app, "invite.family_not_active")) == 2


def test_a_family_without_its_admins_subscription_is_reported(app, run):
    def make():
        _admin, _sub, lost = admin_group()
        lost.subscription_id = None
        admin, _sub, foreign = admin_group()
        foreign.subscription_id = make_subscription(make_user()).id
        _admin, sub, gone = admin_group()
        gone.subscription_id = sub.id + 1000
        return lost.id, foreign.id, gone.id

    lost, foreign, gone = run(make)
    output = reported(app, {"family.subscription": [where(family=lost), where(family=foreign),
                                                    where(family=gone)]}, repairable=False)
    assert "an active family has no subscription" in output
    assert "belongs to user" in output
    assert "does not exist" in output
    result = check(app, "--repair")
    assert result.exit_code == 1
    assert "3 remaining." in result.output


def test_an_admin_with_two_active_families_is_reported(app, run):
    def make():
        admin, _sub, first = admin_group()
        old = make_subscription(admin, status="expired")
        second = make_group(admin, subscription=old)
        _other, _sub, alone = admin_group()
        return admin.id, first.id, second.id

    admin, first, second = run(make)
    reported(app, {"family.admin_active_families": [where(family=first, admin=admin),
                                                    where(family=second, admin=admin)]},
             repairable=False)
    assert check(app, "--repair").exit_code == 1
    with app.app_context():  # nothing was touched
        assert db.session.scalar(select(func.count()).select_from(FamilyGroup).where(
            FamilyGroup.status == "active")) == 3


def test_the_plan_checks_are_skipped_with_the_http_provider(app, run, monkeypatch):
    def make():
        admin, sub, group = admin_group(patients=1)
        make_member(group, make_user())
        make_member(group, make_user())
        db.session.execute(update(Subscription).where(Subscription.id == sub.id)
                           .values(owner_user_id=make_user().id))
        return group.id

    run(make)
    monkeypatch.setitem(app.config, "PAYMENT_PROVIDER", "http")
    result = check(app)
    assert result.exit_code == 0, result.output
    for code in ("plan.members_over_slots", "plan.invites_over_slots", "family.subscription"):
        assert f"[{code}] skipped: the plans are kept by the http payment service" \
            in result.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == 4
