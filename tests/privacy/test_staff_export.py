"""Staff download a person's data only with a reason, audited as staff.data_exported; the
archive is the one the person gets (no private reason). Nobody else reaches the route."""

from __future__ import annotations

import io
import zipfile

from sqlalchemy import select

from app.extensions import db
from app.models.audit import AuditEvent
from tests.conftest import person_of
from tests.factories import make_user
from tests.pages import ReasonGiving, csrf_of, staff_post
from tests.privacy.families import REASON, story


def _people(app):
    with app.app_context():
        s = story()
        staff = make_user(name="Nhân Viên", is_staff=True, locale="en")
        db.session.commit()
        return person_of(s.patient), person_of(staff), person_of(s.admin)


def _events(app):
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "staff.data_exported")))


def test_staff_export_with_a_reason(app, login):
    patient, staff, _admin = _people(app)
    c = ReasonGiving(login(staff))
    page = c.get(f"/staff/users/{patient.id}").get_data(as_text=True)
    assert f'action="/staff/users/{patient.id}/export"' in page
    response = staff_post(c, f"/staff/users/{patient.id}/export",
                          {"reason": "Bệnh nhân yêu cầu qua điện thoại"})
    assert response.status_code == 200
    assert response.mimetype == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.get_data()))
    assert REASON not in archive.read("data.json").decode()
    (event,) = _events(app)
    assert event.actor_id == staff.id
    assert event.subject_id == patient.id
    assert event.details == {"reason": "Bệnh nhân yêu cầu qua điện thoại"}


def test_staff_export_without_a_reason_is_refused(app, login):
    patient, staff, _admin = _people(app)
    c = login(staff)
    response = staff_post(c, f"/staff/users/{patient.id}/export")
    assert response.status_code == 422
    assert "Say why" in response.get_data(as_text=True)
    assert _events(app) == []


def test_a_family_admin_cannot_export_a_members_data(app, login):
    patient, _staff, admin = _people(app)
    c = login(admin)
    response = c.post(f"/staff/users/{patient.id}/export",
                      data={"csrf_token": csrf_of(c), "reason": "tò mò"})
    assert response.status_code == 403
    assert response.mimetype != "application/zip"
    assert _events(app) == []
