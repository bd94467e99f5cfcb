"""Rate limits hold across processes (issue 15, F1; SPEC §10).

With Flask-Limiter's default memory:// store every gunicorn worker counts on its own: the
login limit of 10 a minute let 25-38 tries through 4 workers, and nothing said so. Here real
gunicorn, 2 sync workers on 127.0.0.1, counts in a real Redis (tests/redisserver.py) and
the limit holds whichever worker answers; the same server on memory:// lets more through
(the reason for the rule); production refuses memory:// with several workers, in
gunicorn.conf.py and in create_app, and says what to set.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from app import create_app
from app.config import ConfigError, load_config
from app.extensions import db
from bench.load_app import BenchError
from bench.load_bench import serving
from tests.conftest import migrated_app
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
SECRET = "shared-limits-" + "s" * 40
ATTEMPTS = 25
# gunicorn's %(p)s is the worker's pid in angle brackets: pid=<1234>
# (LOG_FORMAT=text: the line ends with it, after the time, level and logger)
LOGIN_ANSWERED = re.compile(r" pid=<(\d+)> status=(\d{3}) POST /api/v1/auth/token$", re.M)
ADVICE = ("RATELIMIT_STORAGE_URI=redis://", "pip install '.[redis]'", "WEB_CONCURRENCY=1")


@pytest.fixture
def database(fresh_database_url) -> str:
    """A new database at the schema's head, as `flask db upgrade` leaves it."""
    url = fresh_database_url()
    migrated_app(url)
    return url


def server_env(tmp_path: Path, port: int, database_url: str, **settings: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("RATELIMIT_", "WEB_CONCURRENCY", "TRUSTED_HOSTS"))}
    env.update({"APP_ENV": "production", "SECRET_KEY": SECRET, "DATABASE_URL": database_url,
                "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}", "FORCE_HTTPS": "0",
                "SESSION_COOKIE_SECURE": "0", "INSTANCE_PATH": str(tmp_path / "instance"),
                "LOGIN_RATE_LIMIT": "10 per minute", "LOG_LEVEL": "WARNING",
                "LOG_FORMAT": "text"})
    env.update(settings)
    return env


def gunicorn_command(port: int, *options: str) -> list[str]:
    """gunicorn as an operator starts it, from the checkout, so ./gunicorn.conf.py is read;
    the access log names the worker (pid) that answered each request."""
    return [sys.executable, "-m", "gunicorn", *options, "--worker-class", "sync",
            "--bind", f"127.0.0.1:{port}", "--access-logfile", "-",
            "--access-logformat", "pid=%(p)s status=%(s)s %(m)s %(U)s", "wsgi:app"]


@contextlib.contextmanager
def gunicorn(env: dict[str, str], port: int, log: Path, *options: str):
    """gunicorn until /healthz answers; on leaving, stopped (SIGTERM) and its log whole."""
    try:
        with serving(gunicorn_command(port, *options), env=env, port=port, log=log) as child:
            yield child
    except BenchError as exc:
        pytest.fail(str(exc))


def failed_logins(port: int) -> list[int]:
    """ATTEMPTS wrong passwords for one account, each on a new connection, five at a time
    (so that both workers are kept busy), through the API's token route, which shares the
    login page's buckets (per address and per login) and needs no CSRF token."""

    def attempt(_n: int) -> int:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            return client.post("/api/v1/auth/token", json={
                "login": "0912 345 678", "password": "not-the-password"}).status_code

    with ThreadPoolExecutor(max_workers=5) as pool:
        return list(pool.map(attempt, range(ATTEMPTS)))


def workers_that_answered(log: Path) -> Counter:
    """pid → how many login attempts it answered, from gunicorn's access log."""
    return Counter(pid for pid, _status in LOGIN_ANSWERED.findall(log.read_text()))


def test_two_workers_share_the_login_limit_through_redis(tmp_path, database, redis_server):
    port = free_port()
    env = server_env(tmp_path, port, database, RATELIMIT_STORAGE_URI=redis_server.url(1))
    log = tmp_path / "gunicorn.log"
    with gunicorn(env, port, log, "--workers", "2"):
        statuses = failed_logins(port)
    assert Counter(statuses) == {401: 10, 429: ATTEMPTS - 10}, statuses
    answered = workers_that_answered(log)
    assert sum(answered.values()) == ATTEMPTS
    assert len(answered) == 2, f"one worker answered everything: {answered}"


