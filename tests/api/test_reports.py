"""GET /patients/{id}/reports and /reports/{rid}: the patient, or a caregiver whose live
connection has health_overview ON at that moment (SEC-001, SEC-002, BR-017); opening a
report records one caregiver_report_view."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest

from app.db import utcnow
from app.extensions import db
from app.models.accounts import User
from app.models.groups import FamilyGroup
from app.models.reports import CaregiverReportView, PatientReport
from tests.api import count, family, person, refused
from tests.service_helpers import connection_between, join

OLDER, NEWER = "Huyết áp ổn định", "Đường huyết cao"


@pytest.fixture
def care(app, client):
    """A family with a patient (two reports, and one report of another patient) and a
    caregiver connected to the patient with all six permissions ON."""
    admin = person(app, client, name="Quản Trị")
    patient = person(app, client, name="Ông Bình", gender=0)
    caregiver = person(app, client, name="Lan", gender=1)
    outsider = person(app, client)
    group_id = family(app, admin)
    with app.app_context():
        group = db.session.get(FamilyGroup, group_id)
        join(group, db.session.get(User, patient.id), role="patient")
        join(group, db.session.get(User, caregiver.id), role="caregiver")
        stranger_patient = join(group, role="patient", name="Bà Hoa")
        now = utcnow()
        older = PatientReport(patient_id=patient.id, period="2026-10", summary=OLDER,
                              created_at=now - timedelta(days=30))
        newer = PatientReport(patient_id=patient.id, period="2026-11", summary=NEWER,
                              created_at=now)
        theirs = PatientReport(patient_id=stranger_patient.id, period="2026-11",
                               summary="Không phải của ông")
        db.session.add_all([older, newer, theirs])
        db.session.flush()
        connection_id = connection_between(db.session.get(User, patient.id),
                                           db.session.get(User, caregiver.id)).id
        db.session.commit()
        ids = SimpleNamespace(older=older.id, newer=newer.id, theirs=theirs.id)
    return SimpleNamespace(admin=admin, patient=patient, caregiver=caregiver,
                           outsider=outsider, group_id=group_id, cid=connection_id,
                           reports=ids, url=f"/patients/{patient.id}/reports")


def views(app) -> int:
    return count(app, CaregiverReportView)


def put(who, path: str, body=None):
    return who.api.call("PUT", path, json=body)


def no_report_data(response) -> None:
    text = response.get_data(as_text=True)
    assert OLDER not in text
    assert NEWER not in text
    assert set(response.get_json()) == {"error"}


def test_the_patient_reads_their_reports_newest_first(app, care):
    response = care.patient.api.get(care.url)
    assert response.status_code == 200
    items = response.get_json()["items"]
    assert [i["id"] for i in items] == [care.reports.newer, care.reports.older]
    assert items[0] == {"id": care.reports.newer, "patientId": care.patient.id,
                        "period": "2026-11", "summary": NEWER,
                        "createdAt": items[0]["createdAt"], "read": None}
    assert items[0]["createdAt"].endswith("Z")
    report = care.patient.api.get(f"{care.url}/{care.reports.older}").get_json()
    assert report["summary"] == OLDER
    assert report["read"] is None
    assert views(app) == 0  # the patient's own reading is not a caregiver's view


def test_sec001_a_caregiver_with_health_overview_reads_and_unread_is_marked(app, care):
    items = care.caregiver.api.get(care.url).get_json()["items"]
    assert [(i["id"], i["read"]) for i in items] == [(care.reports.newer, False),
                                                     (care.reports.older, False)]
    response = care.caregiver.api.get(f"{care.url}/{care.reports.newer}")
    assert response.status_code == 200
    assert response.get_json()["summary"] == NEWER
    assert response.get_json()["read"] is True
    items = care.caregiver.api.get(care.url).get_json()["items"]
    assert [(i["id"], i["read"]) for i in items] == [(care.reports.newer, True),
                                                     (care.reports.older, False)]


def test_opening_a_report_twice_records_one_view(app, care):
    for _ in range(2):
        assert care.caregiver.api.get(f"{care.url}/{care.reports.older}").status_code == 200
    assert views(app) == 1
    assert count(app, CaregiverReportView,
                 CaregiverReportView.caregiver_id == care.caregiver.id,
                 CaregiverReportView.report_id == care.reports.older) == 1


def test_sec001_health_overview_off_gives_403_and_no_data(app, care):
    assert care.caregiver.api.get(care.url).status_code == 200
    assert put(care.admin, f"/connections/{care.cid}/permissions",
               {"permissions": {"health_overview": False}}).status_code == 200
    listed = care.caregiver.api.get(care.url)
    refused(listed, 403, "no_permission")
    no_report_data(listed)
    opened = care.caregiver.api.get(f"{care.url}/{care.reports.newer}")
    refused(opened, 403, "no_permission")
    no_report_data(opened)
    assert views(app) == 0
    # turned back on: the next request reads again
    assert put(care.patient, f"/connections/{care.cid}/permissions",
               {"permissions": {"health_overview": True}}).status_code == 200
    assert care.caregiver.api.get(care.url).status_code == 200


def test_sec002_a_silent_disconnect_gives_the_same_403_and_no_data(app, care):
    assert put(care.patient, f"/connections/{care.cid}/revoke").status_code == 200
    listed = care.caregiver.api.get(care.url)
    switched_off = refused(listed, 403, "no_permission")
    no_report_data(listed)
    opened = care.caregiver.api.get(f"{care.url}/{care.reports.older}")
    refused(opened, 403, "no_permission")
    no_report_data(opened)
    assert views(app) == 0
    # the same answer as for someone never connected: nothing says why (BR-040)
    assert care.outsider.api.get(care.url).get_json()["error"] == switched_off
    assert put(care.admin, f"/connections/{care.cid}/restore").status_code == 200
    assert care.caregiver.api.get(f"{care.url}/{care.reports.older}").status_code == 200
    assert views(app) == 1


def test_sec001_everyone_else_gets_the_same_403(app, care):
    expected = refused(care.outsider.api.get(care.url), 403, "no_permission")
    for response in (
        care.admin.api.get(care.url),  # the admin is neither the patient nor a follower
        care.admin.api.get(f"{care.url}/{care.reports.newer}"),
        care.outsider.api.get(f"{care.url}/{care.reports.newer}"),
        care.outsider.api.get(f"/patients/{care.patient.id + 999}/reports"),  # nobody
        care.outsider.api.get(f"/patients/{care.patient.id + 999}/reports/{care.reports.newer}"),
        care.caregiver.api.get(f"/patients/{care.admin.id}/reports"),  # not a patient
    ):
        assert refused(response, 403, "no_permission") == expected
        no_report_data(response)


def test_a_report_of_another_patient_is_404(app, care):
    for who in (care.patient, care.caregiver):
        refused(who.api.get(f"{care.url}/{care.reports.theirs}"), 404, "not_found")
        refused(who.api.get(f"{care.url}/{care.reports.theirs + 999}"), 404, "not_found")
    assert views(app) == 0


def test_limit(app, care):
    items = care.caregiver.api.get(f"{care.url}?limit=1").get_json()["items"]
    assert [i["id"] for i in items] == [care.reports.newer]
    for bad in ("0", "101", "x"):
        refused(care.patient.api.get(f"{care.url}?limit={bad}"), 422, "invalid")
