"""GET /connections and the connection controls: permissions (BR-024, BR-039), the silent
disconnect and restore (BR-040, BR-056), the relationship (BR-030/028), the history, the
caregiver-wide disconnect, and GET /families/{id}/connections and /audit."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models.accounts import User
from app.models.audit import AuditEvent
from app.models.connections import PERMISSION_CODES
from app.models.groups import FamilyGroup
from app.models.notifications import InviteNotification
from tests.api import Api, count, family, person, refused
from tests.factories import PASSWORD, make_connection, make_group, make_member, make_user
from tests.service_helpers import (
    ALL_OFF,
    ALL_ON,
    connection_between,
    counts,
    join,
    last_id,
    permission_map,
    told,
)

CONNECTION_KEYS = {"id", "familyId", "patient", "caregiver", "relationship",
                   "inverseRelationship", "revoked", "consentWithdrawn", "permissions"}


def put(who, path: str, body=None, **kwargs):
    """A PUT as `who` (a Person, or an Api)."""
    api = getattr(who, "api", who)
    return api.call("PUT", path, json=body, **kwargs)


def outbox(app) -> int:
    return count(app, InviteNotification)


def permissions(app, connection_id: int) -> dict[str, bool]:
    with app.app_context():
        return permission_map(SimpleNamespace(id=connection_id))


@pytest.fixture
def fam(app, client):
    """An admin's family: a male patient and a female caregiver joined through invites
    (so the connection has a history), an outsider and a staff member."""
    admin = person(app, client, name="Quản Trị")
    patient = person(app, client, name="Ông Bình", gender=0)
    caregiver = person(app, client, name="Lan", gender=1)
    outsider, staff = person(app, client), person(app, client, is_staff=True)
    group_id = family(app, admin)
    with app.app_context():
        group = db.session.get(FamilyGroup, group_id)
        join(group, db.session.get(User, patient.id), role="patient")
        join(group, db.session.get(User, caregiver.id), role="caregiver")
        connection_id = connection_between(db.session.get(User, patient.id),
                                           db.session.get(User, caregiver.id)).id
        db.session.commit()
    return SimpleNamespace(admin=admin, patient=patient, caregiver=caregiver,
                           outsider=outsider, staff=staff, group_id=group_id,
                           cid=connection_id, url=f"/connections/{connection_id}")


# --- GET /connections -------------------------------------------------------------------


def test_connections_following_and_followers(app, fam):
    mine = fam.caregiver.api.get("/connections").get_json()
    assert mine["followers"] == []
    [followed] = mine["following"]
    assert followed["id"] == fam.cid
    assert followed["familyId"] == fam.group_id
    assert followed["patient"] == {"id": fam.patient.id, "name": "Ông Bình"}
    assert followed["caregiver"] == {"id": fam.caregiver.id, "name": "Lan"}
    assert followed["permissions"] == ALL_ON
    assert set(followed) == CONNECTION_KEYS - {"revoked", "consentWithdrawn"}  # never told
    theirs = fam.patient.api.get("/connections").get_json()
    assert theirs["following"] == []
    [follower] = theirs["followers"]
    assert set(follower) == CONNECTION_KEYS
    assert follower["revoked"] is False
    assert fam.outsider.api.get("/connections").get_json() == {"following": [],
                                                               "followers": []}


def test_connections_of_a_dual_role_member_on_both_sides(app, fam):
    with app.app_context():
        group = db.session.get(FamilyGroup, fam.group_id)
        other = join(group, role="patient", name="Bà Hoa", gender=1)
        join(group, db.session.get(User, fam.patient.id), role="caregiver")
        db.session.commit()
        other_id = other.id
    body = fam.patient.api.get("/connections").get_json()
    assert [c["patient"]["id"] for c in body["following"]] == [other_id]
    assert [c["caregiver"]["id"] for c in body["followers"]] == [fam.caregiver.id]
    assert "revoked" not in body["following"][0]
    assert "revoked" in body["followers"][0]


def test_connections_ended_by_leaving_are_not_listed(app, fam):
    response = fam.caregiver.api.delete(
        f"/users/{fam.caregiver.id}/families/{fam.group_id}?role=caregiver")
    assert response.status_code == 204
    assert fam.caregiver.api.get("/connections").get_json()["following"] == []
    assert fam.patient.api.get("/connections").get_json()["followers"] == []
    assert fam.admin.api.get(f"/families/{fam.group_id}/connections").get_json() == {
        "items": []}


def sized_family(app, size: int) -> tuple[Api, Api]:
    """A family of `size` patients and `size` caregivers where the first caregiver follows
    every patient and the first patient is followed by every caregiver: (that caregiver's
    API, that patient's API)."""
    from app.accounts.services import api_token_create

    with app.app_context():
        group = make_group()
        patients = [make_member(group, make_user(name=f"P{i}")).user_id for i in range(size)]
        caregivers = [make_member(group, make_user(name=f"C{i}", gender=1),
                                  role="caregiver").user_id for i in range(size)]
        users = {u.id: u for u in db.session.scalars(select(User))}
        for p in patients:
            make_connection(users[p], users[caregivers[0]], group=group)
        for c in caregivers[1:]:
            make_connection(users[patients[0]], users[c], group=group)
        tokens = [api_token_create(user=users[uid], name="t")
                  for uid in (caregivers[0], patients[0])]
        db.session.commit()
    return tokens[0], tokens[1]


def test_get_connections_costs_the_same_for_2_or_20(app, client, count_queries):
    sizes = {}
    for size in (2, 20):
        follower_token, patient_token = sized_family(app, size)
        for role, api, key in (("caregiver", Api(client, follower_token), "following"),
                               ("patient", Api(client, patient_token), "followers")):
            assert api.get("/connections").status_code == 200  # token's last use written
            with count_queries() as statements:
                body = api.get("/connections").get_json()
            assert len(body[key]) == size
            sizes[role, size] = len(statements)
    assert sizes["caregiver", 2] == sizes["caregiver", 20], sizes
    assert sizes["patient", 2] == sizes["patient", 20], sizes
    assert sizes["caregiver", 2] <= 4, sizes


# --- permissions ------------------------------------------------------------------------


def test_admin_turns_a_permission_off(app, fam):
    before = outbox(app)
    response = put(fam.admin, f"{fam.url}/permissions",
                   {"permissions": {"health_overview": False}})
    assert response.status_code == 200
    body = response.get_json()
    assert body["permissions"] == {**ALL_ON, "health_overview": False}
    assert body["revoked"] is False
    assert permissions(app, fam.cid) == {**ALL_ON, "health_overview": False}
    assert outbox(app) == before  # turning OFF tells nobody
    with app.app_context():
        [event] = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "connection.permission_changed"))
        assert event.actor_id == fam.admin.id
        assert event.details["permission"] == "health_overview"
        assert (event.details["from"], event.details["to"]) == (True, False)


