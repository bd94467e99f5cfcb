"""The staff pages: user search, a user's file, the group list and a group's review, the
audit trail as CSV. Each shows staff the data they need, and each look is itself audited
(who looked at whose data, when)."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select, update

from app.audit.services import audit_record
from app.connections.control import connection_revoke
from app.cursors import encode_cursor
from app.db import utcnow
from app.extensions import db
from app.models.accounts import User
from app.models.audit import AuditEvent
from app.models.groups import FamilyGroup
from app.models.invites import ConnectionInvite
from app.models.notifications import InviteNotification
from app.payments.provider import PaymentUnavailable
from app.staff.queries import GROUP_PAGE
from tests.conftest import person_of
from tests.factories import PASSWORD, make_group, make_member, make_subscription, make_user
from tests.pages import errors, export_csv, give_reason, text
from tests.service_helpers import admin_group, audits, connection_between, invite, join

# --- helpers ----------------------------------------------------------------------------


def family(app) -> SimpleNamespace:
    """An admin's family: two patients, two caregivers (one with an email), a pending
    invite to a phone without an account; every connection live, all six ON."""
    with app.app_context():
        admin, _sub, group = admin_group(
            patients=4, caregivers=8, admin=make_user(name="Quản Trị Viên", phone="+84912345678"))
        group.name = "Gia đình Nguyễn"
        patients = [join(group, role="patient", name=f"Bệnh Nhân {i}") for i in (1, 2)]
        caregivers = [join(group, role="caregiver", name="Người Thân 1", relationship="con_gai",
                           email="than1@example.com"),
                      join(group, role="caregiver", name="Người Thân 2")]
        pending = invite(group, phone="+84987000001", role="caregiver").invite
        db.session.commit()
        return SimpleNamespace(
            id=group.id, admin=person_of(admin), pending_id=pending.id,
            patients=[person_of(p) for p in patients],
            caregivers=[person_of(c) for c in caregivers],
            cid={(p, c): connection_between(patient, caregiver).id
                 for p, patient in enumerate(patients) for c, caregiver in enumerate(caregivers)})


def fail(app, notification_id: int, error: str = "SMTP server answered 554 Mailbox unavailable"):
    with app.app_context():
        db.session.execute(update(InviteNotification).where(
            InviteNotification.id == notification_id).values(
            status="failed", retry_count=3, error=error, next_attempt_at=None))
        db.session.commit()


def message_of(app, invite_id: int, channel: str, kind: str = "INVITE_CREATED") -> int:
    with app.app_context():
        return db.session.scalar(select(InviteNotification.id).where(
            InviteNotification.invite_id == invite_id, InviteNotification.channel == channel,
            InviteNotification.notification_type == kind))


def invite_of(app, group_id: int, user_id: int) -> int:
    with app.app_context():
        return db.session.scalar(select(ConnectionInvite.id).where(
            ConnectionInvite.family_group_id == group_id,
            ConnectionInvite.receiver_id == user_id))


def well_formed(body: str) -> str:
    """The page's ids are unique, it has one h1, and every form posts with a CSRF token."""
    ids = re.findall(r'\sid="([^"]+)"', body)
    assert sorted({i for i in ids if ids.count(i) > 1}) == []
    assert body.count("<h1") == 1
    for form in re.findall(r"<form[^>]*>.*?</form>", body, flags=re.S):
        assert 'method="post"' not in form or 'name="csrf_token"' in form
    return body


def card(invites: str, invite_id: int) -> str:
    """One invite's card on the group page."""
    start = invites.index(f'<article class="invite-card" id="invite-{invite_id}"')
    return invites[start:invites.index("</article>", start)]


def section(body: str, section_id: str) -> str:
    """The HTML of <section id=…> up to its end."""
    start = body.index(f'<section class="group-section" id="{section_id}"')
    return body[start:body.index("</section>", start)]


# --- the guard --------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/staff/", "/staff/?q=0912345678", "/staff/users/1",
                                  "/staff/groups", "/staff/groups/1",
                                  "/staff/groups/1/audit.csv", "/staff/codes"])
