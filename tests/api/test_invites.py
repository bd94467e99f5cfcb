"""Invites through the API: create, cancel, resend, pending, reject."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.models.invites import ConnectionInvite
from app.models.notifications import InviteNotification
from tests.api import count, family, invite, person, refused, scalar
from tests.factories import national

INVITEE = "0987000001"


@pytest.fixture
def setup(app, client):
    """An admin's family (1 patient place, 2 caregiver places) with a member patient."""
    admin, patient, outsider = (person(app, client) for _ in range(3))
    group_id = family(app, admin, members=[(patient, "patient")], patients=1, caregivers=2)
    return admin, patient, outsider, group_id


def invites(app) -> int:
    return count(app, ConnectionInvite)


# --- create -----------------------------------------------------------------------------


def test_create_invite(app, setup):
    admin, _patient, _outsider, group_id = setup
    response = admin.api.post(f"/families/{group_id}/invites",
                              json={"phone": "0987 000 001", "role": "caregiver"})
    assert response.status_code == 201
    body = response.get_json()
    assert body["familyId"] == group_id
    assert body["phone"] == "+84987000001"
    assert body["role"] == "caregiver"
    assert body["inviteType"] == "add_caregiver"
    assert body["status"] == "pending"
    assert body["expiresAt"].endswith("Z")
    assert body["acceptUrl"].startswith("http://portal.test/i/")
    assert count(app, InviteNotification, InviteNotification.invite_id == body["id"]) == 1


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"phone": "12345", "role": "caregiver"}, 422, "invalid_phone"),
    ({"phone": INVITEE, "role": "admin"}, 422, "invalid"),
    ({"phone": INVITEE}, 422, "invalid"),
    ({"phone": INVITEE, "role": "caregiver", "name": "Lan"}, 422, "invalid"),
])
def test_create_invite_malformed(app, setup, body, status, code):
    admin, _patient, _outsider, group_id = setup
    refused(admin.api.post(f"/families/{group_id}/invites", json=body), status, code)
    assert invites(app) == 0


def test_create_invite_self(app, setup):
    admin, _patient, _outsider, group_id = setup
    error = refused(admin.api.post(f"/families/{group_id}/invites",
                                   json={"phone": national(admin.phone), "role": "patient"}),
                    422, "self_invite")
    assert "phone" in error["fields"]
    assert invites(app) == 0


def test_create_invite_duplicate_pending(app, setup):
    admin, _patient, _outsider, group_id = setup
    invite(app, admin, group_id, INVITEE)
    refused(admin.api.post(f"/families/{group_id}/invites",
                           json={"phone": INVITEE, "role": "patient"}), 409, "duplicate_pending")
    assert invites(app) == 1


def test_create_invite_no_slot(app, setup):
    admin, _patient, _outsider, group_id = setup  # the only patient place is taken
    refused(admin.api.post(f"/families/{group_id}/invites",
                           json={"phone": INVITEE, "role": "patient"}), 409, "no_slot")
    assert invites(app) == 0


def test_create_invite_already_in_group(app, client, setup):
    admin, _patient, _outsider, group_id = setup
    other_admin, busy = person(app, client), person(app, client)
    family(app, other_admin, members=[(busy, "caregiver")])
    refused(admin.api.post(f"/families/{group_id}/invites",
                           json={"phone": busy.phone, "role": "caregiver"}),
            409, "already_in_group")
    assert invites(app) == 0


def test_create_invite_subscription_inactive(app, client):
    admin = person(app, client)
    group_id = family(app, admin, days=-1)
    refused(admin.api.post(f"/families/{group_id}/invites",
                           json={"phone": INVITEE, "role": "caregiver"}),
            403, "subscription_inactive")
    assert invites(app) == 0


def test_create_invite_not_admin_or_not_visible(app, setup):
    _admin, patient, outsider, group_id = setup
    body = {"phone": INVITEE, "role": "caregiver"}
    refused(patient.api.post(f"/families/{group_id}/invites", json=body), 403, "not_admin")
    refused(outsider.api.post(f"/families/{group_id}/invites", json=body), 404, "not_found")
    assert invites(app) == 0


