"""The caregiver's side through the test client: patients I follow (BR-029/054), a
patient's page with only the allowed blocks (BR-017), the reports checked per request
(SEC-001/002), the silent disconnect seen from the caregiver's chair (BR-040), the
relationship either party sets (BR-030) and leaving (BR-061)."""

from __future__ import annotations

import re
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from app.connections.control import connection_revoke, permissions_set
from app.db import utcnow
from app.extensions import db
from app.membership.services import group_self_add
from app.models.accounts import User
from app.models.connections import PERMISSION_CODES, Connection, PermissionType
from app.models.groups import FamilyGroup, FamilyGroupMember
from app.models.reports import CaregiverReportView, PatientReport
from tests.conftest import person_of
from tests.pages import HX, errors, flashes, post, text
from tests.service_helpers import (
    admin_group,
    audit_since,
    connection_between,
    join,
    outbox_last,
    outbox_since,
)
from tests.service_helpers import counts as row_counts_in

PATIENT, CAREGIVER = "Trần Văn Bình", "Trần Thị Cúc"
SUMMARIES = ("Huyết áp ổn định, uống thuốc đủ.", "Đường huyết cao hai buổi sáng.")


# --- helpers ----------------------------------------------------------------------------


@pytest.fixture
def family(run):
    """A family with a male patient and a female caregiver who follows him, the
    caregiver's relationship as given, and the patient's reports (newest first)."""

    def make(*, relationship: str | None = None, locale: str = "en",
             reports: int = 2) -> SimpleNamespace:
        def build():
            admin, _sub, group = admin_group(locale="en")
            patient = join(group, role="patient", name=PATIENT, gender=0, locale=locale)
            caregiver = join(group, role="caregiver", relationship=relationship,
                             name=CAREGIVER, gender=1, locale=locale)
            now, ids = utcnow(), []
            for i in range(reports):
                row = PatientReport(patient_id=patient.id, period=f"Tuần {i + 1}",
                                    summary=SUMMARIES[i % 2],
                                    created_at=now - timedelta(days=reports - i))
                db.session.add(row)
                db.session.flush()
                ids.append(row.id)
            return SimpleNamespace(
                group_id=group.id, admin=person_of(admin), patient=person_of(patient),
                caregiver=person_of(caregiver), reports=ids[::-1],
                connection_id=connection_between(patient, caregiver).id)

        return run(build)

    return make


@pytest.fixture
def as_admin(run):
    """Run a control service as the family's admin and commit."""

    def call(fam, service, **kwargs):
        run(lambda: service(actor=db.session.get(User, fam.admin.id),
                            connection_id=fam.connection_id, **kwargs))

    return call


def blocks(response) -> list[str]:
    return re.findall(r'id="block-([a-z_]+)"', text(response))


def relationship_of(app, connection_id) -> tuple[str | None, str | None]:
    with app.app_context():
        c = db.session.get(Connection, connection_id)
        return c.relationship_code, c.inverse_relationship_code


def counts(app) -> dict[str, int]:
    """Rows per table a service may write (service_helpers.row_counts) and report views."""
    with app.app_context():
        views = db.session.scalar(select(func.count()).select_from(CaregiverReportView))
    return {**row_counts_in(app), "views": views}


def views_of(app, caregiver_id) -> list[int]:
    with app.app_context():
        return list(db.session.scalars(select(CaregiverReportView.report_id).where(
            CaregiverReportView.caregiver_id == caregiver_id)))


def label(relationship: str | None, name: str) -> str:
    """person_label's markup: the relationship and the name, or the name alone."""
    if relationship is None:
        return f'<span class="name">{name}</span>'
    return f'<span class="relationship">{relationship}</span> · <span class="name">{name}</span>'


def patient_item(response, patient_id) -> str:
    match = re.search(rf'<li class="followed-person" id="patient-{patient_id}">.*?</li>',
                      text(response), re.S)
    assert match, "the patient is not listed"
    return match.group(0)


# --- patients I follow (BR-029 / BR-054) ------------------------------------------------


def test_br029_following_shows_the_relationship_and_the_name_in_english(family, login):
    fam = family(relationship="con_gai")
    page = login(fam.caregiver).get("/following")
    assert page.status_code == 200
    item = patient_item(page, fam.patient.id)
    assert label("Father", PATIENT) in item  # she is his daughter: he is her father
    assert f'href="/following/{fam.patient.id}"' in item
    assert 'id="family-' in text(page)
    assert "Gia đình Test" in text(page)


