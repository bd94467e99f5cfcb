"""My family pages through the test client: the index, create, the group page with its
sections and places, rename, add myself, remove, leave, dissolve — each as a page, an htmx
fragment, a no-JS redirect and a 422, and every refusal writes nothing."""

from __future__ import annotations

import re
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from app.billing.services import codes_issue
from app.extensions import db
from app.invites.services import invite_create
from app.models.accounts import User
from app.models.audit import AuditEvent
from app.models.groups import FamilyGroup, FamilyGroupMember
from app.payments.provider import PaymentUnavailable
from tests.conftest import person_of
from tests.factories import (
    make_connection,
    make_group,
    make_member,
    make_subscription,
    make_user,
    national,
)
from tests.pages import HX, errors, flashes, post, text

# --- helpers ----------------------------------------------------------------------------


class DownProvider:
    """A payment service that does not answer."""

    name = "down"

    def subscription_for(self, user_id: int):
        raise PaymentUnavailable()

    def sync_member(self, **_kwargs) -> None:
        raise PaymentUnavailable()


@pytest.fixture
def payment_down(app, monkeypatch):
    monkeypatch.setitem(app.extensions, "payment_provider", DownProvider())


@pytest.fixture
def rows(app):
    """Counts of the tables these pages write: groups, members, audit events."""

    def count() -> tuple[int, int, int]:
        with app.app_context():
            return tuple(db.session.scalar(select(func.count()).select_from(model))
                         for model in (FamilyGroup, FamilyGroupMember, AuditEvent))

    return count


@pytest.fixture
def family(run):
    """A group with its admin's plan and members: family(patients=2, caregivers=1, ...)."""

    def make(*, patients: int = 0, caregivers: int = 0, patient_slots: int = 2,
             caregiver_slots: int = 4, days: int = 365, status: str = "active",
             admin_as: tuple[str, ...] = ()) -> SimpleNamespace:
        def build():
            admin = make_user(locale="en", name="Admin An")
            sub = make_subscription(admin, patients=patient_slots, caregivers=caregiver_slots,
                                    days=days, status=status)
            group = make_group(admin, subscription=sub, name="Gia đình Nguyễn")
            for role in admin_as:
                make_member(group, admin, role=role)
            made = {"patient": [], "caregiver": []}
            for role, n in (("patient", patients), ("caregiver", caregivers)):
                for i in range(n):
                    user = make_user(locale="en", name=f"{role.title()} {i + 1}")
                    make_member(group, user, role=role)
                    made[role].append(person_of(user))
            return SimpleNamespace(id=group.id, admin=person_of(admin), patients=made["patient"],
                                   caregivers=made["caregiver"])

        return run(build)

    return make




def members_of(app, group_id) -> set[tuple[int, str]]:
    with app.app_context():
        return set(db.session.execute(select(FamilyGroupMember.user_id, FamilyGroupMember.role)
                                      .where(FamilyGroupMember.group_id == group_id)).tuples())


def group_row(app, group_id) -> tuple[str, str]:
    with app.app_context():
        group = db.session.get(FamilyGroup, group_id)
        return group.name, group.status


def invite(app, group_id, phone, role="patient") -> int:
    """A pending invite made by the group's admin, through the service."""
    with app.app_context():
        group = db.session.get(FamilyGroup, group_id)
        admin = db.session.get(User, group.admin_user_id)
        issued = invite_create(actor=admin, group=group, phone=phone, role=role)
        db.session.commit()
        return issued.invite.id


# --- the index: /family -----------------------------------------------------------------


def test_index_without_a_plan_points_to_my_plan(person, login):
    c = login(person())
    response = c.get("/family")
    assert response.status_code == 200
    body = text(response)
    assert 'id="no-family"' in body
    assert 'href="/plan"' in body
    assert 'id="create-form"' not in body


def test_index_with_an_active_plan_offers_create(person, login, run):
    me = person()
    run(lambda: make_subscription(db.session.get(User, me.id), patients=1, caregivers=2))
    response = login(me).get("/family")
    assert response.status_code == 200
    body = text(response)
    assert 'id="create-form"' in body
    assert "Your plan has 1 patient places and 2 caregiver places." in body


def test_index_with_an_expired_plan_says_how_to_renew(person, login, run):
    me = person()
    run(lambda: make_subscription(db.session.get(User, me.id), days=-1))
    body = text(login(me).get("/family"))
    assert 'id="plan-problem"' in body
    assert "Renew it by redeeming an activation code" in body
    assert 'id="create-form"' not in body


