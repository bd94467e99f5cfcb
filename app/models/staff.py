"""Staff reviews of the risk queue: who looked at a flagged pattern, when, and what they
concluded. A review covers the pattern at the level it had then; it comes back to the
queue when the pattern grows beyond that level."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models_base import BigId, created_at, pk


class StaffReview(db.Model):
    __tablename__ = "staff_reviews"
    __table_args__ = (
        Index("idx_staff_reviews_item", "signal", "subject_key", "created_at"),
    )

    id: Mapped[int] = pk()
    # Which risk signal (app.staff.signals.SIGNALS) and which of its items: a phone, a
    # user id, a connection id, a group id or a notification recipient, as text.
    signal: Mapped[str] = mapped_column(String(40), nullable=False)
    subject_key: Mapped[str] = mapped_column(String(254), nullable=False)
    # How strong the pattern was when reviewed (e.g. 4 groups); more brings it back.
    level: Mapped[int] = mapped_column(Integer, nullable=False)
    note: Mapped[str] = mapped_column(Text, nullable=False)
    reviewed_by: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = created_at()