def test_br029_following_shows_the_relationship_in_vietnamese(family, login):
    fam = family(relationship="con_gai", locale="vi")
    c = login(fam.caregiver)
    assert label("Bố", PATIENT) in patient_item(c.get("/following"), fam.patient.id)
    # and the language switch turns it into English
    assert post(c, "/language", {"locale": "en", "next": "/following"}).status_code == 303
    assert label("Father", PATIENT) in patient_item(c.get("/following"), fam.patient.id)


@pytest.mark.parametrize("locale", ["vi", "en"])
def test_br054_following_shows_the_name_alone_until_a_relationship_is_chosen(
        family, login, locale):
    fam = family(locale=locale)
    item = patient_item(login(fam.caregiver).get("/following"), fam.patient.id)
    assert label(None, PATIENT) in item
    assert 'class="relationship"' not in item


def test_following_offers_to_leave_the_family_as_caregiver(family, login):
    fam = family()
    body = text(login(fam.caregiver).get("/following"))
    assert (f'href="/family/{fam.group_id}/leave?role=caregiver" '
            f'id="leave-caregiver-{fam.group_id}"') in body


def test_following_is_empty_with_how_to_follow_someone(person, login):
    body = text(login(person()).get("/following"))
    assert 'id="following-empty"' in body
    assert "You do not follow anyone yet." in body
    assert 'href="/invites" id="my-invites-link"' in body


def test_following_needs_a_login(client):
    response = client.get("/following")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/account/login")


def test_br040_following_shows_a_disconnected_patient_like_any_other(
        family, login, as_admin, app):
    fam = family(relationship="con_gai")
    c = login(fam.caregiver)
    before = patient_item(c.get("/following"), fam.patient.id)
    first = outbox_last(app)
    as_admin(fam, connection_revoke, reason="Đã thống nhất trong gia đình")
    page = c.get("/following")
    assert page.status_code == 200
    assert patient_item(page, fam.patient.id) == before
    body = text(page).lower()
    assert "disconnect" not in body
    assert "thống nhất" not in body
    with app.app_context():
        assert outbox_since(first) == []


# --- a patient's page (BR-017) ----------------------------------------------------------


def test_br017_patient_page_shows_every_allowed_block(family, login):
    fam = family(relationship="con_gai")
    page = login(fam.caregiver).get(f"/following/{fam.patient.id}")
    assert page.status_code == 200
    body = text(page)
    assert blocks(page) == list(PERMISSION_CODES)
    assert label("Father", PATIENT) in body
    for sentence in (f"You receive {PATIENT}'s emergency alerts.",
                     f"You can set up {PATIENT}'s reminders and tasks.",
                     f"You can see whether {PATIENT} keeps to their care plan.",
                     f"You can act for {PATIENT} in the app.",
                     f"You can call {PATIENT} to encourage them."):
        assert sentence in body
    assert "Nothing to show right now." not in body
    assert (f'href="/connections/{fam.connection_id}/relationship" id="relationship-link"'
            in body)


def test_br017_permission_names_head_the_blocks(family, login, app):
    fam = family()
    body = text(login(fam.caregiver).get(f"/following/{fam.patient.id}"))
    with app.app_context():
        names = {p.code: p.name_en for p in db.session.scalars(select(PermissionType))}
    for code, name in names.items():
        assert f'<h2 id="block-{code}-title">{name}</h2>' in body


@pytest.mark.parametrize("kept", ["encouragement", "health_overview"])
def test_br017_only_the_one_permission_left_on_shows(family, login, as_admin, kept):
    fam = family()
    c = login(fam.caregiver)
    as_admin(fam, permissions_set,
             changes={code: code == kept for code in PERMISSION_CODES})
    page = c.get(f"/following/{fam.patient.id}")
    assert page.status_code == 200
    assert blocks(page) == [kept]
    assert ("Tuần 1" in text(page)) is (kept == "health_overview")


def test_br017_a_block_disappears_when_its_permission_is_turned_off(family, login, as_admin):
    fam = family()
    c = login(fam.caregiver)
    assert "emergency_alert" in blocks(c.get(f"/following/{fam.patient.id}"))
    as_admin(fam, permissions_set, changes={"emergency_alert": False, "task_config": False})
    shown = blocks(c.get(f"/following/{fam.patient.id}"))
    assert shown == ["health_overview", "compliance_tracking", "proxy_execution",
                     "encouragement"]