def test_index_redirects_the_admin_to_their_family(family, login):
    fam = family()
    response = login(fam.admin).get("/family")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/family/{fam.id}"


def test_index_lists_the_families_of_a_member(family, login):
    fam = family(patients=1)
    body = text(login(fam.patients[0]).get("/family"))
    assert f'id="membership-{fam.id}-patient"' in body
    assert f'href="/family/{fam.id}"' in body
    assert "Gia đình Nguyễn" in body


def test_index_when_the_payment_service_is_down(person, login, payment_down):
    response = login(person()).get("/family")
    assert response.status_code == 200
    assert 'id="plan-unavailable"' in text(response)


def test_index_needs_a_login(client):
    response = client.get("/family")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/account/login")


# --- create -----------------------------------------------------------------------------


@pytest.fixture
def plan_owner(person, run):
    def make(**sub) -> SimpleNamespace:
        me = person()
        run(lambda: make_subscription(db.session.get(User, me.id), **sub))
        return me

    return make


def test_create_without_js_redirects_to_the_new_family(plan_owner, login, app, rows):
    c = login(plan_owner())
    response = post(c, "/family", {"name": "  Nhà   Trần "})
    assert response.status_code == 303
    with app.app_context():
        group = db.session.scalar(select(FamilyGroup))
        assert group.name == "Nhà Trần"
    assert response.headers["Location"] == f"/family/{group.id}"
    assert rows()[:2] == (1, 0)
    assert "Your family “Nhà Trần” is ready." in flashes(c)[0]


def test_create_for_htmx_answers_hx_redirect(plan_owner, login, rows):
    c = login(plan_owner())
    response = post(c, "/family", {"name": "Nhà Lê"}, headers=HX)
    assert response.status_code == 200
    assert re.fullmatch(r"/family/\d+", response.headers["HX-Redirect"])
    assert rows()[0] == 1


def test_create_empty_name_422_page_and_partial(plan_owner, login, rows):
    c = login(plan_owner())
    before = rows()
    page = post(c, "/family", {"name": ""})
    assert page.status_code == 422
    assert "<html" in text(page)
    assert "This field is required." in errors(page)
    partial = post(c, "/family", {"name": "   "}, headers=HX)
    assert partial.status_code == 422
    body = text(partial)
    assert "<html" not in body
    assert body.lstrip().startswith('<form id="create-form"')
    assert errors(partial)
    assert rows() == before


def test_create_without_a_plan_is_refused_and_writes_nothing(person, login, rows):
    c = login(person())
    before = rows()
    response = post(c, "/family", {"name": "Nhà Phạm"})
    assert response.status_code == 303
    assert response.headers["Location"] == "/family"
    assert "Only the family's admin, with an active family plan" in flashes(c)[0]
    partial = post(c, "/family", {"name": "Nhà Phạm"}, headers=HX)
    assert partial.status_code == 403
    assert "<html" not in text(partial)
    assert "Only the family's admin" in text(partial)
    assert partial.headers["HX-Redirect"] == "/family"
    assert rows() == before


def test_create_a_second_family_is_a_conflict(family, login, rows):
    fam = family()
    c = login(fam.admin)
    before = rows()
    response = post(c, "/family", {"name": "Another"}, headers=HX)
    assert response.status_code == 409
    assert "Your plan already has a family." in text(response)
    assert rows() == before


def test_create_without_csrf_is_400_and_writes_nothing(plan_owner, login, rows):
    c = login(plan_owner())
    before = rows()
    response = post(c, "/family", {"name": "Nhà Võ"}, csrf=False)
    assert response.status_code == 400
    assert rows() == before


# --- the group page ---------------------------------------------------------------------