def test_pages_are_for_staff_only(app, client, login, path):
    fam = family(app)
    path = path.replace("/1", f"/{fam.id}")
    assert client.get(path).status_code == 302  # anonymous: to the login page
    for who in (fam.admin, fam.patients[0], fam.caregivers[0]):
        response = login(who).get(path)
        assert response.status_code == 403
        assert "Gia đình Nguyễn" not in text(response)
        assert "0912 345 678" not in text(response)
    assert audits(app, "staff.searched") == []
    assert audits(app, "staff.group_viewed") == []


def test_the_staff_link_is_shown_to_staff_only(app, as_staff, login):
    assert 'id="nav-staff"' in text(as_staff.get("/"))
    with app.app_context():
        someone = person_of(make_user())
        db.session.commit()
    assert 'id="nav-staff"' not in text(login(someone).get("/"))


# --- search -----------------------------------------------------------------------------


def test_the_search_page_has_a_labelled_box_and_writes_no_audit_without_a_query(app, as_staff):
    response = as_staff.get("/staff/")
    assert response.status_code == 200
    body = text(response)
    assert '<label for="q">Phone or email</label>' in body
    assert 'aria-current="page"' in body
    assert "staff.css" in body
    assert audits(app, "staff.searched") == []


@pytest.mark.parametrize("typed", ["0912 345 678", "+84 912 345 678", "84912345678",
                                   "+84 (0) 912-345-678"])
def test_search_by_phone_shows_the_user_and_is_audited(app, as_staff, staff, typed):
    with app.app_context():
        found = make_user(phone="+84912345678", name="Trần Thị Lan", email="lan@example.com",
                          is_active=False)
        make_user(phone="+84912345679", name="Người Khác")
        db.session.commit()
        found_id = found.id

    response = as_staff.get("/staff/", query_string={"q": typed})

    assert response.status_code == 200
    body = text(response)
    assert f'<tr id="user-{found_id}">' in body
    assert f'href="/staff/users/{found_id}">Trần Thị Lan</a>' in body
    assert "0912 345 678" in body
    assert "lan@example.com" in body
    assert "Suspended" in body
    assert "Người Khác" not in body
    (event,) = audits(app, "staff.searched")
    assert event.actor_id == staff.id
    assert event.details == {"what": "users", "q": typed, "found": 1}


def test_search_by_the_start_of_a_number_lists_every_match(app, as_staff):
    with app.app_context():
        for i in range(3):
            make_user(phone=f"+8491234567{i}", name=f"Người {i}")
        make_user(phone="+84987654321", name="Không Khớp")
        db.session.commit()
    body = well_formed(text(as_staff.get("/staff/?q=0912")))
    assert body.count('<tr id="user-') == 3
    assert "Không Khớp" not in body
    assert audits(app, "staff.searched")[0].details["found"] == 3


def test_text_that_names_nothing_gives_a_hint_and_no_results(app, as_staff):
    with app.app_context():
        make_user(name="xin chào")
        db.session.commit()
    response = as_staff.get("/staff/", query_string={"q": "xin chào"})
    assert response.status_code == 200
    body = text(response)
    assert 'id="search-hint"' in body
    assert "neither a phone number nor an email address" in body
    assert '<tr id="user-' not in body
    assert audits(app, "staff.searched")[0].details == {"what": "users", "q": "xin chào",
                                                        "found": 0}


def test_a_search_with_control_characters_is_not_an_error(app, as_staff):
    response = as_staff.get("/staff/", query_string={"q": "lan\x00@example.com"})
    assert response.status_code == 200
    assert "Nobody matches" in text(response)


# --- a user's file ----------------------------------------------------------------------