def test_br017_health_overview_lists_reports_newest_first_unread_marked_new(family, login):
    fam = family(reports=2)
    body = text(login(fam.caregiver).get(f"/following/{fam.patient.id}"))
    newest, older = fam.reports
    assert body.index(f'id="report-{newest}"') < body.index(f'id="report-{older}"')
    assert body.count('<span class="tag tag-new">New</span>') == 2
    assert f'href="/following/{fam.patient.id}/reports/{newest}"' in body
    assert SUMMARIES[0] not in body
    assert SUMMARIES[1] not in body


def test_patient_page_404_for_a_patient_the_caregiver_does_not_follow(
        family, login, person):
    fam, other = family(), family()
    c = login(fam.caregiver)
    assert c.get(f"/following/{other.patient.id}").status_code == 404
    assert c.get(f"/following/{person().id}").status_code == 404
    assert c.get("/following/99999999999").status_code == 404
    # nobody follows themselves: the patient's own id is not a page of theirs here
    assert login(fam.patient).get(f"/following/{fam.patient.id}").status_code == 404
    # the admin sees the family, but does not follow its patient
    assert login(fam.admin).get(f"/following/{fam.patient.id}").status_code == 404


# --- reports, checked at each request (SEC-001 / SEC-002) -------------------------------


def _no_report_data(response) -> None:
    body = text(response)
    for secret in (*SUMMARIES, "Tuần 1", "Tuần 2"):
        assert secret not in body


def test_sec001_reports_are_readable_while_health_overview_is_on(family, login):
    fam = family()
    c = login(fam.caregiver)
    listing = c.get(f"/following/{fam.patient.id}/reports")
    assert listing.status_code == 200
    assert "Tuần 1" in text(listing)
    assert "Tuần 2" in text(listing)
    one = c.get(f"/following/{fam.patient.id}/reports/{fam.reports[0]}")
    assert one.status_code == 200
    assert SUMMARIES[1] in text(one)


def test_sec001_health_overview_off_gives_403_and_no_data(family, login, as_admin):
    fam = family()
    c = login(fam.caregiver)
    assert c.get(f"/following/{fam.patient.id}/reports").status_code == 200
    as_admin(fam, permissions_set, changes={"health_overview": False})
    for url in (f"/following/{fam.patient.id}/reports",
                f"/following/{fam.patient.id}/reports/{fam.reports[0]}"):
        response = c.get(url)
        assert response.status_code == 403
        assert "You cannot see this patient's reports." in text(response)
        _no_report_data(response)
    page = c.get(f"/following/{fam.patient.id}")
    assert page.status_code == 200
    assert "health_overview" not in blocks(page)
    assert PATIENT in text(page)
    _no_report_data(page)


@pytest.mark.parametrize("locale", ["en", "vi"])
def test_sec002_silent_disconnect_gives_403_and_a_neutral_page(
        family, login, as_admin, app, locale):
    fam = family(relationship="con_gai", locale=locale)
    c = login(fam.caregiver)
    first, views = outbox_last(app), counts(app)["views"]
    as_admin(fam, connection_revoke, reason="Lý do riêng")
    for url in (f"/following/{fam.patient.id}/reports",
                f"/following/{fam.patient.id}/reports/{fam.reports[0]}"):
        response = c.get(url)
        assert response.status_code == 403
        _no_report_data(response)
    page = c.get(f"/following/{fam.patient.id}")
    assert page.status_code == 200
    body = text(page)
    assert PATIENT in body
    assert blocks(page) == []
    assert 'id="nothing-to-show"' in body
    _no_report_data(page)
    lowered = body.lower()
    for word in ("disconnect", "revoked", "ngắt", "thu hồi", "lý do riêng", "badge"):
        assert word not in lowered
    with app.app_context():
        assert outbox_since(first) == []
    assert counts(app)["views"] == views


def test_sec001_a_stranger_gets_403_for_reports_and_no_data(family, login, person, app):
    fam = family()
    c = login(person())
    before = counts(app)
    for url in (f"/following/{fam.patient.id}/reports",
                f"/following/{fam.patient.id}/reports/{fam.reports[0]}",
                "/following/99999999/reports/1"):
        response = c.get(url)
        assert response.status_code == 403
        _no_report_data(response)
    assert counts(app) == before


def test_a_report_of_another_patient_is_404(family, login, app):
    fam, other = family(), family()
    c = login(fam.caregiver)
    before = counts(app)
    response = c.get(f"/following/{fam.patient.id}/reports/{other.reports[0]}")
    assert response.status_code == 404
    _no_report_data(response)
    assert c.get(f"/following/{fam.patient.id}/reports/99999999999").status_code == 404
    assert counts(app) == before


