"""The local payment provider's tables: subscriptions and activation codes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import UTCDateTime
from app.extensions import db
from app.models_base import BigId, created_at, pk, updated_at


class Subscription(db.Model):
    __tablename__ = "subscriptions"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'cancelled', 'expired')",
                        name="chk_subscription_status"),
        CheckConstraint("patient_slots >= 0 AND caregiver_slots >= 0",
                        name="chk_subscription_slots"),
        # One active subscription per owner: a second code extends it instead.
        # The local provider asks for an owner's subscriptions, whatever their status.
        Index("idx_subscriptions_owner", "owner_user_id"),
        Index("idx_subscription_active_owner", "owner_user_id", unique=True,
              sqlite_where=text("status = 'active'"),
              postgresql_where=text("status = 'active'")),
    )

    id: Mapped[int] = pk()
    owner_user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id"), nullable=False)
    plan: Mapped[str] = mapped_column(String(40), nullable=False)
    patient_slots: Mapped[int] = mapped_column(Integer, nullable=False)
    caregiver_slots: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="active",
                                        server_default=text("'active'"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class ActivationCode(db.Model):
    """A code staff hand out; only its SHA-256 is stored."""

    __tablename__ = "activation_codes"
    __table_args__ = (
        CheckConstraint("duration_days > 0", name="chk_code_duration"),
        CheckConstraint("(redeemed_by IS NULL) = (redeemed_at IS NULL)",
                        name="chk_code_redeemed_pair"),
    )

    id: Mapped[int] = pk()
    code_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    plan: Mapped[str] = mapped_column(String(40), nullable=False)
    duration_days: Mapped[int] = mapped_column(Integer, nullable=False)
    created_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id"))
    created_at: Mapped[datetime] = created_at()
    redeemed_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id"))
    redeemed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    subscription_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("subscriptions.id"))
