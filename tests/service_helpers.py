"""Helpers for the service tests of billing, groups, invites and connections: row counts,
outbox reads, refusals that must write nothing, and builders on top of tests/factories.py.

Invites are always made through app.invites.services.invite_create (it returns the token).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from app.db import utcnow
from app.errors import DomainError
from app.extensions import db
from app.invites.services import IssuedInvite, invite_accept, invite_create
from app.models.accounts import User
from app.models.audit import AuditEvent
from app.models.billing import ActivationCode, Subscription
from app.models.connections import PERMISSION_CODES, Connection, ConnectionPermission
from app.models.groups import FamilyGroup, FamilyGroupMember
from app.models.invites import ConnectionInvite
from app.models.notifications import InviteNotification
from tests.factories import make_group, make_subscription, make_user

COUNTED = {
    "groups": FamilyGroup,
    "members": FamilyGroupMember,
    "invites": ConnectionInvite,
    "connections": Connection,
    "permissions": ConnectionPermission,
    "outbox": InviteNotification,
    "audit": AuditEvent,
    "subscriptions": Subscription,
    "codes": ActivationCode,
}

ALL_ON = dict.fromkeys(PERMISSION_CODES, True)
ALL_OFF = dict.fromkeys(PERMISSION_CODES, False)


def row_counts() -> dict[str, int]:
    """Rows per table that a service may write."""
    return {name: db.session.scalar(select(func.count()).select_from(model))
            for name, model in COUNTED.items()}


def refused(code: str, call: Callable, /, **kwargs) -> DomainError:
    """Commit the set-up, call a service that must refuse with `code`, roll back as the
    views do, and check that no row was added or removed anywhere."""
    db.session.commit()
    before = row_counts()
    with pytest.raises(DomainError) as caught:
        call(**kwargs)
    db.session.rollback()
    assert caught.value.code == code, caught.value.message
    assert row_counts() == before
    return caught.value


def admin_group(*, patients: int = 2, caregivers: int = 4, plan: str = "family",
                admin: User | None = None, **user_fields) -> tuple[User, Subscription,
                                                                    FamilyGroup]:
    """An admin with an active subscription of the given slots and its active group."""
    admin = admin or make_user(name="Quản Trị", **user_fields)
    sub = make_subscription(admin, plan=plan, patients=patients, caregivers=caregivers)
    return admin, sub, make_group(admin, subscription=sub)


def patient_and_caregiver() -> tuple[User, FamilyGroup, User, User]:
    """(admin, group, patient, caregiver): an admin_group() that a patient and a caregiver
    joined through invites, so the two are connected with all six permissions ON."""
    admin, _sub, group = admin_group()
    return admin, group, join(group, role="patient"), join(group, role="caregiver")


def admin_of(group: FamilyGroup) -> User:
    return db.session.get(User, group.admin_user_id)


def invite(group: FamilyGroup, user: User | None = None, *, role: str = "caregiver",
           phone: str | None = None, **kwargs) -> IssuedInvite:
    """An invite from the group's admin to a user (or a bare phone number)."""
    return invite_create(actor=admin_of(group), group=group,
                         phone=phone or (user.phone if user else make_user().phone),
                         role=role, **kwargs)


def join(group: FamilyGroup, user: User | None = None, *, role: str = "caregiver",
         relationship: str | None = None, **user_fields) -> User:
    """Invite a user (a new one by default) and accept: a member with its connections."""
    user = user or make_user(**user_fields)
    issued = invite(group, user, role=role)
    invite_accept(actor=user, invite=issued.invite, relationship=relationship)
    db.session.flush()
    return user


def lapse(invite_row: ConnectionInvite) -> None:
    """Move an invite's expiry into the past (its status stays pending)."""
    db.session.execute(update(ConnectionInvite).where(ConnectionInvite.id == invite_row.id)
                       .values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.expire(invite_row)


def last_id(model) -> int:
    return db.session.scalar(select(func.coalesce(func.max(model.id), 0)))


def outbox_since(first_id: int = 0) -> list[InviteNotification]:
    """Outbox rows with an id above `first_id`, oldest first."""
    return list(db.session.scalars(select(InviteNotification)
                                   .where(InviteNotification.id > first_id)
                                   .order_by(InviteNotification.id)))


def told(first_id: int = 0, *, channel: str = "in_app") -> set[tuple[str, int | None]]:
    """(notification_type, recipient_user_id) of the new rows on one channel."""
    return {(n.notification_type, n.recipient_user_id) for n in outbox_since(first_id)
            if n.channel == channel}


def audit_since(first_id: int = 0, action: str | None = None) -> list[AuditEvent]:
    query = select(AuditEvent).where(AuditEvent.id > first_id).order_by(AuditEvent.id)
    if action:
        query = query.where(AuditEvent.action == action)
    return list(db.session.scalars(query))


def members_of(group: FamilyGroup) -> set[tuple[int, str]]:
    """(user_id, role) of the group's members, read from the database."""
    return set(db.session.execute(select(FamilyGroupMember.user_id, FamilyGroupMember.role)
                                  .where(FamilyGroupMember.group_id == group.id)).tuples())


# --- the same reads from a view test, each in an app context of its own ----------------


def counts(app) -> dict[str, int]:
    """row_counts() between test-client requests."""
    with app.app_context():
        return row_counts()


def outbox_last(app) -> int:
    with app.app_context():
        return last_id(InviteNotification)


def audit_last(app) -> int:
    with app.app_context():
        return last_id(AuditEvent)


def audits(app, action: str) -> list[AuditEvent]:
    """The audit events of one action, oldest first (detached, to read after the context)."""
    with app.app_context():
        rows = list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)
                                       .order_by(AuditEvent.id)))
        db.session.expunge_all()
        return rows


def connection_between(patient: User, caregiver: User) -> Connection | None:
    return db.session.scalar(select(Connection).where(
        Connection.user_id == patient.id, Connection.linked_user_id == caregiver.id)
        .execution_options(populate_existing=True))


def permission_map(connection: Connection) -> dict[str, bool]:
    return dict(db.session.execute(
        select(ConnectionPermission.permission_code, ConnectionPermission.is_enabled)
        .where(ConnectionPermission.contact_id == connection.id)).tuples().all())
