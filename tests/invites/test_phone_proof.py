"""ID-001 end to end, as issue 15 found it: somebody holds an account with a number their
phone never proved, the family's admin invites that number, and the account tries to see
the invite and accept it by id. Every way is refused with 403 phone_unverified and writes
nothing; the link (which reached the number) still works, and proving the number with a
code opens the invites. Runs on SQLite and PostgreSQL like the whole suite."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models.accounts import User
from app.models.groups import FamilyGroupMember
from app.models.notifications import InviteNotification
from tests.api import Api, family, invite, person, refused
from tests.conftest import log_in
from tests.factories import make_user
from tests.pages import csrf_from, text
from tests.security.conftest import db_snapshot
from tests.sms import texted_code, texts_to

UNVERIFIED_EN = "Prove your phone number first"


@pytest.fixture
def story(app, client):
    """An admin with a family, and an account whose number was never proved, invited to
    that family as a caregiver (the admin knows only the number)."""
    admin = person(app, client, name="Quản Trị")
    group_id = family(app, admin)
    squatter = person(app, client, name="Người Chiếm Số", phone_verified_at=None)
    invite_id, token = invite(app, admin, group_id, squatter.phone, role="caregiver")
    return admin, group_id, squatter, invite_id, token


def members(app, group_id: int) -> set[int]:
    with app.app_context():
        return set(db.session.scalars(select(FamilyGroupMember.user_id)
                                      .where(FamilyGroupMember.group_id == group_id)))


def test_the_api_refuses_an_unproved_number_every_way_and_writes_nothing(app, story):
    _admin, group_id, squatter, invite_id, _token = story
    assert squatter.api.get("/me").get_json()["phoneVerified"] is False
    before = db_snapshot(app)  # the token's last use is recorded by now (once a minute)
    for response in (
            squatter.api.get("/invites/pending"),
            squatter.api.post(f"/invites/{invite_id}/accept", json={}),
            squatter.api.post(f"/invites/{invite_id}/accept", json={"relationship": "con_trai"}),
            squatter.api.post(f"/invites/{invite_id}/reject"),
            # An id that does not exist answers the same: nothing is told about invites.
            squatter.api.post(f"/invites/{invite_id + 1000}/accept", json={})):
        error = refused(response, 403, "phone_unverified")
        assert "/api/v1/me/phone-verification" in error["message"]
    assert db_snapshot(app) == before
    assert squatter.id not in members(app, group_id)
    # And the portal told it nothing of the invite in-app either.
    assert squatter.api.get("/notifications").get_json()["items"] == []


def test_the_pages_refuse_an_unproved_number_and_write_nothing(app, story):
    _admin, group_id, squatter, invite_id, _token = story
    client = log_in(app, squatter)
    client.post("/language", data={"locale": "en", "csrf_token": csrf_from(
        text(client.get("/account/settings")))})
    before = db_snapshot(app)
    page = client.get("/invites")
    assert page.status_code == 403
    assert UNVERIFIED_EN in text(page)
    assert 'href="/account/phone?next=/invites"' in text(page)
    token = csrf_from(text(client.get("/account/settings")))
    for path in (f"/invites/{invite_id}/accept", f"/invites/{invite_id}/reject"):
        response = client.post(path, data={"csrf_token": token})
        assert response.status_code == 403
        assert UNVERIFIED_EN in text(response)
    assert db_snapshot(app) == before
    assert squatter.id not in members(app, group_id)


def test_the_invite_link_proves_the_number_and_works(app, story):
    """The link reached the number: whoever holds it and the account answers through it."""
    _admin, group_id, squatter, _invite_id, token = story
    answer = squatter.api.post("/invites/accept", json={"token": token})
    assert answer.status_code == 200
    assert squatter.id in members(app, group_id)
    with app.app_context():
        assert db.session.get(User, squatter.id).phone_proved


def test_proving_the_number_with_a_code_opens_the_invites(app, story, use_gateway):
    _admin, group_id, squatter, invite_id, _token = story
    sent = squatter.api.post("/me/phone-verification")
    assert (sent.status_code, sent.get_json()) == (202, {"verification": "sent"})
    code = texted_code(app, use_gateway, squatter.phone)
    refused(squatter.api.post("/me/phone-verification/confirm",
                              json={"code": f"{(int(code) + 1) % 10**6:06d}"}),
            422, "invalid_code")
    proved = squatter.api.post("/me/phone-verification/confirm", json={"code": code})
    assert proved.status_code == 200
    assert proved.get_json()["phoneVerified"] is True
    refused(squatter.api.post("/me/phone-verification"), 409, "already_proved")
    [pending] = squatter.api.get("/invites/pending").get_json()["items"]
    assert pending["id"] == invite_id
    assert squatter.api.post(f"/invites/{invite_id}/accept", json={}).status_code == 200
    assert squatter.id in members(app, group_id)


def test_the_real_owner_signs_up_with_a_code_and_takes_the_invite(app, client, story,
                                                                   use_gateway):
    """The person whose phone it is signs up: the code proves the number, the account
    that held it without proof loses it (and is told), and the invite is the owner's."""
    _admin, group_id, squatter, invite_id, _token = story
    anon = Api(client)
    assert anon.post("/auth/register", json={
        "phone": squatter.phone, "password": "hoa sen nở sớm", "name": "Chủ Thật",
        "gender": "female"}).status_code == 202
    sms = texts_to(app, use_gateway, squatter.phone)
    # Neither the invite's link nor an "account exists" message: a code, the number being
    # nobody's yet (ID-001).
    code = texted_code(app, use_gateway, squatter.phone)
    assert len(sms) >= 1
    made = anon.post("/auth/register/verify", json={"phone": squatter.phone, "code": code})
    assert made.status_code == 201
    owner = Api(client, made.get_json()["token"])
    [pending] = owner.get("/invites/pending").get_json()["items"]
    assert pending["id"] == invite_id
    assert owner.post(f"/invites/{invite_id}/accept", json={}).status_code == 200
    assert made.get_json()["user"]["id"] in members(app, group_id)
    with app.app_context():
        lost = db.session.get(User, squatter.id)
        assert lost.phone is None
        told = db.session.scalar(select(InviteNotification.notification_type).where(
            InviteNotification.recipient_user_id == squatter.id,
            InviteNotification.channel == "in_app"))
        assert told == "PHONE_TAKEN_OVER"
    # The account that lost the number sees why, in its language, and still works.
    items = squatter.api.get("/notifications").get_json()["items"]
    assert [i["type"] for i in items] == ["PHONE_TAKEN_OVER"]
    assert squatter.api.get("/me").get_json()["phone"] is None
    refused(squatter.api.post("/me/phone-verification"), 409, "no_phone")