def test_admin_sees_both_sections_places_and_invite_buttons(family, login, app):
    fam = family(patients=1, caregivers=2, patient_slots=2, caregiver_slots=4)
    invite_id = invite(app, fam.id, "0987000111", role="caregiver")
    response = login(fam.admin).get(f"/family/{fam.id}")
    assert response.status_code == 200
    body = text(response)
    assert 'id="section-patient"' in body
    assert 'id="section-caregiver"' in body
    patient = fam.patients[0]
    assert f'id="member-{patient.id}-patient"' in body
    assert f'id="member-{fam.caregivers[1].id}-caregiver"' in body
    assert re.search(r'id="slots-patient".*?Places: 1 / 2 used, 0 pending, 1 free', body, re.S)
    assert re.search(r'id="slots-caregiver".*?Places: 2 / 4 used, 1 pending, 1 free', body, re.S)
    assert f'href="/family/{fam.id}/invites?role=patient"' in body
    assert f'href="/family/{fam.id}/invites?role=caregiver"' in body
    assert f'id="invite-{invite_id}"' in body
    assert "0987 000 111" in body
    assert "link valid until" in body
    assert f'action="/invites/{invite_id}/cancel"' in body
    assert f'action="/invites/{invite_id}/resend"' in body
    assert f'hx-post="/invites/{invite_id}/cancel" hx-target="closest li"' in body
    assert (f'hx-get="/family/{fam.id}/slots/caregiver" '
            'hx-trigger="invites-changed from:body"') in body
    assert f"/family/{fam.id}/members/{patient.id}/remove?role=patient" in body
    assert 'id="rename-form"' in body
    assert 'id="dissolve-link"' in body
    assert 'id="self-add-patient"' in body
    assert 'id="self-add-caregiver"' in body
    assert "Leave this family" not in body
    assert 'id="limit-patient"' not in body


def test_a_member_sees_the_members_but_no_admin_tools(family, login, app):
    fam = family(patients=1, caregivers=1)
    invite(app, fam.id, "0987000222", role="patient")
    body = text(login(fam.caregivers[0]).get(f"/family/{fam.id}"))
    assert f'id="member-{fam.patients[0].id}-patient"' in body
    assert re.search(rf'id="member-{fam.caregivers[0].id}-caregiver".*?>you<', body, re.S)
    assert "Admin: Admin An" in body
    for absent in ('id="slots-patient"', "invite-button", "/remove", 'id="rename-form"',
                   "dissolve", "self-add", "0987 000 222", 'id="invite-'):
        assert absent not in body, absent
    assert f'href="/family/{fam.id}/leave?role=caregiver"' in body
    assert "/leave?role=patient" not in body


def test_an_outsider_gets_404(family, person, login):
    fam = family(patients=1)
    assert login(person()).get(f"/family/{fam.id}").status_code == 404
    assert login(person()).get("/family/999999").status_code == 404


def test_staff_are_sent_to_the_staff_review_which_asks_why_first(family, person, login,
                                                                 app):
    """Issue 21: staff open a family on the staff pages, after giving a reason; the
    family's own page shows them nothing and records no look."""
    fam = family(patients=1)
    staff = person(is_staff=True)
    client = login(staff)
    response = client.get(f"/family/{fam.id}")
    assert response.status_code == 303
    assert urlsplit(response.headers["Location"]).path == f"/staff/groups/{fam.id}"
    step = client.get(f"/staff/groups/{fam.id}")
    assert step.status_code == 200
    body = text(step)
    assert 'id="reason-form"' in body
    for absent in (fam.patients[0].name, "Admin An", "Places:"):
        assert absent not in body, absent
    # The admin's own visits are not staff looks either.
    login(fam.admin).get(f"/family/{fam.id}")
    with app.app_context():
        looks = db.session.scalars(select(AuditEvent.id)
                                   .where(AuditEvent.action == "staff.group_viewed")).all()
    assert looks == []


def test_no_free_place_explains_and_keeps_the_invite_button(family, login, app):
    fam = family(patients=1, patient_slots=1, caregiver_slots=2)
    invite(app, fam.id, "0987000333", role="caregiver")
    invite(app, fam.id, "0987000444", role="caregiver")
    body = text(login(fam.admin).get(f"/family/{fam.id}"))
    for role, line in (("patient", "1 / 1 used, 0 pending, 0 free"),
                       ("caregiver", "0 / 2 used, 2 pending, 0 free")):
        assert f'id="invite-button-{role}"' in body
        assert f'href="/family/{fam.id}/invites?role={role}"' in body
        assert line in body
        assert f'id="limit-{role}"' in body
    assert ('id="limit-patient">No free place left. <a href="/plan">Get more places on My '
            'plan</a>') in body


def test_expired_plan_explains_how_to_renew_and_keeps_the_buttons(family, login):
    fam = family(patients=1, days=-1)
    body = text(login(fam.admin).get(f"/family/{fam.id}"))
    for role in ("patient", "caregiver"):
        assert f'id="plan-problem-{role}"' in body
        assert f'id="invite-button-{role}"' in body
    assert "Your family plan has expired or was cancelled" in body
    assert "Renew it by redeeming an activation code on “My plan”" in body