def test_br024_admin_turning_a_permission_on_tells_the_patient_in_app(app, fam):
    assert put(fam.patient, f"{fam.url}/permissions",
               {"permissions": {"encouragement": False, "task_config": False}}
               ).status_code == 200
    with app.app_context():
        first = last_id(InviteNotification)
    response = put(fam.admin, f"{fam.url}/permissions",
                   {"permissions": {"encouragement": True, "task_config": True}})
    assert response.status_code == 200
    assert response.get_json()["permissions"] == ALL_ON
    assert count(app, InviteNotification, InviteNotification.id > first) == 1
    with app.app_context():
        assert told(first) == {("PERMISSION_ENABLED", fam.patient.id)}
        row = db.session.scalar(select(InviteNotification).where(InviteNotification.id > first))
        assert row.payload["permissions"] == ["task_config", "encouragement"]


def test_the_admin_toggling_back_and_forth_leaves_one_notice_per_net_change(app, fam):
    assert put(fam.patient, f"{fam.url}/permissions",
               {"permissions": {"encouragement": False, "task_config": False}}
               ).status_code == 200
    with app.app_context():
        first = last_id(InviteNotification)

    def notices():
        with app.app_context():
            return [n.payload["permissions"] for n in db.session.scalars(
                select(InviteNotification).where(InviteNotification.id > first)
                .order_by(InviteNotification.id))]

    for enabled in (True, False, True, False):
        assert put(fam.admin, f"{fam.url}/permissions",
                   {"permissions": {"encouragement": enabled}}).status_code == 200
    assert notices() == []
    for code in ("encouragement", "task_config"):
        assert put(fam.admin, f"{fam.url}/permissions",
                   {"permissions": {code: True}}).status_code == 200
    assert notices() == [["task_config", "encouragement"]]
    [item] = [i for i in fam.patient.api.get("/notifications").get_json()["items"]
              if i["type"] == "PERMISSION_ENABLED"]
    assert item["read"] is False
    assert item["payload"]["permissions"] == ["task_config", "encouragement"]
    assert "Cấu hình nhiệm vụ, Gọi động viên" in item["text"]


