"""The http payment provider end to end: the services ask a real payment service on
127.0.0.1 (tests/payment_server.py), fail closed for grants while it is down, keep
revocations working, and the outbox worker syncs memberships to it (SPEC §6)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask_migrate import upgrade
from sqlalchemy import func, select, update

from app.db import utcnow
from app.errors import Forbidden
from app.extensions import db
from app.groups.services import group_create
from app.invites.services import invite_accept, invite_cancel, invite_create
from app.membership.services import member_remove
from app.models.groups import FamilyGroupMember
from app.models.invites import ConnectionInvite
from app.models.notifications import InviteNotification
from app.outbox.delivery import deliver_due
from app.payments.provider import PaymentUnavailable
from tests.conftest import make_app
from tests.factories import make_user
from tests.payment_server import PaymentServer, subscription_json


@pytest.fixture
def service():
    with PaymentServer() as server:
        yield server


@pytest.fixture
def http_app(monkeypatch, fresh_database_url, service):
    monkeypatch.setenv("PAYMENT_PROVIDER", "http")
    monkeypatch.setenv("PAYMENT_SERVICE_URL", service.url)
    monkeypatch.setenv("PAYMENT_SERVICE_TIMEOUT", "0.3")
    monkeypatch.setenv("PAYMENT_SERVICE_RETRIES", "1")
    application = make_app(fresh_database_url())
    with application.app_context():
        upgrade()
        yield application
        db.session.remove()


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def payment_rows() -> list[InviteNotification]:
    return list(db.session.scalars(select(InviteNotification)
                                   .where(InviteNotification.channel == "payment")
                                   .order_by(InviteNotification.id)))


def test_grants_ask_the_service_and_fail_closed_while_it_is_down(http_app, service):
    admin, caregiver, patient = make_user(), make_user(), make_user()
    service.subscriptions[admin.id] = subscription_json(admin.id, patient=1, caregiver=1)
    group = group_create(actor=admin, name="Nhà An")
    assert group.subscription_id == 1000 + admin.id
    first = invite_create(actor=admin, group=group, phone=caregiver.phone, role="caregiver")
    db.session.commit()

    service.status_override = 503  # the payment service is down
    seen = len(service.requests)
    with pytest.raises(PaymentUnavailable) as caught:
        invite_create(actor=admin, group=group, phone=patient.phone, role="patient")
    db.session.rollback()
    assert caught.value.status == 503
    assert "Dịch vụ thanh toán" in caught.value.message  # Vietnamese, the default
    assert len(service.requests) - seen == 2  # one try and one bounded retry
    with pytest.raises(PaymentUnavailable):
        invite_accept(actor=caregiver, invite=first.invite)
    db.session.rollback()
    assert count(ConnectionInvite) == 1
    assert count(FamilyGroupMember) == 0

    # A revocation never waits for billing.
    invite_cancel(actor=admin, invite=first.invite)
    db.session.commit()
    assert first.invite.status == "cancelled"

    service.status_override = None  # back up: grants work again
    second = invite_create(actor=admin, group=group, phone=caregiver.phone, role="caregiver")
    invite_accept(actor=caregiver, invite=second.invite)
    db.session.commit()
    assert count(FamilyGroupMember) == 1


def test_an_expired_subscription_at_the_service_blocks_invites(http_app, service):
    admin = make_user()
    service.subscriptions[admin.id] = subscription_json(admin.id)
    group = group_create(actor=admin, name="Nhà An")
    db.session.commit()
    service.subscriptions[admin.id] = subscription_json(admin.id, expires_in_days=-1)
    with pytest.raises(Forbidden) as caught:
        invite_create(actor=admin, group=group, phone=make_user().phone, role="patient")
    db.session.rollback()
    assert caught.value.code == "subscription_inactive"
    assert count(ConnectionInvite) == 0


def test_membership_changes_reach_the_service_through_the_outbox(http_app, service):
    admin, caregiver = make_user(), make_user()
    service.subscriptions[admin.id] = subscription_json(admin.id)
    group = group_create(actor=admin, name="Nhà An")
    issued = invite_create(actor=admin, group=group, phone=caregiver.phone, role="caregiver")
    invite_accept(actor=caregiver, invite=issued.invite)
    db.session.commit()
    [join] = payment_rows()
    assert (join.recipient, join.payload) == (
        f"subscription:{group.subscription_id}",
        {"subscription_id": group.subscription_id, "action": "add", "user_id": caregiver.id,
         "role": "caregiver"})
    assert service.members_calls == []  # nothing leaves the process inside the request

    deliver_due()
    assert service.members_calls == [{"action": "add", "user_id": caregiver.id,
                                      "role": "caregiver"}]

    # The service is down when the admin removes the caregiver: the removal still
    # happens, and its sync waits in the outbox until the service answers again.
    service.status_override = 503
    member_remove(actor=admin, group=group, user_id=caregiver.id, role="caregiver")
    db.session.commit()
    assert count(FamilyGroupMember) == 0
    deliver_due()
    db.session.expire_all()
    leave = payment_rows()[-1]
    assert (leave.status, leave.retry_count) == ("failed", 1)

    service.status_override = None
    db.session.execute(update(InviteNotification).where(InviteNotification.id == leave.id)
                       .values(next_attempt_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    deliver_due()
    db.session.expire_all()
    assert db.session.get(InviteNotification, leave.id).status == "sent"
    assert service.members_calls[-1] == {"action": "remove", "user_id": caregiver.id,
                                         "role": "caregiver"}
    assert len(service.members_calls) == 2
