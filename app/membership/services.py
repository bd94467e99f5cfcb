"""Joining and leaving a group: self-add (BR-049), the join that accept shares,
removal (BR-058), leave (BR-061) and dissolve (SPEC §7)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from app.audit.services import audit_record, audit_row, audit_write
from app.connections.services import (
    connections_for_new_member,
    connections_revoke_for_group,
    connections_revoke_for_member,
    dialect_insert,
    live_patients_of_caregiver,
    relationship_check,
)
from app.db import utcnow
from app.errors import Conflict, Forbidden, NotFound
from app.extensions import db
from app.groups.services import (
    admin_grant_check,
    free_slot_check,
    group_active_check,
    group_lock,
    not_admin,
    role_check,
    role_label,
    single_group_check,
)
from app.groups.slots import count_roles, slots_summary
from app.models.accounts import User
from app.models.connections import Connection
from app.models.groups import ROLE_PATIENT, FamilyGroup, FamilyGroupMember
from app.models.invites import ConnectionInvite
from app.notifications.services import (
    cancel_invite_messages,
    notify_payment_sync,
    notify_user,
    notify_write,
    payment_sync_row,
    user_message_rows,
)
from app.payments.provider import SubscriptionInfo


@dataclass
class JoinResult:
    group: FamilyGroup
    member: FamilyGroupMember
    role: str
    connections: list[Connection]


def _sync(group: FamilyGroup, *, action: str, user_id: int, role: str, kind: str,
          invite_id: int | None = None) -> None:
    """Tell the http payment service, through the outbox (SPEC §6)."""
    if current_app.config["PAYMENT_PROVIDER"] == "http" and group.subscription_id:
        notify_payment_sync(subscription_id=group.subscription_id, action=action,
                            user_id=user_id, role=role, notification_type=kind,
                            group_id=group.id, invite_id=invite_id)


def _sync_rows(group: FamilyGroup, *, action: str, user_id: int, role: str, kind: str,
               invite_id: int | None = None) -> list[dict[str, Any]]:
    """_sync()'s outbox row, if any, for notify_write()."""
    if current_app.config["PAYMENT_PROVIDER"] == "http" and group.subscription_id:
        return [payment_sync_row(subscription_id=group.subscription_id, action=action,
                                 user_id=user_id, role=role, notification_type=kind,
                                 group_id=group.id, invite_id=invite_id)]
    return []


def _payload(group: FamilyGroup, **extra) -> dict:
    return {"group_id": group.id, "group_name": group.name or "", **extra}


@dataclass
class JoinReading:
    """What a join needs to know of the family, read under the group lock in one statement
    (join_reading): the group's members with their users, each member of the other role
    with the row that connected them to the joining user before (a return), and every
    place the joining user holds in any family (BR-057)."""

    group: FamilyGroup
    user_id: int
    rows: list[tuple[FamilyGroupMember, User, Connection | None]]

    @property
    def members(self) -> list[tuple[FamilyGroupMember, User]]:
        """The group's members, ordered by user id."""
        return [(m, u) for m, u, _c in self.rows if m.group_id == self.group.id]

    @property
    def held(self) -> dict[tuple[int, str], int]:
        """groups_held([user_id]): (user id, role) → the family where the user holds it."""
        return {(m.user_id, m.role): m.group_id for m, _u, _c in self.rows
                if m.user_id == self.user_id}

    @property
    def earlier(self) -> dict[tuple[int, int], Connection]:
        """The earlier rows of the pairs the join makes, by (patient, caregiver)."""
        return {(c.user_id, c.linked_user_id): c for _m, _u, c in self.rows if c is not None}

    def of_role(self, role: str) -> list[User]:
        """The group's members in `role`, ordered by id."""
        return [u for m, u in self.members if m.role == role]

    def to_tell(self, told: set[int]) -> list[User]:
        """BR-052: the admin and the members, once each, by id, but those in `told`."""
        people = {u.id: u for _m, u in self.members}
        admin_id = self.group.admin_user_id
        if admin_id not in people and admin_id not in told:
            # Not a member: in the session already when they sent the invite being accepted.
            admin = db.session.get(User, admin_id)
            if admin is not None:
                people[admin_id] = admin
        return [people[uid] for uid in sorted(people) if uid not in told]


def join_reading(group: FamilyGroup, user_id: int, role: str) -> JoinReading:
    """Read the family for a join as `role`, under its lock, in one statement whatever its
    size: its members with their users, the rows that connected the joining user to the
    other role's members before (with their permissions: one more statement, and only
    when there are some), and the joining user's memberships anywhere."""
    other_role = "caregiver" if role == ROLE_PATIENT else ROLE_PATIENT
    member = FamilyGroupMember.user_id
    pair = (and_(Connection.user_id == user_id, Connection.linked_user_id == member)
            if role == ROLE_PATIENT else
            and_(Connection.user_id == member, Connection.linked_user_id == user_id))
    rows = db.session.execute(
        select(FamilyGroupMember, User, Connection)
        .join(User, User.id == member)
        .outerjoin(Connection, and_(FamilyGroupMember.group_id == group.id,
                                    FamilyGroupMember.role == other_role, pair))
        .where(or_(FamilyGroupMember.group_id == group.id, member == user_id))
        .order_by(User.id, FamilyGroupMember.id)
        .options(selectinload(Connection.permissions))).tuples().all()
    return JoinReading(group=group, user_id=user_id, rows=list(rows))