def test_payment_service_down_shows_members_and_says_places_are_unknown(family, login,
                                                                         payment_down):
    fam = family(patients=2)
    response = login(fam.admin).get(f"/family/{fam.id}")
    assert response.status_code == 200
    body = text(response)
    assert all(f'id="member-{p.id}-patient"' in body for p in fam.patients)
    assert 'id="slots-unknown-patient"' in body
    assert 'id="invite-button-patient"' in body
    assert "Places:" not in body


def test_the_places_fragment_refreshes_after_an_invite_changes(family, login, person, app):
    fam = family(patients=1)
    invite(app, fam.id, "0987000666", role="patient")
    c = login(fam.admin)
    response = c.get(f"/family/{fam.id}/slots/patient", headers=HX)
    assert response.status_code == 200
    body = text(response)
    assert "<html" not in body
    assert re.match(r'<div class="slots" id="slots-patient"', body.lstrip())
    assert "Places: 1 / 2 used, 1 pending, 0 free" in body
    assert 'id="limit-patient"' in body
    plain = c.get(f"/family/{fam.id}/slots/patient")
    assert plain.status_code == 302
    assert plain.headers["Location"] == f"/family/{fam.id}"
    assert c.get(f"/family/{fam.id}/slots/admin", headers=HX).status_code == 404
    member = login(fam.patients[0])
    assert member.get(f"/family/{fam.id}/slots/patient", headers=HX).status_code == 404
    assert login(person()).get(f"/family/{fam.id}/slots/patient", headers=HX).status_code == 404


def test_the_admin_is_never_offered_to_remove_or_leave_themselves(family, login):
    fam = family(patients=1, admin_as=("patient", "caregiver"))
    body = text(login(fam.admin).get(f"/family/{fam.id}"))
    admin_row = re.search(rf'<li class="member" id="member-{fam.admin.id}-patient">.*?</li>',
                          body, re.S).group(0)
    assert ">you<" in admin_row
    assert ">admin<" in admin_row
    assert "/remove" not in admin_row
    assert f"/members/{fam.admin.id}/remove" not in body
    assert "/leave" not in body
    # already in both roles: no "Add me" form
    assert "self-add" not in body


def _connect_everyone(app, fam) -> int:
    """Every caregiver follows every patient; a few relationships chosen, a few disconnected
    (the permission matrix then has every kind of row). Returns the number of connections."""
    with app.app_context():
        group = db.session.get(FamilyGroup, fam.id)
        for i, p in enumerate(fam.patients):
            for j, c in enumerate(fam.caregivers):
                connection = make_connection(db.session.get(User, p.id),
                                             db.session.get(User, c.id), group=group)
                connection.relationship_code = "con_gai" if j % 2 else None
                connection.permission_revoked = (i + j) % 5 == 0
        db.session.commit()
    return len(fam.patients) * len(fam.caregivers)


def test_the_page_runs_a_fixed_number_of_queries(family, login, app, count_queries):
    """2 members or 20, with the admin's permission matrix: the same statements."""
    small = family(patients=1, caregivers=1)
    large = family(patients=4, caregivers=16, patient_slots=4, caregiver_slots=17)
    for fam in (small, large):
        invite(app, fam.id, "0987000555", role="caregiver")
    counts = []
    for fam in (small, large):
        rows = _connect_everyone(app, fam)
        c = login(fam.admin)
        c.get(f"/family/{fam.id}")  # warm up
        with count_queries() as statements:
            response = c.get(f"/family/{fam.id}")
        assert response.status_code == 200
        assert text(response).count('<tr id="connection-') == rows
        counts.append(len(statements))
    assert counts[0] == counts[1]
    for fam in (small, large):
        c = login(fam.caregivers[0])
        with count_queries() as statements:
            c.get(f"/family/{fam.id}")
        counts.append(len(statements))
    assert counts[2] == counts[3]


def test_a_dissolved_family_shows_no_actions(family, login, app):
    fam = family(patients=1)
    with app.app_context():
        db.session.get(FamilyGroup, fam.id).status = "dissolved"
        db.session.commit()
    body = text(login(fam.admin).get(f"/family/{fam.id}"))
    assert 'id="group-dissolved"' in body
    for absent in ("invite-button", "rename-form", "dissolve-link", "/remove", "self-add"):
        assert absent not in body


# --- rename -----------------------------------------------------------------------------


def test_rename_without_js(family, login, app):
    fam = family()
    c = login(fam.admin)
    response = post(c, f"/family/{fam.id}/rename", {"name": "Nhà Mới"})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/family/{fam.id}"
    assert group_row(app, fam.id)[0] == "Nhà Mới"
    assert "Nhà Mới" in text(c.get(f"/family/{fam.id}"))


