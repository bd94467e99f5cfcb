"""Concurrent invites and accepts never exceed the plan (SEC-005, BR-047, BR-057, SPEC §4).

Real threads, released together by a barrier, each with its own app context — so its own
session and database connection — calling the services and committing as a view would.
The issue asks for PostgreSQL (row locks, READ COMMITTED: run with
TEST_DATABASE=postgresql); they pass on SQLite too, where BEGIN IMMEDIATE serialises the
writers, so they run on both backends.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

from sqlalchemy import func, select, update

from app.billing.services import codes_issue, subscription_redeem
from app.errors import DomainError
from app.extensions import db
from app.groups.services import group_create
from app.invites.services import invite_accept, invite_create
from app.models.accounts import User
from app.models.audit import AuditEvent
from app.models.billing import Subscription
from app.models.connections import Connection, ConnectionPermission
from app.models.groups import FamilyGroup, FamilyGroupMember
from app.models.invites import ConnectionInvite
from app.models.notifications import InviteNotification
from tests.factories import make_subscription, make_user, next_phone
from tests.service_helpers import admin_group, invite, join

THREAD_TIMEOUT = 60


def run_together(app, calls: list[Callable[[], object]]) -> list[str]:
    """Run each call in its own thread and app context, all released at once; commit on
    success, roll back on a DomainError. Returns "ok" or the error code, per call."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[str] = ["not run"] * len(calls)

    def worker(index: int, call: Callable[[], object]) -> None:
        try:
            with app.app_context():
                try:
                    barrier.wait(timeout=THREAD_TIMEOUT)
                    call()
                    db.session.commit()
                    outcomes[index] = "ok"
                except DomainError as error:
                    db.session.rollback()
                    outcomes[index] = error.code
                finally:
                    db.session.remove()
        except BaseException as error:  # anything else is reported by the test, not lost
            outcomes[index] = f"crash: {error!r}"

    threads = [threading.Thread(target=worker, args=(i, call), daemon=True)
               for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(THREAD_TIMEOUT)
    assert not [t for t in threads if t.is_alive()], "a thread is stuck"
    return outcomes


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def test_sec005_twenty_concurrent_invites_fill_exactly_the_two_free_slots(app):
    with app.app_context():
        admin, _sub, group = admin_group(patients=2, caregivers=2)
        phones = [next_phone() for _ in range(20)]
        admin_id, group_id = admin.id, group.id
        db.session.commit()

    def inviting(phone: str) -> Callable[[], object]:
        def call():
            return invite_create(actor=db.session.get(User, admin_id),
                                 group=db.session.get(FamilyGroup, group_id), phone=phone,
                                 role="caregiver")
        return call

    outcomes = run_together(app, [inviting(phone) for phone in phones])

    assert Counter(outcomes) == {"ok": 2, "no_slot": 18}, outcomes
    with app.app_context():
        invited = set(db.session.scalars(select(ConnectionInvite.receiver_phone).where(
            ConnectionInvite.family_group_id == group_id, ConnectionInvite.status == "pending")))
        assert len(invited) == 2
        assert invited == {p for p, o in zip(phones, outcomes, strict=True) if o == "ok"}
        assert count(ConnectionInvite) == 2
        assert count(InviteNotification) == 2  # one SMS per invite, nothing for refusals
        assert count(AuditEvent, AuditEvent.action == "invite.created") == 2


def test_sec005_concurrent_accepts_after_the_plan_was_lowered_admit_exactly_two(app):
    with app.app_context():
        _admin, sub, group = admin_group(patients=1, caregivers=4)
        patient = join(group, role="patient")
        invitees = [make_user() for _ in range(4)]
        invites = [invite(group, user, role="caregiver").invite for user in invitees]
        db.session.execute(update(Subscription).where(Subscription.id == sub.id)
                           .values(caregiver_slots=2))
        pairs = [(user.id, row.id) for user, row in zip(invitees, invites, strict=True)]
        group_id, patient_id = group.id, patient.id
        db.session.commit()

    def accepting(user_id: int, invite_id: int) -> Callable[[], object]:
        def call():
            return invite_accept(actor=db.session.get(User, user_id),
                                 invite=db.session.get(ConnectionInvite, invite_id))
        return call

    outcomes = run_together(app, [accepting(u, i) for u, i in pairs])

    assert Counter(outcomes) == {"ok": 2, "no_slot": 2}, outcomes
    with app.app_context():
        winners = {u for (u, _i), o in zip(pairs, outcomes, strict=True) if o == "ok"}
        caregivers = set(db.session.scalars(select(FamilyGroupMember.user_id).where(
            FamilyGroupMember.group_id == group_id, FamilyGroupMember.role == "caregiver")))
        assert caregivers == winners
        assert Counter(db.session.scalars(select(ConnectionInvite.status).where(
            ConnectionInvite.id.in_([i for _u, i in pairs])))) == {"accepted": 2, "pending": 2}
        assert set(db.session.scalars(select(Connection.linked_user_id).where(
            Connection.user_id == patient_id))) == winners
        assert count(ConnectionPermission) == 12


def test_sec005_one_link_accepted_twice_at_once_joins_once(app):
    with app.app_context():
        admin, _sub, group = admin_group()
        patient = join(group, role="patient")
        person = make_user()
        pending = invite(group, person, role="caregiver").invite
        ids = {"person": person.id, "invite": pending.id, "group": group.id,
               "patient": patient.id, "admin": admin.id}
        db.session.commit()

    def accepting() -> object:
        return invite_accept(actor=db.session.get(User, ids["person"]),
                             invite=db.session.get(ConnectionInvite, ids["invite"]))

    outcomes = run_together(app, [accepting, accepting])

    assert sorted(outcomes) == ["invite_not_pending", "ok"], outcomes
    with app.app_context():
        assert count(FamilyGroupMember, FamilyGroupMember.user_id == ids["person"]) == 1
        assert count(Connection, Connection.linked_user_id == ids["person"]) == 1
        assert count(ConnectionPermission) == 6
        assert count(AuditEvent, AuditEvent.action == "invite.accepted",
                     AuditEvent.subject_id == ids["invite"]) == 1
        told = Counter(db.session.execute(
            select(InviteNotification.notification_type, InviteNotification.recipient_user_id)
            .where(InviteNotification.invite_id == ids["invite"],
                   InviteNotification.notification_type != "INVITE_CREATED")).tuples())
        assert told == {("INVITE_ACCEPTED", ids["admin"]): 2,  # in-app and SMS, once
                        ("MEMBER_JOINED", ids["patient"]): 2}


def test_br057_accepting_two_groups_at_once_in_one_role_joins_exactly_one(app):
    with app.app_context():
        _a, _s, first = admin_group()
        _b, _t, second = admin_group()
        patients = {first.id: join(first, role="patient").id,
                    second.id: join(second, role="patient").id}
        person = make_user()
        invites = {first.id: invite(first, person, role="caregiver").invite.id,
                   second.id: invite(second, person, role="caregiver").invite.id}
        person_id = person.id
        db.session.commit()

    def accepting(invite_id: int) -> Callable[[], object]:
        def call():
            return invite_accept(actor=db.session.get(User, person_id),
                                 invite=db.session.get(ConnectionInvite, invite_id))
        return call

    groups = list(invites)
    outcomes = run_together(app, [accepting(invites[g]) for g in groups])

    assert sorted(outcomes) == ["already_in_group", "ok"], outcomes
    won = groups[outcomes.index("ok")]
    lost = groups[outcomes.index("already_in_group")]
    with app.app_context():
        assert list(db.session.execute(select(FamilyGroupMember.group_id, FamilyGroupMember.role)
                                       .where(FamilyGroupMember.user_id == person_id))
                    .tuples()) == [(won, "caregiver")]
        assert list(db.session.scalars(select(Connection.user_id).where(
            Connection.linked_user_id == person_id))) == [patients[won]]
        assert db.session.get(ConnectionInvite, invites[won]).status == "accepted"
        assert db.session.get(ConnectionInvite, invites[lost]).status == "pending"
        assert count(ConnectionPermission) == 6


# --- the same guarantees where groups and plans are made ---------------------------------


def test_br041_two_concurrent_group_creates_make_one_group(app):
    with app.app_context():
        admin = make_user()
        make_subscription(admin)
        admin_id = admin.id
        db.session.commit()

    def creating(name: str) -> Callable[[], object]:
        def call():
            return group_create(actor=db.session.get(User, admin_id), name=name)
        return call

    outcomes = run_together(app, [creating("Một"), creating("Hai")])

    assert sorted(outcomes) == ["group_exists", "ok"], outcomes
    with app.app_context():
        assert count(FamilyGroup) == 1
        assert count(AuditEvent, AuditEvent.action == "group.created") == 1


def test_one_activation_code_redeemed_twice_at_once_is_used_once(app):
    with app.app_context():
        code = codes_issue(actor=None, plan="family", days=30)[0]
        user_ids = [make_user().id, make_user().id]
        db.session.commit()

    def redeeming(user_id: int) -> Callable[[], object]:
        def call():
            return subscription_redeem(actor=db.session.get(User, user_id), code=code)
        return call

    outcomes = run_together(app, [redeeming(u) for u in user_ids])

    assert sorted(outcomes) == ["code_used", "ok"], outcomes
    with app.app_context():
        winner = user_ids[outcomes.index("ok")]
        assert list(db.session.scalars(select(Subscription.owner_user_id))) == [winner]


def test_two_codes_redeemed_at_once_by_a_new_admin_make_one_subscription(app):
    with app.app_context():
        codes = codes_issue(actor=None, plan="family", days=30, count=2)
        user_id = make_user().id
        db.session.commit()

    def redeeming(code: str) -> Callable[[], object]:
        def call():
            return subscription_redeem(actor=db.session.get(User, user_id), code=code)
        return call

    outcomes = run_together(app, [redeeming(c) for c in codes])

    assert outcomes == ["ok", "ok"], outcomes
    with app.app_context():
        [sub] = db.session.scalars(select(Subscription))
        assert (sub.owner_user_id, sub.status) == (user_id, "active")
        assert round((sub.expires_at - sub.starts_at).total_seconds() / 86400) == 60
