"""Who reads a patient's reports (SEC-001, SEC-002, BR-017), checked at each call, and
the caregiver_report_view that opening one records."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select

from app.connections.control import connection_restore, connection_revoke, permissions_set
from app.db import utcnow
from app.extensions import db
from app.membership.services import member_remove
from app.models.reports import CaregiverReportView, PatientReport
from app.reports.services import patient_report_open, patient_reports
from tests.factories import make_user
from tests.service_helpers import admin_group, connection_between, join, refused


@pytest.fixture
def care(app_ctx):
    with force_locale("en"):
        admin, _sub, group = admin_group()
        patient = join(group, role="patient", gender=0)
        caregiver = join(group, role="caregiver", gender=1)
        now = utcnow()
        older = PatientReport(patient_id=patient.id, period="2026-10", summary="BP steady",
                              created_at=now - timedelta(days=30))
        newer = PatientReport(patient_id=patient.id, period="2026-11", summary="Sugar high",
                              created_at=now)
        db.session.add_all([older, newer])
        db.session.commit()
        yield {"admin": admin, "group": group, "patient": patient, "caregiver": caregiver,
               "older": older, "newer": newer,
               "connection": connection_between(patient, caregiver)}


def views(caregiver) -> int:
    return db.session.scalar(select(func.count()).select_from(CaregiverReportView)
                             .where(CaregiverReportView.caregiver_id == caregiver.id))


def test_sec001_a_live_connection_with_health_overview_reads_the_reports(care):
    entries = patient_reports(actor=care["caregiver"], patient_id=care["patient"].id)
    assert [(e.report.id, e.read) for e in entries] == [(care["newer"].id, False),
                                                        (care["older"].id, False)]


def test_the_patient_reads_their_own_reports_and_nothing_is_recorded(care):
    entries = patient_reports(actor=care["patient"], patient_id=care["patient"].id)
    assert [(e.report.id, e.read) for e in entries] == [(care["newer"].id, None),
                                                        (care["older"].id, None)]
    patient_report_open(actor=care["patient"], patient_id=care["patient"].id,
                        report_id=care["newer"].id)
    assert db.session.scalar(select(func.count()).select_from(CaregiverReportView)) == 0


def test_opening_a_report_records_one_view_and_marks_it_read(care):
    for _ in range(2):
        report = patient_report_open(actor=care["caregiver"], patient_id=care["patient"].id,
                                     report_id=care["newer"].id)
        db.session.commit()
    assert report.summary == "Sugar high"
    assert views(care["caregiver"]) == 1
    entries = patient_reports(actor=care["caregiver"], patient_id=care["patient"].id)
    assert [(e.report.id, e.read) for e in entries] == [(care["newer"].id, True),
                                                        (care["older"].id, False)]


def test_sec002_health_overview_off_refuses_at_the_next_call(care):
    permissions_set(actor=care["admin"], connection_id=care["connection"].id,
                    changes={"health_overview": False})
    db.session.commit()
    refused("no_permission", patient_reports, actor=care["caregiver"],
            patient_id=care["patient"].id)
    refused("no_permission", patient_report_open, actor=care["caregiver"],
            patient_id=care["patient"].id, report_id=care["newer"].id)
    permissions_set(actor=care["patient"], connection_id=care["connection"].id,
                    changes={"health_overview": True})
    assert len(patient_reports(actor=care["caregiver"], patient_id=care["patient"].id)) == 2


def test_sec001_a_revoked_connection_reads_nothing_and_is_told_nothing_different(care):
    permissions_set(actor=care["admin"], connection_id=care["connection"].id,
                    changes={"health_overview": False})
    switched_off = refused("no_permission", patient_reports, actor=care["caregiver"],
                           patient_id=care["patient"].id)
    permissions_set(actor=care["admin"], connection_id=care["connection"].id,
                    changes={"health_overview": True})
    connection_revoke(actor=care["admin"], connection_id=care["connection"].id)
    revoked = refused("no_permission", patient_reports, actor=care["caregiver"],
                      patient_id=care["patient"].id)
    stranger = refused("no_permission", patient_reports, actor=make_user(),
                       patient_id=care["patient"].id)
    nobody = refused("no_permission", patient_reports, actor=care["caregiver"],
                     patient_id=10**12)
    assert switched_off.message == revoked.message == stranger.message == nobody.message
    connection_restore(actor=care["admin"], connection_id=care["connection"].id)
    assert len(patient_reports(actor=care["caregiver"], patient_id=care["patient"].id)) == 2


def test_sec001_a_removed_caregiver_reads_nothing(care):
    member_remove(actor=care["admin"], group=care["group"], user_id=care["caregiver"].id,
                  role="caregiver")
    db.session.commit()
    refused("no_permission", patient_reports, actor=care["caregiver"],
            patient_id=care["patient"].id)


def test_a_report_of_another_patient_is_not_found(care):
    other = make_user()
    theirs = PatientReport(patient_id=other.id, period="2026-11", summary="not yours")
    db.session.add(theirs)
    db.session.flush()
    refused("not_found", patient_report_open, actor=care["caregiver"],
            patient_id=care["patient"].id, report_id=theirs.id)


def test_the_group_admin_who_does_not_follow_the_patient_reads_nothing(care):
    refused("no_permission", patient_reports, actor=care["admin"],
            patient_id=care["patient"].id)