def test_a_users_file_shows_families_connections_invites_and_notifications(app, as_staff,
                                                                          staff):
    fam = family(app)
    caregiver = fam.caregivers[0]
    revoke_reason = "Không còn chăm sóc"
    with app.app_context():
        connection_revoke(actor=db.session.get(User, fam.admin.id),
                          connection_id=fam.cid[(1, 0)], reason=revoke_reason)
        db.session.commit()
    email_row = message_of(app, invite_of(app, fam.id, caregiver.id), "email")
    fail(app, email_row)

    response = as_staff.get(f"/staff/users/{caregiver.id}")

    assert response.status_code == 200
    body = well_formed(text(response))
    assert "<h1>Người Thân 1</h1>" in body
    assert 'id="profile-email">than1@example.com' in body
    assert '<span class="tag tag-active">Active</span>' in section(body, "sign-in")
    assert 'id="sign-in-tokens">0' in body
    # families and roles, linked to the staff group page
    assert f'id="tie-{fam.id}-caregiver"' in body
    assert f'href="/staff/groups/{fam.id}">Gia đình Nguyễn</a> · caregiver' in body
    # both connections, the disconnected one marked, permissions compact
    connections = section(body, "connections")
    assert f'id="connection-{fam.cid[(0, 0)]}"' in connections
    assert f'id="connection-{fam.cid[(1, 0)]}-revoked">Disconnected' in connections
    assert connections.count('<span class="perm-state">ON</span>') == 6
    assert connections.count('<span class="perm-state">OFF</span>') == 6
    assert "(Daughter)" in connections
    # the invite they received, from the admin
    received = body[body.index('id="invites-received"'):]
    assert f'href="/staff/users/{fam.admin.id}">Quản Trị Viên</a>' in received
    assert "Accepted" in received
    # notifications: the failed one offers a resend with a reason
    assert f'id="notification-{email_row}-status">Failed' in body
    assert "SMTP server answered 554 Mailbox unavailable" in body
    assert f'action="/staff/notifications/{email_row}/resend"' in body
    assert f'<label for="notification-{email_row}-reason">' in body
    # the suspend form, with its reason
    assert f'action="/staff/users/{caregiver.id}/suspend"' in body
    assert '<label for="reason">Reason</label>' in body
    (event,) = audits(app, "staff.user_viewed")
    assert (event.actor_id, event.subject_type, event.subject_id) == (
        staff.id, "users", caregiver.id)


def test_the_admins_file_lists_the_invites_they_sent(app, as_staff):
    fam = family(app)
    body = text(as_staff.get(f"/staff/users/{fam.admin.id}"))
    sent = body[body.index('id="invites-sent"'):body.index('id="invites-received-heading"')]
    assert f'id="invite-sent-{fam.pending_id}"' in sent
    assert "0987 000 001" in sent
    assert "Pending" in sent
    assert sent.count('<tr id="invite-sent-') == 5
    assert f'id="tie-{fam.id}-admin"' in body


def test_a_users_file_counts_failed_logins_and_live_tokens(app, as_staff):
    with app.app_context():
        user = make_user()
        db.session.commit()
        who = person_of(user)
    c = app.test_client()
    for _attempt in range(2):
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"',
                          c.get("/account/login").get_data(as_text=True)).group(1)
        assert c.post("/account/login", data={"login": who.phone, "password": "sai-matkhau-9",
                                              "csrf_token": token}).status_code == 401
    assert app.test_client().post("/api/v1/auth/token", json={
        "login": who.phone, "password": PASSWORD}).status_code == 201
    body = text(as_staff.get(f"/staff/users/{who.id}"))
    assert 'id="sign-in-failed">2 · last' in body
    assert 'id="sign-in-tokens">1' in body
    assert 'id="sign-in-last">never' not in body


def test_a_suspended_users_file_offers_reactivation(app, as_staff):
    with app.app_context():
        user = make_user(is_active=False)
        db.session.commit()
        user_id = user.id
    body = text(as_staff.get(f"/staff/users/{user_id}"))
    assert 'id="sign-in-status"><span class="tag tag-suspended">Suspended' in body
    assert f'action="/staff/users/{user_id}/reactivate"' in body
    assert "/suspend" not in body


