"""POST/GET/PATCH/DELETE /families: create, read (constant queries), rename, dissolve."""

from __future__ import annotations

import pytest
from flask_migrate import upgrade
from sqlalchemy import select

from app.accounts.services import api_token_create
from app.extensions import db
from app.models.accounts import User
from app.models.audit import AuditEvent
from app.models.connections import Connection, ConnectionPermission
from app.models.groups import FamilyGroup, FamilyGroupMember
from app.models.invites import ConnectionInvite
from tests.api import Api, count, family, invite, person, refused, scalar
from tests.conftest import make_app
from tests.factories import make_connection, make_group, make_subscription, make_user
from tests.ports import free_port

MEMBER_KEYS = {"id", "name", "gender", "joinedAt"}


def user_ids(app, n: int) -> list[int]:
    with app.app_context():
        ids = [make_user(gender=i % 2).id for i in range(n)]
        db.session.commit()
        return ids


# --- create -----------------------------------------------------------------------------


def test_create_family(app, client):
    admin = person(app, client)
    with app.app_context():
        make_subscription(db.session.get(User, admin.id), patients=1, caregivers=2)
        db.session.commit()
    response = admin.api.post("/families", json={"name": "  Gia đình  Nguyễn "})
    assert response.status_code == 201
    body = response.get_json()
    assert body["name"] == "Gia đình Nguyễn"
    assert body["status"] == "active"
    assert body["adminId"] == admin.id
    assert isinstance(body["subscriptionId"], int)
    assert body["patients"] == body["caregivers"] == body["invites"] == []
    assert body["patientIds"] == body["caregiverIds"] == []
    assert body["slots"] == {"patient": {"total": 1, "used": 0, "pending": 0, "free": 1},
                             "caregiver": {"total": 2, "used": 0, "pending": 0, "free": 2}}
    assert body["createdAt"].endswith("Z")
    assert body["updatedAt"].endswith("Z")
    assert count(app, FamilyGroup, FamilyGroup.id == body["id"]) == 1


def test_create_family_not_admin(app, client):
    user = person(app, client)
    refused(user.api.post("/families", json={"name": "Nhà"}), 403, "not_admin")
    assert count(app, FamilyGroup) == 0


def test_create_family_subscription_inactive(app, client):
    admin = person(app, client)
    with app.app_context():
        make_subscription(db.session.get(User, admin.id), days=-1)
        db.session.commit()
    refused(admin.api.post("/families", json={"name": "Nhà"}), 403, "subscription_inactive")
    assert count(app, FamilyGroup) == 0


def test_create_family_group_exists(app, client):
    admin = person(app, client)
    family(app, admin)
    refused(admin.api.post("/families", json={"name": "Nhà 2"}), 409, "group_exists")
    assert count(app, FamilyGroup) == 1


@pytest.mark.parametrize("body", [{"name": "   "}, {"name": "x" * 101}, {},
                                  {"name": "Nhà", "status": "active"}, {"name": None}])
def test_create_family_invalid(app, client, body):
    admin = person(app, client)
    with app.app_context():
        make_subscription(db.session.get(User, admin.id))
        db.session.commit()
    refused(admin.api.post("/families", json=body), 422, "invalid")
    assert count(app, FamilyGroup) == 0


def test_payment_service_down(monkeypatch, fresh_database_url):
    """Grants fail closed with 503; reading a family keeps working, without slots."""
    monkeypatch.setenv("PAYMENT_PROVIDER", "http")
    monkeypatch.setenv("PAYMENT_SERVICE_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("PAYMENT_SERVICE_TIMEOUT", "0.2")
    monkeypatch.setenv("PAYMENT_SERVICE_RETRIES", "0")
    down = make_app(fresh_database_url())
    with down.app_context():
        upgrade()
        user, admin = make_user(), make_user()
        group = make_group(admin, subscription=make_subscription(admin))
        tokens = [api_token_create(user=u, name="t") for u in (user, admin)]
        db.session.commit()
        group_id = group.id
    client = down.test_client()
    user_api, admin_api = (Api(client, t) for t in tokens)
    refused(user_api.post("/families", json={"name": "Nhà"}), 503, "payment_unavailable")
    with down.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(FamilyGroup)) == 1
    response = admin_api.get(f"/families/{group_id}")
    assert response.status_code == 200
    assert response.get_json()["slots"] is None


# --- read -------------------------------------------------------------------------------


@pytest.fixture
def household(app, client):
    """An admin's family with a patient and a caregiver, a pending invite, an outsider
    and a staff member."""
    admin, patient, caregiver = (person(app, client) for _ in range(3))
    outsider, staff = person(app, client), person(app, client, is_staff=True)
    group_id = family(app, admin, members=[(patient, "patient"), (caregiver, "caregiver")])
    invite(app, admin, group_id, "0987000001", "caregiver")
    return admin, patient, caregiver, outsider, staff, group_id


