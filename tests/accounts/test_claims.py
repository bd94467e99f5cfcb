"""Claim links of accounts created by the legacy import (SPEC §8): written to the outbox,
delivered by the real worker to the SMS gateway on 127.0.0.1, and used once on the claim
page; an unclaimed account cannot be logged into by typing its number."""

from __future__ import annotations

import logging
import re
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app.accounts.claims import account_claim
from app.db import utcnow
from app.errors import DomainError
from app.extensions import db
from app.logging_filters import RedactLinkTokens
from app.models.accounts import AccountClaim, User
from app.models.audit import AuditEvent
from app.models.notifications import InviteNotification
from app.outbox.delivery import deliver_due
from tests.conftest import BACKEND
from tests.legacy.helpers import record, run_import, snapshot, write
from tests.pages import csrf_from

ADMIN, PATIENT = "+84912000010", "+84912000011"
NEW_PASSWORD = "nhamoi-2026"
LINK = re.compile(r"http://portal\.test/claim/([A-Za-z0-9_-]+)")
CSRF = re.compile(r'"[\w-]+\.[\w-]+\.[\w-]+"')  # a signed, timed CSRF token


@pytest.fixture
def imported(app, tmp_path):
    """One family imported: the admin and a patient created, each with a claim link."""
    path = write(tmp_path, [record("family_1", "0912000010", patients=["0912000011"])])
    result = run_import(app, path)
    assert result.exit_code == 0, result.output


def links_sent(app, gateway) -> dict[str, str]:
    """Deliver the outbox through the gateway; phone → the token in the SMS."""
    with app.app_context():
        deliver_due()
    found = {}
    for request in gateway.requests:
        match = LINK.search(request.body["text"])
        if match:
            found[request.body["to"]] = match.group(1)
    return found


def user_of(app, phone: str) -> User:
    with app.app_context():
        return db.session.scalar(select(User).where(User.phone == phone))


def post_claim(client, token: str, password: str = NEW_PASSWORD, csrf: str | None = None):
    page = client.get(f"/claim/{token}")
    csrf = csrf if csrf is not None else csrf_from(page.get_data(as_text=True))
    return client.post(f"/claim/{token}", data={"password": password, "csrf_token": csrf})


def test_the_worker_sends_each_created_user_a_link_that_works_once(app, imported, use_gateway,
                                                                   client):
    links = links_sent(app, use_gateway)
    assert set(links) == {ADMIN, PATIENT}
    sms = next(r for r in use_gateway.requests if r.body["to"] == PATIENT)
    assert "Nguyễn Văn Bình" in sms.body["text"]  # Vietnamese, with the name on record
    with app.app_context():
        rows = db.session.scalars(select(InviteNotification)).all()
        assert {r.status for r in rows} == {"sent"}
        assert all("sealed_token" not in r.payload for r in rows)  # dropped once sent

    token = links[PATIENT]
    page = client.get(f"/claim/{token}")
    assert page.status_code == 200
    assert "Nguyễn Văn Bình" in page.get_data(as_text=True)
    response = post_claim(client, token)
    assert response.status_code == 303
    assert client.get("/account/settings").status_code == 200  # logged in
    patient = user_of(app, PATIENT)
    assert patient.password_hash
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "account.claimed"))
        assert event.actor_id == patient.id

    again = app.test_client()
    response = post_claim(again, token, "khac-2026x")
    assert response.status_code == 409
    assert "Liên kết đăng nhập này đã được dùng" in response.get_data(as_text=True)
    # the password chosen with the link now logs in
    login = app.test_client()
    csrf = csrf_from(login.get("/account/login").get_data(as_text=True))
    assert login.post("/account/login", data={"login": "0912 000 011", "password": NEW_PASSWORD,
                                              "csrf_token": csrf}).status_code == 303


def test_the_claim_page_sends_no_referrer_no_store_and_get_changes_nothing(
        app, imported, use_gateway, client):
    token = links_sent(app, use_gateway)[ADMIN]
    before = snapshot(app)
    for _i in range(2):
        page = client.get(f"/claim/{token}")
        assert page.status_code == 200
        assert page.headers["Referrer-Policy"] == "no-referrer"
        assert page.headers["Cache-Control"] == "no-store"
    assert snapshot(app) == before
    refused = client.get("/claim/not-a-token")
    assert refused.headers["Referrer-Policy"] == "no-referrer"
    assert refused.headers["Cache-Control"] == "no-store"