def test_my_own_file_offers_no_suspension_and_is_not_audited(app, as_staff, staff):
    body = text(as_staff.get(f"/staff/users/{staff.id}"))
    assert "This is your own account." in body
    assert 'id="account-form"' not in body
    assert audits(app, "staff.user_viewed") == []


@pytest.mark.parametrize("path", ["/staff/users/999999", "/staff/users/99999999999999999999",
                                  "/staff/users/abc"])
def test_an_unknown_user_is_a_404(app, as_staff, path):
    assert as_staff.get(path).status_code == 404
    assert audits(app, "staff.user_viewed") == []


def test_a_users_file_costs_the_same_statements_however_many_rows(app, as_staff,
                                                                 count_queries):
    fam = family(app)

    def statements(user_id: int) -> int:
        with count_queries() as seen:
            assert as_staff.get(f"/staff/users/{user_id}").status_code == 200
        return len(seen)

    statements(fam.caregivers[1].id)  # the first request fills the lookup-name cache
    small = statements(fam.caregivers[1].id)
    with app.app_context():
        group = db.session.get(FamilyGroup, fam.id)
        for _i in range(2):
            join(group, role="patient")
        db.session.commit()
    assert statements(fam.caregivers[1].id) == small


# --- the group list ---------------------------------------------------------------------


def groups_made(app, n: int, *, status: str = "dissolved") -> list[int]:
    """n groups of one admin (dissolved: one subscription may hold many), newest last."""
    with app.app_context():
        admin = make_user(name="Chủ Nhà")
        plan = make_subscription(admin)
        made = [make_group(admin, name=f"Nhà số {i}", status=status, subscription=plan)
                for i in range(n)]
        for group in made:
            make_member(group, role="patient")
        db.session.commit()
        return [g.id for g in made]


def row_ids(body: str) -> list[int]:
    return [int(m) for m in re.findall(r'<tr id="group-(\d+)">', body)]


def test_the_group_list_shows_name_status_admin_and_members(app, as_staff):
    fam = family(app)
    response = as_staff.get("/staff/groups")
    assert response.status_code == 200
    body = well_formed(text(response))
    row = body[body.index(f'<tr id="group-{fam.id}">'):]
    row = row[:row.index("</tr>")]
    assert f'href="/staff/groups/{fam.id}">Gia đình Nguyễn</a>' in row
    assert "Active" in row
    assert f'href="/staff/users/{fam.admin.id}">Quản Trị Viên</a>' in row
    assert "0912 345 678" in row
    assert "Patients: 2 · caregivers: 2" in row
    assert 'id="next-page"' not in body
    assert audits(app, "staff.searched") == []


def test_walking_the_next_page_links_shows_every_group_once_keeping_the_filters(app, as_staff):
    made = groups_made(app, GROUP_PAGE * 2 + 1)
    family(app)  # active: filtered out
    seen, url, pages = [], "/staff/groups?status=dissolved&q=nh%C3%A0+s%E1%BB%91", 0
    while url:
        body = text(as_staff.get(url))
        pages += 1
        seen.extend(row_ids(body))
        match = re.search(r'<a href="([^"]+)" id="next-page"', body)
        url = match.group(1) if match else None
        if url:
            assert "status=dissolved" in url
            assert "q=" in url
            assert "cursor=" in url
    assert pages == 3
    assert seen == sorted(made, reverse=True)
    assert len(audits(app, "staff.searched")) == 3
    assert audits(app, "staff.searched")[0].details == {"what": "groups", "q": "nhà số",
                                                        "found": GROUP_PAGE}


def test_the_group_list_by_status_and_by_admin_phone(app, as_staff):
    fam = family(app)
    dissolved = groups_made(app, 2)
    assert row_ids(text(as_staff.get("/staff/groups?status=active"))) == [fam.id]
    assert row_ids(text(as_staff.get("/staff/groups?status=dissolved"))) == dissolved[::-1]
    assert row_ids(text(as_staff.get("/staff/groups?status=inactive"))) == []
    for typed in ("0912 345 678", "+84912345678", "84 912-345-678"):
        assert row_ids(text(as_staff.get("/staff/groups", query_string={"q": typed}))) == [
            fam.id]
    assert [e.details["found"] for e in audits(app, "staff.searched")] == [1, 1, 1]


