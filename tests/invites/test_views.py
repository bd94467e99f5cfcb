"""Invite pages through the test client: the admin's form and actions, the link page,
signing up or logging in from a link, answering, the user's pending invites, and the
log redaction of link tokens."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select, update

from app.db import utcnow
from app.extensions import db
from app.invites.services import invite_create
from app.invites.views import SESSION_KEY
from app.logging_filters import RedactLinkTokens, install_log_redaction, redact
from app.models.accounts import User
from app.models.audit import AuditEvent
from app.models.billing import Subscription
from app.models.connections import Connection, ConnectionPermission, PermissionType
from app.models.groups import FamilyGroup, FamilyGroupMember
from app.models.invites import ConnectionInvite
from app.payments.provider import PaymentUnavailable
from app.phone import display_phone
from app.tokens import unseal
from tests.conftest import sign_in
from tests.factories import (
    PASSWORD,
    make_group,
    make_member,
    make_subscription,
    make_user,
    national,
    next_phone,
)
from tests.pages import HX, csrf_from, csrf_of, post, text

NEW_PASSWORD = "hoa-sen-2026"
LINK_RE = re.compile(r"http://portal\.test/i/([A-Za-z0-9_\-]+)")


# --- helpers ----------------------------------------------------------------------------


def token_of(response) -> str:
    match = LINK_RE.search(text(response))
    assert match, "no invite link on the page"
    return match.group(1)


def english(c) -> None:
    assert c.post("/language", data={"locale": "en", "csrf_token": csrf_of(c)}).status_code == 303


@pytest.fixture
def db_read(app):
    """Run fn() against the database outside any request and return its result."""

    def run(fn):
        with app.app_context():
            try:
                return fn()
            finally:
                db.session.rollback()

    return run


@pytest.fixture
def row_counts(app):
    """The number of rows of every table: a refusal or a GET must leave them all alone."""

    def run() -> dict[str, int]:
        with app.app_context():
            return {t.name: db.session.scalar(select(func.count()).select_from(t))
                    for t in db.metadata.sorted_tables}

    return run


@pytest.fixture
def family(app):
    """A committed admin (English) with an active plan and a family group."""

    def make(*, patients: int = 2, caregivers: int = 4, status: str = "active"):
        with app.app_context():
            admin = make_user(name="Trần Văn Quản", locale="en")
            sub = make_subscription(admin, patients=patients, caregivers=caregivers,
                                    status=status)
            group = make_group(admin, name="Gia đình Trần", subscription=sub)
            db.session.commit()
            return SimpleNamespace(admin_id=admin.id, admin_phone=admin.phone,
                                   group_id=group.id, subscription_id=sub.id)

    return make


@pytest.fixture
def invite(app):
    """An invite made through the service (committed); returns (invite id, token)."""

    def make(fam, phone: str, role: str = "caregiver", **kwargs) -> tuple[int, str]:
        with app.app_context():
            admin = db.session.get(User, fam.admin_id)
            group = db.session.get(FamilyGroup, fam.group_id)
            issued = invite_create(actor=admin, group=group, phone=phone, role=role, **kwargs)
            db.session.commit()
            return issued.invite.id, issued.token

    return make


@pytest.fixture
def admin_client(app, family):
    """(client logged in as the admin, the family)."""

    def make(**kwargs):
        fam = family(**kwargs)
        c = app.test_client()
        assert sign_in(c, national(fam.admin_phone)).status_code == 303
        return c, fam

    return make


def signup_data(c, **fields) -> dict:
    data = {"name": "Trần Thị Cúc", "gender": "1", "email": "", "password": NEW_PASSWORD,
            "csrf_token": csrf_of(c)}
    data.update(fields)
    return data


def audit_actions(db_read) -> list[str]:
    return db_read(lambda: list(db.session.scalars(select(AuditEvent.action))))


# --- the whole joining story ------------------------------------------------------------


def test_the_whole_joining_story(app, admin_client, db_read):
    admin, fam = admin_client()
    caregiver_phone, patient_phone = next_phone(), next_phone()

    form = admin.get(f"/family/{fam.group_id}/invites?role=caregiver")
    assert form.status_code == 200
    assert re.search(r'value="caregiver"[^>]*checked|checked[^>]*value="caregiver"', text(form))
    made = admin.post(f"/family/{fam.group_id}/invites", data={
        "phone": national(caregiver_phone), "role": "caregiver", "csrf_token": csrf_of(admin)})
    assert made.status_code == 201
    assert "It was also sent to them by SMS or email." in text(made)
    assert made.headers["Cache-Control"] == "no-store"
    caregiver_token = token_of(made)
    made = admin.post(f"/family/{fam.group_id}/invites", data={
        "phone": national(patient_phone), "role": "patient", "csrf_token": csrf_of(admin)})
    assert made.status_code == 201
    patient_token = token_of(made)

    joined = {}
    for phone, token, role, relationship, name, gender in [
            (caregiver_phone, caregiver_token, "caregiver", "con_gai", "Trần Thị Cúc", "1"),
            (patient_phone, patient_token, "patient", "bo", "Trần Văn Bình", "0")]:
        c = app.test_client()
        english(c)
        page = c.get(f"/i/{token}")
        assert page.status_code == 200
        body = text(page)
        assert "Trần Văn Quản invites you to join Gia đình Trần" in body
        assert f"You are invited as a {role}." in body
        assert 'href="/i/login"' in body
        assert 'href="/i/signup"' in body
        assert 'id="accept-form"' not in body
        with c.session_transaction() as sess:
            # The link is kept for /i/login and /i/signup, sealed: the readable cookie
            # does not give the token away (F10).
            assert token not in str(dict(sess))
            with app.app_context():
                assert unseal(sess[SESSION_KEY]) == token

        signup = c.get("/i/signup")
        assert signup.status_code == 200
        assert re.search(r'<input[^>]*id="phone"[^>]*readonly', text(signup))
        assert f'value="{display_phone(phone)}"' in text(signup)
        # The posted phone is ignored: the link proves the invited number.
        other = next_phone()
        done = c.post("/i/signup", data=signup_data(c, phone=national(other), name=name,
                                                    gender=gender))
        assert done.status_code == 303
        assert done.headers["Location"] == "/i/resume"
        assert token not in done.headers["Location"]

        resumed = c.get("/i/resume")
        assert resumed.status_code == 200
        assert 'id="accept-form"' in text(resumed)
        accepted = c.post("/i/accept", data={"token": token, "relationship": relationship,
                                             "csrf_token": csrf_from(text(resumed))})
        assert accepted.status_code == 303
        assert accepted.headers["Location"] == f"/family/{fam.group_id}"
        with c.session_transaction() as sess:
            assert SESSION_KEY not in sess
        joined[role] = db_read(lambda p=phone, o=other: (
            db.session.scalar(select(User.id).where(User.phone == p)),
            db.session.scalar(select(User.id).where(User.phone == o))))
        assert joined[role][0] is not None
        assert joined[role][1] is None

    def check():
        members = set(db.session.execute(select(FamilyGroupMember.user_id, FamilyGroupMember.role)
                                         .where(FamilyGroupMember.group_id == fam.group_id)))
        assert members == {(joined["caregiver"][0], "caregiver"),
                           (joined["patient"][0], "patient")}
        connection = db.session.scalar(select(Connection))
        assert (connection.user_id, connection.linked_user_id) == (
            joined["patient"][0], joined["caregiver"][0])
        assert connection.family_group_id == fam.group_id
        # The patient said "I am their father": the caregiver is the daughter (gender 1).
        assert connection.inverse_relationship_code == "bo"
        assert connection.relationship_code == "con_gai"
        rows = db.session.scalars(select(ConnectionPermission)
                                  .where(ConnectionPermission.contact_id == connection.id)).all()
        assert len(rows) == 6
        assert all(r.is_enabled for r in rows)
        assert db.session.scalar(select(func.count()).select_from(Connection)) == 1

    db_read(check)
    actions = audit_actions(db_read)
    for action in ("invite.created", "invite.accepted", "group.member_joined",
                   "connection.created"):
        assert action in actions
    assert actions.count("invite.created") == 2
    assert actions.count("invite.accepted") == 2

    page = admin.get(f"/family/{fam.group_id}")
    assert page.status_code == 200
    assert "Trần Thị Cúc" in text(page)
    assert "Trần Văn Bình" in text(page)


# --- the link page ----------------------------------------------------------------------


def test_the_link_page_shows_who_where_what_and_the_six_permissions(app, client, family,
                                                                     invite, db_read):
    fam = family()
    _id, token = invite(fam, next_phone(), "patient")
    english(client)
    body = text(client.get(f"/i/{token}"))
    names = db_read(lambda: list(db.session.scalars(
        select(PermissionType.name_en).order_by(PermissionType.display_order))))
    assert len(names) == 6
    items = re.findall(r'<li id="permission-(\w+)" class="on">([^<]*)</li>', body)
    assert [name.split(":")[0] for _code, name in items] == names
    assert "Every caregiver of this family will be connected to you." in body
    assert "This invite expires on" in body

    # Vietnamese is the default: the names come from name_vi.
    vi = app.test_client()
    body = text(vi.get(f"/i/{token}"))
    assert "Xem tổng quan sức khỏe" in body
    assert "Gọi động viên" in body


def test_the_link_page_shows_the_invites_initial_permissions(client, family, invite):
    fam = family()
    _id, token = invite(fam, next_phone(), initial_permissions={"task_config": False,
                                                               "proxy_execution": False})
    body = text(client.get(f"/i/{token}"))
    assert re.findall(r'id="permission-(\w+)" class="off"', body) == [
        "task_config", "proxy_execution"]
    assert len(re.findall(r'id="permission-\w+" class="on"', body)) == 4


def test_opening_the_link_writes_nothing(app, family, invite, person, row_counts):
    fam = family()
    invitee = person()
    stranger = person()
    _id, token = invite(fam, invitee.phone)
    logged_in, other = app.test_client(), app.test_client()
    assert sign_in(logged_in, national(invitee.phone)).status_code == 303
    assert sign_in(other, national(stranger.phone)).status_code == 303
    before = row_counts()

    for c, status in [(app.test_client(), 200), (logged_in, 200), (other, 403)]:
        assert c.get(f"/i/{token}").status_code == status
        assert c.get(f"/i/{token}").status_code == status
    assert app.test_client().get("/i/resume").status_code == 404
    assert app.test_client().get("/i/not-a-real-token").status_code == 404
    assert row_counts() == before


def test_the_link_page_headers(client, family, invite):
    fam = family()
    _id, token = invite(fam, next_phone())
    for url in (f"/i/{token}", "/i/unknown-token"):
        response = client.get(url)
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert response.headers["Cache-Control"] == "no-store"
    # The other pages keep the app's policy.
    assert client.get("/").headers["Referrer-Policy"] == "same-origin"
    resumed = client.get("/i/resume")
    assert resumed.headers["Referrer-Policy"] == "no-referrer"
    assert client.get("/i/signup").headers["Cache-Control"] == "no-store"


def _set_status(status: str):
    def apply(invite_id: int) -> None:
        db.session.execute(update(ConnectionInvite).where(ConnectionInvite.id == invite_id)
                           .values(status=status))
    return apply


def _expire(invite_id: int) -> None:
    db.session.execute(update(ConnectionInvite).where(ConnectionInvite.id == invite_id)
                       .values(expires_at=utcnow() - timedelta(minutes=1)))


@pytest.mark.parametrize(("change", "status", "words"), [
    (_expire, 410, "has expired"),
    (_set_status("expired"), 410, "has expired"),
    (_set_status("cancelled"), 410, "cancelled this invite"),
    (_set_status("accepted"), 409, "already been accepted"),
    (_set_status("rejected"), 409, "was declined"),
], ids=["past_expiry", "expired", "cancelled", "accepted", "rejected"])
def test_bad_link_states(app, client, family, invite, row_counts, change, status, words):
    fam = family()
    invite_id, token = invite(fam, next_phone())
    with app.app_context():
        change(invite_id)
        db.session.commit()
    english(client)
    before = row_counts()
    response = client.get(f"/i/{token}")
    assert response.status_code == status
    assert words in text(response)
    assert response.headers["Referrer-Policy"] == "no-referrer"
    with client.session_transaction() as sess:
        assert SESSION_KEY not in sess
    assert row_counts() == before


@pytest.mark.parametrize("token", ["x", "A" * 43, "A" * 500, "%E2%9C%93", "..%2F..",
                                   "login.php", "%00"])
def test_unknown_or_malformed_links_are_404(client, token):
    response = client.get(f"/i/{token}")
    assert response.status_code == 404
    assert "<html" in text(response)


def test_a_logged_in_user_with_another_phone_is_refused(app, family, invite, person,
                                                        row_counts):
    fam = family()
    invitee_phone = next_phone()
    _id, token = invite(fam, invitee_phone)
    stranger = person()
    c = app.test_client()
    assert sign_in(c, national(stranger.phone)).status_code == 303
    page = c.get(f"/i/{token}")
    assert page.status_code == 403
    body = text(page)
    assert "This invite is for another phone number" in body
    assert 'action="/account/logout"' in body
    assert 'id="accept-form"' not in body

    before = row_counts()
    for url in ("/i/accept", "/i/reject"):
        response = c.post(url, data={"token": token, "csrf_token": csrf_of(c)})
        assert response.status_code == 403
        assert "sent to another phone number" in text(response)
    assert row_counts() == before


# --- log in or sign up from the link ----------------------------------------------------


def test_log_in_from_the_link_comes_back_to_the_invite(app, family, invite, person, db_read):
    fam = family()
    invitee = person(name="Lê Thị Hoa")
    invite_id, token = invite(fam, invitee.phone)
    c = app.test_client()
    english(c)
    assert c.get(f"/i/{token}").status_code == 200
    page = c.get("/i/login")
    assert page.status_code == 200
    assert f'value="{display_phone(invitee.phone)}"' in text(page)

    wrong = c.post("/i/login", data={"login": national(invitee.phone), "password": "nope-123",
                                     "csrf_token": csrf_of(c)})
    assert wrong.status_code == 401
    wrong = c.post("/i/login", headers=HX, data={
        "login": national(invitee.phone), "password": "nope-123", "csrf_token": csrf_of(c)})
    assert wrong.status_code == 401  # in the form: htmx swaps every status (base.html)
    assert "<html" not in text(wrong)
    done = c.post("/i/login", data={"login": national(invitee.phone), "password": PASSWORD,
                                    "csrf_token": csrf_of(c)})
    assert done.status_code == 303
    assert done.headers["Location"] == "/i/resume"
    page = c.get("/i/resume")
    assert page.status_code == 200
    assert 'id="accept-form"' in text(page)
    assert f'value="{token}"' in text(page)
    assert "What are you to the patients of this family?" in text(page)

    rejected = c.post("/i/reject", data={"token": token, "csrf_token": csrf_from(text(page))})
    assert rejected.status_code == 303
    assert rejected.headers["Location"] == "/invites"
    assert db_read(lambda: db.session.get(ConnectionInvite, invite_id).status) == "rejected"
    assert "invite.rejected" in audit_actions(db_read)
    assert c.get(f"/i/{token}").status_code == 409


def test_login_and_signup_without_a_link_go_to_the_account_pages(client):
    assert client.get("/i/login").headers["Location"] == "/account/login"
    assert client.get("/i/signup").headers["Location"] == "/account/register"


def test_login_from_the_link_is_rate_limited(app, family, invite, person, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT", "2 per minute")
    fam = family()
    invitee = person()
    _id, token = invite(fam, invitee.phone)
    c = app.test_client()
    c.get(f"/i/{token}")
    statuses = [c.post("/i/login", data={"login": national(invitee.phone),
                                          "password": "wrong-123",
                                          "csrf_token": csrf_of(c)}).status_code
                for _ in range(3)]
    assert statuses == [401, 401, 429]
    # The same allowance as the login page: it is used up there too.
    page = c.post("/account/login", data={"login": national(invitee.phone),
                                          "password": "wrong-123", "csrf_token": csrf_of(c)})
    assert page.status_code == 429


def test_signup_refusals_rerender_and_write_nothing(app, family, invite, person, row_counts):
    fam = family()
    taken = person()
    _id, token = invite(fam, taken.phone)
    c = app.test_client()
    english(c)
    c.get(f"/i/{token}")
    before = row_counts()
    bad = c.post("/i/signup", data=signup_data(c, name="", password="short"))
    assert bad.status_code == 422
    assert "<html" in text(bad)
    fragment = c.post("/i/signup", headers=HX, data=signup_data(c, password="short"))
    assert fragment.status_code == 422
    assert "<html" not in text(fragment)
    assert "Use at least 8 characters." in text(fragment)
    # The invited number has an account already: log in instead.
    page = c.get("/i/signup")
    assert page.status_code == 302
    assert page.headers["Location"] == "/i/login"
    exists = c.post("/i/signup", data=signup_data(c))
    assert exists.status_code == 422
    assert "An account with this phone number already exists." in text(exists)
    assert 'href="/i/login"' in text(exists)
    assert row_counts() == before


def test_signup_for_a_link_that_died_shows_its_state(app, family, invite):
    fam = family()
    invite_id, token = invite(fam, next_phone())
    c = app.test_client()
    c.get(f"/i/{token}")
    with app.app_context():
        _set_status("cancelled")(invite_id)
        db.session.commit()
    assert c.get("/i/signup").status_code == 410
    with c.session_transaction() as sess:
        assert SESSION_KEY not in sess


# --- answering --------------------------------------------------------------------------


@pytest.fixture
def invitee_client(app, family, invite, person):
    """(client of a logged-in invitee, family, invite id, token)."""

    def make(role: str = "caregiver", **plan):
        fam = family(**plan)
        invitee = person(name="Phạm Thị Mai", gender=1)
        invite_id, token = invite(fam, invitee.phone, role)
        c = app.test_client()
        assert sign_in(c, national(invitee.phone)).status_code == 303
        return c, fam, invite_id, token, invitee

    return make


def test_accept_twice_is_refused(invitee_client, row_counts):
    c, fam, _id, token, _person = invitee_client()
    first = c.post("/i/accept", data={"token": token, "csrf_token": csrf_of(c)})
    assert first.status_code == 303
    before = row_counts()
    second = c.post("/i/accept", data={"token": token, "csrf_token": csrf_of(c)})
    assert second.status_code == 409
    assert "already been accepted" in text(second)
    assert row_counts() == before


def test_answers_without_csrf_are_refused(invitee_client, row_counts):
    c, fam, invite_id, token, _person = invitee_client()
    before = row_counts()
    for url, data in [("/i/accept", {"token": token}), ("/i/reject", {"token": token}),
                      (f"/invites/{invite_id}/accept", {}), (f"/invites/{invite_id}/reject", {})]:
        response = c.post(url, data=data)
        assert response.status_code == 400, url
    assert row_counts() == before


def test_an_unknown_relationship_is_refused(invitee_client, row_counts):
    c, fam, _id, token, _person = invitee_client()
    before = row_counts()
    response = c.post("/i/accept", data={"token": token, "relationship": "sếp",
                                         "csrf_token": csrf_of(c)})
    assert response.status_code == 422
    assert "Choose a relationship from the list." in text(response)
    assert 'id="accept-form"' in text(response)
    assert row_counts() == before


def _no_caregiver_places(fam):
    db.session.execute(update(Subscription).where(Subscription.id == fam.subscription_id)
                       .values(caregiver_slots=0))


def _plan_cancelled(fam):
    db.session.execute(update(Subscription).where(Subscription.id == fam.subscription_id)
                       .values(status="cancelled"))


def _member_elsewhere(person):
    def apply(_fam):
        make_member(make_group(), db.session.get(User, person.id), role="caregiver")
    return apply


def _link_expired(fam):
    db.session.execute(update(ConnectionInvite).values(expires_at=utcnow() - timedelta(hours=1)))


@pytest.mark.parametrize(("change", "status", "words"), [
    (lambda _p: _no_caregiver_places, 409, "no free place"),
    (lambda _p: _plan_cancelled, 403, "plan has expired"),
    (_member_elsewhere, 409, "already a caregiver in another family"),
    (lambda _p: _link_expired, 410, "has expired"),
], ids=["no_slot", "subscription_inactive", "already_in_group", "invite_expired"])
def test_accept_refusals_write_nothing(app, invitee_client, row_counts, change, status, words):
    c, fam, invite_id, token, person = invitee_client()
    with app.app_context():
        change(person)(fam)
        db.session.commit()
    before = row_counts()
    for url, data in [("/i/accept", {"token": token}), (f"/invites/{invite_id}/accept", {})]:
        response = c.post(url, data={**data, "csrf_token": csrf_of(c)})
        assert response.status_code == status, url
        assert words in text(response)
    assert row_counts() == before


def test_accept_when_the_payment_service_is_down(app, invitee_client, row_counts,
                                                 monkeypatch):
    c, fam, _id, token, _person = invitee_client()

    class Down:
        def subscription_for(self, _user_id):
            raise PaymentUnavailable()

    monkeypatch.setattr("app.groups.services.payment_provider", Down)
    before = row_counts()
    response = c.post("/i/accept", data={"token": token, "csrf_token": csrf_of(c)})
    assert response.status_code == 503
    assert row_counts() == before


def test_answers_while_logged_out_go_to_the_link_login(client, family, invite, row_counts):
    fam = family()
    _id, token = invite(fam, next_phone())
    before = row_counts()
    response = client.post("/i/accept", data={"token": token, "csrf_token": csrf_of(client)})
    assert response.status_code == 303
    assert response.headers["Location"] == "/i/login"
    assert client.get("/i/login").status_code == 200
    assert row_counts() == before


def test_answer_an_unknown_token_is_404(invitee_client, row_counts):
    c, *_rest = invitee_client()
    before = row_counts()
    for url in ("/i/accept", "/i/reject"):
        assert c.post(url, data={"token": "nope", "csrf_token": csrf_of(c)}).status_code == 404
    assert row_counts() == before


# --- the invitee's pending invites ------------------------------------------------------


def test_my_invites_accept_by_id(invitee_client, db_read):
    c, fam, invite_id, _token, person = invitee_client()
    page = c.get("/invites")
    assert page.status_code == 200
    body = text(page)
    assert "Trần Văn Quản invites you to join Gia đình Trần as a caregiver." in body
    assert f'action="/invites/{invite_id}/accept"' in body
    assert 'name="relationship"' in body
    response = c.post(f"/invites/{invite_id}/accept", data={"relationship": "con_trai",
                                                             "csrf_token": csrf_from(body)})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/family/{fam.group_id}"
    assert db_read(lambda: db.session.scalar(select(FamilyGroupMember.role).where(
        FamilyGroupMember.user_id == person.id))) == "caregiver"
    assert "No invites are waiting for you." in text(c.get("/invites"))


def test_my_invites_accept_by_id_with_htmx_redirects(invitee_client):
    c, fam, invite_id, _token, _person = invitee_client()
    response = post(c, f"/invites/{invite_id}/accept", headers=HX)
    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == f"/family/{fam.group_id}"


def test_my_invites_reject_by_id(invitee_client, db_read):
    c, fam, invite_id, _token, _person = invitee_client()
    response = post(c, f"/invites/{invite_id}/reject")
    assert response.status_code == 303
    assert response.headers["Location"] == "/invites"
    assert "You declined the invite to Gia đình Trần." in text(c.get("/invites"))
    assert db_read(lambda: db.session.get(ConnectionInvite, invite_id).status) == "rejected"


def test_my_invites_reject_by_id_with_htmx_removes_the_row(invitee_client):
    c, fam, invite_id, _token, _person = invitee_client()
    response = post(c, f"/invites/{invite_id}/reject", headers=HX)
    assert response.status_code == 200
    assert response.get_data(as_text=True) == ""
    again = post(c, f"/invites/{invite_id}/reject")
    assert again.status_code == 409


def test_someone_elses_invite_by_id_is_404(app, invitee_client, person, row_counts):
    _c, _fam, invite_id, _token, _person = invitee_client()
    stranger = person()
    c = app.test_client()
    assert sign_in(c, national(stranger.phone)).status_code == 303
    before = row_counts()
    for url in (f"/invites/{invite_id}/accept", f"/invites/{invite_id}/reject"):
        assert post(c, url).status_code == 404
    assert row_counts() == before
    assert "No invites are waiting for you." in text(c.get("/invites"))


def test_my_invites_needs_a_login(client):
    response = client.get("/invites")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/account/login")


# --- the admin: the form, cancel, resend ------------------------------------------------


def post_invite(c, fam, phone: str, role: str = "caregiver", **kwargs):
    return c.post(f"/family/{fam.group_id}/invites",
                  data={"phone": phone, "role": role, "csrf_token": csrf_of(c)}, **kwargs)


def test_the_invite_form_asks_for_phone_and_role_only(admin_client):
    c, fam = admin_client()
    page = c.get(f"/family/{fam.group_id}/invites?role=patient")
    assert page.status_code == 200
    body = text(page)
    assert "<html" in body
    names = set(re.findall(r'<(?:input|select|textarea)[^>]*name="([^"]+)"',
                           body.split('id="invite-form"')[1].split("</form>")[0]))
    assert names == {"csrf_token", "phone", "role"}
    assert re.search(r'value="patient"[^>]*checked|checked[^>]*value="patient"', body)
    fragment = c.get(f"/family/{fam.group_id}/invites", headers=HX)
    assert fragment.status_code == 200
    assert "<html" not in text(fragment)
    assert 'id="invite-panel"' in text(fragment)


def test_the_invite_form_is_for_the_admin_only(app, admin_client, person, family):
    _c, fam = admin_client()
    stranger = person()
    c = app.test_client()
    assert sign_in(c, national(stranger.phone)).status_code == 303
    assert c.get(f"/family/{fam.group_id}/invites").status_code == 404
    assert post_invite(c, fam, national(next_phone())).status_code == 404
    assert app.test_client().get(f"/family/{fam.group_id}/invites").status_code == 302


def test_invite_with_htmx_returns_the_result_fragment(admin_client):
    c, fam = admin_client()
    response = post_invite(c, fam, national(next_phone()), headers=HX)
    assert response.status_code == 201
    body = text(response)
    assert "<html" not in body
    assert 'id="invite-panel"' in body
    assert LINK_RE.search(body)


@pytest.mark.parametrize(("setup", "phone", "role", "status", "words"), [
    (None, "12345", "caregiver", 422, "Enter a Vietnamese mobile number"),
    (None, "0912345678", "boss", 422, "Not a valid choice"),
    (None, "", "caregiver", 422, "This field is required."),
    ("self", None, "caregiver", 422, "This is your own number."),
    ("full", None, "patient", 409, "Limit reached"),
    ("member", None, "caregiver", 409, "already a caregiver in another family"),
    ("inactive", None, "caregiver", 403, "Your family plan has expired"),
], ids=["invalid_phone", "bad_role", "no_phone", "self_invite", "no_slot", "already_in_group",
        "subscription_inactive"])
def test_invite_refusals(app, admin_client, row_counts, setup, phone, role, status, words):
    c, fam = admin_client(patients=0 if setup == "full" else 2)
    target = next_phone()
    with app.app_context():
        if setup == "member":
            make_member(make_group(), make_user(phone=target), role="caregiver")
        if setup == "inactive":
            db.session.execute(update(Subscription).values(status="cancelled"))
        db.session.commit()
    if setup == "self":
        phone = national(fam.admin_phone)
    phone = national(target) if phone is None else phone
    before = row_counts()
    response = post_invite(c, fam, phone, role)
    assert response.status_code == status
    assert words in text(response)
    assert 'id="invite-form"' in text(response)
    assert "<html" in text(response)
    fragment = post_invite(c, fam, phone, role, headers=HX)
    # htmx swaps every status (base.html): the fragment carries the refusal's own.
    assert fragment.status_code == status
    assert "<html" not in text(fragment)
    assert words in text(fragment)
    # A refusal that only "My plan" lifts links to it, after submitting too (issue 18).
    for answer in (response, fragment):
        assert ('id="invite-refused-plan"' in text(answer)) is (setup in ("full", "inactive"))
    assert row_counts() == before


def test_invite_without_csrf_is_refused(admin_client, row_counts):
    c, fam = admin_client()
    before = row_counts()
    response = c.post(f"/family/{fam.group_id}/invites",
                      data={"phone": national(next_phone()), "role": "caregiver"})
    assert response.status_code == 400
    assert row_counts() == before


def test_a_duplicate_invite_offers_resend(admin_client, row_counts, db_read):
    c, fam = admin_client()
    phone = next_phone()
    old_token = token_of(post_invite(c, fam, national(phone)))
    invite_id = db_read(lambda: db.session.scalar(select(ConnectionInvite.id)))
    before = row_counts()
    duplicate = post_invite(c, fam, national(phone))
    assert duplicate.status_code == 409
    body = text(duplicate)
    assert "already has a pending invite" in body
    assert f'action="/invites/{invite_id}/resend"' in body
    assert row_counts() == before

    resent = c.post(f"/invites/{invite_id}/resend", data={"csrf_token": csrf_from(body)})
    assert resent.status_code == 200
    assert "The old link no longer works." in text(resent)
    new_token = token_of(resent)
    assert new_token != old_token
    assert "invite.resent" in audit_actions(db_read)

    visitor = c.application.test_client()
    assert visitor.get(f"/i/{old_token}").status_code == 404
    assert visitor.get(f"/i/{new_token}").status_code == 200


def test_resend_with_htmx_returns_the_result_fragment(admin_client, invite):
    c, fam = admin_client()
    invite_id, _token = invite(fam, next_phone())
    response = post(c, f"/invites/{invite_id}/resend", headers=HX)
    assert response.status_code == 200
    assert "<html" not in text(response)
    assert LINK_RE.search(text(response))


def test_cancel_frees_the_slot(app, admin_client, invite, row_counts, db_read):
    c, fam = admin_client(caregivers=1)
    invite_id, token = invite(fam, next_phone())
    second = next_phone()
    before = row_counts()
    assert post_invite(c, fam, national(second)).status_code == 409
    assert row_counts() == before

    response = post(c, f"/invites/{invite_id}/cancel")
    assert response.status_code == 303
    assert response.headers["Location"] == f"/family/{fam.group_id}"
    assert db_read(lambda: db.session.get(ConnectionInvite, invite_id).status) == "cancelled"
    assert "invite.cancelled" in audit_actions(db_read)
    assert app.test_client().get(f"/i/{token}").status_code == 410

    assert post_invite(c, fam, national(second)).status_code == 201
    again = post(c, f"/invites/{invite_id}/cancel")
    assert again.status_code == 409


def test_cancel_with_htmx_answers_an_empty_200(admin_client, invite):
    c, fam = admin_client()
    invite_id, _token = invite(fam, next_phone())
    response = post(c, f"/invites/{invite_id}/cancel", headers=HX)
    assert response.status_code == 200
    assert response.get_data(as_text=True) == ""
    assert response.headers["HX-Trigger"] == "invites-changed"


def test_cancel_and_resend_are_for_the_admin_only(app, admin_client, invite, person,
                                                  row_counts):
    _c, fam = admin_client()
    invite_id, _token = invite(fam, next_phone())
    stranger = person()
    c = app.test_client()
    assert sign_in(c, national(stranger.phone)).status_code == 303
    before = row_counts()
    for action in ("cancel", "resend"):
        assert c.post(f"/invites/{invite_id}/{action}",
                      data={"csrf_token": csrf_of(c)}).status_code == 404
        assert c.post(f"/invites/{invite_id}/{action}").status_code == 400
    assert row_counts() == before


# --- the raw token never reaches a log line ---------------------------------------------


TOKEN = "Zx9_-abcDEF0123456789abcdefghijKLMNOPQRSTUVWXYZ"


@pytest.mark.parametrize(("line", "expected"), [
    (f'"GET /i/{TOKEN} HTTP/1.1" 200 -', '"GET /i/[redacted] HTTP/1.1" 200 -'),
    (f"http://portal.test/i/{TOKEN}?x=1", "http://portal.test/i/[redacted]?x=1"),
    ("GET /i/login HTTP/1.1", "GET /i/login HTTP/1.1"),
    ("POST /i/accept", "POST /i/accept"),
    ("/i/signup?next=1 /i/resume /i/reject", "/i/signup?next=1 /i/resume /i/reject"),
    ("/i/loginX1", "/i/[redacted]"),
    ("/family/1/invites /invites/2/cancel", "/family/1/invites /invites/2/cancel"),
])
def test_redact(line, expected):
    assert redact(line) == expected
    assert redact(redact(line)) == expected


def test_the_filter_rewrites_message_and_arguments():
    record = logging.LogRecord("werkzeug", logging.INFO, __file__, 1, '"%s" %s %s',
                               (f"GET /i/{TOKEN} HTTP/1.1", 200, "-"), None)
    assert RedactLinkTokens().filter(record) is True
    assert record.getMessage() == '"GET /i/[redacted] HTTP/1.1" 200 -'

    atoms = {"r": f"GET /i/{TOKEN} HTTP/1.1", "f": f"https://portal/i/{TOKEN}", "s": "200"}
    record = logging.LogRecord("gunicorn.access", logging.INFO, __file__, 1,
                               '%(r)s %(s)s "%(f)s"', (atoms,), None)
    RedactLinkTokens().filter(record)
    assert record.getMessage() == 'GET /i/[redacted] HTTP/1.1 200 "https://portal/i/[redacted]"'
    assert TOKEN not in record.getMessage()


@pytest.fixture
def clean_filters():
    targets = [logging.getLogger(n) for n in ("werkzeug", "gunicorn.access", "gunicorn.error")]
    handler = logging.NullHandler()
    logging.getLogger().addHandler(handler)
    saved = [list(t.filters) for t in targets]
    yield handler
    logging.getLogger().removeHandler(handler)
    for target, filters in zip(targets, saved, strict=True):
        target.filters[:] = filters


def test_install_log_redaction(caplog, clean_filters):
    install_log_redaction()
    install_log_redaction()  # idempotent
    werkzeug = logging.getLogger("werkzeug")
    assert sum(isinstance(f, RedactLinkTokens) for f in werkzeug.filters) == 1
    assert any(isinstance(f, RedactLinkTokens) for f in clean_filters.filters)
    assert any(isinstance(f, RedactLinkTokens)
               for f in logging.getLogger("gunicorn.access").filters)

    with caplog.at_level(logging.INFO):
        werkzeug.info('%s - - "%s" %s %s', "127.0.0.1", f"GET /i/{TOKEN} HTTP/1.1", "200", "-")
        logging.getLogger("gunicorn.access").info("%(r)s", {"r": f"GET /i/{TOKEN} HTTP/1.1"})
    assert len(caplog.records) == 2
    assert TOKEN not in caplog.text
    assert caplog.text.count("/i/[redacted]") == 2

    # A line of another logger goes through the root handlers' filter.
    record = logging.LogRecord("app.errors", logging.ERROR, __file__, 1,
                               "unhandled error on %s %s", ("GET", f"/i/{TOKEN}"), None)
    assert clean_filters.filter(record)
    assert record.getMessage() == "unhandled error on GET /i/[redacted]"


# --- issue 18: the forms of the link, the places up front, the link shown whole ---------


def _form(body: str, form_id: str) -> str:
    match = re.search(rf'<form id="{form_id}".*?</form>', body, re.S)
    assert match, body[:300]
    return match.group(0)


def _opened_link(app, family, invite, person=None, **user):
    """A visitor's client that opened a fresh invite's link (English), the invited phone."""
    fam = family()
    phone = person(**user).phone if person else next_phone()
    _id, token = invite(fam, phone)
    c = app.test_client()
    english(c)
    assert c.get(f"/i/{token}").status_code == 200
    return c, phone


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
def test_the_links_login_limit_is_answered_in_its_form(app, family, invite, person,
                                                       monkeypatch, htmx):
    monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT", "2 per minute")
    c, phone = _opened_link(app, family, invite, person)
    headers = HX if htmx else {}
    data = {"login": national(phone), "password": "nope-1234"}
    for _ in range(2):
        assert c.post("/i/login", headers=headers,
                      data={**data, "csrf_token": csrf_of(c)}).status_code == 401
    locked = c.post("/i/login", headers=headers, data={**data, "password": PASSWORD,
                                                       "csrf_token": csrf_of(c)})
    assert locked.status_code == 429
    assert 1 <= int(locked.headers["Retry-After"]) <= 60
    assert "HX-Retarget" not in locked.headers
    body = text(locked)
    assert ("<html" in body) is not htmx
    form = _form(body, "invite-login-form")
    assert re.search(r'id="invite-login-form-locked" role="alert">\s*<p class="lead">Too many '
                     r"attempts\. Try again in \d+ (seconds?|minute)\.</p>", form)
    assert 'href="/account/password-reset"' in form
    with c.session_transaction() as sess:
        assert "_user_id" not in sess
        assert SESSION_KEY in sess  # the link is still there for after the wait


def test_the_links_sign_up_limit_is_answered_in_its_form(app, family, invite, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT", "1 per minute")
    c, _phone = _opened_link(app, family, invite)
    assert c.post("/i/signup", headers=HX,
                  data=signup_data(c, password="x")).status_code == 422
    locked = c.post("/i/signup", headers=HX, data=signup_data(c, name="Trần Thị Cúc"))
    assert locked.status_code == 429
    form = _form(text(locked), "invite-signup-form")
    assert "Too many attempts. Try again in" in form
    assert 'value="Trần Thị Cúc"' in form
    assert 'id="invite-signup-form-locked"' in form


def test_the_invited_number_on_sign_up_is_fixed_text(app, family, invite):
    c, phone = _opened_link(app, family, invite)
    body = text(c.get("/i/signup"))
    field = re.search(r'<input[^>]*id="phone"[^>]*>', body).group(0)
    assert "readonly" in field
    assert 'class="fixed-value"' in field
    assert f'value="{display_phone(phone)}"' in field
    assert re.search(r'<label for="phone">Phone number</label>', body)


def _ways_in(body: str) -> list[str]:
    """The ids of the link page's ways in, first (primary) first, with their classes."""
    return re.findall(r'<a class="(button[^"]*)" id="(invite-(?:login|signup))"', body)


