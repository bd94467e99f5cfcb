"""Prometheus metrics (issue 20, item 2): GET /metrics behind METRICS_TOKEN, requests by
endpoint and status with latency, 429s, login failures, the outbox's backlog and
deliveries; and several gunicorn workers and an outbox worker process adding up through
PROMETHEUS_MULTIPROC_DIR, on the backend under test.

Counters live in the process, so every test compares a scrape after with one before.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from flask_babel import force_locale
from flask_babel import gettext as _
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select, update

from app.db import utcnow
from app.extensions import db, limiter
from app.metrics import clear_dead_processes
from app.models.notifications import InviteNotification
from app.outbox.delivery import deliver_due
from bench.load_app import BenchError
from bench.load_bench import serving
from tests.conftest import listening, make_app, migrated_app, sign_in
from tests.factories import make_user
from tests.notifications.servers import SmsGateway
from tests.notifications.test_delivery import queue_payment, queue_texts
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "metrics-" + "t" * 32
BEARER = {"Authorization": f"Bearer {TOKEN}"}
N = InviteNotification


# --- helpers ----------------------------------------------------------------------------


def parse(text: str) -> dict[tuple[str, frozenset], float]:
    """(sample name, its labels) → value, from the Prometheus text format."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def scrape(client) -> dict[tuple[str, frozenset], float]:
    response = client.get("/metrics", headers=BEARER)
    assert response.status_code == 200, response.get_data(as_text=True)
    return parse(response.get_data(as_text=True))


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def grew(before, after, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


@pytest.fixture
def metered(app):
    """An app with METRICS_TOKEN on the suite's database (its rows are cleaned after the
    test, as the session app's are), its login limit 3 a minute."""
    application = make_app(app.config["SQLALCHEMY_DATABASE_URI"], METRICS_TOKEN=TOKEN,
                           LOGIN_RATE_LIMIT="3 per minute")
    yield application
    with application.app_context():
        limiter.reset()


# --- the route --------------------------------------------------------------------------


def test_metrics_are_a_404_without_a_configured_token(client):
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers=BEARER).status_code == 404


def test_metrics_answer_only_the_configured_bearer(metered):
    client = metered.test_client()
    missing = client.get("/metrics")
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    with metered.test_request_context(), force_locale("vi"):
        in_vietnamese = _("The metrics need a token: send Authorization: Bearer and the "
                          "METRICS_TOKEN of the portal's settings.")
    with metered.test_request_context(), force_locale("en"):
        assert in_vietnamese != _("The metrics need a token: send Authorization: Bearer and "
                                  "the METRICS_TOKEN of the portal's settings.")
    assert missing.get_data(as_text=True).strip() == in_vietnamese  # the default language
    assert TOKEN not in missing.get_data(as_text=True)
    for header in (f"Basic {TOKEN}", "Bearer", "Bearer ", f"Bearer {TOKEN[:-1]}",
                   f"Bearer {TOKEN}x", "Bearer metrics"):
        status = client.get("/metrics", headers={"Authorization": header}).status_code
        assert status in (401, 403), header
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}x"}
                      ).status_code == 403
    good = client.get("/metrics", headers=BEARER)
    assert good.status_code == 200
    assert good.headers["Content-Type"].startswith("text/plain; version=")
    assert good.headers["Cache-Control"] == "no-store"
    names = {family.name for family in text_string_to_metric_families(
        good.get_data(as_text=True))}
    assert {"familyconnect_http_requests", "familyconnect_http_request_duration_seconds",
            "familyconnect_outbox_backlog", "familyconnect_outbox_due"} <= names
    # Only GET: a POST is not the scrape (405, no CSRF check needed).
    assert client.post("/metrics", headers=BEARER).status_code == 405


