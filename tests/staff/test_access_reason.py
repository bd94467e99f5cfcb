"""Issue 21, access with a reason: a family's review, a person's file and the family's
audit export open only after the staff member says why. The reason step shows nothing of
the object but its name; the reason goes into the audit trail, and every later look at the
same object carries it; a reason opens that object only; bad input is a 422 in the staff
member's language with nothing written."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
from flask import session
from sqlalchemy import func, select

from app.extensions import db
from app.models.audit import AuditEvent
from app.staff.access import GRANT_MINUTES, MAX_GRANTS, SESSION_KEY, grant_keep, grant_of
from tests.conftest import person_of
from tests.factories import make_user
from tests.pages import csrf_of, errors, export_csv, fresh_code_of, give_reason, text
from tests.service_helpers import admin_group, audits, join


@pytest.fixture
def two(app):
    """Families A and B, each with a patient and a caregiver."""
    with app.app_context():
        found = {}
        for key in ("a", "b"):
            admin, _sub, group = admin_group(admin=make_user(name=f"Quản Trị {key.upper()}"))
            group.name = f"Gia đình {key.upper()}"
            patient = join(group, role="patient", name=f"Bệnh Nhân {key.upper()}")
            caregiver = join(group, role="caregiver", name=f"Người Thân {key.upper()}")
            found[key] = SimpleNamespace(id=group.id, admin=person_of(admin),
                                         patient=person_of(patient),
                                         caregiver=person_of(caregiver))
        db.session.commit()
        return SimpleNamespace(**found)


def audit_total(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(AuditEvent.id)))


def staff_client(person, login, locale: str = "en"):
    return login(person(is_staff=True, name="Nhân Viên Zq", locale=locale))


# --- the reason step ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["family", "file", "export"])
def test_the_reason_step_comes_first_and_shows_no_data(app, person, login, two, kind):
    client = staff_client(person, login)
    path = {"family": f"/staff/groups/{two.a.id}", "file": f"/staff/users/{two.a.patient.id}",
            "export": f"/staff/groups/{two.a.id}/audit.csv"}[kind]
    before = audit_total(app)

    response = client.get(path)

    assert response.status_code == 200
    assert response.mimetype == "text/html"
    body = text(response)
    assert 'id="reason-form"' in body
    assert f'data-scope="{kind}"' in body
    for code in ("support", "review_signal", "legal", "technical", "other"):
        assert f'value="{code}"' in body
    # nothing of the object but its name, as a list shows it
    for absent in (two.a.caregiver.name, two.a.admin.name, 'id="members"', 'id="matrix"',
                   'id="audit"', two.a.patient.phone):
        assert absent not in body, absent
    assert audit_total(app) == before  # no look: nothing was shown


@pytest.mark.parametrize(("code", "free", "stored"), [
    ("support", "", {"reason_code": "support"}),
    ("legal", "  Công an   yêu cầu ", {"reason_code": "legal", "reason": "Công an yêu cầu"}),
    ("other", "Kiểm thử", {"reason_code": "other", "reason": "Kiểm thử"}),
])
def test_a_reason_opens_the_family_and_every_look_carries_it(app, person, login, two, code,
                                                             free, stored):
    client = staff_client(person, login)
    page = f"/staff/groups/{two.a.id}"

    response = give_reason(client, page, code, free)

    assert response.status_code == 303
    assert response.headers["Location"].endswith(page)
    (reason,) = audits(app, "staff.access_reason")
    assert (reason.subject_type, reason.subject_id, reason.family_group_id) == (
        "family_groups", two.a.id, two.a.id)
    assert reason.details == {"opened": "family", **stored}
    body = text(client.get(page))
    assert two.a.caregiver.name in body
    assert two.a.patient.name in body
    text(client.get(f"{page}?views=1"))  # a page of its trail
    looks = audits(app, "staff.group_viewed")
    assert len(looks) == 2
    assert all(look.details == {"view": "staff group page", "reason_code": code,
                                "grant": reason.id} for look in looks)


def test_a_reason_opens_the_file_and_its_looks_carry_it(app, person, login, two):
    client = staff_client(person, login)
    page = f"/staff/users/{two.a.caregiver.id}"
    assert give_reason(client, page, "technical").status_code == 303
    body = text(client.get(page))
    assert two.a.caregiver.name in body
    assert 'id="profile-phone-proved"' in body
    (reason,) = audits(app, "staff.access_reason")
    assert (reason.subject_type, reason.subject_id, reason.family_group_id) == (
        "users", two.a.caregiver.id, None)
    (look,) = audits(app, "staff.user_viewed")
    assert look.details == {"view": "staff user page", "reason_code": "technical",
                            "grant": reason.id}


def test_a_reason_opens_that_object_only(app, person, login, two):
    client = staff_client(person, login)
    assert give_reason(client, f"/staff/groups/{two.a.id}").status_code == 303
    assert give_reason(client, f"/staff/users/{two.a.patient.id}").status_code == 303

    other_family = text(client.get(f"/staff/groups/{two.b.id}"))
    assert 'id="reason-form"' in other_family
    assert two.b.caregiver.name not in other_family
    other_file = text(client.get(f"/staff/users/{two.b.patient.id}"))
    assert 'id="reason-form"' in other_file
    assert two.b.patient.phone not in other_file
    # family A's reason does not open the file of its caregiver either
    assert 'id="reason-form"' in text(client.get(f"/staff/users/{two.a.caregiver.id}"))
    assert audits(app, "staff.group_viewed") == []
    assert audits(app, "staff.user_viewed") == []


def csrf(client) -> str:
    return csrf_of(client)


# --- bad input ---------------------------------------------------------------------------

BAD = [
    ({"reason": ""}, "reason-code", "Choose why you need to open this",
     "Hãy chọn lý do bạn cần mở mục này"),
    ({"reason": "curious"}, "reason-code", "Choose why you need to open this",
     "Hãy chọn lý do bạn cần mở mục này"),
    ({"reason": "other", "reason_text": "   "}, "reason-text", "say which, in a few words",
     "hãy ghi rõ lý do"),
    ({"reason": "support", "reason_text": "x" * 501}, "reason-text",
     "Keep the reason under 500 characters", "500"),
]


@pytest.mark.parametrize(("kind", "locale"), [("family", "en"), ("file", "vi"),
                                              ("export", "en"), ("export", "vi"),
                                              ("family", "vi"), ("file", "en")])
@pytest.mark.parametrize(("form", "field", "en", "vi"), BAD)
def test_a_bad_reason_is_a_422_in_the_readers_language_and_writes_nothing(
        app, person, login, two, kind, locale, form, field, en, vi):
    client = staff_client(person, login, locale)
    target = {"family": f"/staff/groups/{two.a.id}/reason",
              "file": f"/staff/users/{two.a.patient.id}/reason",
              "export": f"/staff/groups/{two.a.id}/audit.csv"}[kind]
    if kind == "export":  # an export is confirmed by a fresh code too: a right one here
        form = {**form, "code": fresh_code_of(client)}
    before = audit_total(app)

    response = client.post(target, data={**form, "csrf_token": csrf(client)})

    assert response.status_code == 422
    assert response.mimetype == "text/html"
    body = text(response)
    assert 'id="reason-form"' in body
    assert f'id="{field}-error"' in body
    assert (en if locale == "en" else vi) in " ".join(errors(response))
    for absent in (two.a.caregiver.name, two.a.patient.phone):
        assert absent not in body
    assert audit_total(app) == before
    # and the object stays closed
    page = target.removesuffix("/reason").removesuffix("/audit.csv")
    assert 'id="reason-form"' in text(client.get(page))


def test_the_export_is_a_post_whose_answer_is_the_csv(app, person, login, two):
    client = staff_client(person, login)
    response = export_csv(client, two.a.id, "legal", "Tòa án yêu cầu")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    csv_text = response.get_data(as_text=True)
    assert "staff.access_reason" in csv_text
    (reason,) = audits(app, "staff.access_reason")
    assert reason.details == {"opened": "export", "reason_code": "legal",
                              "reason": "Tòa án yêu cầu"}
    (exported,) = audits(app, "staff.audit_exported")
    assert exported.details["reason_code"] == "legal"
    assert exported.details["grant"] == reason.id
    # an export opens nothing else: the family's review still asks why
    assert 'id="reason-form"' in text(client.get(f"/staff/groups/{two.a.id}"))


# --- the session's grants -----------------------------------------------------------------


def test_grants_expire_and_stay_few(app):
    with app.test_request_context():
        kept = grant_keep(7, "family", 1, event_id=11, code="support")
        assert grant_of(7, "family", 1) == kept
        assert grant_of(8, "family", 1) is None  # another account
        assert grant_of(7, "file", 1) is None  # another kind of object
        for i in range(2, MAX_GRANTS + 5):
            grant_keep(7, "family", i, event_id=100 + i, code="legal")
        assert len(session[SESSION_KEY]["g"]) == MAX_GRANTS
        assert grant_of(7, "family", 1) is None  # the oldest went first
        assert grant_of(7, "family", MAX_GRANTS + 4).event_id == 100 + MAX_GRANTS + 4
        key = f"family:{MAX_GRANTS + 4}"
        session[SESSION_KEY]["g"][key][2] = int(time.time()) - 1
        assert grant_of(7, "family", MAX_GRANTS + 4) is None
    assert GRANT_MINUTES == 30
