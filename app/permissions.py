"""Who may do what: pure functions over rows already loaded (no queries here), and the
same rules as SQL conditions where a reader filters by them."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ColumnElement, exists, false, or_, true

from app.models.accounts import User
from app.models.groups import FamilyGroup, FamilyGroupMember


def is_group_admin(user: User, group: FamilyGroup) -> bool:
    """The group's admin of record. Grants also ask the payment provider (BR-041)."""
    return user.is_authenticated and group.admin_user_id == user.id


def can_view_group(user: User, group: FamilyGroup, member_ids: Iterable[int]) -> bool:
    """The admin, a member and staff see a group; anyone else gets a 404.
    group_viewable_by() is the same rule in SQL."""
    return user.is_authenticated and (
        user.is_staff or group.admin_user_id == user.id or user.id in set(member_ids))


def group_viewable_by(user: User) -> ColumnElement[bool]:
    """can_view_group() as a condition on FamilyGroup, for a reader that has not loaded
    the members."""
    if not user.is_authenticated:
        return false()
    if user.is_staff:
        return true()
    return or_(FamilyGroup.admin_user_id == user.id, exists().where(
        FamilyGroupMember.group_id == FamilyGroup.id, FamilyGroupMember.user_id == user.id))


def can_manage_invites(user: User, group: FamilyGroup) -> bool:
    """Invites and slots are shown to the admin and to staff only."""
    return user.is_authenticated and (user.is_staff or group.admin_user_id == user.id)


def can_manage_places(user: User, group: FamilyGroup) -> bool:
    """Invite controls and the places left are offered to the admin and staff while the
    family is active; a dissolved or inactive family shows none."""
    return can_manage_invites(user, group) and group.status == "active"


def can_act_as_admin(user: User, group: FamilyGroup) -> bool:
    """The admin's changes (remove a member, rename, dissolve) need an active family."""
    return is_group_admin(user, group) and group.status == "active"
