"""The My data reading (app/privacy/data.py): each section, the BR-056 rules for the
patient and the caregiver, no private reason, no other people's numbers, and a fixed
number of statements whatever the family's size."""

from __future__ import annotations

import json

import pytest

from app.extensions import db
from app.models.connections import PERMISSION_CODES
from app.privacy.data import PAGE, data_of
from app.privacy.export import data_export_for_staff
from tests.factories import make_connection, make_group, make_member, make_subscription, make_user
from tests.privacy.families import REASON, story


def everything(data) -> str:
    return json.dumps(data.as_json(), ensure_ascii=False)


def test_profile_memberships_and_the_admins_view(ctx):
    s = story()
    data = data_of(s.admin, locale="en")
    assert data.profile["name"] == "Quản Trị Viên"
    assert data.profile["phone"] == s.admin.phone
    assert data.profile["email"] == "admin@example.vn"
    assert data.profile["phoneProvedAt"] is not None
    assert data.profile["emailProvedAt"] is not None  # the factory proves it (issue 21)
    assert [(m["familyId"], m["role"]) for m in data.memberships] == [(s.group.id, "admin")]
    sent = data.invites_sent.items
    assert data.invites_sent.total == 1
    assert sent[0]["phone"] == s.invitee_phone  # they typed it
    assert sent[0]["role"] == "caregiver"
    assert sent[0]["status"] == "pending"
    actions = [e["action"] for e in data.events.items]
    assert "connection.disconnected" in actions  # what they did, without the reason
    assert REASON not in everything(data)


def test_the_patient_sees_a_disconnect_by_the_admin_without_the_reason(ctx):
    s = story()
    data = data_of(s.patient, locale="en")
    assert [(m["familyId"], m["role"]) for m in data.memberships] == [(s.group.id, "patient")]
    (c,) = data.connections
    assert c["as"] == "patient"
    assert c["other"] == {"id": s.caregiver.id,
                                                    "name": "Anh Lê Văn Hùng"}
    assert c["status"] == "disconnected"
    assert c["revoked"] is True
    assert c["disconnectedBy"] == "the family's admin"
    assert c["statusText"] == "Disconnected by the family's admin"
    assert c["permissions"] == dict.fromkeys(PERMISSION_CODES, False)
    actions = [h["action"] for h in c["history"]]
    assert actions[0] == "connection.disconnected"  # newest first
    assert "connection.permission_changed" in actions
    disconnect = c["history"][0]
    assert disconnect["who"] == "the family's admin"
    assert "Disconnected by the family's admin" in disconnect["what"]
    text = everything(data)
    assert REASON not in text
    assert "Quản Trị Viên" not in text  # a disconnect names a role, never the admin
    # Names of others, never their numbers or emails.
    assert s.caregiver.phone not in text
    assert "hung@example.vn" not in text
    assert s.admin.phone not in text
    assert "admin@example.vn" not in text
    assert data.notifications.total == 1
    assert data.notifications.items[0]["type"] == "PERMISSION_ENABLED"


def test_the_caregiver_learns_nothing_of_a_disconnect(ctx):
    s = story()
    data = data_of(s.caregiver, locale="en")
    (c,) = data.connections
    assert c["as"] == "caregiver"
    assert c["other"]["name"] == "Bà Lê Thị Mai"
    assert c["permissions"] == dict.fromkeys(PERMISSION_CODES, False)  # what they see
    assert c["status"] == "active"
    assert "revoked" not in c
    assert "disconnectedBy" not in c
    actions = {h["action"] for h in c["history"]}
    assert actions <= {"connection.created", "connection.permission_changed",
                       "connection.relationship_changed", "connection.released"}
    assert "connection.permission_changed" in actions
    assert c["historyTotal"] == len(c["history"])  # the count gives nothing away
    text = everything(data).lower()
    for word in ("disconnect", "restore", REASON.lower(), "quản trị viên",
                 "admin@example.vn", s.patient.phone, s.admin.phone, "mai@example.vn"):
        assert word.lower() not in text, word
    assert all(e["action"] not in ("connection.disconnected", "connection.restored")
               for e in data.events.items)


