"""POST /me/consent-withdrawal and POST /families/{id}/handover (issue 19): the contract and
every error code; the rules are the services' (tests/connections/test_consent.py,
tests/groups/test_handover.py)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from app.extensions import db
from app.models.accounts import User
from app.models.billing import Subscription
from app.models.groups import FamilyGroup
from app.models.notifications import InviteNotification
from app.payments.http_provider import HttpProvider
from tests.api import count, family, person, refused
from tests.factories import make_group, make_subscription
from tests.payment_server import down_url
from tests.service_helpers import connection_between, join


@pytest.fixture
def fam(app, client):
    admin = person(app, client, name="Quản Trị")
    patient = person(app, client, name="Ông Bình", gender=0)
    caregiver = person(app, client, name="Lan", gender=1)
    outsider = person(app, client)
    group_id = family(app, admin)
    with app.app_context():
        group = db.session.get(FamilyGroup, group_id)
        join(group, db.session.get(User, patient.id), role="patient")
        join(group, db.session.get(User, caregiver.id), role="caregiver")
        cid = connection_between(db.session.get(User, patient.id),
                                 db.session.get(User, caregiver.id)).id
        db.session.commit()
    return SimpleNamespace(admin=admin, patient=patient, caregiver=caregiver,
                           outsider=outsider, group_id=group_id, cid=cid)


# --- consent ------------------------------------------------------------------------------


def test_withdraw_consent_silently(app, fam):
    before = count(app, InviteNotification)
    response = fam.patient.api.post("/me/consent-withdrawal", json={"tell": False})
    assert response.status_code == 200, response.get_json()
    [item] = response.get_json()["items"]
    assert item["id"] == fam.cid
    assert item["revoked"] is True
    assert item["consentWithdrawn"] is True
    assert not any(item["permissions"].values())
    assert count(app, InviteNotification) == before  # BR-056
    # the caregiver's copy says nothing of it
    [followed] = fam.caregiver.api.get("/connections").get_json()["following"]
    assert "consentWithdrawn" not in followed
    assert "revoked" not in followed


def test_withdraw_with_a_notice_then_only_the_patient_restores(app, fam):
    response = fam.patient.api.post("/me/consent-withdrawal", json={"tell": True})
    assert response.status_code == 200
    notices = fam.caregiver.api.get("/notifications").get_json()["items"]
    assert any(n["type"] == "CONSENT_WITHDRAWN" for n in notices), notices
    refused(fam.admin.api.call("PUT", f"/connections/{fam.cid}/restore", json={}), 409,
            "consent_withdrawn")
    refused(fam.admin.api.call("PUT", f"/families/{fam.group_id}/caregivers/"
                                      f"{fam.caregiver.id}/restore", json={}),
            409, "consent_withdrawn")
    refused(fam.patient.api.call("PUT", f"/connections/{fam.cid}/permissions",
                                 json={"permissions": {"health_overview": True}}),
            409, "connection_revoked")
    restored = fam.patient.api.call("PUT", f"/connections/{fam.cid}/restore", json={})
    assert restored.status_code == 200
    assert restored.get_json()["consentWithdrawn"] is False
    assert restored.get_json()["revoked"] is False


def test_nothing_to_withdraw(app, fam):
    refused(fam.outsider.api.post("/me/consent-withdrawal", json={"tell": True}), 409,
            "nothing_to_withdraw")


@pytest.mark.parametrize("body", [{}, {"tell": "yes"}, {"tell": None}, {"tell": True, "x": 1}])
def test_withdrawal_body_is_checked(app, fam, body):
    refused(fam.patient.api.post("/me/consent-withdrawal", json=body), 422, "invalid")
    with app.app_context():
        assert connection_between(db.session.get(User, fam.patient.id),
                                  db.session.get(User, fam.caregiver.id)).consent_withdrawn_at \
            is None


# --- handover -----------------------------------------------------------------------------


def plan_for(app, who, **kwargs) -> int:
    with app.app_context():
        sub = make_subscription(db.session.get(User, who.id), **kwargs)
        db.session.commit()
        return sub.id


def test_hand_over(app, fam):
    sub_id = plan_for(app, fam.caregiver)
    response = fam.admin.api.post(f"/families/{fam.group_id}/handover",
                                  json={"userId": fam.caregiver.id})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["adminId"] == fam.caregiver.id
    assert body["subscriptionId"] == sub_id
    assert body["caregiverIds"] == [fam.caregiver.id]
    # the new admin runs it now; the old one, not a member, no longer sees it
    refused(fam.admin.api.post(f"/families/{fam.group_id}/handover",
                               json={"userId": fam.patient.id}), 404, "not_found")
    notices = fam.caregiver.api.get("/notifications").get_json()["items"]
    assert any(n["type"] == "FAMILY_HANDED_OVER" for n in notices)


def test_hand_over_refusals(app, fam):
    url = f"/families/{fam.group_id}/handover"
    refused(fam.patient.api.post(url, json={"userId": fam.caregiver.id}), 403, "not_admin")
    refused(fam.outsider.api.post(url, json={"userId": fam.caregiver.id}), 404, "not_found")
    refused(fam.admin.api.post(url, json={"userId": fam.outsider.id}), 409, "not_a_member")
    refused(fam.admin.api.post(url, json={"userId": fam.admin.id}), 409, "already_admin")
    refused(fam.admin.api.post(url, json={"userId": fam.caregiver.id}), 409,
            "no_subscription")
    refused(fam.admin.api.post(url, json={"userId": "x"}), 422, "invalid")
    plan_for(app, fam.patient, status="expired")
    refused(fam.admin.api.post(url, json={"userId": fam.patient.id}), 409,
            "subscription_inactive")
    sub_id = plan_for(app, fam.caregiver, patients=1, caregivers=0)
    refused(fam.admin.api.post(url, json={"userId": fam.caregiver.id}), 409,
            "not_enough_slots")
    with app.app_context():
        make_group(db.session.get(User, fam.caregiver.id),
                   subscription=db.session.get(Subscription, sub_id))
        db.session.commit()
    refused(fam.admin.api.post(url, json={"userId": fam.caregiver.id}), 409,
            "subscription_in_use")
    with app.app_context():
        assert db.session.get(FamilyGroup, fam.group_id).admin_user_id == fam.admin.id


def test_hand_over_payment_unavailable(app, fam, monkeypatch):
    monkeypatch.setitem(app.config, "PAYMENT_PROVIDER", "http")
    monkeypatch.setitem(app.extensions, "payment_provider",
                        HttpProvider(down_url(), timeout=0.2, retries=0))
    refused(fam.admin.api.post(f"/families/{fam.group_id}/handover",
                               json={"userId": fam.caregiver.id}), 503, "payment_unavailable")
