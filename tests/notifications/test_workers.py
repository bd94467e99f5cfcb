"""Outbox workers as operators run them: separate `flask notifications deliver` processes
against the database under test and a real SMS gateway on 127.0.0.1 (issue 20, item 5),
and `flask notifications status`, which prints the backlog."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from app.db import utcnow
from app.extensions import db
from app.models.notifications import InviteNotification
from tests.notifications.servers import SmsGateway

ROOT = Path(__file__).resolve().parents[2]
N = InviteNotification
PAYLOAD = {"group_id": 1, "group_name": "Gia đình Nguyễn"}


def queue(app, count: int, *, first: int = 0, channel: str = "sms", **values) -> list[str]:
    """`count` messages to distinct numbers in one statement; their recipients."""
    now = utcnow()
    recipients = [f"+8490{first + i:07d}" for i in range(count)]
    with app.app_context():
        db.session.execute(insert(N), [
            {"recipient": phone, "notification_type": "INVITE_CANCELLED", "channel": channel,
             "status": "pending", "next_attempt_at": now, "payload": PAYLOAD,
             "retry_count": 0, **values}
            for phone in recipients])
        db.session.commit()
    return recipients


def statuses(app) -> Counter:
    with app.app_context():
        return Counter(dict(db.session.execute(
            select(N.status, func.count()).group_by(N.status)).all()))


def start_worker(app, tmp_path, gateway: SmsGateway, *args: str) -> subprocess.Popen:
    env = {**os.environ, "FLASK_APP": "wsgi", "APP_ENV": "test",
           "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
           "SECRET_KEY": app.config["SECRET_KEY"], "INSTANCE_PATH": str(tmp_path),
           "SMS_GATEWAY_URL": gateway.url, "SMTP_HOST": "", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "flask", "notifications", "deliver", *args],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    assert "Outbox worker started" in line, line + process.stderr.read()
    return process


def stop(processes: list[subprocess.Popen]) -> list[tuple[int, str, str]]:
    """SIGTERM each worker; (exit code, stdout, stderr) of each."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    results = []
    for process in processes:
        try:
            out, err = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
        results.append((process.returncode, out, err))
    return results


def sent_in(output: str) -> int:
    """The messages a worker says it sent, from its per-round lines."""
    return sum(int(word.split("=")[1]) for line in output.splitlines()
               for word in line.split() if word.startswith("sent="))


def test_three_worker_processes_send_a_thousand_messages_exactly_once(app, tmp_path):
    gateway = SmsGateway().start()
    workers: list[subprocess.Popen] = []
    try:
        # Started first and idle, so that all three race for the same rows.
        workers = [start_worker(app, tmp_path, gateway, "--interval", "0.1", "--limit", "20")
                   for _ in range(3)]
        recipients = queue(app, 1000)
        deadline = time.monotonic() + 240
        while statuses(app)["sent"] < 1000 and time.monotonic() < deadline:
            if any(w.poll() is not None for w in workers):
                break
            time.sleep(0.2)
        results = stop(workers)
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
        gateway.stop()

    for code, _out, err in results:
        assert code == 0, err
        assert "Outbox worker stopped." in _out
    assert statuses(app) == Counter(sent=1000)
    # The gateway received each message once: 1,000 deliveries, no number twice.
    assert gateway.arrivals == 1000
    assert Counter(gateway.recipients()) == Counter(recipients)
    shares = [sent_in(out) for _code, out, _err in results]
    assert sum(shares) == 1000
    assert all(share > 0 for share in shares), shares  # three workers, each took a share
    with app.app_context():
        ids = db.session.scalars(select(N.external_message_id)).all()
    assert len(set(ids)) == 1000  # each row records the gateway's id of its one message


def test_sigterm_lets_a_worker_finish_the_message_in_hand_and_hand_back_the_rest(
        app, tmp_path):
    gateway = SmsGateway(delay=1.5).start()
    worker = None
    try:
        worker = start_worker(app, tmp_path, gateway, "--interval", "0.1", "--limit", "10")
        queue(app, 3)
        deadline = time.monotonic() + 30
        while not gateway.arrivals and time.monotonic() < deadline:
            time.sleep(0.02)
        assert gateway.arrivals == 1  # the first message is in the gateway's hands
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=30)
    finally:
        if worker is not None and worker.poll() is None:
            worker.kill()
            worker.communicate()
        gateway.stop()
    assert worker.returncode == 0, err
    assert "Traceback" not in err
    # The message in hand went out and was recorded; the two others were handed back,
    # due now, for the next worker, and never sent.
    assert "claimed=3 sent=1 " in out, out
    assert "released=2" in out, out
    assert "Outbox worker stopped." in out
    assert len(gateway.requests) == 1
    assert gateway.arrivals == 1
    assert statuses(app) == Counter(sent=1, pending=2)
    with app.app_context():
        waiting = db.session.scalars(select(N.next_attempt_at).where(N.status == "pending"))
        assert all(when <= utcnow() for when in waiting)


def test_status_prints_the_backlog_per_channel(app):
    now = utcnow()
    queue(app, 2, next_attempt_at=now - timedelta(seconds=130))  # due for 2 minutes
    queue(app, 1, first=10)  # due now
    queue(app, 1, first=20, status="failed", retry_count=1,
          next_attempt_at=now + timedelta(minutes=5))  # after a failure, later
    queue(app, 1, first=30, channel="email", status="failed", retry_count=5,
          next_attempt_at=None, recipient="lan@example.vn")  # failed for good
    queue(app, 1, first=40, channel="payment", next_attempt_at=now + timedelta(minutes=1))
    queue(app, 2, first=50, status="sent", next_attempt_at=None)  # done: not backlog
    queue(app, 1, first=60, channel="in_app", status="pending")  # read in the portal

    runner = app.test_cli_runner()
    result = runner.invoke(args=["notifications", "status", "--json"])
    assert result.exit_code == 0, result.output
    status = json.loads(result.output)
    assert set(status) == {"sms", "email", "payment", "push"}
    sms = status["sms"]
    assert (sms["due"], sms["later"], sms["failed"]) == (3, 1, 0)
    assert 130 <= sms["oldest_due_seconds"] < 200
    assert status["email"] == {"due": 0, "later": 0, "failed": 1, "oldest_due_seconds": None}
    assert status["payment"] == {"due": 0, "later": 1, "failed": 0, "oldest_due_seconds": None}
    assert status["push"] == {"due": 0, "later": 0, "failed": 0, "oldest_due_seconds": None}

    table = runner.invoke(args=["notifications", "status"])
    assert table.exit_code == 0, table.output
    lines = [line.split() for line in table.output.splitlines()]
    assert lines[0][:4] == ["channel", "due", "later", "failed"]
    assert lines[1][:4] == ["sms", "3", "1", "0"]
    assert lines[1][4].startswith("2m")
    assert lines[2] == ["email", "0", "0", "1", "-"]
    assert lines[-1] == ["total", "3", "2", "1"]


def test_status_of_an_empty_outbox(app):
    result = app.test_cli_runner().invoke(args=["notifications", "status"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1].split() == ["total", "0", "0", "0"]


@pytest.mark.parametrize("command", ["status", "deliver"])
def test_the_commands_are_described(app, command):
    result = app.test_cli_runner().invoke(args=["notifications", command, "--help"])
    assert result.exit_code == 0
    assert {"status": "backlog", "deliver": "SIGTERM"}[command] in result.output