def member_place_check(reading: JoinReading, *, info: SubscriptionInfo, role: str) -> None:
    """SEC-005 for an accept, under the group lock: free_slot_check(accepting=True) on the
    members already read. An accept needs a member place only (its own pending invite
    already holds one: app/groups/slots.py), so the pending invites are not counted.

    Raises Conflict(no_slot)."""
    counts = count_roles((m.role for m, _u in reading.members), ())
    slots_summary(info, counts)[role].check(accepting=True)


def _member_add(group: FamilyGroup, user: User, role: str) -> FamilyGroupMember:
    """Insert the membership; a concurrent join the unique indexes catch (BR-057) adds
    nothing, in the same statement (no savepoint). Raises Conflict(already_in_group)."""
    insert = (dialect_insert(FamilyGroupMember)
              .values(group_id=group.id, user_id=user.id, role=role)
              .on_conflict_do_nothing().returning(FamilyGroupMember))
    try:
        member = db.session.scalars(insert).first()
    except IntegrityError:
        member = None
    if member is None:
        raise Conflict(_("You are already a %(role)s in a family.", role=role_label(role)),
                       code="already_in_group")
    return member


def member_join(*, actor: User, group: FamilyGroup, user: User, role: str,
                relationship: str | None = None, invite: ConnectionInvite | None = None,
                ip: str | None = None, reading: JoinReading | None = None,
                inverses: dict[tuple[str, int], str] | None = None,
                events: list[dict[str, Any]] | None = None,
                messages: list[dict[str, Any]] | None = None) -> JoinResult:
    """Add the membership and connect it (BR-045/008/009). The caller holds the group
    lock and has checked slots and the subscription. Tells the existing members
    (BR-052); the accept also tells the invite's sender.

    The same statements whatever the family's size (issue 17): the membership, the
    connections, their permissions, the audit events and the outbox rows, one INSERT each
    (connections_for_new_member: a return reuses rows, one more statement each).
    reading: join_reading(group, user.id, role) as the caller made it under the lock (else
    read here).
    inverses: for connections_for_new_member. events, messages: audit rows (audit_row)
    and outbox rows (user_message_rows) the caller queued, written first, with the
    join's own.
    Raises Conflict(already_in_group) when the unique index catches a concurrent join.
    """
    reading = reading or join_reading(group, user.id, role)
    member = _member_add(group, user, role)
    events = [] if events is None else events
    messages = [] if messages is None else messages
    invite_id = invite.id if invite else None
    connections = connections_for_new_member(
        actor=actor, group=group, user=user, role=role, relationship=relationship,
        initial_permissions=invite.initial_permissions if invite else None,
        invite_id=invite_id,
        members=reading.of_role("caregiver" if role == ROLE_PATIENT else ROLE_PATIENT),
        existing=reading.earlier, inverses=inverses, events=events)
    # BR-052: the admin and the existing members; the sender hears INVITE_ACCEPTED instead.
    told = {user.id} | ({invite.sender_id} if invite else set())
    for other in reading.to_tell(told):
        messages += user_message_rows(user=other, notification_type="MEMBER_JOINED",
                                      group_id=group.id, invite_id=invite_id,
                                      payload=_payload(group, member_name=user.name, role=role))
    messages += _sync_rows(group, action="add", user_id=user.id, role=role,
                           kind="MEMBER_JOINED", invite_id=invite_id)
    events.append(audit_row(actor=actor, action="group.member_joined", subject=member,
                            group_id=group.id, ip=ip,
                            details={"user_id": user.id, "role": role, "invite_id": invite_id,
                                     "connections": [c.id for c in connections]}))
    audit_write(events)
    notify_write(messages)
    return JoinResult(group=group, member=member, role=role, connections=connections)


def group_self_add(*, actor: User, group: FamilyGroup, role: str,
                   relationship: str | None = None, ip: str | None = None) -> JoinResult:
    """BR-049: the admin adds themselves as patient or caregiver — no invite, at once,
    using a slot.

    Raises Invalid, Forbidden(not_admin | subscription_inactive), Conflict(no_slot |
    already_in_group | group_not_active), PaymentUnavailable.
    """
    role_check(role)
    relationship = relationship_check(relationship)
    info = admin_grant_check(actor=actor, group=group)
    group = group_lock(group.id)
    group_active_check(group)
    reading = join_reading(group, actor.id, role)
    single_group_check(user_id=actor.id, group_id=group.id, role=role, held=reading.held)
    free_slot_check(group_id=group.id, info=info, role=role)
    return member_join(actor=actor, group=group, user=actor, role=role,
                       relationship=relationship, ip=ip, reading=reading)


