"""A patient's reports, for the patient and for a caregiver whose live connection has
health_overview ON, checked at each request (SEC-001, SEC-002, BR-017).

Every refusal is 403 no_permission, whatever the reason (app/reports/services.py).
"""

from __future__ import annotations

from flask import jsonify

from app.api.auth import actor
from app.api.blueprint import bp
from app.api.contract import IntArg, operation
from app.api.serializers import report_json
from app.reports.services import patient_report_open, patient_reports


@bp.get("/patients/<int:patient_id>/reports")
@operation(query=(IntArg("limit", 50, 1, 100),), answers={200: "ReportList"},
           refusals={403: ("no_permission",)})
def reports_list(patient_id: int, args: dict):
    """The patient's reports, newest first; `read` for a caregiver, null for the patient."""
    entries = patient_reports(actor=actor(), patient_id=patient_id, limit=args["limit"])
    return jsonify(items=[report_json(e.report, read=e.read) for e in entries])


@bp.get("/patients/<int:patient_id>/reports/<int:report_id>")
@operation(answers={200: "Report"}, refusals={403: ("no_permission",)})
def report_get(patient_id: int, report_id: int):
    """One report; a caregiver's first opening is recorded (caregiver_report_view)."""
    report = patient_report_open(actor=actor(), patient_id=patient_id, report_id=report_id)
    answer = report_json(report, read=None if actor().id == patient_id else True)
    return jsonify(answer)
