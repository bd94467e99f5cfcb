"""Invites to a family group, carried by a link whose token is stored hashed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import UTCDateTime
from app.extensions import db
from app.models_base import BigId, created_at, pk, updated_at

INVITE_ADD_PATIENT = "add_patient"
INVITE_ADD_CAREGIVER = "add_caregiver"
INVITE_STATUSES = ("pending", "accepted", "rejected", "cancelled", "expired")


class ConnectionInvite(db.Model):
    __tablename__ = "connection_invites"
    __table_args__ = (
        # BR-006. The admin adding themselves (BR-049) never writes an invite row.
        CheckConstraint("receiver_id IS NULL OR sender_id <> receiver_id",
                        name="chk_no_self_invite"),
        CheckConstraint("invite_type IN ('add_patient', 'add_caregiver')",
                        name="chk_invite_type"),
        CheckConstraint(
            "status IN ('pending', 'accepted', 'rejected', 'cancelled', 'expired')",
            name="chk_invite_status"),
        # BR-007: one pending invite per group and phone.
        Index("idx_unique_pending", "family_group_id", "receiver_phone", unique=True,
              sqlite_where=text("status = 'pending'"),
              postgresql_where=text("status = 'pending'")),
        Index("idx_invites_receiver_phone", "receiver_phone"),
        Index("idx_invites_receiver_id", "receiver_id"),
        Index("idx_invites_sender_id", "sender_id"),
        Index("idx_invites_token_hash", "token_hash", unique=True),
        # The staff risk signals read recent invites and recent expiries.
        Index("idx_invites_created", "created_at"),
        # A family's invites, all statuses (the staff group page, the API's invite list).
        Index("idx_invites_family_group", "family_group_id"),
        Index("idx_invites_expires", "expires_at"),
    )

    id: Mapped[int] = pk()
    sender_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id"), nullable=False)
    family_group_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("family_groups.id"))
    receiver_phone: Mapped[str] = mapped_column(String(16), nullable=False)
    receiver_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id"))
    invite_type: Mapped[str] = mapped_column(String(30), nullable=False)
    relationship_code: Mapped[str | None] = mapped_column(
        String(30), ForeignKey("relationships.code"))
    initial_permissions: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="pending",
                                        server_default=text("'pending'"))
    # SHA-256 hex of the link token; the raw token is never stored.
    token_hash: Mapped[str | None] = mapped_column(String(64))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()

    @property
    def role(self) -> str:
        return "patient" if self.invite_type == INVITE_ADD_PATIENT else "caregiver"