def _release(*, actor: User | None, group: FamilyGroup, member: FamilyGroupMember,
             kind: str) -> list[int]:
    """Delete the membership (the audit trail keeps it), revoke its connections, tell the
    payment service."""
    revoked = connections_revoke_for_member(
        actor=actor, group_id=group.id, user_id=member.user_id, role=member.role,
        cause="removed" if kind == "MEMBER_REMOVED" else "left")
    db.session.delete(member)
    _sync(group, action="remove", user_id=member.user_id, role=member.role, kind=kind)
    return revoked


def _membership(group_id: int, user_id: int, role: str) -> FamilyGroupMember:
    member = db.session.scalar(select(FamilyGroupMember).where(
        FamilyGroupMember.group_id == group_id, FamilyGroupMember.user_id == user_id,
        FamilyGroupMember.role == role))
    if member is None:
        raise NotFound(_("This person is not a %(role)s of this family.", role=role_label(role)),
                       code="not_found")
    return member


def member_remove(*, actor: User, group: FamilyGroup, user_id: int, role: str,
                  ip: str | None = None) -> None:
    """BR-058: the admin removes a member other than themselves; its connections in the
    group are revoked, the slot is freed and the removed member is told. Never blocked by
    billing (BR-037).

    Raises Forbidden(not_admin | admin_cannot_remove_self), NotFound, Invalid.
    """
    role_check(role)
    if group.admin_user_id != actor.id:
        raise not_admin()
    if user_id == actor.id:
        raise Forbidden(_("You are the family's admin: you cannot remove yourself. "
                          "Dissolve the family instead."), code="admin_cannot_remove_self")
    member = _membership(group.id, user_id, role)
    revoked = _release(actor=actor, group=group, member=member, kind="MEMBER_REMOVED")
    removed = db.session.get(User, user_id)
    notify_user(user=removed, notification_type="MEMBER_REMOVED", group_id=group.id,
                payload=_payload(group, actor_name=actor.name, role=role))
    audit_record(actor=actor, action="group.member_removed", subject=removed, group_id=group.id,
                 ip=ip, details={"user_id": user_id, "role": role, "revoked": revoked})
    db.session.flush()


def member_leave(*, actor: User, group: FamilyGroup, role: str, ip: str | None = None) -> None:
    """BR-061/BR-020: a member other than the admin leaves; the slot is freed; the admin
    and the patients the member followed are told.

    Raises Forbidden(admin_cannot_leave), NotFound, Invalid.
    """
    role_check(role)
    if group.admin_user_id == actor.id:
        raise Forbidden(_("You are the family's admin: you cannot leave it. "
                          "Dissolve the family instead."), code="admin_cannot_leave")
    member = _membership(group.id, actor.id, role)
    followed = (live_patients_of_caregiver(group.id, actor.id) if role == "caregiver" else [])
    revoked = _release(actor=actor, group=group, member=member, kind="MEMBER_LEFT")
    admin = db.session.get(User, group.admin_user_id)
    for person in {u.id: u for u in [admin, *followed] if u is not None}.values():
        notify_user(user=person, notification_type="MEMBER_LEFT", group_id=group.id,
                    payload=_payload(group, member_name=actor.name, role=role))
    audit_record(actor=actor, action="group.member_left", subject=actor, group_id=group.id,
                 ip=ip, details={"role": role, "revoked": revoked})
    db.session.flush()


def group_dissolve(*, actor: User, group: FamilyGroup, ip: str | None = None) -> None:
    """Soft delete (SPEC §7): status dissolved, members released, connections revoked,
    pending invites cancelled. Nobody is messaged (SPEC §3 names no one); the audit trail
    keeps the story. Never blocked by billing.

    Raises Forbidden(not_admin), Conflict(group_not_active).
    """
    if group.admin_user_id != actor.id:
        raise not_admin()
    group = group_lock(group.id)
    group_active_check(group)
    members = list(db.session.scalars(select(FamilyGroupMember).where(
        FamilyGroupMember.group_id == group.id)))
    revoked = connections_revoke_for_group(actor=actor, group_id=group.id)
    for member in members:
        db.session.delete(member)
        _sync(group, action="remove", user_id=member.user_id, role=member.role,
              kind="MEMBER_REMOVED")
    pending = list(db.session.scalars(select(ConnectionInvite.id).where(
        ConnectionInvite.family_group_id == group.id, ConnectionInvite.is_pending)))
    if pending:
        db.session.execute(update(ConnectionInvite).where(ConnectionInvite.id.in_(pending))
                           .values(status="cancelled", updated_at=utcnow())
                           .execution_options(synchronize_session="fetch"))
        cancel_invite_messages(*pending)
    now = utcnow()
    group.status = "dissolved"
    group.dissolved_at = now
    group.updated_at = now
    audit_record(actor=actor, action="group.dissolved", subject=group, group_id=group.id, ip=ip,
                 details={"members": [{"user_id": m.user_id, "role": m.role} for m in members],
                          "revoked": revoked, "invites_cancelled": pending})
    db.session.flush()
