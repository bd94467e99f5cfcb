"""Family groups and their members."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import UTCDateTime
from app.extensions import db
from app.models_base import BigId, created_at, pk, updated_at

ROLE_PATIENT = "patient"
ROLE_CAREGIVER = "caregiver"
ROLES = (ROLE_PATIENT, ROLE_CAREGIVER)


class FamilyGroup(db.Model):
    __tablename__ = "family_groups"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'inactive', 'dissolved')", name="chk_group_status"),
        # BR-041: one active group per subscription.
        Index("idx_group_active_subscription", "subscription_id", unique=True,
              sqlite_where=text("status = 'active'"),
              postgresql_where=text("status = 'active'")),
        Index("idx_family_groups_admin", "admin_user_id"),
        # Staff list by status, newest first, a page at a time (keyset on id).
        Index("idx_family_groups_status_id", "status", "id"),
        # flask import-legacy: a legacy record goes in once (migration 0007).
        Index("idx_family_groups_legacy_id", "legacy_id", unique=True),
    )

    id: Mapped[int] = pk()
    admin_user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id"), nullable=False)
    # The payment service's id: no foreign key, the http provider's ids are not ours.
    subscription_id: Mapped[int | None] = mapped_column(BigInteger)
    name: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="active",
                                        server_default=text("'active'"))
    dissolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The legacyId of the record `flask import-legacy` made this group from.
    legacy_id: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()

    members: Mapped[list[FamilyGroupMember]] = relationship(
        back_populates="group", passive_deletes=True, order_by="FamilyGroupMember.joined_at")


class FamilyGroupMember(db.Model):
    __tablename__ = "family_group_members"
    __table_args__ = (
        CheckConstraint("role IN ('patient', 'caregiver')", name="chk_member_role"),
        UniqueConstraint("group_id", "user_id", "role"),
        # BR-057: one group per user per role.
        Index("idx_user_single_group", "user_id", "role", unique=True),
    )

    id: Mapped[int] = pk()
    group_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("family_groups.id", ondelete="CASCADE"), nullable=False)
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id"), nullable=False)
    role: Mapped[str] = mapped_column(String(20), nullable=False)
    joined_at: Mapped[datetime] = created_at()

    group: Mapped[FamilyGroup] = relationship(back_populates="members")