def test_opening_a_report_twice_records_one_caregiver_report_view(family, login, app):
    fam = family(reports=2)
    newest, older = fam.reports
    c = login(fam.caregiver)
    assert c.get(f"/following/{fam.patient.id}/reports/{newest}").status_code == 200
    assert c.get(f"/following/{fam.patient.id}/reports/{newest}").status_code == 200
    assert views_of(app, fam.caregiver.id) == [newest]
    listing = text(c.get(f"/following/{fam.patient.id}/reports"))
    read = re.search(rf'<li class="report" id="report-{newest}">.*?</li>', listing, re.S)
    unread = re.search(rf'<li class="report unread" id="report-{older}">.*?</li>', listing, re.S)
    assert read
    assert "tag-new" not in read.group(0)
    assert unread
    assert '<span class="tag tag-new">New</span>' in unread.group(0)


def test_the_patient_opening_their_own_report_records_no_view(family, login, app):
    fam = family()
    c = login(fam.patient)
    assert c.get(f"/following/{fam.patient.id}/reports/{fam.reports[0]}").status_code == 200
    assert counts(app)["views"] == 0


# --- the relationship (BR-030 / BR-050 / BR-028) ----------------------------------------


def test_br030_relationship_page_asks_what_you_are_to_the_other(family, login):
    fam = family(relationship="con_gai")
    page = login(fam.caregiver).get(f"/connections/{fam.connection_id}/relationship")
    assert page.status_code == 200
    body = text(page)
    assert f"What are you to {PATIENT}?" in body
    assert '<option value="">Not set</option>' in body
    assert '<option selected value="con_gai">Daughter</option>' in body
    assert f'id="relationship-form-{fam.connection_id}"' in body


def test_br030_relationship_page_in_vietnamese_for_the_patient(family, login):
    fam = family(relationship="con_gai", locale="vi")
    body = text(login(fam.patient).get(f"/connections/{fam.connection_id}/relationship"))
    assert CAREGIVER in body
    assert '<option selected value="bo">Bố</option>' in body  # what he is to her


def test_br030_the_caregiver_sets_daughter_to_a_male_patient_without_js(family, login, app):
    fam = family()
    c = login(fam.caregiver)
    first = outbox_last(app)
    response = post(c, f"/connections/{fam.connection_id}/relationship",
                    {"relationship": "con_gai"})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/following/{fam.patient.id}"
    assert flashes(c) == [f"Saved: you are “Daughter” to {PATIENT}."]
    assert relationship_of(app, fam.connection_id) == ("con_gai", "bo")
    with app.app_context():
        events = audit_since(action="connection.relationship_changed")
        assert [e.details["relationship"] for e in events] == ["con_gai"]
        assert outbox_since(first) == []
    assert label("Father", PATIENT) in patient_item(c.get("/following"), fam.patient.id)


def test_br030_the_patient_sets_what_he_is_and_the_inverse_follows_her_gender(
        family, login, app):
    fam = family()
    c = login(fam.patient)
    response = post(c, f"/connections/{fam.connection_id}/relationship",
                    {"relationship": "bo"})
    assert response.status_code == 303
    assert response.headers["Location"] == "/followers"
    assert relationship_of(app, fam.connection_id) == ("con_gai", "bo")


def test_br030_htmx_swaps_the_form_with_a_saved_message(family, login, app):
    fam = family()
    c = login(fam.caregiver)
    response = post(c, f"/connections/{fam.connection_id}/relationship",
                    {"relationship": "con_trai"}, headers=HX)
    assert response.status_code == 200
    body = text(response)
    assert "<html" not in body
    assert body.lstrip().startswith(f'<form id="relationship-form-{fam.connection_id}"')
    assert f"Saved: you are “Son” to {PATIENT}." in body
    assert '<option selected value="con_trai">Son</option>' in body
    assert relationship_of(app, fam.connection_id) == ("con_trai", "bo")
    assert flashes(c) == []


def test_br054_not_set_clears_both_directions(family, login, app):
    fam = family(relationship="con_gai")
    c = login(fam.caregiver)
    response = post(c, f"/connections/{fam.connection_id}/relationship",
                    {"relationship": ""}, headers=HX)
    assert response.status_code == 200
    assert '<option selected value="">Not set</option>' in text(response)
    assert relationship_of(app, fam.connection_id) == (None, None)
    assert label(None, PATIENT) in patient_item(c.get("/following"), fam.patient.id)