def test_rename_for_htmx_swaps_the_form_and_the_heading(family, login, app):
    fam = family()
    response = post(login(fam.admin), f"/family/{fam.id}/rename", {"name": "Nhà Mới"},
                    headers=HX)
    assert response.status_code == 200
    body = text(response)
    assert "<html" not in body
    assert body.lstrip().startswith('<form id="rename-form"')
    assert '<span id="group-name" hx-swap-oob="true">Nhà Mới</span>' in body
    assert group_row(app, fam.id)[0] == "Nhà Mới"


def test_rename_422_page_and_partial(family, login, app, rows):
    fam = family()
    c = login(fam.admin)
    before = rows()
    page = post(c, f"/family/{fam.id}/rename", {"name": ""})
    assert page.status_code == 422
    assert "<html" in text(page)
    assert 'id="section-patient"' in text(page)
    assert "This field is required." in errors(page)
    partial = post(c, f"/family/{fam.id}/rename", {"name": "x" * 101}, headers=HX)
    assert partial.status_code == 422
    assert text(partial).lstrip().startswith('<form id="rename-form"')
    assert errors(partial)
    assert group_row(app, fam.id)[0] == "Gia đình Nguyễn"
    assert rows() == before


def test_a_member_cannot_rename(family, login, app, rows):
    fam = family(patients=1)
    c = login(fam.patients[0])
    before = rows()
    response = post(c, f"/family/{fam.id}/rename", {"name": "Hijack"})
    assert response.status_code == 303
    assert "Only the family's admin" in flashes(c)[0]
    partial = post(c, f"/family/{fam.id}/rename", {"name": "Hijack"}, headers=HX)
    assert partial.status_code == 403
    assert group_row(app, fam.id)[0] == "Gia đình Nguyễn"
    assert rows() == before


def test_an_outsider_cannot_rename_and_csrf_is_required(family, person, login, app):
    fam = family()
    assert post(login(person()), f"/family/{fam.id}/rename", {"name": "X"}).status_code == 404
    response = post(login(fam.admin), f"/family/{fam.id}/rename", {"name": "X"}, csrf=False)
    assert response.status_code == 400
    assert group_row(app, fam.id)[0] == "Gia đình Nguyễn"


# --- add me (BR-049) --------------------------------------------------------------------


def test_self_add_without_js(family, login, app):
    fam = family(caregivers=1)
    c = login(fam.admin)
    response = post(c, f"/family/{fam.id}/self-add", {"role": "patient", "relationship": "bo"})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/family/{fam.id}"
    assert (fam.admin.id, "patient") in members_of(app, fam.id)
    body = text(c.get(f"/family/{fam.id}"))
    assert f'id="member-{fam.admin.id}-patient"' in body
    assert 'id="self-add-patient"' not in body
    assert 'id="self-add-caregiver"' in body
    assert "Places: 1 / 2 used, 0 pending, 1 free" in body


def test_self_add_offers_relationships_in_the_users_language(family, login):
    fam = family()
    body = text(login(fam.admin).get(f"/family/{fam.id}"))
    assert '<option value="con_gai">Daughter</option>' in body


def test_self_add_for_htmx_answers_hx_redirect(family, login, app):
    fam = family()
    response = post(login(fam.admin), f"/family/{fam.id}/self-add", {"role": "caregiver"},
                    headers=HX)
    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == f"/family/{fam.id}"
    assert members_of(app, fam.id) == {(fam.admin.id, "caregiver")}


def test_self_add_422_page_and_partial(family, login, rows):
    fam = family()
    c = login(fam.admin)
    before = rows()
    page = post(c, f"/family/{fam.id}/self-add", {"role": "patient", "relationship": "boss"})
    assert page.status_code == 422
    assert "<html" in text(page)
    assert "Choose a relationship from the list." in errors(page)
    partial = post(c, f"/family/{fam.id}/self-add", {"role": "parent"}, headers=HX)
    assert partial.status_code == 422
    assert "<html" not in text(partial)
    assert "Choose patient or caregiver." in errors(partial)
    assert rows() == before


def test_self_add_without_a_free_place_is_refused(family, login, app, rows):
    fam = family(patients=1, patient_slots=1)
    c = login(fam.admin)
    before = rows()
    response = post(c, f"/family/{fam.id}/self-add", {"role": "patient"})
    assert response.status_code == 303
    assert flashes(c)[0].startswith("Limit reached")
    partial = post(c, f"/family/{fam.id}/self-add", {"role": "patient"}, headers=HX)
    assert partial.status_code == 409
    assert "Limit reached" in text(partial)
    assert rows() == before


