"""Who may do what: pure functions over rows already loaded (no queries here)."""

from __future__ import annotations

from collections.abc import Iterable

from app.models.accounts import User
from app.models.groups import FamilyGroup


def is_group_admin(user: User, group: FamilyGroup) -> bool:
    """The group's admin of record. Grants also ask the payment provider (BR-041)."""
    return user.is_authenticated and group.admin_user_id == user.id


def can_view_group(user: User, group: FamilyGroup, member_ids: Iterable[int]) -> bool:
    """The admin, a member and staff see a group; anyone else gets a 404."""
    return user.is_authenticated and (
        user.is_staff or group.admin_user_id == user.id or user.id in set(member_ids))


def can_manage_invites(user: User, group: FamilyGroup) -> bool:
    """Invites and slots are shown to the admin and to staff only."""
    return user.is_authenticated and (user.is_staff or group.admin_user_id == user.id)
