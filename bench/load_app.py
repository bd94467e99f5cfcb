"""The load benchmark's in-process side (bench/load_bench.py, bench/ratio.py): the app with
the server's settings, an API token through the app's service, the SQL statements of one
request per case (the reference's too, bench/ref_app.py), the invitees' sessions, and the
slot check at the end.

The invitees' sessions are made here rather than by logging each one in over HTTP: a
login verifies an argon2 hash (tens of milliseconds and 64 MB each), and the accept pool
has thousands of invitees. They are the app's own sessions all the same — start_session()
(the login's function) in a request context, signed by the app's session interface with
the server's SECRET_KEY — and the benchmark checks that one of them works over HTTP.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlencode

from flask import Flask
from sqlalchemy import bindparam, event, select, text

from bench.load_generate import CAREGIVER_RELATIONSHIP, Fixture, PoolInvite
from bench.staff_generate import PASSWORD

USER_AGENT = "fc-load-bench/1"  # the sessions are bound to it (Flask-Login's identifier)
HIGH_LIMIT = "1000000 per minute"  # LOGIN_RATE_LIMIT: the limits stay on, out of the way
TOGGLE_CODES = ("emergency_alert", "task_config", "compliance_tracking", "proxy_execution",
                "encouragement")  # health_overview stays ON (BR-039 keeps one ON anyway)
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


class BenchError(Exception):
    """The app did not answer as the benchmark expects (before any load)."""


def settings(database_url: str, secret: str, base_url: str,
             limits_url: str = "memory://") -> dict[str, str]:
    """The server's environment: production, plain HTTP on loopback, limits high, counted
    in `limits_url` (the gunicorn workers share a Redis, as production's must)."""
    return {"APP_ENV": "production", "DATABASE_URL": database_url, "SECRET_KEY": secret,
            "FORCE_HTTPS": "0", "SESSION_COOKIE_SECURE": "0", "PUBLIC_BASE_URL": base_url,
            "LOGIN_RATE_LIMIT": HIGH_LIMIT, "RATELIMIT_STORAGE_URI": limits_url,
            "LOG_LEVEL": "WARNING", "PAYMENT_PROVIDER": "local"}


def build_app(database_url: str, secret: str, base_url: str) -> Flask:
    """The server's app in this process, for its test client (which addresses it as
    localhost, a host production refuses unless trusted). One process: its limits count
    in its memory (WEB_CONCURRENCY=1 says so)."""
    from urllib.parse import urlsplit

    from app import create_app

    env = settings(database_url, secret, base_url)
    return create_app({**env, "FORCE_HTTPS": False, "SESSION_COOKIE_SECURE": False,
                       "WEB_CONCURRENCY": 1,
                       "TRUSTED_HOSTS": [urlsplit(base_url).hostname, "localhost"]})


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    if found is None:
        raise BenchError("the page has no CSRF token")
    return found.group(1)


def api_token(app: Flask, user_id: int) -> str:
    """A personal API token for the user, made by the app's service."""
    from app.accounts.services import api_token_create
    from app.extensions import db
    from app.models.accounts import User

    with app.app_context():
        token = api_token_create(user=db.session.get(User, user_id), name="load bench")
        db.session.commit()
    return token


@contextmanager
def counting(app: Flask, database=None):
    """The SQL statements sent while inside (transaction control — BEGIN, COMMIT… — not
    counted: SQLite's BEGIN IMMEDIATE goes through the cursor, PostgreSQL's does not), by
    the app's Flask-SQLAlchemy `database` (the portal's by default; bench/ref_app.py's)."""
    from app.extensions import db

    with app.app_context():
        engine = (database or db).engine
    statements: list[str] = []

    def before(_conn, _cursor, statement, *_args):
        if not statement.lstrip().upper().startswith(_CONTROL):
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", before)


@dataclass(frozen=True)
class LoginForm:
    """A login page: where it is, how it names the phone field, the password every
    benchmark account has, its session cookie, and who it is (for error messages)."""

    path: str
    phone_field: str
    password: str
    cookie: str
    who: str

    def body(self, phone: str, csrf: str) -> dict[str, str]:
        return {self.phone_field: phone, "password": self.password, "csrf_token": csrf}


PORTAL_LOGIN = LoginForm("/account/login", "login", PASSWORD, "fc_session", "the portal")


def reference_login() -> LoginForm:
    from bench.ref_app import PASSWORD as REF_PASSWORD

    return LoginForm("/login", "phone", REF_PASSWORD, "session", "the reference")


def signed_in(app: Flask, phone: str, form: LoginForm):
    """A test client of `app` signed in through its login page."""
    client = app.test_client()
    token = csrf_of(client.get(form.path).get_data(as_text=True))
    answer = client.post(form.path, data=form.body(phone, token))
    if answer.status_code != 303:
        raise BenchError(f"{phone} could not log in to {form.who} ({answer.status_code})")
    return client


def logged_in(app: Flask, phone: str):
    """A test client of the portal logged in through the login page."""
    return signed_in(app, phone, PORTAL_LOGIN)


@dataclass
class Count:
    status: int
    statements: int


def _measure(app: Flask, call) -> Count:
    call()  # once to warm the process (its caches), then counted
    with counting(app) as statements:
        answer = call()
    return Count(answer.status_code, len(statements))


def statement_counts(app: Flask, fixture: Fixture, token: str) -> dict[str, Count]:
    """One request per case through the test client, counted after a warm-up request."""
    admin = logged_in(app, fixture.admin_phone)
    caregiver = logged_in(app, fixture.caregiver_phone)
    csrf = csrf_of(admin.get(f"/family/{fixture.group_id}").get_data(as_text=True))
    hx = {"HX-Request": "true"}
    path = f"/connections/{fixture.connections[-1]}/permissions/{TOGGLE_CODES[-1]}"
    off = {"csrf_token": csrf, "enabled": "off", "confirmed": "1", "back": "group"}
    on = {"csrf_token": csrf, "enabled": "on", "back": "group"}
    admin.post(path, data=off, headers=hx)
    admin.post(path, data=on, headers=hx)
    counts = {
        "baseline": _measure(app, lambda: admin.get("/healthz")),
        "group": _measure(app, lambda: admin.get(f"/family/{fixture.group_id}")),
        "patient": _measure(app, lambda: caregiver.get(f"/following/{fixture.patient_id}")),
        "api": _measure(app, lambda: app.test_client().get(
            f"/api/v1/families/{fixture.group_id}",
            headers={"Authorization": f"Bearer {token}"})),
    }
    with counting(app) as turned_off:
        off_status = admin.post(path, data=off, headers=hx).status_code
    with counting(app) as turned_on:
        on_status = admin.post(path, data=on, headers=hx).status_code
    counts["toggle"] = Count(max(off_status, on_status),
                             max(len(turned_off), len(turned_on)))
    counts["toggle_off"] = Count(off_status, len(turned_off))
    counts["toggle_on"] = Count(on_status, len(turned_on))
    accepts = []
    for invite, (cookie, body) in zip(fixture.probes, invitee_sessions(app, fixture.probes),
                                      strict=True):
        client = app.test_client()
        client.set_cookie(app.config["SESSION_COOKIE_NAME"], cookie)
        with counting(app) as statements:
            status = client.post("/i/accept", data=body, headers={
                "Content-Type": "application/x-www-form-urlencoded"}).status_code
        accepts.append(Count(status, len(statements)))
        if status != 303:
            raise BenchError(f"the accept of invite {invite.invite_id} answered {status}")
    counts["accept"] = accepts[-1]  # the first warmed the process
    return counts


def reference_client(app: Flask, phone: str):
    """A test client of the reference (bench/ref_app.py), signed in through its login page."""
    return signed_in(app, phone, reference_login())


def reference_counts(app: Flask, fixture) -> dict[str, Count]:
    """The reference's cases (bench/ref_app.py), counted as statement_counts() counts the
    portal's: /ping, its group page, its toggle (the last target OFF, then ON again)."""
    from bench.ref_app import CODES, db

    owner = reference_client(app, fixture.admin_phone)
    page = f"/groups/{fixture.group_id}"
    csrf = csrf_of(owner.get(page).get_data(as_text=True))
    path = f"/connections/{fixture.connections[-1]}/permissions/{CODES[-1]}"
    counts = {}
    for key, call in (("ref_ping", lambda: owner.get("/ping")),
                      ("ref_page", lambda: owner.get(page))):
        call()
        with counting(app, db) as statements:
            status = call().status_code
        counts[key] = Count(status, len(statements))
    turned = []
    for enabled in ("off", "on"):
        with counting(app, db) as statements:
            status = owner.post(path, data={"csrf_token": csrf, "enabled": enabled}).status_code
        turned.append(Count(status, len(statements)))
    counts["ref_toggle"] = Count(max(c.status for c in turned),
                                 max(c.statements for c in turned))
    wrong = {key: c.status for key, c in counts.items() if c.status != 200}
    if wrong or any(c.status != 200 for c in turned):
        raise BenchError(f"the reference answered {wrong or [c.status for c in turned]}")
    return counts


def profiles(app: Flask, fixture: Fixture, token: str, *, runs: int = 30,
             top: int = 20) -> dict[str, str]:
    """Where a request's time goes: cProfile over `runs` requests per case through the test
    client (after a warm-up one): the functions by cumulative time, then by their own."""
    import cProfile
    import io
    import pstats

    admin = logged_in(app, fixture.admin_phone)
    caregiver = logged_in(app, fixture.caregiver_phone)
    csrf = csrf_of(admin.get(f"/family/{fixture.group_id}").get_data(as_text=True))
    toggle = f"/connections/{fixture.connections[0]}/permissions/{TOGGLE_CODES[0]}"
    flips = iter(range(2 * runs + 2))

    def flip():
        on = next(flips) % 2 == 1
        return admin.post(toggle, headers={"HX-Request": "true"}, data={
            "csrf_token": csrf, "enabled": "on" if on else "off", "confirmed": "1",
            "back": "group"})

    calls = {
        "group": lambda: admin.get(f"/family/{fixture.group_id}"),
        "patient": lambda: caregiver.get(f"/following/{fixture.patient_id}"),
        "api": lambda: app.test_client().get(f"/api/v1/families/{fixture.group_id}",
                                             headers={"Authorization": f"Bearer {token}"}),
        "toggle": flip,
    }
    found = {}
    for key, call in calls.items():
        call()
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(runs):
            call()
        profiler.disable()
        if key == "toggle" and runs % 2 == 0:
            call()  # back ON, as the load tool expects it
        text_out = io.StringIO()
        stats = pstats.Stats(profiler, stream=text_out)
        stats.sort_stats("cumulative").print_stats(top)
        stats.sort_stats("tottime").print_stats(top)
        found[key] = text_out.getvalue()
    return found


def invitee_sessions(app: Flask, invites: Iterable[PoolInvite]) -> list[tuple[str, str]]:
    """(session cookie, accept form body) per invite, its invitee logged in."""
    from flask import g, session
    from flask_wtf.csrf import generate_csrf

    from app.accounts.signin import start_session
    from app.extensions import db
    from app.models.accounts import User

    invites = list(invites)
    signer = app.session_interface.get_signing_serializer(app)
    made: list[tuple[str, str]] = []
    with app.app_context():
        users: dict[int, User] = {}
        ids = [i.user_id for i in invites]
        for at in range(0, len(ids), 500):
            users.update((u.id, u) for u in db.session.scalars(
                select(User).where(User.id.in_(ids[at:at + 500]))))
        for invite in invites:
            with app.test_request_context("/i/accept", headers={"User-Agent": USER_AGENT},
                                          environ_base={"REMOTE_ADDR": "127.0.0.1"}):
                start_session(users[invite.user_id])
                g.pop("csrf_token", None)  # cached per app context, which the loop shares
                csrf = generate_csrf()
                made.append((signer.dumps(dict(session)), urlencode({
                    "csrf_token": csrf, "token": invite.token,
                    "relationship": CAREGIVER_RELATIONSHIP})))
        db.session.rollback()
    return made


SLOTS_SQL = """
SELECT m.group_id, m.role, count(*) AS members, s.patient_slots, s.caregiver_slots
FROM family_group_members m
JOIN family_groups g ON g.id = m.group_id
JOIN subscriptions s ON s.id = g.subscription_id
GROUP BY m.group_id, m.role, s.patient_slots, s.caregiver_slots
HAVING count(*) > CASE WHEN m.role = 'patient' THEN s.patient_slots ELSE s.caregiver_slots END
"""


def slot_check(app: Flask, fixture: Fixture) -> tuple[list[str], int]:
    """Problems found (no member over a plan's slots; every accepted pool invite made its
    caregiver and nothing else), and how many pool invites were accepted."""
    from app.extensions import db

    problems = []
    with app.app_context():
        for row in db.session.execute(text(SLOTS_SQL)):
            problems.append(f"group {row.group_id}: {row.members} {row.role}s for "
                            f"{row.patient_slots}/{row.caregiver_slots} slots")
        pool = {i.invite_id: i for i in [*fixture.pool, *fixture.probes]}
        accepted = 0
        ids = list(pool)
        for at in range(0, len(ids), 500):
            rows = db.session.execute(text(
                "SELECT i.id, i.status, i.receiver_id, m.group_id FROM connection_invites i "
                "LEFT JOIN family_group_members m ON m.user_id = i.receiver_id "
                "AND m.role = 'caregiver' WHERE i.id IN :ids").bindparams(
                    bindparam("ids", expanding=True)), {"ids": ids[at:at + 500]})
            for row in rows:
                joined = row.group_id == pool[row.id].group_id
                accepted += row.status == "accepted"
                if (row.status == "accepted") != joined:
                    problems.append(f"invite {row.id}: {row.status}, member of group "
                                    f"{row.group_id}")
        db.session.rollback()
    return problems, accepted