def test_self_add_with_an_expired_plan_is_refused(family, login, rows):
    fam = family(days=-1)
    c = login(fam.admin)
    before = rows()
    response = post(c, f"/family/{fam.id}/self-add", {"role": "patient"}, headers=HX)
    assert response.status_code == 403
    assert "Your family plan has expired" in text(response)
    assert rows() == before


def test_a_member_cannot_self_add(family, login, app, rows):
    fam = family(patients=1)
    c = login(fam.patients[0])
    before = rows()
    response = post(c, f"/family/{fam.id}/self-add", {"role": "caregiver"}, headers=HX)
    assert response.status_code == 403
    assert rows() == before


# --- remove (BR-058) --------------------------------------------------------------------


def test_remove_confirmation_page_and_inline_partial(family, login):
    fam = family(patients=1)
    c = login(fam.admin)
    url = f"/family/{fam.id}/members/{fam.patients[0].id}/remove?role=patient"
    page = c.get(url)
    assert page.status_code == 200
    body = text(page)
    assert "<html" in body
    assert "Remove Patient 1 as a patient of “Gia đình Nguyễn”?" in body
    assert "hx-post" not in body.split('id="confirm-remove"')[1]
    partial = c.get(url, headers=HX)
    assert partial.status_code == 200
    body = text(partial)
    assert "<html" not in body
    assert f'hx-target="#member-{fam.patients[0].id}-patient"' in body


def test_remove_without_js(family, login, app, rows):
    fam = family(patients=1, caregivers=1)
    c = login(fam.admin)
    patient = fam.patients[0]
    response = post(c, f"/family/{fam.id}/members/{patient.id}/remove", {"role": "patient"})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/family/{fam.id}"
    assert members_of(app, fam.id) == {(fam.caregivers[0].id, "caregiver")}
    assert "Patient 1 is no longer a patient in this family." in flashes(c)
    assert f'id="member-{patient.id}-patient"' not in text(c.get(f"/family/{fam.id}"))


def test_remove_for_htmx_drops_the_row_and_updates_the_places(family, login, app):
    fam = family(patients=2)
    response = post(login(fam.admin), f"/family/{fam.id}/members/{fam.patients[0].id}/remove",
                    {"role": "patient"}, headers=HX)
    assert response.status_code == 200
    body = text(response)
    assert "<html" not in body
    assert "member-" not in body
    assert re.match(r'<div class="slots" id="slots-patient" hx-swap-oob="true"', body.lstrip())
    assert "Places: 1 / 2 used, 0 pending, 1 free" in body
    assert members_of(app, fam.id) == {(fam.patients[1].id, "patient")}


def test_remove_without_a_role_is_422(family, login, rows):
    fam = family(patients=1)
    c = login(fam.admin)
    before = rows()
    response = post(c, f"/family/{fam.id}/members/{fam.patients[0].id}/remove", {})
    assert response.status_code == 422
    assert "<html" in text(response)
    assert 'id="confirm-remove"' in text(response)
    partial = post(c, f"/family/{fam.id}/members/{fam.patients[0].id}/remove",
                   {"role": "boss"}, headers=HX)
    assert partial.status_code == 422
    assert "Choose patient or caregiver." in errors(partial)
    assert rows() == before


def test_a_member_cannot_remove_others(family, login, app, rows):
    fam = family(patients=1, caregivers=1)
    c = login(fam.caregivers[0])
    before = rows()
    url = f"/family/{fam.id}/members/{fam.patients[0].id}/remove"
    assert c.get(url + "?role=patient").status_code == 403
    response = post(c, url, {"role": "patient"})
    assert response.status_code == 303
    assert "Only the family's admin" in flashes(c)[0]
    assert post(c, url, {"role": "patient"}, headers=HX).status_code == 403
    assert len(members_of(app, fam.id)) == 2
    assert rows() == before


def test_the_admin_cannot_remove_themselves(family, login, app, rows):
    fam = family(admin_as=("patient",))
    c = login(fam.admin)
    before = rows()
    response = post(c, f"/family/{fam.id}/members/{fam.admin.id}/remove", {"role": "patient"},
                    headers=HX)
    assert response.status_code == 403
    assert "you cannot remove yourself" in text(response)
    assert members_of(app, fam.id) == {(fam.admin.id, "patient")}
    assert rows() == before