def test_on_memory_each_worker_counts_its_own(tmp_path, database):
    """The same server on memory:// (allowed outside production) lets more than 10 through:
    what the rule above prevents, and proof that this test can see it."""
    port = free_port()
    env = server_env(tmp_path, port, database, APP_ENV="test", RATELIMIT_STORAGE_URI="memory://")
    log = tmp_path / "gunicorn.log"
    with gunicorn(env, port, log, "--workers", "2"):
        statuses = failed_logins(port)
    answered = workers_that_answered(log)
    assert len(answered) == 2, f"one worker answered everything: {answered}"
    allowed = Counter(statuses)[401]
    assert allowed == sum(min(n, 10) for n in answered.values()) > 10, (statuses, answered)


@pytest.mark.parametrize("declared", [None, "1", "2"])
def test_gunicorn_refuses_two_workers_on_memory_in_production(tmp_path, database, declared):
    """Whatever WEB_CONCURRENCY says: gunicorn.conf.py reads the real worker count."""
    port = free_port()
    env = server_env(tmp_path, port, database)
    if declared:
        env["WEB_CONCURRENCY"] = declared
    ran = subprocess.run(gunicorn_command(port, "--workers", "2"), cwd=ROOT, env=env,  # noqa: S603
                         capture_output=True, text=True, timeout=60, check=False)
    assert ran.returncode != 0
    for needle in (*ADVICE, "2 worker processes"):
        assert needle in ran.stderr, ran.stderr
    assert "Booting worker" not in ran.stdout + ran.stderr


def test_gunicorn_with_one_worker_runs_on_memory_and_says_so(tmp_path, database):
    port = free_port()
    log = tmp_path / "gunicorn.log"
    with gunicorn(server_env(tmp_path, port, database), port, log):  # gunicorn's 1 worker
        statuses = failed_logins(port)
    assert Counter(statuses) == {401: 10, 429: ATTEMPTS - 10}  # one process counts right
    assert "Rate limits are counted in this process's memory" in log.read_text()


def production_config(tmp_path, monkeypatch, **given):
    for name in ("RATELIMIT_STORAGE_URI", "RATELIMIT_ENABLED", "WEB_CONCURRENCY",
                 "TRUSTED_HOSTS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SECRET_KEY", SECRET)
    return {"APP_ENV": "production", "DATABASE_URL": f"sqlite:///{tmp_path}/p.sqlite3",
            **given}


@pytest.mark.parametrize("declared", [None, "4"])
def test_create_app_refuses_memory_in_production_unless_one_process_is_declared(
        tmp_path, monkeypatch, declared):
    config = production_config(tmp_path, monkeypatch)
    if declared:
        monkeypatch.setenv("WEB_CONCURRENCY", declared)
    with pytest.raises(ConfigError) as refused:
        create_app(config)
    for needle in ADVICE:
        assert needle in str(refused.value)


def test_one_declared_process_runs_on_memory_with_a_warning(tmp_path, monkeypatch, caplog):
    config = production_config(tmp_path, monkeypatch)
    monkeypatch.setenv("WEB_CONCURRENCY", "1")
    with caplog.at_level(logging.WARNING, logger="app.config"):
        app = create_app(config)
    assert app.config["WEB_CONCURRENCY"] == 1
    assert "Rate limits are counted in this process's memory" in caplog.text
    with app.app_context():
        db.engine.dispose()


def test_a_shared_store_or_no_limits_needs_no_declaration(tmp_path, monkeypatch):
    """Checked on the configuration alone: an app on a Redis URI would move the suite's
    one Flask-Limiter (an extension object shared by every app) onto that Redis."""
    config = production_config(tmp_path, monkeypatch)
    shared = load_config(str(tmp_path), {**config,
                                         "RATELIMIT_STORAGE_URI": "redis://cache:6379/0"})
    assert shared["WEB_CONCURRENCY"] is None
    monkeypatch.setenv("RATELIMIT_ENABLED", "0")
    assert load_config(str(tmp_path), config)["RATELIMIT_ENABLED"] is False
    # outside production nothing is refused
    monkeypatch.delenv("RATELIMIT_ENABLED")
    monkeypatch.setenv("WEB_CONCURRENCY", "4")
    for env in ("development", "test"):
        assert load_config(str(tmp_path), {**config, "APP_ENV": env})["WEB_CONCURRENCY"] == 4


def test_flask_commands_run_on_memory_in_production(tmp_path, database):
    """A command is one process that serves no request (`flask run` serves them all
    itself): the operator's commands work with the web tier's environment or without."""
    env = server_env(tmp_path, free_port(), database)
    ran = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "current"],  # noqa: S603
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
                         check=False)
    assert ran.returncode == 0, ran.stderr
    assert "(head)" in ran.stdout
    assert "Rate limits are counted" not in ran.stderr
