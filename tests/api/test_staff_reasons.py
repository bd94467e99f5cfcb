"""Staff read a family or a person through the spec's routes only with a reason (issue 21),
as the staff pages and /staff/users/{id} ask one: ?reason=…&reasonText=…, recorded as
staff.access_reason, and the look names it. The family's own people never give one."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models.audit import AuditEvent
from tests.api import Api, count, family, person, refused

READS = ["/families/{g}", "/families/{g}/connections", "/families/{g}/audit",
         "/families/{g}/invites", "/users/{p}", "/users/{p}?expand=families",
         "/users/{p}/families"]


@pytest.fixture
def world(app, client):
    admin = person(app, client, name="Trần Quản Trị")
    patient = person(app, client, name="Ông Bình")
    staff = person(app, client, name="Nhân Viên", is_staff=True)
    group_id = family(app, admin, members=[(patient, "patient")])
    return admin, patient, staff, group_id


def bare(client, staff) -> Api:
    """The staff member's API without the tests' automatic reason."""
    return Api(client, staff.api.token)


@pytest.mark.parametrize("path", READS)
def test_a_staff_read_without_a_reason_is_refused_and_writes_nothing(app, client, world,
                                                                      path):
    admin, patient, staff, group_id = world
    url = path.format(g=group_id, p=patient.id)
    before = count(app, AuditEvent)
    error = refused(bare(client, staff).get(url), 422, "reason_required")
    assert "reason" in error["fields"]
    assert count(app, AuditEvent) == before


@pytest.mark.parametrize("path", READS)
def test_a_staff_read_with_a_reason_records_it_and_the_look_names_it(app, client, world,
                                                                      path):
    admin, patient, staff, group_id = world
    url = path.format(g=group_id, p=patient.id)
    joiner = "&" if "?" in url else "?"
    answer = bare(client, staff).get(f"{url}{joiner}reason=other&reasonText=Phiếu%20%2388")
    assert answer.status_code == 200
    with app.app_context():
        reason = db.session.scalar(select(AuditEvent).where(
            AuditEvent.action == "staff.access_reason"))
        look = db.session.scalar(select(AuditEvent).where(
            AuditEvent.action.in_(("staff.group_viewed", "staff.user_viewed"))))
        assert reason.actor_id == staff.id
        assert reason.details["reason_code"] == "other"
        assert reason.details["reason"] == "Phiếu #88"
        assert look.details["grant"] == reason.id
        assert look.details["reason_code"] == "other"


def test_other_needs_words(app, client, world):
    _admin, _patient, staff, group_id = world
    error = refused(bare(client, staff).get(f"/families/{group_id}?reason=other"), 422,
                    "reason_required")
    assert "reasonText" in error["fields"]


def test_the_familys_own_people_give_no_reason(app, client, world):
    admin, patient, _staff, group_id = world
    assert admin.api.get(f"/families/{group_id}").status_code == 200
    assert admin.api.get(f"/families/{group_id}/audit").status_code == 200
    assert patient.api.get(f"/families/{group_id}").status_code == 200
    assert admin.api.get(f"/users/{patient.id}").status_code == 200
    assert count(app, AuditEvent, AuditEvent.action == "staff.access_reason") == 0
