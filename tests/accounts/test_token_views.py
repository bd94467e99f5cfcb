"""The settings page's API tokens (app/accounts/token_views.py, issue 15): the list, revoking
one with htmx and without JavaScript, someone else's token, and logging out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.accounts.services import api_token_create
from app.db import utcnow
from app.extensions import db
from app.models.accounts import ApiToken
from app.models.audit import AuditEvent
from app.tokens import token_hash
from tests.conftest import person_of
from tests.factories import make_user
from tests.pages import HX, csrf_from, flashes, text

SETTINGS = "/account/settings"


@dataclass
class Holder:
    """A user (id, phone, name) with a live token used once, a never-used live token, a
    revoked and an expired one: their ids, and the clear live tokens."""

    person: object
    used: int
    unused: int
    revoked: int
    expired: int
    tokens: dict[str, str]


def hash_of(token: str) -> ApiToken:
    return db.session.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash(token)))


USED_AT = datetime(2026, 3, 1, 17, 30, tzinfo=UTC)  # 00:30 on 2 March in Hà Nội


@pytest.fixture
def holder(app) -> Holder:
    with app.app_context():
        user = make_user(name="Chủ Token")
        tokens = {name: api_token_create(user=user, name=name)
                  for name in ("máy tính bảng", "script hằng đêm", "cũ", "hết hạn")}
        rows = {name: hash_of(token) for name, token in tokens.items()}
        rows["máy tính bảng"].last_used_at = USED_AT
        rows["cũ"].revoked_at = utcnow() - timedelta(days=1)
        rows["hết hạn"].expires_at = utcnow() - timedelta(days=2)
        made = Holder(person_of(user), used=rows["máy tính bảng"].id,
                      unused=rows["script hằng đêm"].id, revoked=rows["cũ"].id,
                      expired=rows["hết hạn"].id,
                      tokens={"used": tokens["máy tính bảng"],
                              "unused": tokens["script hằng đêm"]})
        db.session.commit()
        return made


def row_html(page: str, token_id: int) -> str:
    start = page.index(f'<li class="token" id="api-token-{token_id}"')
    return page[start:page.index("</li>", start)]


def revoked_at(app, token_id: int):
    with app.app_context():
        return db.session.get(ApiToken, token_id).revoked_at


def revoke_events(app) -> list[AuditEvent]:
    with app.app_context():
        found = list(db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "account.api_token_revoked")))
        db.session.expunge_all()
        return found


def bearer(client, token: str):
    return client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})


# --- the list ---------------------------------------------------------------------------


def test_settings_lists_the_tokens_with_their_dates_and_state(app, holder, login):
    with app.app_context():
        make_user(name="Người khác")  # and their token is not listed
        other_token = api_token_create(user=make_user(), name="của người khác")
        db.session.commit()
    response = login(holder.person).get(SETTINGS)
    assert response.status_code == 200
    page = text(response)
    assert "API token" in page
    assert "của người khác" not in page
    assert other_token not in page
    for token in holder.tokens.values():
        assert token not in page  # only the hash is stored; nothing shows the token

    used = row_html(page, holder.used)
    assert "máy tính bảng" in used
    assert "Đang hoạt động" in used
    when = "00:30, 2 thg 3, 2026"  # 17:30 UTC on 1 March is the next day in Hồ Chí Minh City
    assert (f'Lần dùng gần nhất</dt>\n    <dd><time datetime="{USED_AT.isoformat()}">'
            f"{when}</time>") in used
    assert "Thu hồi" in used
    assert f'action="/account/tokens/{holder.used}/revoke"' in used

    unused = row_html(page, holder.unused)
    assert "Lần dùng gần nhất</dt>\n    <dd>chưa bao giờ</dd>" in unused
    assert "Hết hạn</dt>" in unused

    revoked = row_html(page, holder.revoked)
    assert "Đã thu hồi" in revoked
    assert "/revoke" not in revoked
    expired = row_html(page, holder.expired)
    assert "Đã hết hạn" in expired
    assert "/revoke" not in expired


def test_settings_in_english(app, holder, login):
    client = login(holder.person)
    client.post("/language", data={"locale": "en", "csrf_token": csrf_from(
        client.get(SETTINGS).get_data(as_text=True))})
    page = text(client.get(SETTINGS))
    assert "<h2 id=\"api-tokens-title\">API tokens</h2>" in page
    assert "Last used</dt>\n    <dd>never</dd>" in row_html(page, holder.unused)
    assert "Revoked" in row_html(page, holder.revoked)


def test_settings_without_tokens_says_so(app, login):
    with app.app_context():
        user = person_of(make_user())
        db.session.commit()
    page = text(login(user).get(SETTINGS))
    assert "Bạn chưa có API token nào." in page
    assert 'class="tokens"' not in page


def test_a_refused_password_change_still_lists_the_tokens(app, holder, login):
    client = login(holder.person)
    response = client.post("/account/settings/password", data={
        "current_password": "sai-matkhau-1", "new_password": "moi-matkhau-77",
        "csrf_token": csrf_from(client.get(SETTINGS).get_data(as_text=True))})
    assert response.status_code == 422
    assert f'id="api-token-{holder.used}"' in text(response)


# --- revoking ---------------------------------------------------------------------------


def test_revoke_with_htmx_answers_the_row_in_place(app, holder, login, client):
    browser = login(holder.person)
    token = csrf_from(browser.get(SETTINGS).get_data(as_text=True))
    assert bearer(client, holder.tokens["used"]).status_code == 200
    response = browser.post(f"/account/tokens/{holder.used}/revoke",
                            data={"csrf_token": token}, headers=HX)
    assert response.status_code == 200
    body = text(response)
    assert "<html" not in body
    assert body.lstrip().startswith(f'<li class="token" id="api-token-{holder.used}">')
    assert "Đã thu hồi" in body
    assert "/revoke" not in body
    assert "HX-Request" in response.headers["Vary"]
    assert revoked_at(app, holder.used) is not None
    # the token no longer works; the user's others do
    assert bearer(client, holder.tokens["used"]).status_code == 401
    assert bearer(client, holder.tokens["unused"]).status_code == 200
    [event] = revoke_events(app)
    assert (event.actor_id, event.subject_id, event.details) == (
        holder.person.id, holder.used, {"name": "máy tính bảng", "via": "settings"})


def test_revoke_without_javascript_goes_back_to_the_settings(app, holder, login, client):
    browser = login(holder.person)
    token = csrf_from(browser.get(SETTINGS).get_data(as_text=True))
    response = browser.post(f"/account/tokens/{holder.unused}/revoke",
                            data={"csrf_token": token})
    assert response.status_code == 303
    assert response.headers["Location"] == "/account/settings#api-tokens"
    assert flashes(browser) == ["API token “script hằng đêm” đã không còn dùng được."]
    page = text(browser.get(SETTINGS))
    assert "Đã thu hồi" in row_html(page, holder.unused)
    assert bearer(client, holder.tokens["unused"]).status_code == 401
    assert bearer(client, holder.tokens["used"]).status_code == 200


def test_revoking_an_ended_token_changes_nothing(app, holder, login):
    browser = login(holder.person)
    token = csrf_from(browser.get(SETTINGS).get_data(as_text=True))
    before = revoked_at(app, holder.revoked)
    for token_id in (holder.revoked, holder.expired):
        response = browser.post(f"/account/tokens/{token_id}/revoke",
                                data={"csrf_token": token}, headers=HX)
        assert response.status_code == 200
    assert revoked_at(app, holder.revoked) == before
    assert revoked_at(app, holder.expired) is None
    assert revoke_events(app) == []


@pytest.mark.parametrize("htmx", [False, True])
def test_someone_elses_token_is_404_and_nothing_changes(app, holder, login, client, htmx):
    with app.app_context():
        intruder = person_of(make_user(name="Kẻ Lạ", is_staff=True))
        db.session.commit()
    browser = login(intruder)
    token = csrf_from(browser.get(SETTINGS).get_data(as_text=True))
    response = browser.post(f"/account/tokens/{holder.used}/revoke",
                            data={"csrf_token": token}, headers=HX if htmx else {})
    assert response.status_code == 404
    assert "máy tính bảng" not in text(response)
    assert "Không tìm thấy API token này trong các token của bạn." in (
        text(response) if not htmx else " ".join(flashes(browser)))
    if htmx:
        assert response.headers["HX-Redirect"] == "/account/settings#api-tokens"
    assert revoked_at(app, holder.used) is None
    assert revoke_events(app) == []
    assert bearer(client, holder.tokens["used"]).status_code == 200


def test_an_unknown_token_id_is_404(app, holder, login):
    browser = login(holder.person)
    token = csrf_from(browser.get(SETTINGS).get_data(as_text=True))
    for token_id in (0, holder.used + 1000, 2**63 - 1):
        assert browser.post(f"/account/tokens/{token_id}/revoke",
                            data={"csrf_token": token}).status_code == 404
    assert browser.post(f"/account/tokens/{2**63}/revoke",
                        data={"csrf_token": token}).status_code == 404


def test_revoke_needs_a_login_and_a_post(app, holder, client):
    token = csrf_from(client.get("/account/login").get_data(as_text=True))
    response = client.post(f"/account/tokens/{holder.used}/revoke", data={"csrf_token": token})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/account/login?next=")
    assert client.get(f"/account/tokens/{holder.used}/revoke").status_code == 405
    assert revoked_at(app, holder.used) is None


# --- logging out ------------------------------------------------------------------------


def test_logout_revokes_every_token_of_the_user(app, holder, login, client):
    with app.app_context():
        bystander = make_user()
        theirs = api_token_create(user=bystander, name="bystander")
        db.session.commit()
    browser = login(holder.person)
    for token in holder.tokens.values():
        assert bearer(client, token).status_code == 200
    token = csrf_from(browser.get(SETTINGS).get_data(as_text=True))
    assert browser.post("/account/logout", data={"csrf_token": token}).status_code == 303
    for token in holder.tokens.values():
        response = bearer(client, token)
        assert response.status_code == 401
        assert response.get_json()["error"]["code"] == "unauthorized"
    assert bearer(client, theirs).status_code == 200
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "account.logout"))
        assert event.details == {"api_tokens_revoked": 2}
