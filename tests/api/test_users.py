"""Users and their families: GET /users/{id}, /users/{id}/families, add, remove, leave."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from app.extensions import db
from app.models.accounts import User
from app.models.connections import Connection
from app.models.groups import FamilyGroup, FamilyGroupMember
from app.models.invites import ConnectionInvite
from tests.api import count, family, invite, person, refused
from tests.factories import make_connection


@pytest.fixture
def w(app, client):
    """An admin's family with a patient and a caregiver (connected), a second family the
    caregiver is a patient of, an outsider and staff."""
    admin, patient = person(app, client, email="admin@example.com"), person(app, client)
    caregiver = person(app, client, email="lan@example.com", gender=1)
    other_admin, outsider = person(app, client), person(app, client)
    staff = person(app, client, is_staff=True)
    group_id = family(app, admin, members=[(patient, "patient"), (caregiver, "caregiver")],
                      patients=2, caregivers=2)
    other_id = family(app, other_admin, members=[(caregiver, "patient")])
    with app.app_context():
        make_connection(db.session.get(User, patient.id), db.session.get(User, caregiver.id),
                        group=db.session.get(FamilyGroup, group_id))
        db.session.commit()
    return SimpleNamespace(admin=admin, patient=patient, caregiver=caregiver,
                           other_admin=other_admin, outsider=outsider, staff=staff,
                           group_id=group_id, other_id=other_id)


def members(app, group_id) -> int:
    return count(app, FamilyGroupMember, FamilyGroupMember.group_id == group_id)


# --- GET /users/{id} --------------------------------------------------------------------


def test_self_and_staff_see_everything(app, w):
    for viewer in (w.caregiver, w.staff):
        body = viewer.api.get(f"/users/{w.caregiver.id}").get_json()
        assert body["phone"] == w.caregiver.phone
        assert body["email"] == "lan@example.com"
        assert body["gender"] == "female"
        assert body["familyIds"] == sorted([w.group_id, w.other_id])
        assert {(r["familyId"], r["role"]) for r in body["roles"]} == {
            (w.group_id, "caregiver"), (w.other_id, "patient")}


def test_admin_sees_phone_of_a_member_and_only_shared_families(app, w):
    body = w.admin.api.get(f"/users/{w.caregiver.id}").get_json()
    assert body["phone"] == w.caregiver.phone
    assert body["email"] == "lan@example.com"
    assert body["familyIds"] == [w.group_id]
    assert body["roles"] == [{"familyId": w.group_id, "role": "caregiver"}]


def test_members_see_each_other_without_phone_or_email(app, w):
    body = w.patient.api.get(f"/users/{w.caregiver.id}").get_json()
    assert "phone" not in body
    assert "email" not in body
    assert body["name"] == "Nguyễn Văn Test"
    assert body["familyIds"] == [w.group_id]
    # a member sees the admin, as admin, without the admin's phone
    admin = w.patient.api.get(f"/users/{w.admin.id}").get_json()
    assert "phone" not in admin
    assert admin["roles"] == [{"familyId": w.group_id, "role": "admin"}]


def test_others_get_404(app, w):
    hidden = refused(w.outsider.api.get(f"/users/{w.caregiver.id}"), 404, "not_found")
    missing = refused(w.outsider.api.get("/users/999999"), 404, "not_found")
    assert hidden == missing
    # the other family's admin shares no family with the first family's patient
    refused(w.other_admin.api.get(f"/users/{w.patient.id}"), 404, "not_found")


def test_expand_families(app, w):
    body = w.admin.api.get(f"/users/{w.caregiver.id}?expand=families").get_json()
    [fam] = body["families"]
    assert fam["id"] == w.group_id
    assert fam["role"] == "caregiver"
    assert fam["caregiverIds"] == [w.caregiver.id]
    assert "invites" not in fam
    refused(w.admin.api.get(f"/users/{w.caregiver.id}?expand=secrets"), 422, "invalid")


def test_user_families_for_self_and_staff(app, w):
    for viewer in (w.caregiver, w.staff):
        items = viewer.api.get(f"/users/{w.caregiver.id}/families").get_json()["items"]
        assert [(i["id"], i["role"]) for i in items] == [(w.group_id, "caregiver"),
                                                        (w.other_id, "patient")]
    items = w.admin.api.get(f"/users/{w.admin.id}/families").get_json()["items"]
    assert [(i["id"], i["role"]) for i in items] == [(w.group_id, "admin")]
    refused(w.admin.api.get(f"/users/{w.caregiver.id}/families"), 403, "forbidden")
    refused(w.outsider.api.get(f"/users/{w.caregiver.id}/families"), 404, "not_found")


# --- POST /users/{uid}/families/{fid} ---------------------------------------------------


def test_admin_adds_themselves(app, w):
    response = w.admin.api.post(f"/users/{w.admin.id}/families/{w.group_id}",
                                json={"role": "patient"})
    assert response.status_code == 201
    body = response.get_json()
    assert {k: body[k] for k in ("familyId", "userId", "role")} == {
        "familyId": w.group_id, "userId": w.admin.id, "role": "patient"}
    assert body["joinedAt"].endswith("Z")
    assert members(app, w.group_id) == 3
    # connected to the caregiver (BR-045)
    assert count(app, Connection, Connection.user_id == w.admin.id) == 1
    refused(w.admin.api.post(f"/users/{w.admin.id}/families/{w.group_id}",
                             json={"role": "patient"}), 409, "already_in_group")
    assert members(app, w.group_id) == 3


def test_admin_adds_themselves_without_a_slot(app, client, w):
    invite(app, w.admin, w.group_id, "0987000001", "caregiver")  # the last caregiver place
    refused(w.admin.api.post(f"/users/{w.admin.id}/families/{w.group_id}",
                             json={"role": "caregiver"}), 409, "no_slot")
    assert members(app, w.group_id) == 2


def test_member_cannot_add_themselves(app, w):
    refused(w.patient.api.post(f"/users/{w.patient.id}/families/{w.group_id}",
                               json={"role": "caregiver"}), 403, "not_admin")
    assert members(app, w.group_id) == 2


def test_admin_invites_a_user_they_know(app, w):
    response = w.admin.api.post(f"/users/{w.patient.id}/families/{w.group_id}",
                                json={"role": "caregiver"})
    assert response.status_code == 202
    sent = response.get_json()["invite"]
    assert sent["phone"] == w.patient.phone
    assert sent["role"] == "caregiver"
    assert sent["acceptUrl"].startswith("http://portal.test/i/")
    assert members(app, w.group_id) == 2
    refused(w.admin.api.post(f"/users/{w.patient.id}/families/{w.group_id}",
                             json={"role": "patient"}), 409, "duplicate_pending")
    assert count(app, ConnectionInvite) == 1


def test_invite_by_id_refusals(app, w):
    before = count(app, ConnectionInvite)
    # already a caregiver here
    refused(w.admin.api.post(f"/users/{w.caregiver.id}/families/{w.group_id}",
                             json={"role": "caregiver"}), 409, "already_in_group")
    # a stranger's id tells the admin nothing, not even their phone
    refused(w.admin.api.post(f"/users/{w.outsider.id}/families/{w.group_id}",
                             json={"role": "caregiver"}), 404, "not_found")
    refused(w.admin.api.post(f"/users/{w.patient.id}/families/{w.group_id}",
                             json={"role": "caregiver", "relationship": "con_gai"}),
            422, "invalid")
    refused(w.outsider.api.post(f"/users/{w.outsider.id}/families/{w.group_id}",
                                json={"role": "caregiver"}), 404, "not_found")
    assert count(app, ConnectionInvite) == before
    assert members(app, w.group_id) == 2


# --- DELETE /users/{uid}/families/{fid} -------------------------------------------------


def test_admin_removes_a_member(app, w):
    response = w.admin.api.delete(f"/users/{w.caregiver.id}/families/{w.group_id}"
                                  "?role=caregiver")
    assert response.status_code == 204
    assert members(app, w.group_id) == 1
    assert count(app, Connection, Connection.permission_revoked.is_(True)) == 1
    # the membership in the other family is untouched
    assert members(app, w.other_id) == 1


def test_member_leaves(app, w):
    assert w.patient.api.delete(f"/users/{w.patient.id}/families/{w.group_id}?role=patient"
                                ).status_code == 204
    assert members(app, w.group_id) == 1
    refused(w.patient.api.get(f"/families/{w.group_id}"), 404, "not_found")


def test_admin_cannot_remove_themselves(app, w):
    assert w.admin.api.post(f"/users/{w.admin.id}/families/{w.group_id}",
                            json={"role": "patient"}).status_code == 201
    refused(w.admin.api.delete(f"/users/{w.admin.id}/families/{w.group_id}?role=patient"),
            403, "admin_cannot_remove_self")
    assert members(app, w.group_id) == 3


def test_admin_cannot_leave(app, w):
    refused(w.admin.api.delete(f"/users/{w.admin.id}/families/{w.group_id}?role=caregiver"),
            403, "admin_cannot_leave")
    assert members(app, w.group_id) == 2


def test_remove_refusals(app, w):
    base = f"/users/{w.caregiver.id}/families/{w.group_id}"
    refused(w.patient.api.delete(base + "?role=caregiver"), 403, "not_admin")
    refused(w.outsider.api.delete(base + "?role=caregiver"), 404, "not_found")
    refused(w.admin.api.delete(base), 422, "invalid")
    refused(w.admin.api.delete(base + "?role=admin"), 422, "invalid")
    refused(w.admin.api.delete(base + "?role=patient"), 404, "not_found")
    assert members(app, w.group_id) == 2
    assert count(app, Connection, Connection.permission_revoked.is_(True)) == 0
