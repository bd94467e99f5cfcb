"""Lookups (relationships, inverse mapping, permission types) and connections.

A connection is a row of `user_emergency_contacts` with a linked user: the patient
(user_id) is followed by the caregiver (linked_user_id). Plain SOS contacts of the
existing app live in the same table with no linked user.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import UTCDateTime
from app.extensions import db
from app.models_base import BigId, created_at, pk, updated_at

if TYPE_CHECKING:
    from app.models.groups import FamilyGroup

PERMISSION_CODES = (
    "health_overview",
    "emergency_alert",
    "task_config",
    "compliance_tracking",
    "proxy_execution",
    "encouragement",
)


class Relationship(db.Model):
    __tablename__ = "relationships"

    code: Mapped[str] = mapped_column(String(30), primary_key=True)
    name_vi: Mapped[str] = mapped_column(String(100), nullable=False)
    name_en: Mapped[str] = mapped_column(String(100), nullable=False)
    category: Mapped[str] = mapped_column(String(30), nullable=False)
    display_order: Mapped[int] = mapped_column(Integer, nullable=False)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True,
                                            server_default=true())


class RelationshipInverse(db.Model):
    """If A says B is my X, and A's gender is g, then B says A is my inverse(X, g)."""

    __tablename__ = "relationship_inverse_mapping"
    __table_args__ = (
        CheckConstraint("target_gender IN (0, 1)", name="chk_inverse_target_gender"),
    )

    relationship_code: Mapped[str] = mapped_column(
        String(30), ForeignKey("relationships.code"), primary_key=True)
    target_gender: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    inverse_code: Mapped[str] = mapped_column(
        String(30), ForeignKey("relationships.code"), nullable=False)


class PermissionType(db.Model):
    __tablename__ = "connection_permission_types"

    code: Mapped[str] = mapped_column(String(30), primary_key=True)
    name_vi: Mapped[str] = mapped_column(String(100), nullable=False)
    name_en: Mapped[str] = mapped_column(String(100), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    icon: Mapped[str | None] = mapped_column(String(50))
    display_order: Mapped[int] = mapped_column(Integer, nullable=False)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True,
                                            server_default=true())


class Connection(db.Model):
    """A patient's contact; with linked_user_id set, a caregiver→patient connection."""

    __tablename__ = "user_emergency_contacts"
    __table_args__ = (
        CheckConstraint("contact_type IN ('emergency', 'caregiver')", name="chk_contact_type"),
        # BR-038: nobody follows themselves, not even a member holding both roles.
        CheckConstraint("linked_user_id IS NULL OR linked_user_id <> user_id",
                        name="chk_no_self_connection"),
        # At most one connection row per (patient, caregiver); it is reused on re-join.
        Index("uq_contact_patient_caregiver", "user_id", "linked_user_id", unique=True,
              sqlite_where=text("linked_user_id IS NOT NULL"),
              postgresql_where=text("linked_user_id IS NOT NULL")),
        Index("idx_emergency_contacts_family_group", "family_group_id",
              sqlite_where=text("family_group_id IS NOT NULL"),
              postgresql_where=text("family_group_id IS NOT NULL")),
        Index("idx_emergency_contacts_permission_revoked", "permission_revoked",
              sqlite_where=text("permission_revoked = TRUE"),
              postgresql_where=text("permission_revoked = TRUE")),
        Index("idx_emergency_contacts_linked_user", "linked_user_id"),
        # The staff risk signal "a caregiver connected to many patients" reads recent ones.
        Index("idx_emergency_contacts_created", "created_at"),
    )

    id: Mapped[int] = pk()
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id"), nullable=False)
    linked_user_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id"))
    contact_name: Mapped[str | None] = mapped_column(String(100))
    contact_phone: Mapped[str | None] = mapped_column(String(16))
    contact_type: Mapped[str] = mapped_column(String(20), nullable=False, default="emergency",
                                              server_default=text("'emergency'"))
    relationship_code: Mapped[str | None] = mapped_column(
        String(30), ForeignKey("relationships.code"))
    inverse_relationship_code: Mapped[str | None] = mapped_column(
        String(30), ForeignKey("relationships.code"))
    invite_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("connection_invites.id"))
    permission_revoked: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False,
                                                     server_default=false())
    family_group_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("family_groups.id"))
    # The patient withdrew consent (issue 19): revoked, and only the patient's own restore
    # brings it back.
    consent_withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()

    permissions: Mapped[list[ConnectionPermission]] = relationship(
        back_populates="connection", cascade="all, delete-orphan", passive_deletes=True,
        order_by="ConnectionPermission.id")
    # Read only: filled by the reads that join the group anyway (current_connections).
    group: Mapped[FamilyGroup | None] = relationship(viewonly=True)


class ConnectionPermission(db.Model):
    __tablename__ = "connection_permissions"
    __table_args__ = (UniqueConstraint("contact_id", "permission_code"),)

    id: Mapped[int] = pk()
    contact_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("user_emergency_contacts.id", ondelete="CASCADE"), nullable=False)
    permission_code: Mapped[str] = mapped_column(
        String(30), ForeignKey("connection_permission_types.code"), nullable=False)
    is_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True,
                                             server_default=true())
    updated_at: Mapped[datetime] = updated_at()
    updated_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id"))

    connection: Mapped[Connection] = relationship(back_populates="permissions")
