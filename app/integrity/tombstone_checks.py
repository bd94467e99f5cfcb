"""The invariants of deleted accounts (issue 19, item 4): a tombstone holds no membership,
no live connection, no pending invite, no personal field, no way in (session, token), and
administers no family that is not dissolved. The other checks read tombstones as any
former member: a tombstone is never a member, so they have nothing to say about it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, delete, or_, select, update

from app.db import utcnow
from app.extensions import db
from app.integrity.checks import Check, RepairableCheck, Violation, ids_of
from app.integrity.connection_checks import TABLE, revoke
from app.integrity.group_checks import cancel_invites
from app.models.accounts import ApiToken, User
from app.models.connections import Connection
from app.models.groups import FamilyGroup, FamilyGroupMember
from app.models.invites import ConnectionInvite

DELETED = User.deleted_at.is_not(None)


def _tombstone(column) -> Any:
    return select(User.id).where(User.id == column, DELETED).exists()


class TombstoneMembership(RepairableCheck):
    """A deleted account left every family. Repair: the membership goes (its live
    connections are TombstoneConnection's; the family's slot is free again)."""

    code = "tombstone.membership"
    title = "A deleted account is a member of no family"
    page_row = "membership"

    def page_column(self):
        return FamilyGroupMember.id

    def query(self):
        return (select(FamilyGroupMember.id, FamilyGroupMember.group_id,
                       FamilyGroupMember.user_id, FamilyGroupMember.role)
                .where(_tombstone(FamilyGroupMember.user_id))
                .order_by(FamilyGroupMember.id))

    def violation(self, row: Any) -> Violation:
        return Violation(self.code, f"a deleted account is still a {row.role} of a family",
                         {"membership": row.id, "family": row.group_id, "user": row.user_id},
                         True, group_id=row.group_id)

    def repair(self, batch: list[Violation]) -> None:
        db.session.execute(delete(FamilyGroupMember)
                           .where(FamilyGroupMember.id.in_(ids_of(batch, "membership")))
                           .execution_options(synchronize_session=False))
        for v in batch:
            self.repaired(v, subject=("users", v.rows["user"]), done="membership deleted")


class TombstoneConnection(RepairableCheck):
    """Nobody follows a deleted account, and it follows nobody. Repair: revoked."""

    code = "tombstone.connection"
    title = "A deleted account has no live connection"
    page_row = "connection"

    def page_column(self):
        return Connection.id

    def query(self):
        return (select(Connection.id, Connection.family_group_id)
                .where(Connection.linked_user_id.is_not(None),
                       Connection.permission_revoked.is_(False),
                       or_(_tombstone(Connection.user_id),
                           _tombstone(Connection.linked_user_id)))
                .order_by(Connection.id))

    def violation(self, row: Any) -> Violation:
        return Violation(self.code, "a live connection has a deleted account as a party",
                         {"connection": row.id}, True, group_id=row.family_group_id)

    def repair(self, batch: list[Violation]) -> None:
        revoke(ids_of(batch, "connection"))
        for v in batch:
            self.repaired(v, subject=(TABLE, v.rows["connection"]), done="revoked")


class TombstoneInvite(RepairableCheck):
    """No pending invite from or to a deleted account. Repair: cancelled."""

    code = "tombstone.invite"
    title = "A deleted account has no pending invite, sent or received"
    page_row = "invite"

    def page_column(self):
        return ConnectionInvite.id

    def query(self):
        return (select(ConnectionInvite.id, ConnectionInvite.family_group_id)
                .where(ConnectionInvite.is_pending,
                       or_(_tombstone(ConnectionInvite.sender_id),
                           and_(ConnectionInvite.receiver_id.is_not(None),
                                _tombstone(ConnectionInvite.receiver_id))))
                .order_by(ConnectionInvite.id))

    def violation(self, row: Any) -> Violation:
        return Violation(self.code, "a pending invite is from or to a deleted account",
                         {"invite": row.id}, True, group_id=row.family_group_id)

    def repair(self, batch: list[Violation]) -> None:
        cancel_invites(ids_of(batch, "invite"))
        for v in batch:
            self.repaired(v, subject=(ConnectionInvite.__tablename__, v.rows["invite"]),
                          done="cancelled")


def _live_token(user_id) -> Any:
    now = utcnow()
    return select(ApiToken.id).where(
        ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None),
        or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > now)).exists()


class TombstoneErased(RepairableCheck):
    """A deleted account keeps no personal field and no way in: no name, number, email,
    password or gender, not active, no live API token. Repair: erased, every session and
    token ended (copies elsewhere are the deletion's to scrub; this check reads users)."""

    code = "tombstone.erased"
    title = "A deleted account keeps no personal field, session or token"
    page_row = "user"

    def page_column(self):
        return User.id

    def query(self):
        return (select(User.id).where(DELETED, or_(
            User.name != "", User.phone.is_not(None), User.email.is_not(None),
            User.password_hash.is_not(None), User.gender.is_not(None),
            User.phone_verified_at.is_not(None), User.is_active.is_(True),
            _live_token(User.id)))
            .order_by(User.id))

    def violation(self, row: Any) -> Violation:
        return Violation(self.code, "a deleted account still holds a personal field, can "
                         "log in or has a live API token", {"user": row.id}, True)

    def repair(self, batch: list[Violation]) -> None:
        ids = ids_of(batch, "user")
        now = utcnow()
        db.session.execute(update(User).where(User.id.in_(ids)).values(
            name="", phone=None, email=None, password_hash=None, gender=None,
            phone_verified_at=None, is_active=False, session_epoch=User.session_epoch + 1,
            updated_at=now).execution_options(synchronize_session=False))
        db.session.execute(update(ApiToken).where(ApiToken.user_id.in_(ids),
                                                  ApiToken.revoked_at.is_(None))
                           .values(revoked_at=now).execution_options(synchronize_session=False))
        for v in batch:
            self.repaired(v, subject=("users", v.rows["user"]), done="erased")


class TombstoneAdmin(Check):
    """A deleted account administers no family that is not dissolved (the deletion refuses
    an admin until the family is handed over or dissolved). Not repairable: who takes the
    family over is the family's choice."""

    code = "tombstone.admin"
    title = "A deleted account is the admin of no family that is not dissolved"

    def query(self):
        return (select(FamilyGroup.id, FamilyGroup.admin_user_id, FamilyGroup.status)
                .where(FamilyGroup.status != "dissolved",
                       _tombstone(FamilyGroup.admin_user_id))
                .order_by(FamilyGroup.id))

    def violation(self, row: Any) -> Violation:
        return Violation(self.code, f"an {row.status} family's admin is a deleted account",
                         {"family": row.id, "user": row.admin_user_id}, False,
                         group_id=row.id)
