"""POST /invites/accept and /invites/{id}/accept: every refusal writes nothing."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlalchemy import select

from app.db import utcnow
from app.extensions import db
from app.models.billing import Subscription
from app.models.connections import PERMISSION_CODES, Connection
from app.models.groups import FamilyGroup, FamilyGroupMember
from app.models.invites import ConnectionInvite
from tests.api import count, expire_invite, family, invite, person, refused, scalar

INVITEE = "+84987000001"


@pytest.fixture
def world(app, client):
    """A family with two patients (male, female), a caregiver invite to INVITEE, and the
    invitee's account (female)."""
    admin = person(app, client)
    father = person(app, client, name="Bố", gender=0)
    mother = person(app, client, name="Mẹ", gender=1)
    group_id = family(app, admin, members=[(father, "patient"), (mother, "patient")],
                      caregivers=1)
    invite_id, token = invite(app, admin, group_id, INVITEE, "caregiver")
    invitee = person(app, client, phone=INVITEE, name="Lan", gender=1)
    return SimpleNamespace(admin=admin, father=father, mother=mother, group_id=group_id,
                           invite_id=invite_id, token=token, invitee=invitee)


def snapshot(app, w) -> tuple:
    """What an accept would change."""
    return (count(app, FamilyGroupMember),
            count(app, Connection),
            scalar(app, select(ConnectionInvite.status)
                   .where(ConnectionInvite.id == w.invite_id)))


def refused_unchanged(app, w, send, status: int, code: str) -> None:
    """send() is refused with `status` and `code`, and nothing an accept writes changed."""
    before = snapshot(app, w)
    refused(send(), status, code)
    assert snapshot(app, w) == before


def test_accept_by_token(app, world):
    w = world
    response = w.invitee.api.post("/invites/accept",
                                  json={"token": w.token, "relationship": "con_gai"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["role"] == "caregiver"
    assert body["family"]["id"] == w.group_id
    assert body["family"]["caregiverIds"] == [w.invitee.id]
    assert "invites" not in body["family"]
    connections = {c["patient"]["id"]: c for c in body["connections"]}
    assert set(connections) == {w.father.id, w.mother.id}
    for c in connections.values():
        assert c["caregiver"] == {"id": w.invitee.id, "name": "Lan"}
        assert c["relationship"] == "con_gai"
        assert "revoked" not in c  # the caregiver's copy never carries it (BR-040)
        assert c["permissions"] == dict.fromkeys(PERMISSION_CODES, True)
    # she is their daughter, so they are her father and her mother (by their gender)
    assert connections[w.father.id]["inverseRelationship"] == "bo"
    assert connections[w.mother.id]["inverseRelationship"] == "me"
    assert snapshot(app, w) == (3, 2, "accepted")


def test_accept_by_id_without_a_body(app, world):
    w = world
    response = w.invitee.api.post(f"/invites/{w.invite_id}/accept")
    assert response.status_code == 200
    assert [c["relationship"] for c in response.get_json()["connections"]] == [None, None]
    assert snapshot(app, w) == (3, 2, "accepted")


def test_accept_by_id_of_someone_else_is_404(app, world):
    w = world
    refused_unchanged(
        app, w, lambda: w.father.api.post(f"/invites/{w.invite_id}/accept", json={}),
        404, "not_found")


def test_accept_phone_mismatch(app, world):
    w = world
    refused_unchanged(
        app, w, lambda: w.father.api.post("/invites/accept", json={"token": w.token}),
        403, "phone_mismatch")


def test_accept_unknown_token(app, world):
    w = world
    refused_unchanged(
        app, w, lambda: w.invitee.api.post("/invites/accept", json={"token": w.token + "x"}),
        404, "not_found")


def test_accept_expired(app, world):
    w = world
    expire_invite(app, w.invite_id)
    refused_unchanged(
        app, w, lambda: w.invitee.api.post("/invites/accept", json={"token": w.token}),
        410, "invite_expired")


def test_accept_not_pending(app, world):
    w = world
    assert w.admin.api.delete(f"/invites/{w.invite_id}").status_code == 204
    for call in (lambda: w.invitee.api.post("/invites/accept", json={"token": w.token}),
                 lambda: w.invitee.api.post(f"/invites/{w.invite_id}/accept")):
        refused_unchanged(app, w, call, 409, "invite_not_pending")


def test_accept_twice(app, world):
    w = world
    assert w.invitee.api.post("/invites/accept", json={"token": w.token}).status_code == 200
    refused_unchanged(
        app, w, lambda: w.invitee.api.post("/invites/accept", json={"token": w.token}),
        409, "invite_not_pending")


def test_accept_no_slot(app, client, world):
    w = world
    other = person(app, client)
    with app.app_context():  # the only caregiver place was filled meanwhile
        db.session.add(FamilyGroupMember(group_id=w.group_id, user_id=other.id,
                                         role="caregiver"))
        db.session.commit()
    refused_unchanged(
        app, w, lambda: w.invitee.api.post("/invites/accept", json={"token": w.token}),
        409, "no_slot")


def test_accept_already_in_group(app, client, world):
    w = world
    family(app, person(app, client), members=[(w.invitee, "caregiver")])
    refused_unchanged(
        app, w, lambda: w.invitee.api.post("/invites/accept", json={"token": w.token}),
        409, "already_in_group")


def test_accept_subscription_inactive(app, world):
    w = world
    with app.app_context():
        group = db.session.get(FamilyGroup, w.group_id)
        db.session.get(Subscription, group.subscription_id).expires_at = utcnow()
        db.session.commit()
    refused_unchanged(
        app, w, lambda: w.invitee.api.post("/invites/accept", json={"token": w.token}),
        403, "subscription_inactive")


@pytest.mark.parametrize(("body", "code"), [
    ({"relationship": "ban_be"}, "unknown_relationship"),
    ({"relationship": 3}, "invalid"),
    ({"role": "patient"}, "invalid"),
])
def test_accept_malformed(app, world, body, code):
    w = world
    before = snapshot(app, w)
    refused(w.invitee.api.post("/invites/accept", json={"token": w.token, **body}), 422, code)
    refused(w.invitee.api.post(f"/invites/{w.invite_id}/accept", json=body), 422, code)
    assert snapshot(app, w) == before