def test_a_new_invitee_is_offered_sign_up_first(app, family, invite):
    fam = family()
    _id, token = invite(fam, next_phone())
    body = text(app.test_client().get(f"/i/{token}"))
    assert _ways_in(body) == [("button", "invite-signup"), ("button secondary", "invite-login")]


@pytest.mark.parametrize("proved", [True, False], ids=["proved", "unproved"])
def test_a_number_with_an_account_is_offered_log_in_first(app, family, invite, person,
                                                          proved):
    """What the sign-up page says already: a number with an account logs in (a proved one
    is sent there; an unproved one is told of)."""
    fam = family()
    holder = person(**({} if proved else {"phone_verified_at": None}))
    _id, token = invite(fam, holder.phone)
    body = text(app.test_client().get(f"/i/{token}"))
    assert _ways_in(body) == [("button", "invite-login"), ("button secondary", "invite-signup")]


def test_decline_is_apart_from_accept(invitee_client):
    c, _fam, _id, token, _person = invitee_client()
    body = text(c.get(f"/i/{token}"))
    assert re.search(r'<form id="reject-form" class="decline"', body)
    assert re.search(r'<form class="decline" method="post" action="/invites/\d+/reject"',
                     text(c.get("/invites")))


@pytest.mark.parametrize("logged_in", [False, True], ids=["visitor", "logged_in"])
def test_a_used_link_offers_to_log_in(app, family, invite, person, logged_in):
    fam = family()
    invitee = person()
    invite_id, token = invite(fam, invitee.phone)
    with app.app_context():
        _set_status("accepted")(invite_id)
        db.session.commit()
    c = app.test_client()
    if logged_in:
        assert sign_in(c, national(invitee.phone)).status_code == 303
    english(c)
    page = c.get(f"/i/{token}")
    assert page.status_code == 409
    body = text(page)
    assert "Log in to see your family." in body
    if logged_in:
        assert re.search(r'<a class="button" id="link-state-family" href="/family">My family</a>',
                         body)
        assert 'id="link-state-login"' not in body
    else:
        assert re.search(r'<a class="button" id="link-state-login" '
                         r'href="/account/login\?next=(/|%2F)family">Log in</a>', body)
    assert re.search(r'id="link-state-home" href="/">Back to the home page</a>', body)


