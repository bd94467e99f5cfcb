"""Patient reports (stand-ins for the app's periodic health reports) and who viewed them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import UTCDateTime, utcnow
from app.extensions import db
from app.models_base import BigId, created_at, pk


class PatientReport(db.Model):
    __tablename__ = "patient_reports"
    __table_args__ = (Index("idx_patient_reports_patient", "patient_id", "created_at"),)

    id: Mapped[int] = pk()
    patient_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id"), nullable=False)
    period: Mapped[str] = mapped_column(String(20), nullable=False)
    summary: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = created_at()


class CaregiverReportView(db.Model):
    __tablename__ = "caregiver_report_views"
    __table_args__ = (
        UniqueConstraint("caregiver_id", "report_id"),
        Index("idx_report_views_report", "report_id"),
    )

    id: Mapped[int] = pk()
    caregiver_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id"), nullable=False)
    report_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("patient_reports.id", ondelete="CASCADE"), nullable=False)
    viewed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
