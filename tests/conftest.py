"""Shared fixtures. TEST_DATABASE=sqlite (default) or postgresql picks the database.

The schema is built once per run by the migrations (never create_all), so every test
also exercises them; after each test the rows are deleted, lookups excepted.
"""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from types import SimpleNamespace

import pytest
from flask_babel import force_locale
from flask_migrate import upgrade
from sqlalchemy import event, select

from app import create_app
from app.extensions import db, limiter
from app.models.accounts import StaffFactor, User
from tests.factories import PASSWORD, authenticator_code, make_user
from tests.notifications.servers import SmsGateway, SmtpServer
from tests.pages import csrf_of

LOOKUP_TABLES = {"relationships", "relationship_inverse_mapping", "connection_permission_types",
                 "alembic_version"}
BACKEND = os.environ.get("TEST_DATABASE", "sqlite")
if BACKEND not in ("sqlite", "postgresql"):
    raise RuntimeError("TEST_DATABASE must be sqlite or postgresql")


@pytest.fixture(scope="session")
def pg_server():
    """The run's PostgreSQL server, started only when a test asks for it."""
    from tests.pgserver import PostgresServer

    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server():
    """The run's Redis server (tests/redisserver.py), started only when a test asks for it."""
    from tests.redisserver import RedisServer

    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def fresh_database_url(request, tmp_path_factory):
    """A factory of empty databases of the backend under test."""

    def make(name: str | None = None) -> str:
        name = name or "fc_" + uuid.uuid4().hex[:12]
        if BACKEND == "postgresql":
            return request.getfixturevalue("pg_server").create_database(name)
        return "sqlite:///" + str(tmp_path_factory.mktemp("db") / f"{name}.sqlite3")

    return make


_made_apps: list = []


def make_app(database_url: str, *, keep: bool = False, **overrides):
    """An app for the test config; its database connections are closed after the test
    (unless keep=True, for the session's app)."""
    config = {"APP_ENV": "test", "DATABASE_URL": database_url, "SECRET_KEY": "test-" + "k" * 40,
              "PUBLIC_BASE_URL": "http://portal.test"}
    if overrides.get("APP_ENV") == "production":
        # Production answers only the host of its public address (TRUSTED_HOSTS), and the
        # test client addresses the app as localhost.
        config["PUBLIC_BASE_URL"] = "https://localhost"
        # The test client is this one process: its memory:// rate limits count every
        # request (production refuses memory:// unless one process is declared).
        config["WEB_CONCURRENCY"] = 1
    config.update(overrides)
    if config["APP_ENV"] == "test":
        # The test client speaks plain HTTP, so the suite turns the Secure cookie flag off
        # (APP_ENV=test alone keeps it on, as everywhere but development).
        config.setdefault("SESSION_COOKIE_SECURE", False)
        # Tests resend and re-invite at once; tests/invites/test_pace.py turns the pace on.
        config.setdefault("INVITE_MESSAGE_SECONDS", 0)
    application = create_app(config)
    if not keep:
        _made_apps.append(application)
    return application


def migrated_app(database_url: str, **kwargs):
    """make_app(database_url, **kwargs) on a database the migrations have brought to the
    schema's head, as `flask db upgrade` leaves it."""
    application = make_app(database_url, **kwargs)
    with application.app_context():
        upgrade()
        db.session.remove()
    return application


@pytest.fixture(autouse=True)
def _close_made_apps():
    yield
    while _made_apps:
        with _made_apps.pop().app_context():
            db.engine.dispose()


@pytest.fixture(scope="session")
def app(fresh_database_url, tmp_path_factory):
    os.environ.setdefault("INSTANCE_PATH", str(tmp_path_factory.mktemp("instance")))
    application = migrated_app(fresh_database_url("fc_main"), keep=True)
    yield application
    with application.app_context():
        db.engine.dispose()


@pytest.fixture(autouse=True)
def _clean(request):
    yield
    if "app" not in request.fixturenames:
        return
    application = request.getfixturevalue("app")
    with application.app_context():
        db.session.remove()
        with db.engine.begin() as conn:
            for table in reversed(db.metadata.sorted_tables):
                if table.name not in LOOKUP_TABLES:
                    conn.execute(table.delete())
        limiter.reset()


@pytest.fixture
def app_ctx(app):
    with app.app_context():
        yield
        db.session.rollback()
        db.session.remove()


@pytest.fixture
def run(app):
    """Run a function inside its own app context, commit, and return its result (for
    setting up rows between test-client requests, which must not share a context)."""

    def call(fn, *args, **kwargs):
        with app.app_context():
            result = fn(*args, **kwargs)
            db.session.commit()
            return result

    return call