def test_requests_are_counted_by_endpoint_and_status(metered, app):
    with app.app_context():
        user = make_user(locale="en")
        db.session.commit()
        phone = user.phone
    client = metered.test_client()
    before = scrape(client)
    for _n in range(3):
        assert client.get("/healthz").status_code == 200
    assert client.get("/no/such/page/abc123").status_code == 404
    static = client.get("/static/css/app.css")
    static.close()
    assert static.status_code == 200
    # Three wrong passwords (the limit is 3 a minute), then a 429 from the login limiter.
    statuses = [sign_in(client, phone, "not-the-password").status_code for _n in range(4)]
    assert statuses == [401, 401, 401, 429]
    # An unknown login through the API, from another address (a fresh bucket).
    api = metered.test_client().post("/api/v1/auth/token", json={
        "login": "0999 999 999", "password": "whatever-1"},
        environ_base={"REMOTE_ADDR": "10.7.7.7"})
    assert api.status_code == 401
    after = scrape(client)

    requests = "familyconnect_http_requests_total"
    assert grew(before, after, requests, endpoint="core.healthz", status="200") == 3
    assert grew(before, after, requests, endpoint="unmatched", status="404") == 1
    assert grew(before, after, requests, endpoint="accounts.login", status="401") == 3
    assert grew(before, after, requests, endpoint="accounts.login", status="429") == 1
    histogram = "familyconnect_http_request_duration_seconds"
    assert grew(before, after, f"{histogram}_count", endpoint="core.healthz") == 3
    assert grew(before, after, f"{histogram}_bucket", endpoint="core.healthz", le="+Inf") == 3
    assert grew(before, after, f"{histogram}_count", endpoint="accounts.login") >= 4
    assert grew(before, after, "familyconnect_http_rate_limited_total",
                endpoint="accounts.login") == 1
    failures = "familyconnect_login_failures_total"
    assert grew(before, after, failures, reason="bad_password") == 3
    assert grew(before, after, failures, reason="unknown_account") == 1
    # Never a path (invite tokens and ids), never the scrape itself nor a static file.
    endpoints = {dict(labels).get("endpoint") for name, labels in after
                 if name == requests}
    assert not {"metrics", "static"} & endpoints
    assert not any("/" in (e or "") for e in endpoints)
    assert "abc123" not in client.get("/metrics", headers=BEARER).get_data(as_text=True)


def test_a_suspended_account_counts_as_suspended(metered, app):
    with app.app_context():
        phone = make_user(is_active=False).phone
        db.session.commit()
    client = metered.test_client()
    before = scrape(client)
    assert sign_in(client, phone).status_code == 403
    after = scrape(client)
    assert grew(before, after, "familyconnect_login_failures_total", reason="suspended") == 1
    assert grew(before, after, "familyconnect_login_failures_total", reason="bad_password") == 0


def test_without_a_token_requests_are_not_timed(app, client):
    """Metrics off: no hook runs, nothing is counted (the cost is nothing)."""
    assert not any(f.__module__ == "app.metrics"
                   for f in app.before_request_funcs.get(None, []) +
                   app.after_request_funcs.get(None, []))


# --- the outbox -------------------------------------------------------------------------


def test_the_backlog_by_channel_is_the_rows_waiting_and_due(metered, app):
    phones = queue_texts(app, 5)
    queue_payment(app)
    with app.app_context():
        ids = {phone: db.session.scalar(select(N.id).where(N.recipient == phone))
               for phone in phones}
        later = utcnow() + timedelta(minutes=10)
        # backing off: waiting, not due
        db.session.execute(update(N).where(N.id == ids[phones[0]])
                           .values(status="failed", retry_count=1, next_attempt_at=later))
        # failed for good, and sent: neither waits
        db.session.execute(update(N).where(N.id == ids[phones[1]])
                           .values(status="failed", retry_count=3, next_attempt_at=None))
        db.session.execute(update(N).where(N.id == ids[phones[2]])
                           .values(status="sent", next_attempt_at=None))
        db.session.commit()
        with metered.app_context():
            engine = db.engine
    client = metered.test_client()
    statements: list[str] = []
    with listening(engine, "before_cursor_execute",
                   lambda _c, _cur, statement, *_a: statements.append(statement)):
        samples = scrape(client)
    assert value(samples, "familyconnect_outbox_backlog", channel="sms") == 3
    assert value(samples, "familyconnect_outbox_due", channel="sms") == 2
    assert value(samples, "familyconnect_outbox_backlog", channel="payment") == 1
    assert value(samples, "familyconnect_outbox_due", channel="payment") == 1
    assert value(samples, "familyconnect_outbox_backlog", channel="email") == 0
    assert value(samples, "familyconnect_outbox_failed", channel="sms") == 1
    assert value(samples, "familyconnect_outbox_failed", channel="payment") == 0
    assert ("familyconnect_outbox_backlog", frozenset({("channel", "email")})) in samples
    # One GROUP BY, whatever the backlog.
    assert len(statements) == 1, statements
    assert "GROUP BY" in statements[0]


def test_deliveries_and_failures_are_counted_by_channel_and_outcome(metered, app, configure):
    client = metered.test_client()
    before = scrape(client)
    gateway = SmsGateway().start()
    try:
        configure(SMS_GATEWAY_URL=gateway.url, SMS_GATEWAY_TOKEN="gw-secret",
                  NOTIFY_MAX_ATTEMPTS=2)
        queue_texts(app, 3)
        with app.app_context():
            assert deliver_due()["sent"] == 3
        assert len(gateway.requests) == 3
        gateway.fail_always = True
        queue_texts(app, 1)
        with app.app_context():
            assert deliver_due()["retrying"] == 1
            db.session.execute(update(N).where(N.status == "failed")
                               .values(next_attempt_at=utcnow() - timedelta(seconds=1)))
            db.session.commit()
            assert deliver_due()["failed"] == 1
    finally:
        gateway.stop()
    after = scrape(client)
    deliveries = "familyconnect_outbox_deliveries_total"
    assert grew(before, after, deliveries, channel="sms", outcome="sent") == 3
    assert grew(before, after, deliveries, channel="sms", outcome="retrying") == 1
    assert grew(before, after, deliveries, channel="sms", outcome="failed") == 1
    assert value(after, "familyconnect_outbox_backlog", channel="sms") == 0