@pytest.mark.parametrize(("query", "message"), [
    ({"cursor": "not-a-cursor"}, "This cursor is not valid."),
    ({"cursor": encode_cursor(5)[:-2] + "!!"}, "This cursor is not valid."),
    ({"status": "deleted"}, "Not a valid choice."),
])
def test_a_bad_cursor_or_status_is_a_422_with_a_message(app, as_staff, query, message):
    groups_made(app, 1)
    response = as_staff.get("/staff/groups", query_string=query)
    assert response.status_code == 422
    assert message in errors(response)
    assert row_ids(text(response)) == []


def test_a_cursor_beyond_every_id_is_the_first_page(app, as_staff):
    made = groups_made(app, 2)
    response = as_staff.get("/staff/groups", query_string={"cursor": encode_cursor(10**30)})
    assert response.status_code == 200
    assert row_ids(text(response)) == made[::-1]


def test_a_page_of_groups_costs_the_same_statements_for_one_and_for_sixty(app, as_staff,
                                                                         count_queries):
    def statements() -> int:
        with count_queries() as seen:
            assert as_staff.get("/staff/groups").status_code == 200
        return len(seen)

    groups_made(app, 1)
    one = statements()
    groups_made(app, 59)
    assert statements() == one


# --- a group's review -------------------------------------------------------------------


def test_the_group_page_shows_admin_plan_slots_and_members(app, as_staff, staff):
    fam = family(app)
    response = as_staff.get(f"/staff/groups/{fam.id}")
    assert response.status_code == 200
    body = text(response)
    assert "Gia đình Nguyễn" in body
    assert f'id="group-admin"><a href="/staff/users/{fam.admin.id}">Quản Trị Viên</a>' in body
    assert "Family · " in body
    assert "patient: 2 of 4 used, 0 invited, 2 free" in body
    assert "caregiver: 2 of 8 used, 1 invited, 5 free" in body
    for person, role in ((fam.patients[0], "patient"), (fam.caregivers[1], "caregiver")):
        assert f'id="member-{person.id}-{role}"' in body
    # the export is a form: its reason travels with it (issue 21)
    assert f'<form method="post" action="/staff/groups/{fam.id}/audit.csv"' in body
    (event,) = audits(app, "staff.group_viewed")
    assert (event.actor_id, event.subject_type, event.subject_id, event.family_group_id) == (
        staff.id, "family_groups", fam.id, fam.id)
    (reason,) = audits(app, "staff.access_reason")
    assert event.details == {"view": "staff group page", "reason_code": "support",
                             "grant": reason.id}


def test_the_matrix_is_read_only_with_disconnected_badges(app, as_staff):
    fam = family(app)
    with app.app_context():
        connection_revoke(actor=db.session.get(User, fam.admin.id),
                          connection_id=fam.cid[(0, 1)], reason="Lý do riêng")
        db.session.commit()
    body = text(as_staff.get(f"/staff/groups/{fam.id}"))
    matrix = section(body, "matrix")
    assert "<form" not in matrix
    assert "<button" not in matrix
    assert "<input" not in matrix
    assert "hx-" not in matrix
    revoked = fam.cid[(0, 1)]
    assert f'id="matrix-connection-{revoked}-revoked">Disconnected' in matrix
    assert f'id="matrix-connection-{revoked}-health_overview">OFF' in matrix
    live = fam.cid[(0, 0)]
    assert f'id="matrix-connection-{live}-emergency_alert">ON' in matrix
    assert f'id="matrix-connection-{live}-revoked"' not in matrix
    assert "Daughter" in matrix
    assert matrix.count(">ON</td>") == 3 * 6
    assert matrix.count(">OFF</td>") == 6