def test_expired_used_and_unknown_links_show_a_clear_page(app, imported, use_gateway, client):
    links = links_sent(app, use_gateway)
    unknown = client.get("/claim/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
    assert unknown.status_code == 404
    assert "Không tìm thấy liên kết đăng nhập" in unknown.get_data(as_text=True)
    with app.app_context():
        db.session.execute(update(AccountClaim).values(expires_at=utcnow() - timedelta(1)))
        db.session.commit()
    expired = client.get(f"/claim/{links[ADMIN]}")
    assert expired.status_code == 410
    assert "Liên kết đăng nhập này đã hết hạn" in expired.get_data(as_text=True)
    assert "Traceback" not in expired.get_data(as_text=True)
    before = snapshot(app)
    assert client.post(f"/claim/{links[ADMIN]}", data={"password": NEW_PASSWORD}
                       ).status_code in (400, 410)
    assert snapshot(app) == before
    assert user_of(app, ADMIN).password_hash is None


def test_a_post_without_csrf_or_with_a_weak_password_changes_nothing(app, imported,
                                                                    use_gateway, client):
    token = links_sent(app, use_gateway)[ADMIN]
    before = snapshot(app)
    assert post_claim(client, token, csrf="forged").status_code == 400
    weak = post_claim(client, token, password="12345678")
    assert weak.status_code == 422
    assert snapshot(app) == before
    assert post_claim(client, token).status_code == 303


def test_an_unclaimed_account_cannot_log_in_with_any_password(app, imported, client):
    answers = []
    for login, password in (("0912000010", ""), ("0912000010", "anything-1"),
                            ("0912999999", "anything-1")):
        csrf = csrf_from(client.get("/account/login").get_data(as_text=True))
        response = client.post("/account/login", data={"login": login, "password": password,
                                                       "csrf_token": csrf})
        answers.append((response.status_code, "không đúng" in response.get_data(as_text=True)))
    # an empty password fails the form (422); a typed one gets the wrong-password answer,
    # the same as for a number with no account at all
    assert answers[1] == answers[2] == (401, True)
    assert answers[0][0] in (401, 422)
    assert client.get("/account/settings").status_code == 302  # still logged out


def test_two_posts_of_one_link_at_once_cannot_both_win(app, imported, use_gateway):
    token = links_sent(app, use_gateway)[ADMIN]
    outcomes = []

    def claim(password: str, barrier: threading.Barrier | None = None) -> None:
        with app.app_context():
            try:
                if barrier:
                    barrier.wait()
                account_claim(token=token, password=password)
                db.session.commit()
                outcomes.append("won")
            except DomainError as exc:
                db.session.rollback()
                outcomes.append(exc.code)
            finally:
                db.session.remove()

    if BACKEND == "sqlite":
        # SQLite serialises writers (BEGIN IMMEDIATE): the second claim runs after the first.
        for password in (NEW_PASSWORD, "khac-2026x"):
            claim(password)
        assert outcomes == ["won", "claim_used"]
        return
    barrier = threading.Barrier(2)
    threads = [threading.Thread(target=claim, args=(p, barrier))
               for p in (NEW_PASSWORD, "khac-2026x")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["claim_used", "won"]


def test_a_new_link_voids_the_old_one_and_answers_the_same_for_any_phone(
        app, imported, use_gateway, client):
    old = links_sent(app, use_gateway)[PATIENT]
    use_gateway.requests.clear()

    def ask(phone: str):
        csrf = csrf_from(client.get("/account/new-link").get_data(as_text=True))
        return client.post("/account/new-link", data={"phone": phone, "csrf_token": csrf})

    known = ask("0912 000 011")
    before = snapshot(app)
    unknown = ask("0912 999 999")
    assert snapshot(app) == before  # nothing written for a number with no account
    assert known.status_code == unknown.status_code == 200
    # the same page (but for the CSRF tokens, which carry the second they were made in)
    assert 'id="claim-link-sent"' in known.get_data(as_text=True)
    assert CSRF.sub("", known.get_data(as_text=True)) == CSRF.sub(
        "", unknown.get_data(as_text=True))
    assert client.get(f"/claim/{old}").status_code == 410  # the old link is void
    new = links_sent(app, use_gateway)
    assert list(new) == [PATIENT]
    assert post_claim(client, new[PATIENT]).status_code == 303
    # a claimed account gets no new link
    other = app.test_client()
    csrf = csrf_from(other.get("/account/new-link").get_data(as_text=True))
    assert other.post("/account/new-link", data={"phone": "0912000011", "csrf_token": csrf}
                      ).status_code == 200
    assert links_sent(app, use_gateway) == new


def test_asking_for_new_links_is_rate_limited_like_login(app, imported, client):
    codes = []
    for i in range(11):
        csrf = csrf_from(client.get("/account/new-link").get_data(as_text=True))
        codes.append(client.post("/account/new-link", data={
            "phone": f"0912 999 9{i:02d}", "csrf_token": csrf}).status_code)
    assert codes[:10] == [200] * 10
    assert codes[10] == 429


def test_the_new_link_limit_per_account_is_per_phone(app, imported, monkeypatch):
    """The per-account bucket is keyed on the phone the form posts (issue 15, F2): it was
    keyed on a `login` field the form does not have, so every request shared one bucket and
    anyone could stop every imported user from asking for a link. Each request comes from
    a new address, so that only the per-phone bucket can refuse."""
    monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT", "3 per minute")
    addresses = (f"10.15.2.{n}" for n in range(1, 100))

    def ask(phone: str) -> int:
        client = app.test_client()
        address = {"REMOTE_ADDR": next(addresses)}
        csrf = csrf_from(client.get("/account/new-link", environ_base=address)
                         .get_data(as_text=True))
        return client.post("/account/new-link", data={"phone": phone, "csrf_token": csrf},
                           environ_base=address).status_code

    assert [ask("0912 000 011") for _ in range(3)] == [200] * 3
    # the same phone however typed shares the bucket
    assert [ask(typed) for typed in ("0912000011", "+84 912 000 011", "0912.000.011")] == [
        429] * 3
    # another phone is not refused, known or not
    assert ask("0912 000 012") == 200
    assert ask("0912 999 999") == 200


def test_the_claim_token_never_reaches_a_log_line():
    record_ = logging.LogRecord("werkzeug", logging.INFO, __file__, 1,
                                '%s - - "%s" 200 -', ("127.0.0.1",
                                                      "GET /claim/Secret_Token-123 HTTP/1.1"),
                                None)
    RedactLinkTokens().filter(record_)
    assert "Secret_Token" not in record_.getMessage()
    assert "/claim/[redacted]" in record_.getMessage()


def test_the_access_loggers_carry_the_claim_redaction(app):
    for name in ("werkzeug", "gunicorn.access", "gunicorn.error"):
        assert any(isinstance(f, RedactLinkTokens) for f in logging.getLogger(name).filters)


def test_a_claim_link_that_cannot_be_unsealed_fails_for_good_without_sending(
        app, imported, use_gateway, configure):
    with app.app_context():
        db.session.execute(update(InviteNotification).values(
            payload={"sealed_token": "not-a-fernet-token", "name": "X"}))
        db.session.commit()
        counts = deliver_due()
    assert counts["failed"] == 2
    assert counts["sent"] == 0
    assert use_gateway.requests == []


def test_a_suspended_account_cannot_be_claimed(app, imported, use_gateway, client):
    token = links_sent(app, use_gateway)[ADMIN]
    with app.app_context():
        db.session.execute(update(User).where(User.phone == ADMIN).values(is_active=False))
        db.session.commit()
    assert post_claim(client, token).status_code == 403
    assert user_of(app, ADMIN).password_hash is None


def test_the_login_page_links_to_a_new_sign_in_link(client):
    assert 'href="/account/new-link"' in client.get("/account/login").get_data(as_text=True)
