"""Error answers give nothing away (issue 7, item 3): 400, 403, 404, 405, 413, 422, 429
and a real 500, as pages and as API answers, carry no traceback, no file path, no SQL, no
driver or exception class name — and their message is in the user's language.

The 500 is caused for real: an app on a database of its own whose audit table was dropped,
with PROPAGATE_EXCEPTIONS off as in production, so that a login's INSERT fails in the
database driver.
"""

from __future__ import annotations

import html
import re

import pytest
from flask_migrate import upgrade
from sqlalchemy import text

from app.extensions import db
from tests.conftest import make_app
from tests.factories import PASSWORD, make_user
from tests.pages import csrf_of
from tests.security.conftest import as_who

LEAKS = [
    re.compile(r"Traceback|most recent call last"),
    re.compile(r'File "|\.py\b|/work/|site-packages|/usr/lib'),
    re.compile(r"\b(SELECT|INSERT INTO|UPDATE \w+ SET|DELETE FROM|DROP TABLE)\b"),
    re.compile(r"psycopg|sqlite3?\b|sqlalchemy|werkzeug|jinja2|flask_", re.I),
    re.compile(r"\b[A-Z][A-Za-z]*(Error|Exception|Warning)\b"),
    re.compile(r"\(Background on this error"),
]
VIETNAMESE = re.compile(r"[ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]", re.I)
BIG = 2 * 1024 * 1024


def leaks(body: str) -> list[str]:
    return [pattern.pattern for pattern in LEAKS if pattern.search(body)]


def message_of(response) -> str:
    """What the user reads: the API's error message, or the page's lead paragraph (the
    form's errors for a 422)."""
    if response.is_json:
        return response.get_json()["error"]["message"]
    body = response.get_data(as_text=True)
    found = re.findall(r'<p class="(?:lead|error[^"]*)"[^>]*>(.*?)</p>', body, re.S)
    assert found, body[:500]
    return html.unescape(" ".join(found))


def in_language(message: str, locale: str) -> bool:
    return bool(VIETNAMESE.search(message)) == (locale == "vi")


def speaking(app, locale: str):
    """An anonymous client whose session speaks `locale`."""
    client = app.test_client()
    if locale == "en":
        assert client.post("/language", data={"locale": "en", "csrf_token": csrf_of(client)}
                           ).status_code == 303
    return client


def errors_of(app, world, locale: str, monkeypatch) -> dict[str, object]:
    """Every error status as a page and as an API answer, for a user speaking `locale`."""
    anon = speaking(app, locale)
    caregiver = as_who(app, world, "caregiver")
    if locale == "en":
        caregiver.post("/language", data={"locale": "en", "csrf_token": csrf_of(caregiver)})
    bearer = {"Authorization": f"Bearer {world.api_tokens['caregiver']}"}
    answers = {
        "400 page": caregiver.post("/language", data={"locale": locale}),
        "400 api": caregiver.patch(f"/api/v1/families/{world.group_id}", json={"name": "x"}),
        "401 api": anon.get("/api/v1/me"),
        "403 page": caregiver.get("/staff/"),
        "403 api": anon.get("/api/v1/staff/users?q=0912", headers=bearer),
        "404 page": anon.get("/no-such-page"),
        "404 object page": caregiver.get("/family/987654321"),
        "404 api": anon.get("/api/v1/families/987654321", headers=bearer),
        "404 api route": anon.get("/api/v1/no-such-thing", headers=bearer),
        "405 page": anon.get("/account/logout"),
        "405 api": anon.get(f"/api/v1/invites/{world.invite_id}", headers=bearer),
        "413 page": anon.post("/account/login", data={"login": "x" * BIG, "password": "x",
                                                      "csrf_token": csrf_of(anon)}),
        "413 api": anon.post("/api/v1/auth/token",
                             data='{"login": "' + "x" * BIG + '", "password": "x"}',
                             content_type="application/json"),
        "422 page": anon.post("/account/register", data={
            "phone": "12", "password": "x", "name": "", "gender": "0",
            "csrf_token": csrf_of(anon)}),
        "422 api": anon.post("/api/v1/auth/register", json={"phone": 12, "unknown": True}),
        "422 api malformed": anon.post("/api/v1/auth/token", data="{not json",
                                       content_type="application/json"),
    }
    monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT", "1 per minute")
    for _attempt in range(2):
        answers["429 page"] = anon.post("/account/login", data={
            "login": "nobody@example.com", "password": "wrong-pass",
            "csrf_token": csrf_of(anon)})
        answers["429 api"] = anon.post("/api/v1/auth/token",
                                       json={"login": "nobody@example.com", "password": "x"})
    return answers


@pytest.mark.parametrize("locale", ["vi", "en"])
def test_error_answers_leak_nothing_and_speak_the_users_language(app, world, locale,
                                                                 monkeypatch):
    answers = errors_of(app, world, locale, monkeypatch)
    wrong = {}
    for name, response in answers.items():
        status = int(name.split()[0])
        body = response.get_data(as_text=True)
        problems = [f"status {response.status_code}"] if response.status_code != status else []
        problems += leaks(body)
        if name.endswith("api") or " api " in name:
            problems += [] if response.is_json else ["not JSON"]
        message = message_of(response)
        if not in_language(message, locale):
            problems.append(f"not in {locale}: {message!r}")
        if problems:
            wrong[name] = problems
    assert wrong == {}


def test_a_body_over_the_limit_is_refused_before_it_is_read(app):
    assert app.config["MAX_CONTENT_LENGTH"] == 1024 * 1024
    client = app.test_client()
    response = client.post("/api/v1/auth/register", data=b"x" * BIG,
                           content_type="application/json")
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "too_large"


@pytest.fixture
def broken(fresh_database_url):
    """An app like production's error handling on its own database, with a user, whose
    audit_events table is then dropped: every login's INSERT fails in the driver."""
    application = make_app(fresh_database_url(), PROPAGATE_EXCEPTIONS=False)
    with application.app_context():
        upgrade()
        phone = make_user().phone
        db.session.commit()
        with db.engine.begin() as conn:
            conn.execute(text("DROP TABLE audit_events"))
        db.session.remove()
    return application, phone


@pytest.mark.parametrize("locale", ["vi", "en"])
def test_a_real_server_error_shows_no_trace_of_its_cause(broken, locale, caplog):
    application, phone = broken
    client = speaking(application, locale)
    page = client.post("/account/login", data={"login": phone, "password": PASSWORD,
                                               "csrf_token": csrf_of(client)})
    api = client.post("/api/v1/auth/token", json={"login": phone, "password": PASSWORD})
    for response in (page, api):
        assert response.status_code == 500
        assert leaks(response.get_data(as_text=True)) == []
        assert in_language(message_of(response), locale)
    assert api.get_json()["error"]["code"] == "error"
    # The operators' log has the whole story: the SQL and the driver's complaint.
    assert "audit_events" in caplog.text