def test_remove_by_an_outsider_is_404_and_csrf_is_required(family, person, login, app):
    fam = family(patients=1)
    url = f"/family/{fam.id}/members/{fam.patients[0].id}/remove"
    assert post(login(person()), url, {"role": "patient"}).status_code == 404
    assert post(login(fam.admin), url, {"role": "patient"}, csrf=False).status_code == 400
    assert len(members_of(app, fam.id)) == 1


# --- leave (BR-061) ---------------------------------------------------------------------


def test_leave_confirmation_and_leaving_without_js(family, login, app):
    fam = family(patients=1, caregivers=1)
    c = login(fam.caregivers[0])
    page = c.get(f"/family/{fam.id}/leave?role=caregiver")
    assert page.status_code == 200
    assert "Leave “Gia đình Nguyễn” as a caregiver?" in text(page)
    assert c.get(f"/family/{fam.id}/leave?role=patient").status_code == 404
    response = post(c, f"/family/{fam.id}/leave", {"role": "caregiver"})
    assert response.status_code == 303
    assert response.headers["Location"] == "/family"
    assert members_of(app, fam.id) == {(fam.patients[0].id, "patient")}
    assert c.get(f"/family/{fam.id}").status_code == 404


def test_leave_for_htmx_answers_hx_redirect(family, login, app):
    fam = family(patients=1)
    response = post(login(fam.patients[0]), f"/family/{fam.id}/leave", {"role": "patient"},
                    headers=HX)
    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == "/family"
    assert members_of(app, fam.id) == set()


def test_leave_without_a_role_is_422(family, login, rows):
    fam = family(patients=1)
    c = login(fam.patients[0])
    before = rows()
    response = post(c, f"/family/{fam.id}/leave", {})
    assert response.status_code == 422
    assert 'id="confirm-leave"' in text(response)
    assert rows() == before


def test_the_admin_cannot_leave(family, login, app, rows):
    fam = family(admin_as=("caregiver",))
    c = login(fam.admin)
    before = rows()
    assert c.get(f"/family/{fam.id}/leave?role=caregiver").status_code == 404
    response = post(c, f"/family/{fam.id}/leave", {"role": "caregiver"})
    assert response.status_code == 303
    assert "you cannot leave it" in flashes(c)[0]
    assert post(c, f"/family/{fam.id}/leave", {"role": "caregiver"},
                headers=HX).status_code == 403
    assert members_of(app, fam.id) == {(fam.admin.id, "caregiver")}
    assert rows() == before


def test_leave_without_csrf_is_400(family, login, app):
    fam = family(patients=1)
    response = post(login(fam.patients[0]), f"/family/{fam.id}/leave", {"role": "patient"},
                    csrf=False)
    assert response.status_code == 400
    assert len(members_of(app, fam.id)) == 1


# --- dissolve ---------------------------------------------------------------------------


def test_dissolve_confirmation_and_dissolving_without_js(family, login, app):
    fam = family(patients=1, caregivers=1)
    c = login(fam.admin)
    page = c.get(f"/family/{fam.id}/dissolve")
    assert page.status_code == 200
    assert "Dissolve “Gia đình Nguyễn”?" in text(page)
    response = post(c, f"/family/{fam.id}/dissolve")
    assert response.status_code == 303
    assert response.headers["Location"] == "/family"
    assert group_row(app, fam.id)[1] == "dissolved"
    assert members_of(app, fam.id) == set()


def test_dissolve_for_htmx_answers_hx_redirect(family, login, app):
    fam = family()
    response = post(login(fam.admin), f"/family/{fam.id}/dissolve", headers=HX)
    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == "/family"
    assert group_row(app, fam.id)[1] == "dissolved"


def test_a_member_cannot_dissolve(family, login, app, rows):
    fam = family(patients=1)
    c = login(fam.patients[0])
    before = rows()
    assert c.get(f"/family/{fam.id}/dissolve").status_code == 403
    assert post(c, f"/family/{fam.id}/dissolve").status_code == 303
    assert post(c, f"/family/{fam.id}/dissolve", headers=HX).status_code == 403
    assert group_row(app, fam.id)[1] == "active"
    assert rows() == before


def test_dissolve_twice_is_a_conflict_and_csrf_is_required(family, login, app, rows):
    fam = family()
    c = login(fam.admin)
    assert post(c, f"/family/{fam.id}/dissolve", csrf=False).status_code == 400
    assert group_row(app, fam.id)[1] == "active"
    assert post(c, f"/family/{fam.id}/dissolve").status_code == 303
    before = rows()
    assert post(c, f"/family/{fam.id}/dissolve", headers=HX).status_code == 409
    assert rows() == before


# --- the story: an admin redeems a code, creates the family, sees empty places ---------