def test_br030_unknown_relationship_is_422_and_writes_nothing(family, login, app):
    fam = family(relationship="con_gai")
    c = login(fam.caregiver)
    before = counts(app)
    url = f"/connections/{fam.connection_id}/relationship"
    page = post(c, url, {"relationship": "boss"})
    assert page.status_code == 422
    assert "<html" in text(page)
    assert errors(page) == ["Choose a relationship from the list."]
    partial = post(c, url, {"relationship": "boss"}, headers=HX)
    assert partial.status_code == 422
    assert "<html" not in text(partial)
    assert 'aria-invalid="true"' in text(partial)
    assert errors(partial) == ["Choose a relationship from the list."]
    missing = post(c, url, {}, headers=HX)
    assert missing.status_code == 422
    assert errors(missing) == ["Choose a relationship, or “Not set”."]
    assert relationship_of(app, fam.connection_id) == ("con_gai", "bo")
    assert counts(app) == before


def test_br030_the_admin_who_is_not_a_party_gets_403(family, login, app):
    fam = family(relationship="con_gai")
    c = login(fam.admin)
    before = counts(app)
    url = f"/connections/{fam.connection_id}/relationship"
    assert c.get(url).status_code == 403
    response = post(c, url, {"relationship": "con_trai"})
    assert response.status_code == 403
    assert "Only the patient and the caregiver say how they are related." in text(response)
    assert relationship_of(app, fam.connection_id) == ("con_gai", "bo")
    assert counts(app) == before


def test_br030_a_stranger_gets_404(family, login, person, app):
    fam = family(relationship="con_gai")
    c = login(person())
    before = counts(app)
    url = f"/connections/{fam.connection_id}/relationship"
    assert c.get(url).status_code == 404
    assert post(c, url, {"relationship": "con_trai"}).status_code == 404
    assert post(c, url, {"relationship": "boss"}).status_code == 404
    assert c.get("/connections/99999999999/relationship").status_code == 404
    assert relationship_of(app, fam.connection_id) == ("con_gai", "bo")
    assert counts(app) == before


def test_br030_works_on_a_silently_disconnected_connection(family, login, as_admin, app):
    fam = family()
    as_admin(fam, connection_revoke)
    c = login(fam.caregiver)
    url = f"/connections/{fam.connection_id}/relationship"
    page = c.get(url)
    assert page.status_code == 200
    assert "disconnect" not in text(page).lower()
    response = post(c, url, {"relationship": "con_gai"})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/following/{fam.patient.id}"
    assert relationship_of(app, fam.connection_id) == ("con_gai", "bo")


def test_relationship_post_without_csrf_is_400(family, login, app):
    fam = family()
    c = login(fam.caregiver)
    response = c.post(f"/connections/{fam.connection_id}/relationship",
                      data={"relationship": "con_gai"})
    assert response.status_code == 400
    assert relationship_of(app, fam.connection_id) == (None, None)


# --- leaving (BR-061) -------------------------------------------------------------------


def test_br061_leaving_from_the_following_page_frees_the_slot(family, login, app):
    fam = family()
    c = login(fam.caregiver)
    body = text(c.get("/following"))
    link = re.search(r'href="([^"]+)" id="leave-caregiver-\d+"', body).group(1)
    confirm = c.get(link)
    assert confirm.status_code == 200
    assert 'id="confirm-leave"' in text(confirm)
    response = post(c, f"/family/{fam.group_id}/leave", {"role": "caregiver"})
    assert response.status_code == 303
    with app.app_context():
        members = set(db.session.execute(select(FamilyGroupMember.user_id, FamilyGroupMember.role)
                                         .where(FamilyGroupMember.group_id == fam.group_id)))
    assert members == {(fam.patient.id, "patient")}
    assert 'id="following-empty"' in text(c.get("/following"))
    assert c.get(f"/following/{fam.patient.id}").status_code == 404
    admin_page = text(login(fam.admin).get(f"/family/{fam.group_id}"))
    assert "Places: 0 / 4 used, 0 pending, 4 free" in admin_page


def test_the_admin_following_as_caregiver_is_not_offered_to_leave(family, login, run):
    fam = family()

    def self_add():
        group_self_add(actor=db.session.get(User, fam.admin.id),
                       group=db.session.get(FamilyGroup, fam.group_id), role="caregiver")

    run(self_add)
    page = login(fam.admin).get("/following")
    assert page.status_code == 200
    assert label(None, PATIENT) in patient_item(page, fam.patient.id)
    assert "leave-caregiver-" not in text(page)
