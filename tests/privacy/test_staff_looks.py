"""Issue 21: the family's admin and its patient see, in the history they already have (My
data: the page, its JSON and its export; the family's audit trail in the API), that staff
looked, when and why — the reason's label, never its free text — and never who: no name,
no id, no phone of the staff member. The family's caregivers do not see it."""

from __future__ import annotations

import io
import json
import re
import zipfile
from types import SimpleNamespace

import pytest

from app.accounts.services import api_token_create
from app.extensions import db
from tests.api import Api
from tests.conftest import person_of
from tests.factories import PASSWORD, make_user
from tests.pages import give_reason, text
from tests.service_helpers import admin_group, audits, join

FREE_TEXT = "Bí mật ZX-9041 của chị Hoa"  # a staff member's own words: staff only
STAFF_NAME = "Nhân Viên Zlooker"


@pytest.fixture
def looked(app, login):
    """A family (admin in English, patient in Vietnamese, a caregiver); a staff member
    opened the family with "other" and free text, and the patient's file for support."""
    with app.app_context():
        admin, _sub, group = admin_group(admin=make_user(name="Quản Trị Zq", locale="en"))
        group.name = "Gia đình Zlook"
        patient = join(group, role="patient", name="Bệnh Nhân Zq", locale="vi")
        caregiver = join(group, role="caregiver", name="Người Thân Zq", locale="en")
        staff = make_user(name=STAFF_NAME, is_staff=True, locale="en",
                          email="zlooker@staff.example")
        people = {k: person_of(u) for k, u in (("admin", admin), ("patient", patient),
                                                ("caregiver", caregiver), ("staff", staff))}
        tokens = {k: api_token_create(user=u, name="t", mfa=u.staff_role)
                  for k, u in (("admin", admin), ("patient", patient),
                               ("caregiver", caregiver), ("staff", staff))}
        db.session.commit()
        group_id = group.id
    client = login(people["staff"])
    assert give_reason(client, f"/staff/groups/{group_id}", "other", FREE_TEXT
                       ).status_code == 303
    assert give_reason(client, f"/staff/users/{people['patient'].id}", "support"
                       ).status_code == 303
    assert client.get(f"/staff/groups/{group_id}").status_code == 200  # a look, with why
    return SimpleNamespace(group_id=group_id, tokens=tokens, **people)


def staff_marks(looked) -> list[str]:
    staff = looked.staff
    return [STAFF_NAME, staff.phone, "zlooker@staff.example", FREE_TEXT]


def test_the_admin_sees_when_and_why_in_my_data_but_not_who(app, login, looked):
    body = text(login(looked.admin).get("/me/data"))
    events = body[body.index('id="data-events"'):body.index('id="data-export"')]
    # when, who (staff, no name) and why, on one line
    line = re.search(r'<span class="hint">([^<·]+) · Family Connect staff</span> '
                     r'Opened the family “Gia đình Zlook” as staff\. Reason: another reason\.',
                     events)
    assert line is not None
    assert re.search(r"\d", line.group(1))  # the moment
    for mark in staff_marks(looked):
        assert mark not in body, mark


def test_the_patient_sees_the_family_and_their_file_in_vietnamese(app, login, looked):
    body = text(login(looked.patient).get("/me/data"))
    events = body[body.index('id="data-events"'):body.index('id="data-export"')]
    assert "Nhân viên Family Connect" in events
    assert "Đã mở gia đình “Gia đình Zlook” với tư cách nhân viên. Lý do: một lý do khác." \
        in events
    assert ("Đã mở hồ sơ của Bệnh Nhân Zq với tư cách nhân viên. Lý do: gia đình hoặc "
            "người dùng đã yêu cầu hỗ trợ.") in events
    for mark in staff_marks(looked):
        assert mark not in body, mark


def test_a_caregiver_does_not_see_the_familys_looks(app, login, looked):
    body = text(login(looked.caregiver).get("/me/data"))
    assert "Gia đình Zlook” as staff" not in body
    assert "staff.access_reason" not in body
    answer = Api(app.test_client(), looked.tokens["caregiver"]).get("/me/data").get_json()
    assert all(e["action"] != "staff.access_reason" for e in answer["auditEvents"]["items"])


@pytest.mark.parametrize("who", ["admin", "patient"])
def test_the_json_and_the_export_say_it_without_the_staff_member(app, looked, who):
    api = Api(app.test_client(), looked.tokens[who])
    answer = api.get("/me/data", headers={"Accept-Language": "en"}).get_json()
    looks = [e for e in answer["auditEvents"]["items"] if e["action"] == "staff.access_reason"]
    assert looks
    assert all(e["at"] and e["who"] in ("Family Connect staff", "Nhân viên Family Connect")
               for e in looks)
    dumped = json.dumps(answer, ensure_ascii=False)
    for mark in staff_marks(looked):
        assert mark not in dumped, mark
    assert all("actorId" not in e for e in answer["auditEvents"]["items"])

    response = api.post("/me/data/export", json={"password": PASSWORD})
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(response.get_data()))
    everything = "\n".join(archive.read(name).decode("utf-8") for name in archive.namelist())
    assert "staff.access_reason" in everything
    for mark in staff_marks(looked):
        assert mark not in everything, mark


def test_the_familys_audit_in_the_api_hides_the_staff_member_from_the_admin(app, looked):
    admin = Api(app.test_client(), looked.tokens["admin"])
    items = admin.get(f"/families/{looked.group_id}/audit").get_json()["items"]
    staff_items = [i for i in items if i["action"].startswith("staff.")]
    assert {i["action"] for i in staff_items} >= {"staff.access_reason", "staff.group_viewed"}
    assert all(i["actorId"] is None for i in staff_items)
    reason = next(i for i in staff_items if i["action"] == "staff.access_reason")
    assert reason["details"]["reason_code"] == "other"
    assert "reason" not in reason["details"]  # the free text stays with staff
    assert FREE_TEXT not in json.dumps(items, ensure_ascii=False)
    # staff read who it was, and why in their words
    staff = Api(app.test_client(), looked.tokens["staff"])
    items = staff.get(f"/families/{looked.group_id}/audit?reason=legal").get_json()["items"]
    reason = next(i for i in items if i["action"] == "staff.access_reason")
    assert reason["actorId"] == looked.staff.id
    assert reason["details"]["reason"] == FREE_TEXT
    # the two of the fixture, and the one this staff read of the API named
    assert [e.details["reason_code"] for e in audits(app, "staff.access_reason")] == [
        "other", "support", "legal"]
