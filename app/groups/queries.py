"""Reads about groups: eager-loaded so a page or an API answer costs a fixed number of
queries whatever the size of the group."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from app.extensions import db
from app.models.accounts import User
from app.models.groups import FamilyGroup, FamilyGroupMember
from app.models.invites import ConnectionInvite


@dataclass
class GroupView:
    """A group with its members (and users) and its live pending invites."""

    group: FamilyGroup
    members: list[tuple[FamilyGroupMember, User]]
    invites: list[ConnectionInvite] = field(default_factory=list)

    def users_in(self, role: str) -> list[tuple[FamilyGroupMember, User]]:
        return [(m, u) for m, u in self.members if m.role == role]

    @property
    def member_ids(self) -> set[int]:
        return {u.id for _m, u in self.members}

    def role_of(self, user_id: int) -> list[str]:
        return [m.role for m, u in self.members if u.id == user_id]

    def invites_for(self, role: str) -> list[ConnectionInvite]:
        return [i for i in self.invites if i.role == role]


def group_view(group: FamilyGroup, *, with_invites: bool = True) -> GroupView:
    """Members with their users in one query, live pending invites in another."""
    members = list(db.session.execute(
        select(FamilyGroupMember, User).join(User, User.id == FamilyGroupMember.user_id)
        .where(FamilyGroupMember.group_id == group.id)
        .order_by(FamilyGroupMember.joined_at, FamilyGroupMember.id)).tuples())
    invites = pending_invites(group.id) if with_invites else []
    return GroupView(group=group, members=members, invites=invites)


def group_with_members(group_id: int, *, with_invites) -> GroupView | None:
    """The group and its members with their users in one statement (None: no such
    group); its live pending invites in a second when with_invites(group) says so."""
    rows = db.session.execute(
        select(FamilyGroup, FamilyGroupMember, User)
        .outerjoin(FamilyGroupMember, FamilyGroupMember.group_id == FamilyGroup.id)
        .outerjoin(User, User.id == FamilyGroupMember.user_id)
        .where(FamilyGroup.id == group_id)
        .order_by(FamilyGroupMember.joined_at, FamilyGroupMember.id)).tuples().all()
    if not rows:
        return None
    group = rows[0][0]
    members = [(m, u) for _g, m, u in rows if m is not None]
    invites = pending_invites(group.id) if with_invites(group) else []
    return GroupView(group=group, members=members, invites=invites)


def pending_invites(group_id: int) -> list[ConnectionInvite]:
    """Pending invites that have not expired, oldest first."""
    return list(db.session.scalars(
        select(ConnectionInvite)
        .where(ConnectionInvite.family_group_id == group_id,
               ConnectionInvite.is_live())
        .order_by(ConnectionInvite.created_at, ConnectionInvite.id)))


def active_group_of_admin(user_id: int) -> FamilyGroup | None:
    return db.session.scalar(select(FamilyGroup).where(
        FamilyGroup.admin_user_id == user_id, FamilyGroup.status == "active")
        .order_by(FamilyGroup.id.desc()).limit(1))


def memberships_of(user_id: int) -> list[tuple[FamilyGroupMember, FamilyGroup]]:
    """The user's memberships with their groups (at most one per role, BR-057)."""
    return list(db.session.execute(
        select(FamilyGroupMember, FamilyGroup)
        .join(FamilyGroup, FamilyGroup.id == FamilyGroupMember.group_id)
        .where(FamilyGroupMember.user_id == user_id)
        .order_by(FamilyGroupMember.role)).tuples())


def ties_of(user_ids: list[int]) -> dict[int, list[tuple[FamilyGroup, str]]]:
    """Each user's families with the role held there — patient, caregiver, or admin of
    an active group — in two queries."""
    ties: dict[int, list[tuple[FamilyGroup, str]]] = {uid: [] for uid in user_ids}
    for member, group in db.session.execute(
            select(FamilyGroupMember, FamilyGroup)
            .join(FamilyGroup, FamilyGroup.id == FamilyGroupMember.group_id)
            .where(FamilyGroupMember.user_id.in_(user_ids))).tuples():
        ties[member.user_id].append((group, member.role))
    for group in db.session.scalars(select(FamilyGroup).where(
            FamilyGroup.admin_user_id.in_(user_ids), FamilyGroup.status == "active")):
        ties[group.admin_user_id].append((group, "admin"))
    return ties