def test_an_invite_to_an_unproved_number_goes_by_sms_not_in_app(app, client):
    """The admin's invite reaches the number itself; the unproved account is not its
    holder and gets no in-app copy (nor is it checked against BR-057 in its place)."""
    admin = person(app, client, name="Quản Trị")
    group_id = family(app, admin)
    with app.app_context():
        squatter = make_user(phone_verified_at=None)
        db.session.commit()
        phone, squatter_id = squatter.phone, squatter.id
    invite(app, admin, group_id, phone)
    with app.app_context():
        rows = {(n.channel, n.recipient_user_id) for n in db.session.scalars(
            select(InviteNotification).where(InviteNotification.notification_type
                                             == "INVITE_CREATED"))}
    assert rows == {("sms", None)}
    assert squatter_id not in members(app, group_id)


def test_the_invite_links_sign_up_takes_the_number_from_an_unproved_account(app):
    """Signing up from the link proves the number; the unproved holder loses it."""
    client = app.test_client()
    api_admin = person(app, client, name="Quản Trị")
    group_id = family(app, api_admin)
    with app.app_context():
        squatter = make_user(phone_verified_at=None, name="Người Chiếm")
        db.session.commit()
        squatter_id, phone = squatter.id, squatter.phone
    _invite_id, token = invite(app, api_admin, group_id, phone)
    visitor = app.test_client()
    assert visitor.get(f"/i/{token}").status_code == 200
    page = visitor.get("/i/signup")
    assert page.status_code == 200  # not sent to log in: the holder never proved it
    assert 'id="unproved-holder"' in text(page)
    done = visitor.post("/i/signup", data={
        "name": "Chủ Thật", "gender": "1", "email": "", "password": "hoa sen nở sớm",
        "csrf_token": csrf_from(text(page))})
    assert done.status_code == 303
    with app.app_context():
        owner = db.session.scalar(select(User).where(User.phone == phone))
        assert owner.id != squatter_id
        assert owner.phone_proved
        assert db.session.get(User, squatter_id).phone is None


def test_a_proved_holder_is_sent_to_log_in_from_the_link(app):
    client = app.test_client()
    api_admin = person(app, client, name="Quản Trị")
    group_id = family(app, api_admin)
    owner = person(app, client, name="Chủ Số")
    _invite_id, token = invite(app, api_admin, group_id, owner.phone)
    visitor = app.test_client()
    visitor.get(f"/i/{token}")
    page = visitor.get("/i/signup")
    assert page.status_code == 302
    assert page.headers["Location"] == "/i/login"


def test_signing_up_without_the_code_gives_nothing_to_log_in_with(app, client):
    """The probe's first step today: sign up with somebody else's number and never see the
    code. No account exists, so there is nothing to log in with, to list invites with or
    to accept them by id; the admin's invite goes to the number alone."""
    anon = Api(client)
    phone = "+84912555777"
    assert anon.post("/auth/register", json={
        "phone": phone, "password": "hoa sen nở sớm", "name": "Kẻ Mạo Danh",
        "gender": "male"}).status_code == 202
    refused(anon.post("/auth/token", json={"login": phone, "password": "hoa sen nở sớm"}),
            401, "bad_credentials")
    admin = person(app, client, name="Quản Trị")
    group_id = family(app, admin)
    invite_id, _token = invite(app, admin, group_id, phone)
    with app.app_context():
        assert db.session.scalar(select(User.id).where(User.phone == phone)) is None
        rows = {(n.channel, n.recipient, n.recipient_user_id) for n in db.session.scalars(
            select(InviteNotification).where(InviteNotification.invite_id == invite_id))}
    assert rows == {("sms", phone, None)}
    assert members(app, group_id) == set()  # nobody joined
