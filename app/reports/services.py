"""Who may read a patient's reports, checked at the moment of each request (SEC-001,
SEC-002, BR-017): the patient, or a caregiver whose connection is live (current, not
revoked) with health_overview ON. Opening a report records a caregiver_report_view.

Every refusal is the same 403 no_permission, whether the connection was switched off,
silently disconnected, never existed or the patient does not exist: the answer tells a
caregiver nothing about why (BR-040) and a stranger nothing about who exists.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import and_, select
from sqlalchemy.exc import IntegrityError

from app.connections.queries import HEALTH, current_connections, enabled_codes
from app.errors import Forbidden, NotFound
from app.extensions import db
from app.models.accounts import User
from app.models.connections import Connection
from app.models.reports import CaregiverReportView, PatientReport


@dataclass
class ReportEntry:
    report: PatientReport
    read: bool | None  # for a caregiver: opened before; None for the patient themselves


def no_permission() -> Forbidden:
    return Forbidden(_("You cannot see this patient's reports."), code="no_permission")


def report_access(*, actor: User, patient_id: int) -> Connection | None:
    """None when the actor is the patient; the caregiver's live connection when it allows
    health_overview now.

    Raises Forbidden(no_permission) for anyone else.
    """
    if actor.id == patient_id:
        return None
    connections, _users = current_connections(patient_id=patient_id, caregiver_id=actor.id)
    if connections and HEALTH in enabled_codes(connections[0]):
        return connections[0]
    raise no_permission()


def patient_reports(*, actor: User, patient_id: int, limit: int = 50) -> list[ReportEntry]:
    """The patient's reports, newest first, each marked read or unread for a caregiver.

    Raises Forbidden(no_permission).
    """
    connection = report_access(actor=actor, patient_id=patient_id)
    if connection is None:
        rows = db.session.scalars(
            select(PatientReport).where(PatientReport.patient_id == patient_id)
            .order_by(PatientReport.created_at.desc(), PatientReport.id.desc()).limit(limit))
        return [ReportEntry(report=r, read=None) for r in rows]
    rows = db.session.execute(
        select(PatientReport, CaregiverReportView.id)
        .outerjoin(CaregiverReportView, and_(CaregiverReportView.report_id == PatientReport.id,
                                             CaregiverReportView.caregiver_id == actor.id))
        .where(PatientReport.patient_id == patient_id)
        .order_by(PatientReport.created_at.desc(), PatientReport.id.desc())
        .limit(limit)).tuples()
    return [ReportEntry(report=r, read=view_id is not None) for r, view_id in rows]


def patient_report_open(*, actor: User, patient_id: int, report_id: int) -> PatientReport:
    """One report; a caregiver's first opening records a caregiver_report_view (a second
    opening, even at the same moment elsewhere, adds nothing).

    Raises Forbidden(no_permission), NotFound (not this patient's report).
    """
    connection = report_access(actor=actor, patient_id=patient_id)
    report = db.session.get(PatientReport, report_id)
    if report is None or report.patient_id != patient_id:
        raise NotFound(_("This report does not exist."), code="not_found")
    if connection is not None:
        seen = db.session.scalar(select(CaregiverReportView.id).where(
            CaregiverReportView.caregiver_id == actor.id,
            CaregiverReportView.report_id == report.id))
        if seen is None:
            try:
                with db.session.begin_nested():
                    db.session.add(CaregiverReportView(caregiver_id=actor.id,
                                                       report_id=report.id))
            except IntegrityError:
                pass  # opened at the same moment in another request: already recorded
    return report