def test_patient_turning_a_permission_on_tells_nobody(app, fam):
    assert put(fam.patient, f"{fam.url}/permissions",
               {"permissions": {"encouragement": False}}).status_code == 200
    before = outbox(app)
    assert put(fam.patient, f"{fam.url}/permissions",
               {"permissions": {"encouragement": True}}).status_code == 200
    assert outbox(app) == before


def test_br039_last_permission_is_refused_and_nothing_written(app, fam):
    five = dict.fromkeys(PERMISSION_CODES[1:], False)
    assert put(fam.admin, f"{fam.url}/permissions", {"permissions": five}).status_code == 200
    before = counts(app)
    refused(put(fam.admin, f"{fam.url}/permissions",
                {"permissions": {"health_overview": False}}), 409, "last_permission")
    assert counts(app) == before
    assert permissions(app, fam.cid) == {**ALL_OFF, "health_overview": True}


def test_br039_turning_off_all_at_once_is_refused(app, fam):
    before = counts(app)
    refused(put(fam.patient, f"{fam.url}/permissions", {"permissions": ALL_OFF}),
            409, "last_permission")
    assert counts(app) == before
    assert permissions(app, fam.cid) == ALL_ON


def test_unknown_permission(app, fam):
    before = counts(app)
    error = refused(put(fam.admin, f"{fam.url}/permissions",
                        {"permissions": {"see_everything": True}}), 422, "unknown_permission")
    assert "permissions" in error["fields"]
    assert counts(app) == before


@pytest.mark.parametrize("body", [
    {"permissions": {"health_overview": "no"}},      # not a bool
    {"permissions": {"health_overview": 0}},         # 0 is not false
    {"permissions": ["health_overview"]},            # not an object
    {"permissions": {"health_overview": False}, "revoked": True},  # unknown key
    {},                                              # missing
])
def test_permissions_malformed_body(app, fam, body):
    before = counts(app)
    refused(put(fam.admin, f"{fam.url}/permissions", body), 422, "invalid")
    assert counts(app) == before


def test_permissions_body_must_be_json(app, fam):
    refused(fam.admin.api.call("PUT", f"{fam.url}/permissions", data="health_overview=0",
                               content_type="application/x-www-form-urlencoded"),
            422, "invalid")


def test_caregiver_staff_and_strangers_cannot_change_permissions(app, fam):
    before = counts(app)
    off = {"permissions": {"health_overview": False}}
    refused(put(fam.caregiver, f"{fam.url}/permissions", off), 403, "no_control")
    refused(put(fam.staff, f"{fam.url}/permissions", off), 403, "no_control")
    hidden = refused(put(fam.outsider, f"{fam.url}/permissions", off), 404, "not_found")
    missing = refused(put(fam.outsider, f"/connections/{fam.cid + 999}/permissions", off),
                      404, "not_found")
    assert hidden == missing
    assert counts(app) == before
    assert permissions(app, fam.cid) == ALL_ON


# --- the silent disconnect and restore --------------------------------------------------