def test_the_vietnamese_reading(vi_ctx):
    s = story()
    data = data_of(s.patient, locale="vi")
    (c,) = data.connections
    assert c["disconnectedBy"] == "quản trị viên của gia đình"
    assert c["statusText"].startswith("Bị ngắt kết nối bởi")
    assert data.memberships[0]["roleName"] == "người bệnh"


def test_after_a_restore_the_patient_reads_connected_and_the_caregiver_no_restore(ctx):
    s = story(restored=True)
    (c,) = data_of(s.patient, locale="en").connections
    assert c["status"] == "active"
    assert c["revoked"] is False
    assert c["history"][0]["action"] == "connection.restored"
    (seen,) = data_of(s.caregiver, locale="en").connections
    assert seen["permissions"]["health_overview"] is True
    assert "restore" not in json.dumps(seen).lower()


def test_invites_received_by_number_and_account(ctx):
    s = story(disconnected=False)
    invitee = make_user(phone=s.invitee_phone, name="Người Được Mời")
    db.session.commit()
    data = data_of(invitee, locale="en")
    assert data.invites_received.total == 1
    (received,) = data.invites_received.items
    assert received["from"] == "Quản Trị Viên"
    assert "phone" not in received
    assert s.admin.phone not in everything(data)


def test_the_events_about_the_person_include_staff_downloads_without_the_reason(ctx):
    s = story(disconnected=False)
    staff = make_user(name="Nhân Viên Hỗ Trợ", is_staff=True)
    data_export_for_staff(actor=staff, user=s.patient, reason="Yêu cầu của bệnh nhân qua "
                                                              "tổng đài")
    db.session.commit()
    data = data_of(s.patient, locale="en")
    event = next(e for e in data.events.items if e["action"] == "staff.data_exported")
    assert event["who"] == "Family Connect staff"
    assert "tổng đài" not in everything(data)
    assert "Nhân Viên" not in everything(data)


def test_long_lists_show_the_newest_page_with_their_count(ctx):
    from app.notifications.services import notify_in_app

    user = make_user()
    for i in range(PAGE + 7):
        notify_in_app(user=user, notification_type="PERMISSION_ENABLED", group_id=None,
                      payload={"group_name": f"G{i}"})
    db.session.commit()
    data = data_of(user, locale="en")
    assert data.notifications.total == PAGE + 7
    assert len(data.notifications.items) == PAGE
    assert data.notifications.more == 7
    assert data.notifications.items[0]["id"] > data.notifications.items[-1]["id"]


# --- statements ------------------------------------------------------------------------------


def _family(patients: int, caregivers: int):
    admin = make_user(name=f"Admin {patients}")
    sub = make_subscription(admin, patients=patients, caregivers=caregivers)
    group = make_group(admin, subscription=sub)
    ps = [make_member(group, make_user(), role="patient").user_id for _ in range(patients)]
    cs = [make_member(group, make_user(), role="caregiver").user_id for _ in range(caregivers)]
    from app.models.accounts import User

    people = {u.id: u for u in db.session.query(User).filter(User.id.in_(ps + cs))}
    for p in ps:
        for c in cs:
            make_connection(people[p], people[c], group=group)
    db.session.commit()
    return admin, people[ps[0]], people[cs[0]]


@pytest.mark.parametrize("who", [0, 1, 2])
def test_statements_do_not_grow_with_the_family(ctx, count_queries, who):
    small, large = _family(2, 4), _family(10, 20)
    counts = {}
    for label, fam in (("small", small), ("large", large)):
        user = fam[who]
        data_of(user, locale="en")  # warm the lookups
        db.session.expire_all()
        with count_queries() as statements:
            data = data_of(user, locale="en")
        counts[label] = len(statements)
        assert data.profile["id"] == user.id
    assert counts["small"] == counts["large"], counts
    assert counts["large"] <= 12, counts
