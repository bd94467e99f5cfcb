"""The audit trail: who did what to whom, when, from where."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models_base import BigId, created_at, pk


class AuditEvent(db.Model):
    __tablename__ = "audit_events"
    __table_args__ = (
        Index("idx_audit_group_time", "family_group_id", "created_at"),
        Index("idx_audit_actor", "actor_id"),
        Index("idx_audit_subject", "subject_type", "subject_id"),
        # The staff risk signals read recent events of one action.
        Index("idx_audit_action_time", "action", "created_at"),
    )

    id: Mapped[int] = pk()
    created_at: Mapped[datetime] = created_at()
    # SET NULL so that deleting an account (BR-022) keeps the history it took part in.
    actor_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(60), nullable=False)
    subject_type: Mapped[str | None] = mapped_column(String(40))
    subject_id: Mapped[int | None] = mapped_column(BigId)
    family_group_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("family_groups.id", ondelete="SET NULL"))
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    ip: Mapped[str | None] = mapped_column(String(45))