def test_br040_br056_admin_disconnects_silently(app, fam):
    before = outbox(app)
    response = put(fam.admin, f"{fam.url}/revoke")
    assert response.status_code == 200
    body = response.get_json()
    assert body["revoked"] is True
    assert body["permissions"] == ALL_OFF
    assert permissions(app, fam.cid) == ALL_OFF
    assert outbox(app) == before  # nobody is told
    # the caregiver sees the patient's name and no data, and nothing that says why
    [followed] = fam.caregiver.api.get("/connections").get_json()["following"]
    assert followed["patient"] == {"id": fam.patient.id, "name": "Ông Bình"}
    assert followed["permissions"] == ALL_OFF
    assert "revoked" not in followed
    # the patient and the admin do see it
    [follower] = fam.patient.api.get("/connections").get_json()["followers"]
    assert follower["revoked"] is True
    [item] = fam.admin.api.get(f"/families/{fam.group_id}/connections").get_json()["items"]
    assert item["revoked"] is True
    # membership unchanged
    assert fam.admin.api.get(f"/families/{fam.group_id}").get_json()["caregiverIds"] == [
        fam.caregiver.id]


def test_br040_restore_brings_back_the_permissions_as_they_were_silently(app, fam):
    narrowed = {**ALL_ON, "task_config": False, "proxy_execution": False}
    assert put(fam.admin, f"{fam.url}/permissions",
               {"permissions": {"task_config": False, "proxy_execution": False}}
               ).status_code == 200
    assert put(fam.admin, f"{fam.url}/revoke", {"reason": "Tạm dừng"}).status_code == 200
    before = outbox(app)
    response = put(fam.admin, f"{fam.url}/restore")
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == CONNECTION_KEYS
    assert body["revoked"] is False
    assert body["permissions"] == narrowed  # the four that were ON, not all six
    assert permissions(app, fam.cid) == narrowed
    assert outbox(app) == before  # nobody is told
    [followed] = fam.caregiver.api.get("/connections").get_json()["following"]
    assert followed["permissions"] == narrowed
    [*_, restored] = fam.admin.api.get(f"{fam.url}/history").get_json()["items"]
    assert restored["action"] == "connection.restored"
    assert restored["details"]["permissions"] == narrowed


def test_br040_disconnect_twice_and_restore_twice_change_nothing(app, fam):
    assert put(fam.admin, f"{fam.url}/revoke", {}).status_code == 200
    before = counts(app)
    assert put(fam.admin, f"{fam.url}/revoke").get_json()["revoked"] is True
    assert counts(app) == before
    assert put(fam.admin, f"{fam.url}/restore", {}).status_code == 200
    before = counts(app)
    assert put(fam.admin, f"{fam.url}/restore").get_json()["revoked"] is False
    assert counts(app) == before


def test_br040_toggling_a_disconnected_connection_is_refused(app, fam):
    assert put(fam.admin, f"{fam.url}/revoke").status_code == 200
    before = counts(app)
    for who in (fam.admin, fam.patient):
        refused(put(who, f"{fam.url}/permissions", {"permissions": {"encouragement": True}}),
                409, "connection_revoked")
    assert counts(app) == before
    assert permissions(app, fam.cid) == ALL_OFF


def test_dual_control_the_patient_toggles_disconnects_and_restores(app, fam):
    before = outbox(app)
    response = put(fam.patient, f"{fam.url}/permissions",
                   {"permissions": {"proxy_execution": False}})
    assert response.get_json()["permissions"] == {**ALL_ON, "proxy_execution": False}
    response = put(fam.patient, f"{fam.url}/revoke", {"reason": "Cần riêng tư"})
    assert response.status_code == 200
    assert response.get_json()["revoked"] is True
    assert permissions(app, fam.cid) == ALL_OFF
    response = put(fam.patient, f"{fam.url}/restore")
    assert response.get_json()["permissions"] == {**ALL_ON, "proxy_execution": False}
    assert outbox(app) == before


