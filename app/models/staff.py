"""Staff reviews of the risk queue: who looked at a flagged pattern, when, and what they
concluded. A review covers the pattern at the level it had then; it comes back to the
queue when the pattern grows beyond that level."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import UTCDateTime
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


class SignalCount(db.Model):
    """One count of the review queue (issue 21): when `flask staff-queue-count` ran, with
    which window and thresholds, and how long it took. The queue page reads the latest;
    a count made with other settings than today's is not used."""

    __tablename__ = "staff_signal_counts"

    id: Mapped[int] = pk()
    counted_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    # RISK_WINDOW_DAYS and RISK_THRESHOLDS as the count saw them (app.staff.tally.fingerprint).
    settings: Mapped[str] = mapped_column(String(500), nullable=False)
    took_ms: Mapped[int] = mapped_column(Integer, nullable=False)


class SignalCountItem(db.Model):
    """An item a count found flagged: its signal, key and level, and its place in its
    signal's list (strongest first, as the live count orders them)."""

    __tablename__ = "staff_signal_count_items"
    __table_args__ = (
        Index("idx_signal_count_items_count", "count_id", "signal", "position"),
    )

    id: Mapped[int] = pk()
    count_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("staff_signal_counts.id", ondelete="CASCADE"), nullable=False)
    signal: Mapped[str] = mapped_column(String(40), nullable=False)
    subject_key: Mapped[str] = mapped_column(String(254), nullable=False)
    level: Mapped[int] = mapped_column(Integer, nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False)