# --- several processes, for real ----------------------------------------------------------


def test_clearing_at_start_keeps_running_processes_files(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],  # noqa: S603
                          capture_output=True, text=True, check=True)
    stale = tmp_path / f"counter_{int(dead.stdout)}.db"
    mine = tmp_path / f"counter_{os.getpid()}.db"
    stale.write_bytes(b"\0" * 8)
    mine.write_bytes(b"\0" * 8)
    assert clear_dead_processes() == [str(stale)]
    assert mine.exists()


@pytest.fixture
def database(fresh_database_url) -> str:
    url = fresh_database_url()
    migrated_app(url)
    return url


# The access line ends with the message (LOG_FORMAT=text: after the time, level, logger, id).
ANSWERED = re.compile(r" pid=<(\d+)> status=200 GET /account/login$", re.M)


def served_env(tmp_path: Path, port: int, url: str, folder: Path, **more: str) -> dict:
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("RATELIMIT_", "WEB_CONCURRENCY", "TRUSTED_HOSTS",
                                   "PROMETHEUS_", "METRICS_", "SMS_"))}
    env.update({"APP_ENV": "test", "SECRET_KEY": "m" * 48, "DATABASE_URL": url,
                "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}", "FORCE_HTTPS": "0",
                "SESSION_COOKIE_SECURE": "0", "INSTANCE_PATH": str(tmp_path / "instance"),
                "LOG_LEVEL": "WARNING", "METRICS_TOKEN": TOKEN,
                "PROMETHEUS_MULTIPROC_DIR": str(folder), **more})
    return env


def test_gunicorn_workers_and_the_outbox_worker_add_up(tmp_path, database):
    folder = tmp_path / "prometheus"
    folder.mkdir()
    port = free_port()
    gateway = SmsGateway().start()
    env = served_env(tmp_path, port, database, folder, SMS_GATEWAY_URL=gateway.url,
                     SMS_GATEWAY_TOKEN="gw-secret")
    # A previous server's counts, left in the folder by a process that has ended.
    subprocess.run([sys.executable, "-c", "from app.metrics import REQUESTS; "  # noqa: S603
                    "REQUESTS.labels('accounts.login', '200').inc(1000)"],
                   cwd=ROOT, env=env, check=True, timeout=120)
    assert list(folder.glob("counter_*.db"))
    texts = 7
    queue_texts(migrated_app(database), texts)
    requests = 40
    log = tmp_path / "gunicorn.log"
    command = [sys.executable, "-m", "gunicorn", "--workers", "2", "--worker-class", "sync",
               "--bind", f"127.0.0.1:{port}", "--access-logfile", "-",
               "--access-logformat", "pid=%(p)s status=%(s)s %(m)s %(U)s", "wsgi:app"]
    base = f"http://127.0.0.1:{port}"

    def get(_n: int) -> int:
        with httpx.Client(base_url=base, timeout=30) as c:  # a new connection each
            return c.get("/account/login").status_code

    def scraped() -> dict:
        answer = httpx.get(f"{base}/metrics", headers=BEARER, timeout=30)
        assert answer.status_code == 200, answer.text
        return parse(answer.text)

    try:
        with serving(command, env=env, port=port, log=log):
            with ThreadPoolExecutor(max_workers=4) as pool:
                assert set(pool.map(get, range(requests))) == {200}
            first = scraped()
            ran = subprocess.run(  # noqa: S603
                [sys.executable, "-m", "flask", "--app", "wsgi", "notifications", "deliver",
                 "--once"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
                check=False)
            assert ran.returncode == 0, ran.stderr
            assert f"sent={texts}" in ran.stdout
            second = scraped()
    except BenchError as exc:
        pytest.fail(str(exc))
    finally:
        gateway.stop()
    answered = Counter(ANSWERED.findall(log.read_text()))
    assert sum(answered.values()) == requests
    assert len(answered) == 2, f"one worker answered everything: {answered}"
    # Whichever worker answered, the scrape sums them; the ended process's 1,000 are gone.
    assert value(first, "familyconnect_http_requests_total", endpoint="accounts.login",
                 status="200") == requests
    assert value(first, "familyconnect_http_request_duration_seconds_count",
                 endpoint="accounts.login") == requests
    assert value(first, "familyconnect_outbox_backlog", channel="sms") == texts
    # The outbox worker, another process, counted into the same folder.
    assert value(second, "familyconnect_outbox_deliveries_total", channel="sms",
                 outcome="sent") == texts
    assert value(second, "familyconnect_outbox_backlog", channel="sms") == 0
    assert len(gateway.requests) == texts