def test_caregiver_staff_and_strangers_cannot_disconnect_or_restore(app, fam):
    for action in ("revoke", "restore"):
        before = counts(app)
        refused(put(fam.caregiver, f"{fam.url}/{action}"), 403, "no_control")
        refused(put(fam.staff, f"{fam.url}/{action}"), 403, "no_control")
        refused(put(fam.outsider, f"{fam.url}/{action}"), 404, "not_found")
        refused(put(fam.admin, f"/connections/{fam.cid + 999}/{action}"), 404, "not_found")
        assert counts(app) == before


@pytest.mark.parametrize("body", [{"reason": "x" * 501}, {"reason": 5}, {"why": "x"}, []])
def test_disconnect_malformed_body(app, fam, body):
    before = counts(app)
    refused(put(fam.admin, f"{fam.url}/revoke", body), 422, "invalid")
    assert counts(app) == before
    assert permissions(app, fam.cid) == ALL_ON


def test_restore_takes_no_fields(app, fam):
    refused(put(fam.admin, f"{fam.url}/restore", {"reason": "x"}), 422, "invalid")


# --- the disconnect of a caregiver from every patient -----------------------------------


@pytest.fixture
def two_patients(app, fam):
    with app.app_context():
        group = db.session.get(FamilyGroup, fam.group_id)
        second = join(group, role="patient", name="Bà Hoa", gender=1)
        db.session.commit()
        fam.second_id = second.id
    fam.caregiver_url = f"/families/{fam.group_id}/caregivers/{fam.caregiver.id}"
    return fam


def test_br040_caregiver_revoke_disconnects_every_patient_silently(app, two_patients):
    fam = two_patients
    before = outbox(app)
    response = put(fam.admin, f"{fam.caregiver_url}/revoke", {"reason": "Đi xa"})
    assert response.status_code == 200
    items = response.get_json()["items"]
    assert {i["patient"]["id"] for i in items} == {fam.patient.id, fam.second_id}
    assert all(i["revoked"] is True and i["permissions"] == ALL_OFF for i in items)
    assert outbox(app) == before
    following = fam.caregiver.api.get("/connections").get_json()["following"]
    assert len(following) == 2
    assert all("revoked" not in c and c["permissions"] == ALL_OFF for c in following)
    response = put(fam.admin, f"{fam.caregiver_url}/restore")
    assert response.status_code == 200
    assert all(i["revoked"] is False and i["permissions"] == ALL_ON
               for i in response.get_json()["items"])
    assert outbox(app) == before


def test_caregiver_revoke_is_for_the_admin(app, two_patients):
    fam = two_patients
    before = counts(app)
    for action in ("revoke", "restore"):
        refused(put(fam.patient, f"{fam.caregiver_url}/{action}"), 403, "not_admin")
        refused(put(fam.staff, f"{fam.caregiver_url}/{action}"), 403, "not_admin")
        refused(put(fam.outsider, f"{fam.caregiver_url}/{action}"), 404, "not_found")
        refused(put(fam.admin, f"/families/{fam.group_id}/caregivers/{fam.patient.id}/"
                    f"{action}"), 404, "not_found")
    refused(put(fam.admin, f"{fam.caregiver_url}/revoke", {"reason": ["x"]}), 422, "invalid")
    refused(put(fam.admin, f"{fam.caregiver_url}/restore", {"x": 1}), 422, "invalid")
    assert counts(app) == before


# --- the relationship -------------------------------------------------------------------