def test_staff_see_the_private_reason_of_a_silent_disconnect(app, as_staff):
    fam = family(app)
    reason = "Con gái đã chuyển ra nước ngoài"
    with app.app_context():
        connection_revoke(actor=db.session.get(User, fam.admin.id),
                          connection_id=fam.cid[(0, 0)], reason=reason)
        db.session.commit()
    audit = section(text(as_staff.get(f"/staff/groups/{fam.id}")), "audit")
    assert "connection.disconnected" in audit
    assert f'<dd class="detail-reason">{reason}</dd>' in audit
    assert f'href="/staff/users/{fam.admin.id}">Quản Trị Viên</a>' in audit


def test_every_invite_shows_its_delivery_per_channel(app, as_staff):
    fam = family(app)
    sms_row = message_of(app, fam.pending_id, "sms")
    fail(app, sms_row, error="SMS gateway answered HTTP 500")
    accepted = invite_of(app, fam.id, fam.caregivers[0].id)
    created_email = message_of(app, accepted, "email")
    accepted_in_app = message_of(app, accepted, "in_app", "INVITE_ACCEPTED")
    accepted_sms = message_of(app, accepted, "sms", "INVITE_ACCEPTED")

    invites = section(well_formed(text(as_staff.get(f"/staff/groups/{fam.id}"))), "invites")

    pending = card(invites, fam.pending_id)
    assert f'id="invite-{fam.pending_id}-status">Pending' in pending
    assert "0987 000 001" in pending
    assert f'<tr id="notification-{sms_row}" class="channel-sms">' in pending
    assert f'id="notification-{sms_row}-status">Failed' in pending
    assert "SMS gateway answered HTTP 500" in pending
    assert f'action="/staff/notifications/{sms_row}/resend"' in pending
    assert f'<label for="notification-{sms_row}-reason">' in pending
    done = card(invites, accepted)
    assert f'id="invite-{accepted}-status">Accepted' in done
    assert f'id="notification-{created_email}-status">Cancelled' in done  # answered in time
    assert "than1@example.com" in done
    assert f'id="notification-{accepted_in_app}-status">Sent' in done
    assert f'id="notification-{accepted_sms}-status">Waiting to be sent' in done
    assert f'>{fam.admin.name}</a>' in done  # the in-app message's reader, by name
    assert "/resend" not in done


def test_an_expired_invite_shows_as_expired(app, as_staff):
    fam = family(app)
    with app.app_context():
        db.session.execute(update(ConnectionInvite).where(
            ConnectionInvite.id == fam.pending_id).values(
            expires_at=utcnow() - timedelta(hours=1)))
        db.session.commit()
    body = text(as_staff.get(f"/staff/groups/{fam.id}"))
    assert f'id="invite-{fam.pending_id}-status">Expired' in body


def event_ids(body: str) -> list[str]:
    return re.findall(r'<li class="trail-event[^"]*" id="event-(\d+)">', body)


def test_the_audit_trail_is_paged_with_older_events_links(app, as_staff):
    fam = family(app)
    with app.app_context():
        for i in range(130):
            audit_record(actor=None, action="test.event", group_id=fam.id,
                         details={"n": i})
        db.session.commit()
        total = db.session.scalar(select(func.count(AuditEvent.id)).where(
            AuditEvent.family_group_id == fam.id))

    first = text(as_staff.get(f"/staff/groups/{fam.id}"))
    assert len(event_ids(first)) == 100
    assert 'id="audit-newest"' not in first
    older = re.search(r'<a href="([^"]+)" id="audit-older"', first).group(1)
    assert "audit_before=" in older
    assert "views=" not in older
    second = text(as_staff.get(older.replace("&amp;", "&")))
    shown = set(event_ids(first)) | set(event_ids(second))
    assert len(shown) == total  # the first page's own look is a staff page view: hidden
    assert 'id="audit-older"' not in second
    assert 'id="audit-newest"' in second

    # With the staff page views: the reason and the two looks so far are on the pages too,
    # and the page links keep the filter.
    first = text(as_staff.get(f"/staff/groups/{fam.id}?views=1"))
    older = re.search(r'<a href="([^"]+)" id="audit-older"', first).group(1)
    assert "views=1" in older
    second = text(as_staff.get(older.replace("&amp;", "&")))
    assert len(set(event_ids(first)) | set(event_ids(second))) == total + 3
    newest = re.search(r'<a href="([^"]+)" id="audit-newest"', second).group(1)
    assert "views=1" in newest
    assert "audit_before" not in newest


