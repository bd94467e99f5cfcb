"""Joining and leaving a group: self-add (BR-049), the join that accept shares,
removal (BR-058), leave (BR-061) and dissolve (SPEC §7)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app.audit.services import audit_record
from app.connections.services import (
    connections_for_new_member,
    connections_revoke_for_group,
    connections_revoke_for_member,
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
from app.models.accounts import User
from app.models.connections import Connection
from app.models.groups import FamilyGroup, FamilyGroupMember
from app.models.invites import ConnectionInvite
from app.notifications.services import (
    cancel_invite_messages,
    notify_payment_sync,
    notify_user,
)


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


def _payload(group: FamilyGroup, **extra) -> dict:
    return {"group_id": group.id, "group_name": group.name or "", **extra}


def member_join(*, actor: User, group: FamilyGroup, user: User, role: str,
                relationship: str | None = None, invite: ConnectionInvite | None = None,
                ip: str | None = None) -> JoinResult:
    """Add the membership and connect it (BR-045/008/009). The caller holds the group
    lock and has checked slots and the subscription. Tells the existing members
    (BR-052); the accept also tells the invite's sender.

    Raises Conflict(already_in_group) when the unique index catches a concurrent join.
    """
    member = FamilyGroupMember(group_id=group.id, user_id=user.id, role=role)
    try:
        with db.session.begin_nested():
            db.session.add(member)
    except IntegrityError:
        raise Conflict(_("You are already a %(role)s in a family.", role=role_label(role)),
                       code="already_in_group") from None
    connections = connections_for_new_member(
        actor=actor, group=group, user=user, role=role, relationship=relationship,
        initial_permissions=invite.initial_permissions if invite else None,
        invite_id=invite.id if invite else None)
    # BR-052: the admin and the existing members; the sender hears INVITE_ACCEPTED instead.
    told = {user.id} | ({invite.sender_id} if invite else set())
    member_ids = select(FamilyGroupMember.user_id).where(FamilyGroupMember.group_id == group.id)
    others = db.session.scalars(select(User).where(
        (User.id.in_(member_ids)) | (User.id == group.admin_user_id), User.id.not_in(told))
        .order_by(User.id))
    for other in others:
        notify_user(user=other, notification_type="MEMBER_JOINED", group_id=group.id,
                    invite_id=invite.id if invite else None,
                    payload=_payload(group, member_name=user.name, role=role))
    _sync(group, action="add", user_id=user.id, role=role, kind="MEMBER_JOINED",
          invite_id=invite.id if invite else None)
    audit_record(actor=actor, action="group.member_joined", subject=member, group_id=group.id,
                 ip=ip, details={"user_id": user.id, "role": role,
                                 "invite_id": invite.id if invite else None,
                                 "connections": [c.id for c in connections]})
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
    single_group_check(user_id=actor.id, group_id=group.id, role=role)
    free_slot_check(group_id=group.id, info=info, role=role)
    return member_join(actor=actor, group=group, user=actor, role=role,
                       relationship=relationship, ip=ip)


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
