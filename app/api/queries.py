"""Reads the API needs beyond the features' own queries, each a fixed number of
statements whatever the size of a group or of a page."""

from __future__ import annotations

from collections import defaultdict

from flask_babel import gettext as _
from sqlalchemy import select

from app.db import utcnow
from app.errors import NotFound
from app.extensions import db
from app.groups.queries import GroupView
from app.groups.slots import counts_from_view, slots_summary
from app.models.accounts import User
from app.models.audit import AuditEvent
from app.models.groups import FamilyGroup, FamilyGroupMember
from app.models.invites import INVITE_PENDING, ConnectionInvite
from app.payments.provider import PaymentUnavailable, payment_provider
from app.permissions import group_viewable_by

Members = list[tuple[FamilyGroupMember, User]]


def group_visible(actor: User, group_id: int) -> FamilyGroup:
    """The group, if the actor is its admin, a member or staff; else NotFound, the same
    whether or not it exists."""
    group = db.session.scalar(select(FamilyGroup).where(FamilyGroup.id == group_id,
                                                         group_viewable_by(actor)))
    if group is not None:
        return group
    raise NotFound(_("This family does not exist or you cannot see it."), code="not_found")


def members_by_group(group_ids: list[int]) -> dict[int, Members]:
    """Members with their users for several groups, in one query."""
    found: dict[int, Members] = defaultdict(list)
    if group_ids:
        for member, user in db.session.execute(
                select(FamilyGroupMember, User).join(User, User.id == FamilyGroupMember.user_id)
                .where(FamilyGroupMember.group_id.in_(group_ids))
                .order_by(FamilyGroupMember.joined_at, FamilyGroupMember.id)).tuples():
            found[member.group_id].append((member, user))
    return found


def view_slots(view: GroupView) -> dict | None:
    """Slots of a loaded group (one provider lookup); None when the payment service does
    not answer, so that reading a family keeps working (SPEC §6)."""
    try:
        info = payment_provider().subscription_for(view.group.admin_user_id)
    except PaymentUnavailable:
        return None
    return {role: slots.as_json()
            for role, slots in slots_summary(info, counts_from_view(view)).items()}


def users_by_id(ids: set[int]) -> dict[int, User]:
    if not ids:
        return {}
    return {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(ids)))}


def group_invites(group_id: int, status: str | None) -> list[ConnectionInvite]:
    """The group's invites, newest first; status as people see it (a pending invite past
    its expiry is expired)."""
    query = select(ConnectionInvite).where(ConnectionInvite.family_group_id == group_id)
    now = utcnow()
    if status == INVITE_PENDING:
        query = query.where(ConnectionInvite.is_live(now))
    elif status is not None:
        query = query.where(ConnectionInvite.shown_status(now) == status)
    return list(db.session.scalars(
        query.order_by(ConnectionInvite.created_at.desc(), ConnectionInvite.id.desc())))


def group_audit(group_id: int, limit: int) -> list[AuditEvent]:
    """The group's audit events, newest first."""
    return list(db.session.scalars(
        select(AuditEvent).where(AuditEvent.family_group_id == group_id)
        .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc()).limit(limit)))
