"""The application shell: configuration, security headers, htmx, SQLite settings."""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from app import create_app
from app.config import ConfigError
from app.extensions import db
from tests.conftest import make_app

ROOT = Path(__file__).resolve().parents[2]


def test_production_refuses_a_missing_secret_key(monkeypatch, tmp_path):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app({"APP_ENV": "production"})


def test_production_refuses_a_short_secret_key(monkeypatch, tmp_path):
    monkeypatch.setenv("SECRET_KEY", "short")
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    with pytest.raises(ConfigError, match="at least 32"):
        create_app({"APP_ENV": "production"})


def test_development_keeps_one_random_key_under_instance(monkeypatch, tmp_path):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    first = create_app({"APP_ENV": "development"})
    second = create_app({"APP_ENV": "development"})
    assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"]
    assert len(first.config["SECRET_KEY"]) >= 32
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
    # Without DATABASE_URL the database is a SQLite file under instance/.
    assert first.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path}/family_connect.sqlite3"


def test_postgres_urls_use_psycopg3(monkeypatch, tmp_path):
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    app = create_app({"APP_ENV": "test", "DATABASE_URL": "postgres://u@db.internal/fc"})
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@db.internal/fc"


def test_unknown_app_env_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    with pytest.raises(ConfigError, match="APP_ENV"):
        create_app({"APP_ENV": "staging"})


def test_security_headers_and_strict_csp(client):
    response = client.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_pages_have_no_inline_script_or_style(client):
    html = client.get("/account/register").get_data(as_text=True)
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert "style=" not in html
    assert "<style" not in html


def test_htmx_is_vendored_2_0_and_configured_for_the_csp(client):
    html = client.get("/").get_data(as_text=True)
    src = re.search(r'<script src="([^"]+htmx[^"]+)"', html).group(1)
    assert src.startswith("/static/")
    body = client.get(src)
    assert body.status_code == 200
    assert b'version:"2.0.' in body.data
    body.close()
    config = json.loads(re.search(r"<meta name=\"htmx-config\" content='([^']+)'", html).group(1))
    assert config["allowEval"] is False
    assert config["includeIndicatorStyles"] is False
    assert config["selfRequestsOnly"] is True
    # Every answer is swapped: a form's 401/403/422/429 carries its message in place, any
    # other error is retargeted into the live region (app/errors.py); none is silent.
    assert config["responseHandling"] == [{"code": "204", "swap": False},
                                          {"code": "[2345]..", "swap": True}]
    # The CSRF token rides on every htmx request from <body>.
    assert re.search(r"<body hx-headers='\{\"X-CSRFToken\": \"[^\"]+\"\}'>", html)


def test_no_page_loads_anything_from_another_site():
    pattern = re.compile(r"(src|href)=\"(https?:)?//", re.I)
    offenders = [str(p) for p in (ROOT / "templates").rglob("*.html")
                 if pattern.search(p.read_text())]
    assert offenders == []