def test_story_redeem_create_and_see_empty_places(person, login, run, app):
    code = run(lambda: codes_issue(actor=None, plan="family", days=30))[0]
    me = person()
    c = login(me)
    assert 'id="no-plan"' in text(c.get("/plan"))

    response = post(c, "/plan/redeem", {"code": code.lower().replace("-", " ")})
    assert response.status_code == 303
    assert response.headers["Location"] == "/family"
    page = c.get("/family")
    assert 'id="create-form"' in text(page)

    response = post(c, "/family", {"name": "Gia đình của tôi"})
    assert response.status_code == 303
    group_url = response.headers["Location"]
    assert c.get("/family").headers["Location"] == group_url

    body = text(c.get(group_url))
    assert "Gia đình của tôi" in body
    assert "Places: 0 / 2 used, 0 pending, 2 free" in body
    assert "Places: 0 / 4 used, 0 pending, 4 free" in body
    assert "No patients yet." in body
    assert "No caregivers yet." in body
    group_id = int(group_url.rsplit("/", 1)[1])
    assert f'href="/family/{group_id}/invites?role=patient"' in body
    assert f'href="/family/{group_id}/invites?role=caregiver"' in body
    assert national(me.phone) not in body  # no invites, no phone numbers on the page


# --- issue 18: a full role is said before inviting; dissolving apart --------------------


def invite_button(body: str, role: str) -> str:
    match = re.search(rf'<a class="([^"]*)" id="invite-button-{role}"', body)
    assert match, f"no invite button for {role}"
    return match.group(1)


def test_a_full_role_is_said_first_and_its_invite_is_no_primary_button(family, login, app):
    """The demo admin's case: no patient place left (one member, one pending invite) while
    caregivers still have one. The full role says so, with "My plan", before its invite
    button, which is a secondary one; "Add me as patient" is not offered."""
    fam = family(patients=1, patient_slots=2, caregiver_slots=4)
    invite(app, fam.id, "0987000777", role="patient")
    body = text(login(fam.admin).get(f"/family/{fam.id}"))
    assert invite_button(body, "patient") == "button secondary"
    assert invite_button(body, "caregiver") == "button"
    patient = re.search(r'<div class="slots" id="slots-patient".*?</div>', body, re.S).group(0)
    notice = re.search(r'<p class="notice[^"]*" id="limit-patient">(.*?)</p>', patient,
                       re.S).group(1)
    assert notice.startswith("No free place left.")
    assert 'href="/plan"' in notice
    assert patient.index('id="limit-patient"') < patient.index('id="invite-button-patient"')
    assert 'id="limit-caregiver"' not in body
    assert 'id="self-add-patient"' not in body
    assert 'id="self-add-caregiver"' in body


@pytest.mark.parametrize("case", ["expired plan", "payment service down"])
def test_no_self_add_and_no_primary_invite_while_nobody_can_join(family, login, app,
                                                                 monkeypatch, case):
    """An expired plan refuses a self-add (BR-037), and with the payment service down the
    places cannot be checked (the service fails closed): neither is offered."""
    fam = family(patients=1, days=-1 if case == "expired plan" else 365)
    if case == "payment service down":
        monkeypatch.setitem(app.extensions, "payment_provider", DownProvider())
    body = text(login(fam.admin).get(f"/family/{fam.id}"))
    assert "self-add" not in body
    for role in ("patient", "caregiver"):
        assert invite_button(body, role) == "button secondary"  # still there (BR-059)


def test_dissolving_is_a_danger_zone_at_the_end_apart_from_rename(family, login):
    fam = family(patients=1, caregivers=1)
    body = text(login(fam.admin).get(f"/family/{fam.id}"))
    settings = re.search(r'<section id="family-settings">.*?</section>', body, re.S).group(0)
    assert 'id="rename-form"' in settings
    assert "dissolve" not in settings
    zone = re.search(r'<section class="danger-zone" id="danger-zone".*?</section>', body,
                     re.S).group(0)
    assert re.search(rf'id="dissolve-link" href="/family/{fam.id}/dissolve"', zone)
    assert "This cannot be undone." in zone
    # last of the page: nothing of the family comes after it
    assert body.index('id="danger-zone"') > body.index('id="family-settings"')
    assert body.index('id="danger-zone"') > body.index('id="section-caregiver"')
    assert "<section" not in body[body.index('id="danger-zone"'):]
    # the members see none of it
    assert "danger-zone" not in text(login(fam.patients[0]).get(f"/family/{fam.id}"))