def test_other_dead_links_offer_no_login(app, client, family, invite):
    fam = family()
    invite_id, token = invite(fam, next_phone())
    with app.app_context():
        _set_status("cancelled")(invite_id)
        db.session.commit()
    assert 'id="link-state-login"' not in text(client.get(f"/i/{token}"))


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "fragment"])
def test_the_invite_link_is_shown_whole_with_a_copy_button(admin_client, htmx):
    c, fam = admin_client()
    made = post_invite(c, fam, national(next_phone()), headers=HX if htmx else {})
    assert made.status_code == 201
    body = text(made)
    link = LINK_RE.search(body).group(0)
    # The whole link in a wrapping, selectable box (a textarea, not a one-line input that
    # cuts it off), and the button that copies it, put in by copy.js: none without it.
    assert re.search(r'<textarea id="invite-link" class="invite-link" readonly[^>]*>'
                     + re.escape(link) + "</textarea>", body)
    assert 'type="text" id="invite-link"' not in body
    template = re.search(r"<template data-copy-button>(.*?)</template>", body, re.S).group(1)
    assert 'data-copy="invite-link"' in template
    assert 'data-copy-status="invite-link-copied"' in template
    assert 'data-copied="Copied"' in template
    assert ">Copy link</button>" in template
    assert re.search(r'<span class="copy-status" id="invite-link-copied" aria-live="polite">',
                     body)
    script = '<script src="/static/js/copy.js" defer></script>'
    # The page loads copy.js; the fragment is swapped into the invite form's page, which did.
    assert (script in body) is not htmx
    if htmx:
        assert script in text(c.get(f"/family/{fam.group_id}/invites"))


