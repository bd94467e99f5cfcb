"""Flask-Login's loader: the session's user, with what every page's header shows about
them in the same statement: the unread count and the roles the navigation is made for."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from flask import g, session
from sqlalchemy import and_, case, exists, select

from app.accounts.mfa import session_passed
from app.accounts.services import user_from_session_id
from app.extensions import db
from app.models.accounts import User
from app.models.groups import FamilyGroup, FamilyGroupMember
from app.notifications.queries import unread_count_of

_ADMIN, _PATIENT, _CAREGIVER = 1, 2, 4


@dataclass(frozen=True, slots=True)
class Roles:
    """What the user is in the families they belong to, for the navigation and the home
    page: a family's admin (of a family that is not dissolved), a patient, a caregiver."""

    admin: bool = False
    patient: bool = False
    caregiver: bool = False

    @property
    def any(self) -> bool:
        return self.admin or self.patient or self.caregiver

    @classmethod
    def of_mask(cls, mask: int | None) -> Roles:
        mask = mask or 0
        return cls(admin=bool(mask & _ADMIN), patient=bool(mask & _PATIENT),
                   caregiver=bool(mask & _CAREGIVER))


def roles_mask_of(user_id_column):
    """The roles as a small number correlated on `user_id_column` (one statement with the
    user's load, as the unread count)."""
    G, M = FamilyGroup, FamilyGroupMember

    def member_as(role: str):
        return exists().where(and_(M.user_id == user_id_column, M.role == role))

    admin = exists().where(and_(G.admin_user_id == user_id_column, G.status != "dissolved"))
    return (case((admin, _ADMIN), else_=0) + case((member_as("patient"), _PATIENT), else_=0)
            + case((member_as("caregiver"), _CAREGIVER), else_=0))


@functools.cache
def _header_columns():
    # The same objects each time, so the user's statement is built once per process.
    return unread_count_of(User.id), roles_mask_of(User.id)


def load_user_with_unread(session_id: str) -> User | None:
    """Flask-Login loader: the session's user and, in the same statement, their unread
    count and roles for the header (kept for this request only, see notification_context
    and roles_of)."""
    found = user_from_session_id(session_id, *_header_columns())
    if found is None:
        return None
    user, (unread, mask) = found
    # Staff act as staff once this session passed the second factor (issue 21).
    user.staff_factor_passed(session_passed(session, user))
    g.unread_notifications = (user.id, unread or 0)
    g.user_roles = (user.id, Roles.of_mask(mask))
    return user


def roles_of(user: User) -> Roles:
    """The user's roles: as their load read them at the start of this request, else read
    now (a user logged in during this request)."""
    loaded = g.get("user_roles")
    if loaded is not None and loaded[0] == user.id:
        return loaded[1]
    mask = db.session.scalar(select(roles_mask_of(User.id)).where(User.id == user.id))
    roles = Roles.of_mask(mask)
    g.user_roles = (user.id, roles)
    return roles


__all__ = ["Roles", "load_user_with_unread", "roles_of"]