@pytest.mark.parametrize("bad", ["abc", "-1", "1.5", str(2**64)])
def test_a_bad_audit_page_is_a_422(app, as_staff, bad):
    fam = family(app)
    response = as_staff.get(f"/staff/groups/{fam.id}", query_string={"audit_before": bad})
    assert response.status_code == 422
    assert "This page link is not valid" in text(response)
    assert audits(app, "staff.group_viewed") == []


def test_an_unknown_group_is_a_404(app, as_staff):
    assert as_staff.get("/staff/groups/999999").status_code == 404
    assert as_staff.get("/staff/groups/999999/audit.csv").status_code == 404
    assert audits(app, "staff.group_viewed") == []
    assert audits(app, "staff.audit_exported") == []


def test_the_group_page_works_while_the_payment_service_is_down(app, as_staff, monkeypatch):
    fam = family(app)

    class Down:
        name = "http"

        def subscription_for(self, user_id):
            raise PaymentUnavailable()

    monkeypatch.setitem(app.extensions, "payment_provider", Down())
    response = as_staff.get(f"/staff/groups/{fam.id}")
    assert response.status_code == 200
    body = text(response)
    assert 'id="payment-down"' in body
    assert "payment service is not answering" in body
    assert 'id="group-slots"' not in body
    assert f'id="member-{fam.patients[0].id}-patient"' in body


def test_a_group_page_costs_the_same_statements_for_a_bigger_family(app, as_staff,
                                                                   count_queries):
    fam = family(app)

    def statements() -> int:
        with count_queries() as seen:
            assert as_staff.get(f"/staff/groups/{fam.id}").status_code == 200
        return len(seen)

    as_staff.get(f"/staff/groups/{fam.id}")  # the reason step, once, outside the count
    small = statements()
    with app.app_context():
        group = db.session.get(FamilyGroup, fam.id)
        join(group, role="patient")
        join(group, role="caregiver")
        invite(group, phone="+84987000002", role="caregiver")
        db.session.commit()
    assert statements() == small


# --- the audit trail as CSV -------------------------------------------------------------


def read_csv(response) -> list[dict[str, str]]:
    raw = response.get_data()
    assert raw.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline="")))


def test_the_csv_holds_the_whole_trail_with_vietnamese_and_a_bom(app, as_staff, staff):
    fam = family(app)
    reason = "Con gái đã chuyển đi"
    with app.app_context():
        connection_revoke(actor=db.session.get(User, fam.admin.id),
                          connection_id=fam.cid[(0, 0)], reason=reason, ip="10.0.0.9")
        db.session.commit()
        expected = db.session.scalar(select(func.count(AuditEvent.id)).where(
            AuditEvent.family_group_id == fam.id))

    response = export_csv(as_staff, fam.id)

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    disposition = response.headers["Content-Disposition"]
    assert re.fullmatch(rf'attachment; filename="family-{fam.id}-audit-[0-9-]+\.csv"',
                        disposition)
    assert response.headers["Cache-Control"] == "no-store"
    rows = read_csv(response)
    assert list(rows[0]) == ["id", "time", "actor_id", "actor_phone", "action",
                             "subject_type", "subject_id", "details", "ip"]
    assert len(rows) == expected + 2  # its reason and the export were recorded first
    assert [int(r["id"]) for r in rows] == sorted(int(r["id"]) for r in rows)
    disconnect = next(r for r in rows if r["action"] == "connection.disconnected")
    assert json.loads(disconnect["details"])["reason"] == reason
    assert reason in disconnect["details"]  # not \u-escaped
    assert disconnect["actor_id"] == str(fam.admin.id)
    assert disconnect["actor_phone"] == "'+84912345678"  # a leading + is a formula to Excel
    assert disconnect["subject_type"] == "user_emergency_contacts"
    assert disconnect["subject_id"] == str(fam.cid[(0, 0)])
    assert disconnect["ip"] == "10.0.0.9"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", disconnect["time"])
    exported = rows[-1]
    assert exported["action"] == "staff.audit_exported"
    assert exported["actor_id"] == str(staff.id)
    assert rows[-2]["action"] == "staff.access_reason"
    (event,) = audits(app, "staff.audit_exported")
    assert (event.actor_id, event.subject_type, event.subject_id, event.family_group_id) == (
        staff.id, "family_groups", fam.id, fam.id)
    (reason,) = audits(app, "staff.access_reason")
    assert reason.details == {"opened": "export", "reason_code": "support"}
    assert event.details == {"rows": expected + 1, "reason_code": "support",
                             "grant": reason.id}


