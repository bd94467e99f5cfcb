"""/api/v1/staff: user search and a user's file (both audited), suspend and reactivate,
resend a failed notification, activation codes, the review queue; and GET /families?q=.
Every route refuses a signed-in non-staff user with 403 staff_only and writes nothing."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlalchemy import select, update

from app.api.serializers import iso
from app.extensions import db
from app.models.accounts import User
from app.models.billing import ActivationCode
from app.models.groups import FamilyGroup
from app.models.invites import ConnectionInvite
from app.models.notifications import InviteNotification
from app.models.staff import StaffReview
from app.staff.queue_count import review_queue_count
from app.transaction import committed
from tests.api import Api, count, family, invite, person, refused
from tests.factories import authenticator_code, make_group, make_user, national
from tests.service_helpers import audits, connection_between, join, row_counts

USER_KEYS = {"id", "name", "phone", "phoneVerified", "email", "emailVerified", "gender",
             "locale", "familyIds", "roles"}
FILE_KEYS = {"user", "signIn", "families", "connections", "invitesSent", "invitesReceived",
             "notifications", "groups", "people"}
OUTBOX_KEYS = {"id", "inviteId", "familyId", "type", "channel", "recipient",
               "recipientUserId", "status", "retryCount", "error", "sentAt", "deliveredAt",
               "nextAttemptAt", "createdAt", "updatedAt"}


def counts(app) -> dict[str, int]:
    with app.app_context():
        return {**row_counts(),
                "users_active": db.session.scalar(
                    select(db.func.count()).select_from(User).where(User.is_active.is_(True))),
                "reviews": db.session.scalar(select(db.func.count()).select_from(StaffReview))}


def fail(app, notification_id: int, error: str = "gateway said no") -> None:
    with app.app_context():
        db.session.execute(update(InviteNotification)
                           .where(InviteNotification.id == notification_id)
                           .values(status="failed", retry_count=5, error=error))
        db.session.commit()


@pytest.fixture
def world(app, client):
    """Staff; a family (admin, patient, caregiver joined through invites, so the
    connection and the outbox have rows); a pending invite to a bare phone whose SMS
    failed; an outsider."""
    staff = person(app, client, name="Nhân Viên", is_staff=True)
    admin = person(app, client, name="Trần Quản Trị", email="admin@example.vn")
    patient = person(app, client, name="Ông Bình", gender=0)
    caregiver = person(app, client, name="Chị Lan", gender=1)
    outsider = person(app, client, name="Người Ngoài")
    group_id = family(app, admin, name="Gia đình Trần")
    with app.app_context():
        group = db.session.get(FamilyGroup, group_id)
        join(group, db.session.get(User, patient.id), role="patient")
        join(group, db.session.get(User, caregiver.id), role="caregiver")
        db.session.commit()
        connection_id = connection_between(db.session.get(User, patient.id),
                                           db.session.get(User, caregiver.id)).id
    invite_id, _token = invite(app, admin, group_id, "0987000111")
    with app.app_context():
        sms_id = db.session.scalar(select(InviteNotification.id).where(
            InviteNotification.invite_id == invite_id,
            InviteNotification.notification_type == "INVITE_CREATED"))
    fail(app, sms_id)
    return SimpleNamespace(staff=staff, admin=admin, patient=patient, caregiver=caregiver,
                           outsider=outsider, group_id=group_id, connection_id=connection_id,
                           invite_id=invite_id, sms_id=sms_id)


# --- who may call ---------------------------------------------------------------------------

ROUTES = [
    ("GET", "/staff/users?q=0912", None),
    ("GET", "/staff/users/{patient}", None),
    ("POST", "/staff/users/{patient}/suspend", {"reason": "fraud report"}),
    ("POST", "/staff/users/{patient}/reactivate", {"reason": "cleared"}),
    ("POST", "/staff/notifications/{sms}/resend", {"reason": "gateway back"}),
    ("POST", "/staff/codes", {"plan": "family", "days": 30, "count": 1, "reason": "promo"}),
    ("GET", "/staff/queue", None),
    ("POST", "/staff/queue/invited_phone/+84987000111/review", {"note": "fine"}),
]


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_staff_routes_refuse_a_member_with_staff_only_and_write_nothing(
        app, world, method, path, body):
    url = path.format(patient=world.patient.id, sms=world.sms_id)
    before = counts(app)
    for who in (world.admin, world.patient, world.caregiver, world.outsider):
        error = refused(who.api.call(method, url, json=body), 403, "staff_only")
        assert world.patient.phone not in str(error)
    assert counts(app) == before


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_staff_routes_answer_401_without_a_user(app, client, world, method, path, body):
    url = path.format(patient=world.patient.id, sms=world.sms_id)
    before = counts(app)
    response = Api(client).call(method, url, json=body)
    refused(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert counts(app) == before


def test_staff_session_writes_need_the_csrf_header(app, world, login, csrf):
    browser = login(world.staff)
    api = Api(browser)
    url = f"/staff/users/{world.patient.id}/suspend"
    before = counts(app)
    for headers in ({}, {"X-CSRFToken": "forged"}):
        refused(api.post(url, json={"reason": "x"}, headers=headers), 400, "csrf_failed")
    assert counts(app) == before
    with app.app_context():
        code = authenticator_code(world.staff.id)
    response = api.post(url, json={"reason": "fraud report", "totp": code},
                        headers={"X-CSRFToken": csrf(browser)})
    assert response.status_code == 200
    assert api.get("/staff/users?q=" + world.patient.phone).status_code == 200


def test_a_session_member_gets_staff_only_too(app, world, login, csrf):
    browser = login(world.admin)
    before = counts(app)
    refused(Api(browser).get(f"/staff/users/{world.patient.id}"), 403, "staff_only")
    refused(Api(browser).post(f"/staff/users/{world.patient.id}/suspend",
                              json={"reason": "x"}, headers={"X-CSRFToken": csrf(browser)}),
            403, "staff_only")
    assert counts(app) == before


# --- search -------------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["{national}", "{spaced}", "+84 {rest}", "84{rest}",
                                   "0084{rest}", "{rest}", "({head}) {tail}"])
def test_search_finds_a_phone_however_typed(app, world, typed):
    n = national(world.patient.phone)  # 0912345678
    q = typed.format(national=n, spaced=f"{n[:4]} {n[4:7]} {n[7:]}", rest=n[1:],
                     head=n[:4], tail=n[4:])
    response = world.staff.api.get("/staff/users", query_string={"q": q})
    assert response.status_code == 200
    [found] = response.get_json()["items"]
    assert set(found) == USER_KEYS
    assert found["id"] == world.patient.id
    assert found["phone"] == world.patient.phone  # staff see phones
    assert found["roles"] == [{"familyId": world.group_id, "role": "patient"}]


def test_search_by_email_and_its_start_and_by_a_phone_prefix(app, world):
    staff = world.staff.api
    for q in ("ADMIN@example.vn", "admin@exa"):
        [found] = staff.get("/staff/users", query_string={"q": q}).get_json()["items"]
        assert found["id"] == world.admin.id
        assert found["email"] == "admin@example.vn"
        assert {"familyId": world.group_id, "role": "admin"} in found["roles"]
    prefix = national(world.patient.phone)[:6]
    items = staff.get("/staff/users", query_string={"q": prefix}).get_json()["items"]
    assert world.patient.id in [u["id"] for u in items]
    assert [u["phone"] for u in items] == sorted(u["phone"] for u in items)


def test_search_is_audited_with_its_text_and_count(app, world):
    before = counts(app)
    world.staff.api.get("/staff/users", query_string={"q": world.caregiver.phone})
    [event] = audits(app, "staff.searched")
    assert event.actor_id == world.staff.id
    assert event.details == {"what": "users", "q": world.caregiver.phone, "found": 1}
    assert counts(app)["audit"] == before["audit"] + 1


def test_search_for_nothing_searchable_answers_empty(app, world):
    response = world.staff.api.get("/staff/users", query_string={"q": "Bình"})
    assert response.status_code == 200
    assert response.get_json() == {"items": []}
    response = world.staff.api.get("/staff/users", query_string={"q": "0999999999"})
    assert response.get_json() == {"items": []}


@pytest.mark.parametrize("query", [None, "", "   ", "0" * 255])
def test_search_needs_a_query(app, world, query):
    before = counts(app)
    query_string = {} if query is None else {"q": query}
    error = refused(world.staff.api.get("/staff/users", query_string=query_string),
                    422, "invalid")
    assert "q" in error["fields"]
    assert counts(app) == before


# --- a user's file ---------------------------------------------------------------------------

WHY = {"reason": "support"}  # a staff member opens a file with a reason (issue 21)


def test_user_file_of_a_patient(app, world):
    response = world.staff.api.get(f"/staff/users/{world.patient.id}", query_string=WHY)
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == FILE_KEYS
    assert body["user"]["id"] == world.patient.id
    assert body["user"]["phone"] == world.patient.phone
    assert body["signIn"] == {"active": True, "lastLoginAt": None, "tokensLive": 1,
                              "failed24h": 0, "lastFailedAt": None}
    assert body["families"] == [{"id": world.group_id, "name": "Gia đình Trần",
                                 "status": "active", "adminId": world.admin.id,
                                 "role": "patient"}]
    [connection] = body["connections"]
    assert connection["id"] == world.connection_id
    assert connection["caregiver"] == {"id": world.caregiver.id, "name": "Chị Lan"}
    assert connection["revoked"] is False  # staff see the silent disconnect state
    assert all(connection["permissions"].values())
    assert body["invitesSent"] == []
    [received] = body["invitesReceived"]
    assert received["status"] == "accepted"
    assert received["senderId"] == world.admin.id
    assert received["receiverId"] == world.patient.id
    assert body["notifications"]
    assert all(set(n) == OUTBOX_KEYS for n in body["notifications"])
    assert {p["id"] for p in body["people"]} == {world.admin.id, world.caregiver.id}
    assert body["groups"] == [{"id": world.group_id, "name": "Gia đình Trần",
                               "status": "active", "adminId": world.admin.id}]


def test_user_file_of_an_admin_lists_sent_invites_with_the_failed_sms(app, world):
    body = world.staff.api.get(f"/staff/users/{world.admin.id}", query_string=WHY).get_json()
    assert {"id": world.group_id, "name": "Gia đình Trần", "status": "active",
            "adminId": world.admin.id, "role": "admin"} in body["families"]
    assert world.invite_id in [i["id"] for i in body["invitesSent"]]
    assert len(body["invitesSent"]) == 3


def test_user_file_shows_the_failed_notification_to_a_bare_phone(app, world):
    with app.app_context():
        newcomer = make_user(phone="+84987000111", name="Người Mới")
        db.session.commit()
        newcomer_id = newcomer.id
    body = world.staff.api.get(f"/staff/users/{newcomer_id}", query_string=WHY).get_json()
    [sms] = [n for n in body["notifications"] if n["id"] == world.sms_id]
    assert sms["status"] == "failed"
    assert sms["error"] == "gateway said no"
    assert sms["channel"] == "sms"
    assert [i["id"] for i in body["invitesReceived"]] == [world.invite_id]


def test_user_file_is_audited_with_its_reason(app, world):
    before = counts(app)
    world.staff.api.get(f"/staff/users/{world.caregiver.id}",
                        query_string={"reason": "other", "reasonText": "  bà   gọi tổng đài "})
    [reason] = audits(app, "staff.access_reason")
    assert (reason.actor_id, reason.subject_type, reason.subject_id) == (
        world.staff.id, "users", world.caregiver.id)
    assert reason.details == {"opened": "file", "reason_code": "other",
                              "reason": "bà gọi tổng đài"}
    [event] = audits(app, "staff.user_viewed")
    assert (event.actor_id, event.subject_type, event.subject_id) == (
        world.staff.id, "users", world.caregiver.id)
    assert event.details == {"view": "file", "reason_code": "other", "grant": reason.id}
    assert counts(app)["audit"] == before["audit"] + 2


@pytest.mark.parametrize(("query", "code", "field"), [
    ({}, "reason_required", "reason"),
    ({"reason": "curious"}, "reason_required", "reason"),
    ({"reason": "other"}, "reason_required", "reasonText"),
    ({"reason": "other", "reasonText": "   "}, "reason_required", "reasonText"),
    ({"reason": "support", "reasonText": "x" * 501}, "reason_too_long", "reasonText"),
])
def test_user_file_without_a_reason_is_a_422_and_shows_nothing(app, world, query, code,
                                                                field):
    before = counts(app)
    response = world.staff.api.get(f"/staff/users/{world.patient.id}", query_string=query)
    error = refused(response, 422, code)
    assert field in error["fields"]
    assert world.patient.phone not in response.get_data(as_text=True)
    assert counts(app) == before


def test_a_missing_reason_is_refused_in_vietnamese(app, world):
    response = world.staff.api.get(f"/staff/users/{world.patient.id}",
                                   headers={"Accept-Language": "vi"})
    error = refused(response, 422, "reason_required")
    assert "lý do" in error["message"].lower()


def test_user_file_reads_a_fixed_number_of_statements(app, world, count_queries):
    path = f"/staff/users/{world.caregiver.id}"
    world.staff.api.get("/me")  # the token's last_used_at is written once a minute
    with count_queries() as few:
        assert world.staff.api.get(path, query_string=WHY).status_code == 200
    with app.app_context():
        group = db.session.get(FamilyGroup, world.group_id)
        caregiver = db.session.get(User, world.caregiver.id)
        other_admin = make_user()
        other = make_group(other_admin)
        join(other, caregiver, role="patient")
        join(group, role="patient")
        db.session.commit()
    with count_queries() as more:
        assert world.staff.api.get(path, query_string=WHY).status_code == 200
    body = world.staff.api.get(path, query_string=WHY).get_json()
    assert len(body["connections"]) == 2
    assert len(more) == len(few)


def test_user_file_of_nobody_is_404(app, world):
    before = counts(app)
    refused(world.staff.api.get("/staff/users/999999"), 404, "not_found")
    assert counts(app) == before


# --- suspend and reactivate -------------------------------------------------------------


def test_suspend_then_reactivate(app, world):
    staff = world.staff.api
    response = staff.post(f"/staff/users/{world.patient.id}/suspend",
                          json={"reason": "  reported   stolen phone "})
    assert response.status_code == 200
    assert response.get_json()["id"] == world.patient.id
    assert set(response.get_json()) == USER_KEYS
    [event] = audits(app, "staff.account_suspended")
    assert event.actor_id == world.staff.id
    assert event.details == {"reason": "reported stolen phone"}
    # their API token stopped working
    refused(world.patient.api.get("/me"), 401, "unauthorized")
    file = staff.get(f"/staff/users/{world.patient.id}", query_string=WHY).get_json()
    assert file["signIn"]["active"] is False
    assert file["signIn"]["tokensLive"] == 0
    refused(staff.post(f"/staff/users/{world.patient.id}/suspend", json={"reason": "again"}),
            409, "already_suspended")
    response = staff.post(f"/staff/users/{world.patient.id}/reactivate",
                          json={"reason": "owner confirmed"})
    assert response.status_code == 200
    [event] = audits(app, "staff.account_reactivated")
    assert event.details == {"reason": "owner confirmed"}
    with app.app_context():
        assert db.session.get(User, world.patient.id).is_active is True
    refused(staff.post(f"/staff/users/{world.patient.id}/reactivate", json={"reason": "x"}),
            409, "not_suspended")


@pytest.mark.parametrize("action", ["suspend", "reactivate"])
@pytest.mark.parametrize("body", [None, {}, {"reason": None}, {"reason": "   "}])
def test_suspend_and_reactivate_need_a_reason(app, world, action, body):
    if action == "reactivate":
        world.staff.api.post(f"/staff/users/{world.patient.id}/suspend", json={"reason": "x"})
    before = counts(app)
    error = refused(world.staff.api.post(f"/staff/users/{world.patient.id}/{action}",
                                         json=body), 422, "reason_required")
    assert "reason" in error["fields"]
    assert counts(app) == before


@pytest.mark.parametrize("body", [{"reason": "x", "until": "tomorrow"}, {"reason": 5}, [1],
                                  "not json"])
def test_suspend_refuses_a_malformed_body(app, world, body):
    before = counts(app)
    kwargs = {"data": body, "headers": {"Content-Type": "application/json"}} if isinstance(
        body, str) else {"json": body}
    refused(world.staff.api.post(f"/staff/users/{world.patient.id}/suspend", **kwargs),
            422, "invalid")
    assert counts(app) == before


def test_suspend_refusals(app, world):
    before = counts(app)
    refused(world.staff.api.post("/staff/users/999999/suspend", json={"reason": "x"}),
            404, "not_found")
    refused(world.staff.api.post(f"/staff/users/{world.staff.id}/suspend",
                                 json={"reason": "x"}), 403, "forbidden")
    refused(world.staff.api.post(f"/staff/users/{world.patient.id}/suspend",
                                 json={"reason": "x" * 501}), 422, "reason_too_long")
    assert counts(app) == before


# --- resend a failed notification --------------------------------------------------------


def test_resend_a_failed_notification(app, world):
    response = world.staff.api.post(f"/staff/notifications/{world.sms_id}/resend",
                                    json={"reason": "gateway is back"})
    assert response.status_code == 200
    row = response.get_json()["notification"]
    assert set(row) == OUTBOX_KEYS
    assert (row["id"], row["status"], row["retryCount"]) == (world.sms_id, "pending", 0)
    [event] = audits(app, "staff.notification_resent")
    assert event.actor_id == world.staff.id
    assert event.details["reason"] == "gateway is back"
    assert event.details["retry_count"] == 5


def test_resend_refusals(app, world):
    staff = world.staff.api
    url = f"/staff/notifications/{world.sms_id}/resend"
    before = counts(app)
    refused(staff.post("/staff/notifications/999999/resend", json={"reason": "x"}),
            404, "not_found")
    refused(staff.post(url, json={}), 422, "reason_required")
    refused(staff.post(url, json={"reason": "x", "force": True}), 422, "invalid")
    with app.app_context():
        delivered = db.session.scalar(select(InviteNotification.id).where(
            InviteNotification.status != "failed"))
    refused(staff.post(f"/staff/notifications/{delivered}/resend", json={"reason": "x"}),
            409, "not_failed")
    with app.app_context():
        db.session.get(ConnectionInvite, world.invite_id).status = "cancelled"
        db.session.commit()
    refused(staff.post(url, json={"reason": "x"}), 409, "invite_not_pending")
    assert counts(app) == before


# --- activation codes ---------------------------------------------------------------------


def test_issue_codes(app, world):
    response = world.staff.api.post("/staff/codes", json={
        "plan": "family", "days": 30, "count": 3, "reason": "partner clinic"})
    assert response.status_code == 201
    body = response.get_json()
    assert (body["plan"], body["days"]) == ("family", 30)
    assert len(set(body["codes"])) == 3
    assert count(app, ActivationCode) == 3
    [event] = audits(app, "billing.codes_issued")
    assert event.actor_id == world.staff.id
    assert event.details == {"plan": "family", "days": 30, "count": 3,
                             "reason": "partner clinic"}
    # one code by default; the clear codes are never stored
    response = world.staff.api.post("/staff/codes", json={
        "plan": "family", "days": 30, "reason": "one more"})
    [code] = response.get_json()["codes"]
    with app.app_context():
        assert db.session.scalar(select(ActivationCode).where(
            ActivationCode.code_hash == code)) is None


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"plan": "family", "days": 30, "count": 1}, 422, "reason_required"),
    ({"plan": "family", "days": 30, "count": 1, "reason": " "}, 422, "reason_required"),
    ({"plan": "gold", "days": 30, "count": 1, "reason": "x"}, 422, "unknown_plan"),
    ({"plan": "family", "days": 0, "count": 1, "reason": "x"}, 422, "invalid"),
    ({"plan": "family", "days": 30, "count": 0, "reason": "x"}, 422, "invalid"),
    ({"plan": "family", "days": "30", "count": 1, "reason": "x"}, 422, "invalid"),
    ({"plan": "family", "days": 30.5, "count": 1, "reason": "x"}, 422, "invalid"),
    ({"plan": "family", "days": True, "count": 1, "reason": "x"}, 422, "invalid"),
    ({"days": 30, "count": 1, "reason": "x"}, 422, "invalid"),
    ({"plan": "family", "days": 30, "reason": "x", "price": 1}, 422, "invalid"),
])
def test_issue_codes_refusals(app, world, body, status, code):
    before = counts(app)
    refused(world.staff.api.post("/staff/codes", json=body), status, code)
    assert counts(app) == before


# --- GET /families?q= (staff) ---------------------------------------------------------------


@pytest.fixture
def groups(app, world):
    """Three more groups: an inactive one of a known admin, two named Nguyễn."""
    with app.app_context():
        lonely = make_user(phone="+84912000999", name="Admin Cô Đơn")
        ids = {"lonely": make_group(lonely, name="Nhà Lê", status="inactive").id,
               "nguyen1": make_group(name="Gia đình Nguyễn Văn").id,
               "nguyen2": make_group(name="Họ NGUYỄN").id}
        db.session.commit()
    return ids


def family_ids(world, query: str) -> list[int]:
    response = world.staff.api.get("/families?" + query)
    assert response.status_code == 200, response.get_json()
    return [f["id"] for f in response.get_json()["items"]]


def test_families_by_admin_phone_however_typed(app, world, groups):
    assert family_ids(world, "q=0912%20000%20999") == [groups["lonely"]]
    assert family_ids(world, "q=%2B84912000999&status=inactive") == [groups["lonely"]]
    assert family_ids(world, "q=0912000999&status=active") == []


def test_families_by_part_of_the_name_newest_first(app, world, groups):
    assert family_ids(world, "q=nguy%E1%BB%85n") == [groups["nguyen1"]]
    assert family_ids(world, "q=NGUY") == [groups["nguyen2"], groups["nguyen1"]]
    first = world.staff.api.get("/families?q=nguy&limit=1").get_json()
    assert [f["id"] for f in first["items"]] == [groups["nguyen2"]]
    rest = family_ids(world, f"q=nguy&limit=1&cursor={first['nextCursor']}")
    assert rest == [groups["nguyen1"]]


def test_families_search_is_audited_and_a_plain_list_is_not(app, world, groups):
    family_ids(world, "status=active")
    assert audits(app, "staff.searched") == []
    family_ids(world, "q=Tr%E1%BA%A7n")
    [event] = audits(app, "staff.searched")
    assert event.details == {"what": "groups", "q": "Trần", "found": 1}


def test_families_search_refusals(app, world, groups):
    before = counts(app)
    refused(world.admin.api.get("/families?q=Nguy"), 403, "forbidden")
    refused(world.staff.api.get("/families?q=" + "x" * 255), 422, "invalid")
    assert counts(app) == before



# --- the review queue ----------------------------------------------------------------------

FLAGGED = "+84987000111"


@pytest.fixture
def flagged(app, client, world):
    """The world's bare phone invited into two more families: three in the window, the
    phone_many_groups threshold."""
    for n in range(2):
        other = person(app, client, name=f"Quản Trị {n}")
        invite(app, other, family(app, other), national(FLAGGED))
    return f"/staff/queue/phone_many_groups/{FLAGGED}/review"


def test_queue_lists_a_flagged_item(app, world, flagged):
    response = world.staff.api.get("/staff/queue")
    assert response.status_code == 200
    body = response.get_json()
    [item] = [i for i in body["items"] if i["signal"] == "phone_many_groups"]
    assert set(item) == {"signal", "key", "level", "title"}
    assert (item["key"], item["level"]) == (FLAGGED, 3)
    assert "3" in item["title"]
    assert body["reviewed"] == []


def test_queue_says_when_it_was_counted(app, world, flagged):
    assert world.staff.api.get("/staff/queue").get_json()["countedAt"] is None  # counted now
    with app.app_context(), committed():
        counted_at = review_queue_count().counted_at
    body = world.staff.api.get("/staff/queue").get_json()
    assert body["countedAt"] == iso(counted_at)
    assert [i["key"] for i in body["items"] if i["signal"] == "phone_many_groups"] == [FLAGGED]


def test_review_a_flagged_item(app, world, flagged):
    response = world.staff.api.post(flagged, json={"note": "  a clinic inviting  "})
    assert response.status_code == 201
    review = response.get_json()["review"]
    assert (review["signal"], review["key"], review["level"]) == (
        "phone_many_groups", FLAGGED, 3)
    assert (review["note"], review["reviewedBy"]) == ("a clinic inviting", world.staff.id)
    [event] = audits(app, "staff.signal_reviewed")
    assert event.actor_id == world.staff.id
    assert event.details["note"] == "a clinic inviting"
    body = world.staff.api.get("/staff/queue").get_json()
    assert FLAGGED not in [i["key"] for i in body["items"]]
    [done] = body["reviewed"]
    assert (done["signal"], done["key"], done["level"], done["levelNow"]) == (
        "phone_many_groups", FLAGGED, 3, 3)
    assert (done["note"], done["reviewer"]) == ("a clinic inviting", "Nhân Viên")
    assert done["reviewedAt"].endswith("Z")


@pytest.mark.parametrize(("path", "body", "status", "code"), [
    ("phone_many_groups/{phone}", None, 422, "reason_required"),
    ("phone_many_groups/{phone}", {"note": " "}, 422, "reason_required"),
    ("phone_many_groups/{phone}", {"note": "x", "level": 3}, 422, "invalid"),
    ("phone_many_groups/{phone}", {"note": "x" * 501}, 422, "reason_too_long"),
    ("no_such_signal/{phone}", {"note": "x"}, 404, "unknown_signal"),
    ("phone_many_groups/+84912000000", {"note": "x"}, 409, "not_flagged"),
    ("caregiver_many_patients/not-an-id", {"note": "x"}, 409, "not_flagged"),
])
def test_review_refusals(app, world, flagged, path, body, status, code):
    before = counts(app)
    url = "/staff/queue/" + path.format(phone=FLAGGED) + "/review"
    refused(world.staff.api.post(url, json=body), status, code)
    assert counts(app) == before