# --- cancel, resend ---------------------------------------------------------------------


def status_of(app, invite_id):
    return scalar(app, select(ConnectionInvite.status).where(ConnectionInvite.id == invite_id))


def test_cancel(app, setup):
    admin, patient, _outsider, group_id = setup
    invite_id, _token = invite(app, admin, group_id, INVITEE)
    refused(patient.api.delete(f"/invites/{invite_id}"), 404, "not_found")
    assert status_of(app, invite_id) == "pending"
    response = admin.api.delete(f"/invites/{invite_id}")
    assert response.status_code == 204
    assert response.get_data() == b""
    assert status_of(app, invite_id) == "cancelled"
    refused(admin.api.delete(f"/invites/{invite_id}"), 409, "invite_not_pending")
    assert status_of(app, invite_id) == "cancelled"


def test_resend_voids_the_old_link(app, client, setup):
    admin, _patient, _outsider, group_id = setup
    invitee = person(app, client, phone="+84987000001")
    invite_id, old_token = invite(app, admin, group_id, INVITEE)
    response = admin.api.post(f"/invites/{invite_id}/resend")
    assert response.status_code == 200
    body = response.get_json()
    assert body["id"] == invite_id
    assert body["status"] == "pending"
    new_token = body["acceptUrl"].rsplit("/", 1)[1]
    assert new_token != old_token
    refused(invitee.api.post("/invites/accept", json={"token": old_token}), 404, "not_found")
    assert status_of(app, invite_id) == "pending"
    assert invitee.api.post("/invites/accept", json={"token": new_token}).status_code == 200


def test_resend_not_pending(app, setup):
    admin, _patient, _outsider, group_id = setup
    invite_id, _token = invite(app, admin, group_id, INVITEE)
    assert admin.api.delete(f"/invites/{invite_id}").status_code == 204
    digest = scalar(app, select(ConnectionInvite.token_hash)
                    .where(ConnectionInvite.id == invite_id))
    messages = count(app, InviteNotification)
    refused(admin.api.post(f"/invites/{invite_id}/resend"), 409, "invite_not_pending")
    assert scalar(app, select(ConnectionInvite.token_hash)
                  .where(ConnectionInvite.id == invite_id)) == digest
    assert count(app, InviteNotification) == messages


# --- the invitee ------------------------------------------------------------------------


def test_pending_lists_invites_to_my_phone(app, client, setup):
    admin, patient, _outsider, group_id = setup
    invitee = person(app, client, phone="+84987000001")
    invite_id, _token = invite(app, admin, group_id, INVITEE)
    [item] = invitee.api.get("/invites/pending").get_json()["items"]
    assert item["id"] == invite_id
    assert item["familyName"] == "Gia đình Test"
    assert item["senderName"] == "Nguyễn Văn Test"
    assert "acceptUrl" not in item
    assert patient.api.get("/invites/pending").get_json()["items"] == []


def test_reject(app, client, setup):
    admin, patient, _outsider, group_id = setup
    invitee = person(app, client, phone="+84987000001")
    invite_id, _token = invite(app, admin, group_id, INVITEE)
    refused(patient.api.post(f"/invites/{invite_id}/reject"), 404, "not_found")
    assert status_of(app, invite_id) == "pending"
    response = invitee.api.post(f"/invites/{invite_id}/reject")
    assert response.status_code == 200
    assert response.get_json()["status"] == "rejected"
    assert status_of(app, invite_id) == "rejected"
    messages = count(app, InviteNotification)
    refused(invitee.api.post(f"/invites/{invite_id}/reject"), 409, "invite_not_pending")
    assert count(app, InviteNotification) == messages


def test_reject_refuses_a_body(app, client, setup):
    admin, _patient, _outsider, group_id = setup
    invitee = person(app, client, phone="+84987000001")
    invite_id, _token = invite(app, admin, group_id, INVITEE)
    refused(invitee.api.post(f"/invites/{invite_id}/reject", json={"why": "no"}),
            422, "invalid")
    assert status_of(app, invite_id) == "pending"