def test_unknown_page_is_a_translated_404(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert "Không tìm thấy trang" in response.get_data(as_text=True)


def test_sqlite_connections_enforce_foreign_keys_wal_and_busy_timeout(tmp_path):
    app = make_app("sqlite:///" + str(tmp_path / "p.sqlite3"))
    with app.app_context():
        with db.engine.connect() as conn:
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 5000
        db.engine.dispose()


def test_sqlite_transactions_begin_immediate(tmp_path):
    """A transaction takes the write lock when it begins, not at its first write: a second
    writer waits at BEGIN instead of failing half-way after it has read stale data."""
    path = tmp_path / "lock.sqlite3"
    app = make_app("sqlite:///" + str(path))
    with app.app_context():
        with db.engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (n INTEGER)"))
        holder = db.engine.connect()
        holder.execute(text("SELECT 1"))  # only a read, inside SQLAlchemy's transaction
        try:
            other = sqlite3.connect(path, timeout=0.2, isolation_level=None)
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
            other.close()
        finally:
            holder.rollback()
            holder.close()
        db.engine.dispose()


def test_sqlite_get_takes_the_lock_only_at_its_first_write(tmp_path):
    """A GET reads without the write lock (two workers serve pages side by side); its first
    write begins IMMEDIATE, so the lock is held from there and its writes are one
    transaction: a rollback takes back every one of them."""
    path = tmp_path / "lazy.sqlite3"
    app = make_app("sqlite:///" + str(path))
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (n INTEGER)"))
    other = sqlite3.connect(path, timeout=0.2, isolation_level=None)

    def can_lock() -> bool:
        try:
            other.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            return False
        other.execute("ROLLBACK")
        return True

    try:
        with app.test_request_context("/", method="GET"):
            db.session.execute(text("SELECT count(*) FROM t"))
            assert can_lock(), "a GET that only reads holds the write lock"
            db.session.execute(text("INSERT INTO t VALUES (1)"))
            assert not can_lock(), "a GET's write ran outside a transaction"
            db.session.execute(text("INSERT INTO t VALUES (2)"))
            db.session.rollback()
            assert can_lock()
            assert db.session.execute(text("SELECT count(*) FROM t")).scalar() == 0
            db.session.remove()
        with app.test_request_context("/", method="POST"):
            db.session.execute(text("SELECT count(*) FROM t"))
            assert not can_lock(), "a POST must take the lock when it begins"
            db.session.rollback()
            db.session.remove()
    finally:
        other.close()
        with app.app_context():
            db.engine.dispose()


def test_concurrent_writers_on_sqlite_queue_instead_of_failing(tmp_path):
    app = make_app("sqlite:///" + str(tmp_path / "queue.sqlite3"))
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(text("CREATE TABLE counter (n INTEGER)"))
        conn.execute(text("INSERT INTO counter VALUES (0)"))
    errors: list[Exception] = []

    def bump():
        try:
            with app.app_context():
                for _ in range(20):
                    with db.engine.begin() as conn:
                        n = conn.execute(text("SELECT n FROM counter")).scalar()
                        conn.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with app.app_context():
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT n FROM counter")).scalar() == 80
        db.engine.dispose()
    assert errors == []


def test_pages_for_users_are_no_store_and_static_files_cost_no_query(app, client, csrf,
                                                                       count_queries):
    from tests.factories import PASSWORD, make_user, national

    with app.app_context():
        phone = national(make_user().phone)
        db.session.commit()
    client.post("/account/login", data={"login": phone, "password": PASSWORD,
                                        "csrf_token": csrf()})
    assert client.get("/").headers["Cache-Control"] == "no-store"
    with count_queries() as statements:
        response = client.get("/static/css/app.css")
        response.close()
    assert response.status_code == 200
    assert statements == []


@pytest.mark.parametrize(("env", "secure"), [("development", False), ("test", True),
                                             ("production", True)])
def test_session_cookie_is_secure_outside_development(monkeypatch, tmp_path, env, secure):
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("SECRET_KEY", "s" * 40)
    monkeypatch.delenv("SESSION_COOKIE_SECURE", raising=False)
    app = create_app({"APP_ENV": env, "DATABASE_URL": f"sqlite:///{tmp_path}/c.sqlite3",
                      "WEB_CONCURRENCY": 1})  # one process: production allows memory://
    assert app.config["SESSION_COOKIE_SECURE"] is secure
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_pages_vary_on_hx_request(client):
    # A cache must not hand the whole page to htmx or the fragment to a browser.
    for headers in ({}, {"HX-Request": "true"}):
        assert "HX-Request" in client.get("/account/login", headers=headers).headers["Vary"]


def test_client_address_comes_from_the_proxy_only_when_told(monkeypatch, tmp_path):
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    url = f"sqlite:///{tmp_path}/p.sqlite3"
    seen = []
    for hops in ("0", "1"):
        monkeypatch.setenv("PROXY_FIX_HOPS", hops)
        app = create_app({"APP_ENV": "test", "DATABASE_URL": url})

        @app.get("/_addr")
        def _addr():
            from flask import request

            return request.remote_addr or ""

        seen.append(app.test_client().get("/_addr", headers={"X-Forwarded-For": "203.0.113.9"})
                    .get_data(as_text=True))
    assert seen == ["127.0.0.1", "203.0.113.9"]


def test_an_unexpected_error_is_a_translated_page_without_a_traceback(tmp_path, caplog):
    app = make_app("sqlite:///" + str(tmp_path / "e.sqlite3"))

    @app.get("/_boom")
    def _boom():
        raise RuntimeError("secret internals")

    response = app.test_client().get("/_boom")
    body = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "Đã xảy ra lỗi không mong muốn" in body
    assert "secret internals" not in body
    assert "Traceback" not in body
    # ... while the log keeps the whole story for the operators.
    assert "secret internals" in caplog.text


@pytest.mark.parametrize("path", ["/family/99999999999999999999999",
                                  "/api/v1/families/99999999999999999999999",
                                  "/api/v1/users/9223372036854775808"])
def test_an_id_beyond_bigint_is_a_404_not_a_database_overflow(app, client, path):
    from tests.factories import PASSWORD, make_user

    with app.app_context():
        user = make_user()
        db.session.commit()
        login = user.phone
    page = client.get("/account/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    client.post("/account/login", data={"login": login, "password": PASSWORD,
                                        "csrf_token": token})
    response = client.get(path)
    assert response.status_code == 404


@pytest.mark.parametrize("limit", [0, 7, 10, 99, 100, 105, 2**31 - 1, 2**63 - 1])
def test_the_id_regex_matches_exactly_the_numbers_up_to_its_limit(limit):
    from app import digits_up_to

    pattern = re.compile(digits_up_to(limit) + r"\Z")
    near = {0, 1, 9, 10, 99, 100, 101, limit - 1, limit, limit + 1, limit * 10, limit + 10}
    for n in sorted(n for n in near if n >= 0):
        assert bool(pattern.match(str(n))) == (n <= limit), (limit, n)


def test_an_id_past_bigint_is_404_not_405(client):
    # /api/v1/invites/<id> has DELETE only; a GET of a too-large id matches no rule.
    assert client.get(f"/api/v1/invites/{2**63}").status_code == 404
    assert client.delete(f"/api/v1/invites/{2**63}").status_code == 404