@pytest.fixture
def client(app):
    return app.test_client()


@contextmanager
def listening(target, name: str, record):
    """Call record(...) on every `name` event of `target` (an engine, or Engine for all)
    inside the block."""
    event.listen(target, name, record)
    try:
        yield
    finally:
        event.remove(target, name, record)


@pytest.fixture
def count_queries(app):
    """Counts the SQL statements run inside `with count_queries() as statements:`.

    It needs no app context of its own: a test client request made while one is pushed
    would reuse it, and its session's identity map would hide queries.
    """
    with app.app_context():
        engine = db.engine

    @contextmanager
    def counting():
        statements: list[str] = []
        with listening(engine, "before_cursor_execute",
                       lambda _conn, _cursor, statement, *_args: statements.append(statement)):
            yield statements

    return counting


@pytest.fixture
def ctx(app_ctx):
    """An app context whose messages are English (the suite's stable strings)."""
    with force_locale("en"):
        yield


@pytest.fixture
def vi_ctx(app_ctx):
    """An app context whose messages are Vietnamese, as a CLI command or worker would set."""
    with force_locale("vi"):
        yield


def person_of(user) -> SimpleNamespace:
    """What a page test needs of a user once its session is gone: id, phone, name, email."""
    return SimpleNamespace(id=user.id, phone=user.phone, name=user.name, email=user.email)


def new_person(app, **fields) -> SimpleNamespace:
    """A committed user (the factories' password) who reads English unless locale= says
    otherwise (our strings are stable in English), as person_of() gives it."""
    with app.app_context():
        user = make_user(**({"locale": "en"} | fields))
        db.session.commit()
        return person_of(user)


@pytest.fixture
def person(app):
    """person(**fields) → new_person(app, **fields)."""
    return lambda **fields: new_person(app, **fields)


def sign_in(c, login: str, password: str = PASSWORD, **kwargs):
    """Post the login form from the test client `c` (which keeps its session) with a phone
    number or email; the response (303 when it worked)."""
    return c.post("/account/login", data={"login": login, "password": password,
                                          "csrf_token": csrf_of(c)}, **kwargs)


def log_in(app, who):
    """A new test client logged in as `who` (anything with a .phone; the factories'
    password). A staff member who has set up the authenticator passes the staff area's
    code step too (issue 21), as the staff member would right after logging in."""
    c = app.test_client()
    assert sign_in(c, who.phone).status_code == 303
    with app.app_context():
        user = db.session.scalar(select(User).where(User.phone == who.phone))
        enrolled = user.staff_role and db.session.get(StaffFactor, user.id) is not None
        code = authenticator_code(user.id) if enrolled else None
    if code is not None:
        answer = c.post("/staff/factor", data={"code": code, "csrf_token": csrf_of(c)})
        assert answer.status_code == 303, answer.get_data(as_text=True)
    return c


@pytest.fixture
def login(app):
    """login(who) → a new test client logged in as who."""
    return lambda who: log_in(app, who)


@pytest.fixture
def csrf(client):
    """The CSRF token of the test client's session (fetched from the home page)."""

    def token(c=None) -> str:
        return csrf_of(c or client)

    return token


def pytest_report_header(config):
    return f"database backend: {BACKEND}"


# --- real SMTP and SMS servers on 127.0.0.1 (tests/notifications/servers.py) ----------


@pytest.fixture
def smtp():
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def gateway():
    server = SmsGateway().start()
    yield server
    server.stop()


@pytest.fixture
def configure(app, monkeypatch):
    """Set config keys of the session app for this test only (channels read them per send)."""
    monkeypatch.setitem(app.config, "SMS_GATEWAY_URL", "")
    monkeypatch.setitem(app.config, "SMS_GATEWAY_TOKEN", "")
    monkeypatch.setitem(app.config, "SMTP_HOST", "")

    def set_config(**values):
        for key, value in values.items():
            monkeypatch.setitem(app.config, key, value)

    return set_config


@pytest.fixture
def use_smtp(configure, smtp):
    configure(SMTP_HOST=smtp.host, SMTP_PORT=smtp.port,
              MAIL_FROM="Family Connect <no-reply@portal.test>")
    return smtp


@pytest.fixture
def use_gateway(configure, gateway):
    configure(SMS_GATEWAY_URL=gateway.url, SMS_GATEWAY_TOKEN="gw-secret")
    return gateway