def test_br030_br028_caregiver_says_daughter_and_the_inverse_is_father(app, fam):
    response = put(fam.caregiver, f"{fam.url}/relationship", {"relationship": "con_gai"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["relationship"] == "con_gai"
    assert body["inverseRelationship"] == "bo"
    assert "revoked" not in body
    [follower] = fam.patient.api.get("/connections").get_json()["followers"]
    assert (follower["relationship"], follower["inverseRelationship"]) == ("con_gai", "bo")


def test_br030_patient_says_father_and_the_inverse_is_daughter(app, fam):
    response = put(fam.patient, f"{fam.url}/relationship", {"relationship": "bo"})
    assert response.status_code == 200
    body = response.get_json()
    assert (body["relationship"], body["inverseRelationship"]) == ("con_gai", "bo")
    assert body["revoked"] is False


def test_br054_relationship_cleared_with_null(app, fam):
    assert put(fam.caregiver, f"{fam.url}/relationship",
               {"relationship": "con_gai"}).status_code == 200
    body = put(fam.caregiver, f"{fam.url}/relationship", {"relationship": None}).get_json()
    assert (body["relationship"], body["inverseRelationship"]) == (None, None)


def test_relationship_set_on_a_disconnected_connection_tells_nothing(app, fam):
    assert put(fam.admin, f"{fam.url}/revoke").status_code == 200
    response = put(fam.caregiver, f"{fam.url}/relationship", {"relationship": "con_gai"})
    assert response.status_code == 200
    assert "revoked" not in response.get_json()


def test_relationship_refusals(app, fam):
    before = counts(app)
    error = refused(put(fam.caregiver, f"{fam.url}/relationship", {"relationship": "sep"}),
                    422, "unknown_relationship")
    assert "relationship" in error["fields"]
    refused(put(fam.caregiver, f"{fam.url}/relationship", {"relationship": 3}), 422, "invalid")
    refused(put(fam.caregiver, f"{fam.url}/relationship", {}), 422, "invalid")
    refused(put(fam.admin, f"{fam.url}/relationship", {"relationship": "khac"}),
            403, "no_control")
    refused(put(fam.outsider, f"{fam.url}/relationship", {"relationship": "khac"}),
            404, "not_found")
    assert counts(app) == before


# --- the history ------------------------------------------------------------------------


def test_history_for_the_admin_and_the_patient(app, fam):
    assert put(fam.admin, f"{fam.url}/permissions",
               {"permissions": {"task_config": False}}).status_code == 200
    assert put(fam.admin, f"{fam.url}/revoke", {"reason": "Chỉ quản trị biết"}).status_code \
        == 200
    assert put(fam.admin, f"{fam.url}/restore").status_code == 200
    for who in (fam.admin, fam.patient):
        response = who.api.get(f"{fam.url}/history")
        assert response.status_code == 200
        items = response.get_json()["items"]
        actions = [i["action"] for i in items]
        assert actions[-3:] == ["connection.permission_changed", "connection.disconnected",
                                "connection.restored"]
        assert "connection.created" in actions
        assert "invite.created" in actions
        assert set(items[0]) == {"at", "actorId", "action", "subject", "details"}
        changed = items[-3]
        assert changed["actorId"] == fam.admin.id
        assert changed["details"]["permission"] == "task_config"
        assert changed["subject"] == {"type": "user_emergency_contacts", "id": fam.cid}
    admin_items = fam.admin.api.get(f"{fam.url}/history").get_json()["items"]
    assert admin_items[-2]["details"]["reason"] == "Chỉ quản trị biết"  # its author
    patient_items = fam.patient.api.get(f"{fam.url}/history").get_json()["items"]
    assert "reason" not in patient_items[-2]["details"]


def test_history_is_hidden_from_the_caregiver_staff_and_strangers(app, fam):
    hidden = refused(fam.caregiver.api.get(f"{fam.url}/history"), 404, "not_found")
    refused(fam.staff.api.get(f"{fam.url}/history"), 404, "not_found")
    refused(fam.outsider.api.get(f"{fam.url}/history"), 404, "not_found")
    missing = refused(fam.admin.api.get(f"/connections/{fam.cid + 999}/history"),
                      404, "not_found")
    assert hidden == missing


def test_history_of_an_ended_connection_tells_its_end(app, fam):
    response = fam.caregiver.api.delete(
        f"/users/{fam.caregiver.id}/families/{fam.group_id}?role=caregiver")
    assert response.status_code == 204
    for who in (fam.admin, fam.patient):
        items = who.api.get(f"{fam.url}/history").get_json()["items"]
        assert items[-1]["action"] == "connection.released"
        assert items[-1]["details"] == {"cause": "left"}
    refused(fam.caregiver.api.get(f"{fam.url}/history"), 404, "not_found")
    items = fam.admin.api.get(f"/families/{fam.group_id}/audit").get_json()["items"]
    assert any(i["action"] == "connection.released" and i["subject"]["id"] == fam.cid
               for i in items)


# --- the reason of a disconnect in the family's audit trail -----------------------------


def test_disconnect_reason_only_for_staff_and_its_author(app, fam):
    assert put(fam.patient, f"{fam.url}/revoke", {"reason": "Lý do riêng"}).status_code == 200
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(
            AuditEvent.action == "connection.disconnected"))
        assert event.details["reason"] == "Lý do riêng"

    def disconnected(who, path):
        items = who.api.get(path).get_json()["items"]
        return next(i for i in items if i["action"] == "connection.disconnected")

    audit = f"/families/{fam.group_id}/audit"
    assert "reason" not in disconnected(fam.admin, audit)["details"]
    assert "reason" not in disconnected(fam.admin, f"{fam.url}/history")["details"]
    assert disconnected(fam.staff, audit)["details"]["reason"] == "Lý do riêng"
    assert disconnected(fam.patient, f"{fam.url}/history")["details"]["reason"] \
        == "Lý do riêng"


# --- GET /families/{id}/connections -----------------------------------------------------


def test_family_connections_lists_current_connections_only(app, fam):
    with app.app_context():
        group = db.session.get(FamilyGroup, fam.group_id)
        second = join(group, role="caregiver", name="Minh")
        db.session.commit()
        second_id = second.id
    items = fam.admin.api.get(f"/families/{fam.group_id}/connections").get_json()["items"]
    assert {i["caregiver"]["id"] for i in items} == {fam.caregiver.id, second_id}
    assert fam.admin.api.delete(
        f"/users/{second_id}/families/{fam.group_id}?role=caregiver").status_code == 204
    items = fam.admin.api.get(f"/families/{fam.group_id}/connections").get_json()["items"]
    assert [i["caregiver"]["id"] for i in items] == [fam.caregiver.id]
    assert all(set(i) == CONNECTION_KEYS for i in items)


# --- who calls: bearer tokens and the browser session -----------------------------------


@pytest.fixture
def patient_session(app, fam, csrf):
    """A second test client logged in as the family's patient through the login page."""
    browser = app.test_client()
    response = browser.post("/account/login", data={
        "login": fam.patient.phone, "password": PASSWORD, "csrf_token": csrf(browser)})
    assert response.status_code == 303
    return browser


def test_session_calls_need_the_csrf_header_on_put(app, fam, csrf, patient_session):
    api = Api(patient_session)
    assert api.get("/connections").get_json()["followers"][0]["id"] == fam.cid
    before = counts(app)
    for headers in ({}, {"X-CSRFToken": "forged"}):
        refused(api.call("PUT", f"{fam.url}/revoke", headers=headers), 400, "csrf_failed")
        refused(api.call("PUT", f"{fam.url}/permissions",
                         json={"permissions": {"task_config": False}}, headers=headers),
                400, "csrf_failed")
    assert counts(app) == before
    token = {"X-CSRFToken": csrf(patient_session)}
    response = api.call("PUT", f"{fam.url}/permissions",
                        json={"permissions": {"task_config": False}}, headers=token)
    assert response.status_code == 200
    assert response.get_json()["permissions"]["task_config"] is False
    assert api.call("PUT", f"{fam.url}/revoke", headers=token).get_json()["revoked"] is True


def test_bearer_calls_need_no_csrf(app, fam, patient_session):
    # the session's client carries a logged-in cookie; a bearer token still speaks alone
    api = Api(patient_session, fam.admin.api.token)
    response = api.call("PUT", f"{fam.url}/permissions",
                        json={"permissions": {"encouragement": False}})
    assert response.status_code == 200
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(
            AuditEvent.action == "connection.permission_changed"))
        assert event.actor_id == fam.admin.id


def test_connections_need_a_user(app, client, fam):
    refused(Api(client).get("/connections"), 401, "unauthorized")
    refused(Api(client).call("PUT", f"{fam.url}/revoke"), 401, "unauthorized")
    assert permissions(app, fam.cid) == ALL_ON
