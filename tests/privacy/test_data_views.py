"""The My data page and its export (POST /me/data/export): both languages, the password
or an SMS code (the real gateway on 127.0.0.1), a wrong password's 422, the rate limit,
and a plain form (no JavaScript anywhere)."""

from __future__ import annotations

import csv
import html
import io
import json
import zipfile

import pytest
from sqlalchemy import select

from app.extensions import db, limiter
from app.models.audit import AuditEvent
from tests.conftest import person_of
from tests.factories import PASSWORD
from tests.pages import csrf_of
from tests.privacy.families import REASON, story
from tests.sms import texted_code

CSVS = {"profile.csv", "memberships.csv", "connections.csv", "permission_history.csv",
        "invites.csv", "notifications.csv", "audit_events.csv"}


@pytest.fixture
def told(app):
    """The story, committed; the people as plain values; each person's locale set."""

    def make(locale: str = "en"):
        with app.app_context():
            s = story()
            for user in (s.admin, s.patient, s.caregiver):
                user.locale = locale
            db.session.commit()
            return {k: person_of(getattr(s, k)) for k in ("admin", "patient", "caregiver")}

    return make


def exported(app, action: str = "account.data_exported") -> list[AuditEvent]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def opened(response) -> zipfile.ZipFile:
    assert response.status_code == 200, response.get_data(as_text=True)[:800]
    assert response.mimetype == "application/zip"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Content-Disposition"].startswith(
        "attachment; filename=family-connect-data-")
    archive = zipfile.ZipFile(io.BytesIO(response.get_data()))
    assert archive.testzip() is None
    assert set(archive.namelist()) == {"data.json", *CSVS}
    return archive


@pytest.mark.parametrize(("locale", "words"), [
    ("en", ["My data", "Disconnected by the family's admin", "Download my data"]),
    ("vi", ["Dữ liệu của tôi", "Bị ngắt kết nối bởi quản trị viên của gia đình",
            "Tải dữ liệu của tôi"]),
])
def test_the_page_in_both_languages(app, login, told, locale, words):
    people = told(locale)
    page = login(people["patient"]).get("/me/data")
    assert page.status_code == 200
    body = html.unescape(page.get_data(as_text=True))
    for word in words:
        assert word in body, word
    assert REASON not in body
    assert 'action="/me/data/export"' in body
    assert 'name="password"' in body
    assert "hx-post" not in body.split('id="export-form"')[1].split("</form>")[0]


def test_the_caregivers_page_says_nothing_of_the_disconnect(app, login, told):
    people = told("en")
    body = login(people["caregiver"]).get("/me/data").get_data(as_text=True)
    assert "Bà Lê Thị Mai" in body
    assert "isconnect" not in body.split('id="data-connections"')[1].split("</section>")[0]
    assert REASON not in body
    assert "Quản Trị Viên" not in body.split("<main")[1]


def test_the_page_needs_a_login(client):
    response = client.get("/me/data")
    assert response.status_code == 302
    assert "/account/login" in response.headers["Location"]


def test_settings_links_to_my_data(app, login, told):
    people = told("en")
    body = login(people["patient"]).get("/account/settings").get_data(as_text=True)
    assert 'href="/me/data"' in body


def test_export_with_the_password(app, login, told):
    people = told("en")
    c = login(people["patient"])
    response = c.post("/me/data/export", data={"csrf_token": csrf_of(c),
                                               "password": PASSWORD})
    archive = opened(response)
    data = json.loads(archive.read("data.json"))
    assert data["profile"]["id"] == people["patient"].id
    assert data["connections"][0]["status"] == "disconnected"
    assert any(h["action"] == "connection.disconnected" for h in data["permissionHistory"])
    text = archive.read("data.json").decode() + "".join(
        archive.read(n).decode("utf-8-sig") for n in CSVS)
    assert REASON not in text
    assert people["caregiver"].phone not in text
    rows = list(csv.DictReader(io.StringIO(archive.read("connections.csv")
                                            .decode("utf-8-sig"))))
    assert rows[0]["otherName"] == "Anh Lê Văn Hùng"
    assert rows[0]["health_overview"] == "False"
    (event,) = exported(app)
    assert event.actor_id == people["patient"].id
    assert event.details == {"by": "password"}


def test_export_with_an_sms_code(app, login, told, use_gateway):
    people = told("en")
    c = login(people["caregiver"])
    token = csrf_of(c)
    sent = c.post("/account/confirm-code?next=/me/data", data={"csrf_token": token})
    assert sent.status_code == 303
    code = texted_code(app, use_gateway, people["caregiver"].phone)
    archive = opened(c.post("/me/data/export", data={"csrf_token": token, "code": code}))
    data = json.loads(archive.read("data.json"))
    assert "disconnect" not in json.dumps(data["connections"]).lower()
    assert exported(app)[0].details == {"by": "sms_code"}
    again = c.post("/me/data/export", data={"csrf_token": token, "code": code})
    assert again.status_code == 422  # a code works once
    assert len(exported(app)) == 1


@pytest.mark.parametrize(("locale", "message"), [
    ("en", "This password is not right."), ("vi", "Mật khẩu này không đúng.")])
def test_a_wrong_password_answers_422_and_exports_nothing(app, login, told, locale, message):
    people = told(locale)
    c = login(people["patient"])
    response = c.post("/me/data/export", data={"csrf_token": csrf_of(c),
                                               "password": "not-the-password"})
    assert response.status_code == 422
    assert response.mimetype == "text/html"
    assert message in response.get_data(as_text=True)
    assert exported(app) == []


def test_nothing_typed_asks_for_a_confirmation(app, login, told):
    people = told("en")
    c = login(people["patient"])
    response = c.post("/me/data/export", data={"csrf_token": csrf_of(c)})
    assert response.status_code == 422
    assert "Type your password" in response.get_data(as_text=True)


def test_exports_are_rate_limited_per_person(app, login, told, configure):
    configure(EXPORT_RATE_LIMIT="2 per hour")
    limiter.reset()  # the limiter's store is the process's: other apps' users share ids
    people = told("en")
    c = login(people["patient"])
    token = csrf_of(c)
    for _ in range(2):
        assert c.post("/me/data/export", data={"csrf_token": token,
                                               "password": PASSWORD}).status_code == 200
    refused = c.post("/me/data/export", data={"csrf_token": token, "password": PASSWORD})
    assert refused.status_code == 429
    assert len(exported(app)) == 2
    other = login(people["caregiver"])  # someone else has their own allowance
    assert other.post("/me/data/export", data={"csrf_token": csrf_of(other),
                                               "password": PASSWORD}).status_code == 200


def test_the_export_needs_the_csrf_token(app, login, told):
    people = told("en")
    c = login(people["patient"])
    assert c.post("/me/data/export", data={"password": PASSWORD}).status_code == 400
    assert exported(app) == []