def test_copy_js_is_served(client):
    served = client.get("/static/js/copy.js")
    assert served.status_code == 200
    assert "javascript" in served.headers["Content-Type"]
    served.close()


@pytest.mark.parametrize(("setup", "ids"), [
    ("patient full", ["invite-limit-patient"]),
    ("both full", ["invite-limit-patient", "invite-limit-caregiver"]),
    ("expired", ["invite-plan-problem"]),
    ("room", []),
])
def test_the_invite_form_says_up_front_which_role_is_full(app, admin_client, invite, setup,
                                                          ids):
    c, fam = admin_client(patients=0 if setup in ("patient full", "both full") else 2,
                          caregivers=1 if setup == "both full" else 4)
    with app.app_context():
        if setup == "expired":
            db.session.execute(update(Subscription).values(status="cancelled"))
        db.session.commit()
    if setup == "both full":
        invite(fam, next_phone(), "caregiver")
    body = text(c.get(f"/family/{fam.group_id}/invites?role=patient"))
    found = re.findall(r'<p class="notice notice-warn" id="(invite-[a-z-]+)">(.*?)</p>', body,
                       re.S)
    assert [found_id for found_id, _text in found] == ids
    for _id, notice in found:
        assert '<a href="/plan">Go to My plan</a>' in notice
    if found:
        assert body.index(found[-1][1]) < body.index('id="invite-form"')  # before the form
