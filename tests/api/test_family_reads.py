"""Reads around a family: the staff list, connections, audit trail, invites."""

from __future__ import annotations

import pytest

from app.extensions import db
from app.models.accounts import User
from app.models.audit import AuditEvent
from app.models.connections import PERMISSION_CODES, Connection
from app.models.groups import FamilyGroup
from tests.api import count, expire_invite, family, invite, person, refused
from tests.factories import make_connection, make_member, make_user

# --- the staff list ---------------------------------------------------------------------


def test_only_staff_list_families(app, client):
    admin = person(app, client)
    family(app, admin)
    refused(admin.api.get("/families"), 403, "forbidden")


def test_staff_list_pages_with_an_opaque_cursor(app, client):
    staff = person(app, client, is_staff=True)
    ids = [family(app, person(app, client), members=[(person(app, client), "patient")])
           for _ in range(5)]
    with app.app_context():
        db.session.get(FamilyGroup, ids[1]).status = "dissolved"
        db.session.commit()
    first = staff.api.get("/families?limit=2").get_json()
    assert [f["id"] for f in first["items"]] == [ids[4], ids[3]]
    assert len(first["items"][0]["patientIds"]) == 1
    assert isinstance(first["nextCursor"], str)
    assert str(ids[3]) not in first["nextCursor"]
    second = staff.api.get(f"/families?limit=2&cursor={first['nextCursor']}").get_json()
    assert [f["id"] for f in second["items"]] == [ids[2], ids[1]]
    third = staff.api.get(f"/families?limit=2&cursor={second['nextCursor']}").get_json()
    assert [f["id"] for f in third["items"]] == [ids[0]]
    assert third["nextCursor"] is None
    active = staff.api.get("/families?status=active").get_json()
    assert [f["id"] for f in active["items"]] == [ids[4], ids[3], ids[2], ids[0]]
    dissolved = staff.api.get("/families?status=dissolved").get_json()
    assert [f["id"] for f in dissolved["items"]] == [ids[1]]


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=x", "status=gone",
                                   "cursor=bm9wZQ", "cursor=%%%"])
def test_staff_list_refuses_bad_arguments(app, client, query):
    staff = person(app, client, is_staff=True)
    refused(staff.api.get(f"/families?{query}"), 422, "invalid")


# --- connections ------------------------------------------------------------------------


def connected_family(app, client, patients: int, caregivers: int):
    """A family whose every patient is connected to every caregiver."""
    admin = person(app, client)
    with app.app_context():
        p_ids = [make_user(name=f"Bệnh nhân {i}").id for i in range(patients)]
        c_ids = [make_user(name=f"Người thân {i}", gender=1).id for i in range(caregivers)]
        db.session.commit()
    group_id = family(app, admin, members=[(i, "patient") for i in p_ids]
                      + [(i, "caregiver") for i in c_ids], patients=10, caregivers=10)
    with app.app_context():
        group = db.session.get(FamilyGroup, group_id)
        for p in p_ids:
            for c in c_ids:
                make_connection(db.session.get(User, p), db.session.get(User, c), group=group)
        db.session.commit()
    return admin, group_id, p_ids, c_ids


def test_admin_reads_connections(app, client):
    admin, group_id, [p], [c] = connected_family(app, client, 1, 1)
    with app.app_context():
        connection = db.session.scalar(db.select(Connection))
        connection.relationship_code, connection.inverse_relationship_code = "con_gai", "bo"
        connection.permissions[1].is_enabled = False
        db.session.commit()
    [item] = admin.api.get(f"/families/{group_id}/connections").get_json()["items"]
    assert item["familyId"] == group_id
    assert item["patient"] == {"id": p, "name": "Bệnh nhân 0"}
    assert item["caregiver"] == {"id": c, "name": "Người thân 0"}
    assert item["relationship"] == "con_gai"
    assert item["inverseRelationship"] == "bo"
    assert item["revoked"] is False
    assert set(item["permissions"]) == set(PERMISSION_CODES)
    assert item["permissions"]["emergency_alert"] is False
    assert sum(item["permissions"].values()) == 5