@pytest.mark.parametrize("value", ["=HYPERLINK(\"http://evil\")", "+1+1", "-2+3", "@SUM(A1)",
                                   "\tcmd", "\rcmd"])
def test_the_csv_defuses_formulas(app, as_staff, value):
    with app.app_context():
        group = make_group()
        audit_record(actor=None, action=value, subject=None, group_id=group.id,
                     details={"reason": value}, ip=None)
        db.session.commit()
        group_id = group.id
    rows = read_csv(export_csv(as_staff, group_id))
    row = next(r for r in rows
               if r["action"] not in ("staff.audit_exported", "staff.access_reason"))
    assert row["action"] == "'" + value
    assert row["details"].startswith("{")  # JSON is safe as it is
    assert row["actor_id"] == ""


def test_the_csv_reads_a_long_trail_in_batches(app, as_staff, count_queries):
    with app.app_context():
        group = make_group()
        for i in range(2500):
            audit_record(actor=None, action="test.event", group_id=group.id, details={"n": i})
        db.session.commit()
        group_id = group.id
    with count_queries() as statements:
        rows = read_csv(export_csv(as_staff, group_id))
    assert len(rows) == 2502  # and the export's reason, and the export
    assert [json.loads(r["details"])["n"] for r in rows[:-2]] == list(range(2500))
    batches = [s for s in statements if "FROM audit_events" in s and "count(" not in s]
    assert len(batches) == 3


def test_a_staff_members_own_family_page_is_not_a_staff_look(app, login):
    with app.app_context():
        admin, _sub, group = admin_group(is_staff=True, locale="en")
        db.session.commit()
        me, group_id = person_of(admin), group.id
    client = login(me)
    assert give_reason(client, f"/staff/groups/{group_id}").status_code == 303
    assert client.get(f"/staff/groups/{group_id}").status_code == 200
    assert audits(app, "staff.group_viewed") == []


def test_staff_see_whether_a_number_is_proved(app, as_staff):
    """ID-001: the user's file and the search results say whether the phone proved the
    number, and an account that lost its number to someone who proved it says so."""
    with app.app_context():
        proved = make_user(name="Đã Xác Minh")
        unproved = make_user(name="Chưa Xác Minh", phone_verified_at=None)
        lost = make_user(name="Mất Số", phone=None, phone_verified_at=None)
        db.session.commit()
        ids = (proved.id, unproved.id, lost.id)
        unproved_phone = unproved.phone
    shown = {}
    for user_id in ids:
        body = text(as_staff.get(f"/staff/users/{user_id}"))
        shown[user_id] = body[body.index('id="profile-phone-proved"'):].split("</dd>")[0]
    assert "proved " in shown[ids[0]]
    assert "not proved" in shown[ids[1]]
    assert "not proved" in shown[ids[2]]
    lost_body = text(as_staff.get(f"/staff/users/{ids[2]}"))
    assert 'id="profile-phone">none: another account proved the number' in lost_body
    found = text(as_staff.get(f"/staff/?q={unproved_phone}"))
    row = found[found.index(f'id="user-{ids[1]}"'):].split("</tr>")[0]
    assert "not proved" in row