def test_admin_reads_members_invites_and_slots(app, household):
    admin, patient, caregiver, _outsider, _staff, group_id = household
    body = admin.api.get(f"/families/{group_id}").get_json()
    assert body["patientIds"] == [patient.id]
    assert body["caregiverIds"] == [caregiver.id]
    assert set(body["patients"][0]) == MEMBER_KEYS
    assert body["patients"][0]["gender"] == "male"
    [sent] = body["invites"]
    assert sent["phone"] == "+84987000001"
    assert sent["role"] == "caregiver"
    assert sent["status"] == "pending"
    assert "acceptUrl" not in sent
    assert body["slots"]["caregiver"] == {"total": 4, "used": 1, "pending": 1, "free": 2}
    assert body["slots"]["patient"] == {"total": 2, "used": 1, "pending": 0, "free": 1}


def test_member_reads_without_invites_or_slots(app, household):
    _admin, patient, caregiver, _outsider, _staff, group_id = household
    for member in (patient, caregiver):
        body = member.api.get(f"/families/{group_id}").get_json()
        assert body["caregiverIds"] == [caregiver.id]
        assert "invites" not in body
        assert "slots" not in body
        assert all(set(m) == MEMBER_KEYS for m in body["patients"] + body["caregivers"])


def test_staff_read_is_audited(app, household):
    _admin, _patient, _caregiver, _outsider, staff, group_id = household
    body = staff.api.get(f"/families/{group_id}").get_json()
    assert "invites" in body
    assert "slots" in body
    assert count(app, AuditEvent, AuditEvent.action == "staff.group_viewed",
                 AuditEvent.actor_id == staff.id, AuditEvent.family_group_id == group_id) == 1


def test_outsider_gets_404_as_for_a_missing_family(app, household):
    _admin, _patient, _caregiver, outsider, _staff, group_id = household
    hidden = refused(outsider.api.get(f"/families/{group_id}"), 404, "not_found")
    missing = refused(outsider.api.get(f"/families/{group_id + 999}"), 404, "not_found")
    assert hidden == missing


def test_family_read_costs_the_same_for_2_or_20_members(app, client, count_queries):
    sizes = {}
    for size in (2, 20):
        admin = person(app, client)
        ids = user_ids(app, size)
        members = [(uid, "patient" if i % 2 else "caregiver") for i, uid in enumerate(ids)]
        group_id = family(app, admin, members=members, patients=20, caregivers=20)
        for i in range(size // 2):
            invite(app, admin, group_id, f"09870{size:02d}{i:03d}", "patient")
        assert admin.api.get(f"/families/{group_id}").status_code == 200  # token warmed
        with count_queries() as statements:
            body = admin.api.get(f"/families/{group_id}").get_json()
        assert len(body["patientIds"]) + len(body["caregiverIds"]) == size
        assert len(body["invites"]) == size // 2
        sizes[size] = len(statements)
    assert sizes[2] == sizes[20], sizes
    assert sizes[2] <= 8, sizes


# --- rename, dissolve -------------------------------------------------------------------


def test_rename(app, household):
    admin, patient, _caregiver, outsider, _staff, group_id = household
    response = admin.api.patch(f"/families/{group_id}", json={"name": "Nhà mới"})
    assert response.status_code == 200
    assert response.get_json()["name"] == "Nhà mới"
    refused(patient.api.patch(f"/families/{group_id}", json={"name": "Của tôi"}),
            403, "not_admin")
    refused(outsider.api.patch(f"/families/{group_id}", json={"name": "Của tôi"}),
            404, "not_found")
    refused(admin.api.patch(f"/families/{group_id}", json={"name": ""}), 422, "invalid")
    assert scalar(app, select(FamilyGroup.name).where(FamilyGroup.id == group_id)) == "Nhà mới"


def test_dissolve(app, household):
    admin, patient, caregiver, outsider, _staff, group_id = household
    with app.app_context():
        make_connection(db.session.get(User, patient.id), db.session.get(User, caregiver.id),
                        group=db.session.get(FamilyGroup, group_id))
        db.session.commit()
    refused(patient.api.delete(f"/families/{group_id}"), 403, "not_admin")
    refused(outsider.api.delete(f"/families/{group_id}"), 404, "not_found")
    assert count(app, FamilyGroupMember, FamilyGroupMember.group_id == group_id) == 2
    response = admin.api.delete(f"/families/{group_id}")
    assert response.status_code == 204
    assert response.get_data() == b""
    assert scalar(app, select(FamilyGroup.status).where(FamilyGroup.id == group_id)) \
        == "dissolved"
    assert count(app, FamilyGroupMember, FamilyGroupMember.group_id == group_id) == 0
    assert count(app, Connection, Connection.permission_revoked.is_(False)) == 0
    assert count(app, ConnectionPermission, ConnectionPermission.is_enabled.is_(True)) == 0
    assert count(app, ConnectionInvite, ConnectionInvite.status == "pending") == 0
    # the members no longer see it; the admin still does, dissolved
    refused(patient.api.get(f"/families/{group_id}"), 404, "not_found")
    assert admin.api.get(f"/families/{group_id}").get_json()["status"] == "dissolved"