def test_connections_for_admin_and_staff_only(app, client):
    _admin, group_id, _p, _c = connected_family(app, client, 1, 1)
    member, outsider = person(app, client), person(app, client)
    staff = person(app, client, is_staff=True)
    with app.app_context():
        make_member(db.session.get(FamilyGroup, group_id), db.session.get(User, member.id),
                    role="patient")
        db.session.commit()
    refused(member.api.get(f"/families/{group_id}/connections"), 403, "forbidden")
    refused(outsider.api.get(f"/families/{group_id}/connections"), 404, "not_found")
    assert count(app, AuditEvent, AuditEvent.action == "staff.group_viewed") == 0
    assert len(staff.api.get(f"/families/{group_id}/connections").get_json()["items"]) == 1
    assert count(app, AuditEvent, AuditEvent.action == "staff.group_viewed",
                 AuditEvent.actor_id == staff.id, AuditEvent.family_group_id == group_id) == 1


def test_connections_cost_the_same_for_2_or_20(app, client, count_queries):
    sizes = {}
    for patients, caregivers in ((1, 2), (4, 5)):
        admin, group_id, _p, _c = connected_family(app, client, patients, caregivers)
        assert admin.api.get(f"/families/{group_id}/connections").status_code == 200
        with count_queries() as statements:
            items = admin.api.get(f"/families/{group_id}/connections").get_json()["items"]
        assert len(items) == patients * caregivers
        sizes[len(items)] = len(statements)
    assert sizes[2] == sizes[20], sizes


# --- audit ------------------------------------------------------------------------------


def test_audit_newest_first_for_admin_and_staff(app, client):
    admin, patient, outsider = (person(app, client) for _ in range(3))
    staff = person(app, client, is_staff=True)
    group_id = family(app, admin, members=[(patient, "patient")])
    invite(app, admin, group_id, "0987000001")
    assert admin.api.patch(f"/families/{group_id}", json={"name": "Nhà mới"}).status_code == 200
    items = admin.api.get(f"/families/{group_id}/audit").get_json()["items"]
    assert [i["action"] for i in items] == ["group.renamed", "invite.created"]
    renamed = items[0]
    assert renamed["actorId"] == admin.id
    assert renamed["subject"] == {"type": "family_groups", "id": group_id}
    assert renamed["details"] == {"from": "Gia đình Test", "to": "Nhà mới"}
    assert renamed["at"].endswith("Z")
    assert len(admin.api.get(f"/families/{group_id}/audit?limit=1").get_json()["items"]) == 1
    refused(admin.api.get(f"/families/{group_id}/audit?limit=0"), 422, "invalid")
    refused(patient.api.get(f"/families/{group_id}/audit"), 403, "forbidden")
    refused(outsider.api.get(f"/families/{group_id}/audit"), 404, "not_found")
    staff_items = staff.api.get(f"/families/{group_id}/audit").get_json()["items"]
    assert [i["action"] for i in staff_items] == ["group.renamed", "invite.created"]
    # the look itself is on the record for the next reader
    assert admin.api.get(f"/families/{group_id}/audit").get_json()["items"][0]["action"] \
        == "staff.group_viewed"


# --- invites ----------------------------------------------------------------------------


def test_invites_list_by_status(app, client):
    admin, patient, outsider = (person(app, client) for _ in range(3))
    staff = person(app, client, is_staff=True)
    group_id = family(app, admin, members=[(patient, "patient")])
    first, _t = invite(app, admin, group_id, "0987000001")
    second, _t = invite(app, admin, group_id, "0987000002", "patient")
    third, _t = invite(app, admin, group_id, "0987000003")
    expire_invite(app, first)
    assert admin.api.delete(f"/invites/{third}").status_code == 204

    def ids(query=""):
        response = admin.api.get(f"/families/{group_id}/invites{query}")
        return [(i["id"], i["status"]) for i in response.get_json()["items"]]

    assert ids() == [(third, "cancelled"), (second, "pending"), (first, "expired")]
    assert ids("?status=pending") == [(second, "pending")]
    assert ids("?status=expired") == [(first, "expired")]
    assert ids("?status=cancelled") == [(third, "cancelled")]
    refused(admin.api.get(f"/families/{group_id}/invites?status=nope"), 422, "invalid")
    refused(patient.api.get(f"/families/{group_id}/invites"), 403, "forbidden")
    refused(outsider.api.get(f"/families/{group_id}/invites"), 404, "not_found")
    assert len(staff.api.get(f"/families/{group_id}/invites").get_json()["items"]) == 3
