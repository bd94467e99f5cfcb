"""The outbox worker against real SMTP and SMS gateway servers, on the backend under test."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select, text, update

from app.db import utcnow
from app.extensions import db
from app.invites.links import accept_url
from app.models.accounts import User
from app.models.invites import ConnectionInvite
from app.models.notifications import InviteNotification
from app.notifications.messages import render_message
from app.notifications.services import notify_payment_sync, notify_phone, notify_user
from app.outbox.delivery import deliver_due
from app.tokens import new_token, seal, token_hash
from tests.conftest import BACKEND
from tests.factories import make_group, make_user, next_phone
from tests.notifications.servers import SmsGateway
from tests.notifications.worker_loop import run_worker_until

ROOT = Path(__file__).resolve().parents[2]
N = InviteNotification


# --- fixtures and helpers ---------------------------------------------------------------


def deliver(app, **kwargs) -> dict[str, int]:
    with app.app_context():
        return deliver_due(**kwargs)


def rows(app, *where) -> list[InviteNotification]:
    """Outbox rows, read in a fresh session (detached, attributes loaded)."""
    with app.app_context():
        return list(db.session.scalars(select(N).where(*where).order_by(N.id)))


def row(app, row_id: int) -> InviteNotification:
    (found,) = rows(app, N.id == row_id)
    return found


def external(app, *where) -> InviteNotification:
    """The one email/SMS row matching `where`."""
    (found,) = rows(app, N.channel.in_(("email", "sms")), *where)
    return found


def make_past(app, row_id: int) -> None:
    """Make a waiting row due now (instead of sleeping through the backoff)."""
    with app.app_context():
        db.session.execute(update(N).where(N.id == row_id)
                           .values(next_attempt_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()


JOINED = {"group_id": 1, "group_name": "Gia đình Nguyễn", "member_name": "Trần Thị Lan",
          "role": "caregiver"}


def queue_to_user(app, *, email: str | None = None, locale: str = "en",
                  notification_type: str = "MEMBER_JOINED", payload: dict | None = None,
                  invite_id: int | None = None) -> tuple[int, str]:
    """A user and a message to them; (user id, their phone)."""
    with app.app_context():
        user = make_user(email=email, locale=locale)
        notify_user(user=user, notification_type=notification_type, invite_id=invite_id,
                    payload=payload or JOINED)
        db.session.commit()
        return user.id, user.phone


def invite_payload(app, token: str, **extra) -> dict:
    with app.app_context():
        sealed = seal(token)
    return {"group_id": 1, "group_name": "Gia đình Nguyễn", "sender_name": "Nguyễn Văn An",
            "role": "patient", "expires_at": (utcnow() + timedelta(days=7)).isoformat(),
            "sealed_token": sealed, **extra}


def make_invite(app, phone: str) -> int:
    with app.app_context():
        admin = make_user()
        group = make_group(admin)
        invite = ConnectionInvite(sender_id=admin.id, family_group_id=group.id,
                                  receiver_phone=phone, invite_type="add_patient",
                                  status="pending", token_hash=token_hash(new_token()),
                                  expires_at=utcnow() + timedelta(days=7))
        db.session.add(invite)
        db.session.commit()
        return invite.id


def expected_text(app, notification_type: str, payload: dict, locale: str,
                  link: str | None = None) -> tuple[str, str]:
    with app.app_context():
        message = N(notification_type=notification_type, payload=payload)
        return render_message(message, locale, link=link)


# --- channels ---------------------------------------------------------------------------


def test_email_goes_out_through_smtp(app, use_smtp):
    user_id, _phone = queue_to_user(app, email="lan@example.com")

    counts = deliver(app)

    assert counts["claimed"] == 1
    assert counts["sent"] == 1
    (mail,) = use_smtp.messages
    assert mail.rcpt_tos == ["lan@example.com"]
    assert mail.message["To"] == "lan@example.com"
    assert mail.message["From"] == "Family Connect <no-reply@portal.test>"
    assert mail.message["Subject"] == "New member in Gia đình Nguyễn"
    assert mail.message.get_content().strip() == (
        "Trần Thị Lan joined “Gia đình Nguyễn” as a caregiver.")
    sent = external(app, N.recipient_user_id == user_id)
    assert sent.channel == "email"
    assert sent.status == "sent"
    assert sent.sent_at is not None
    assert sent.error is None
    assert sent.next_attempt_at is None
    assert sent.external_message_id == mail.message["Message-ID"]
    assert sent.external_message_id.endswith("@portal.test>")


def test_email_in_the_recipients_language(app, use_smtp):
    queue_to_user(app, email="an@example.com", locale="vi")
    deliver(app)
    subject, body = expected_text(app, "MEMBER_JOINED", JOINED, "vi")
    (mail,) = use_smtp.messages
    assert mail.message["Subject"] == subject
    assert mail.message.get_content().strip() == body


def test_sms_goes_out_through_the_gateway(app, use_gateway):
    user_id, phone = queue_to_user(app)  # no email: SMS

    assert deliver(app)["sent"] == 1

    (request,) = use_gateway.requests
    assert request.path == "/v1/sms"
    assert request.headers["Authorization"] == "Bearer gw-secret"
    assert request.body == {
        "to": phone, "text": "Trần Thị Lan joined “Gia đình Nguyễn” as a caregiver."}
    sent = external(app, N.recipient_user_id == user_id)
    assert (sent.channel, sent.status, sent.external_message_id) == ("sms", "sent", "sms-1")


def test_sms_without_a_gateway_token_sends_no_authorization(app, use_gateway, configure):
    configure(SMS_GATEWAY_TOKEN="")
    queue_to_user(app)
    deliver(app)
    (request,) = use_gateway.requests
    assert "Authorization" not in request.headers


def test_invite_link_is_decrypted_sent_and_then_dropped_from_the_row(app, use_gateway):
    token = new_token()
    payload = invite_payload(app, token)
    phone = next_phone()
    with app.app_context():
        notify_phone(phone=phone, notification_type="INVITE_CREATED", payload=payload)
        db.session.commit()

    assert deliver(app)["sent"] == 1

    (request,) = use_gateway.requests
    with app.app_context():
        link = accept_url(token)
    assert link == f"http://portal.test/i/{token}"
    assert link in request.body["text"]
    # No account: the default language, Vietnamese.
    assert request.body["text"] == expected_text(app, "INVITE_CREATED", payload, "vi", link)[1]
    sent = external(app, N.recipient == phone)
    assert "sealed_token" not in sent.payload
    assert sent.payload["sender_name"] == "Nguyễn Văn An"
    assert sent.payload["group_name"] == "Gia đình Nguyễn"


def test_an_unsealable_link_fails_for_good_without_sending(app, use_smtp, configure):
    stranger = Fernet(Fernet.generate_key()).encrypt(b"a-token").decode()
    payload = invite_payload(app, "x") | {"sealed_token": stranger}
    user_id, _ = queue_to_user(app, email="lan@example.com", notification_type="INVITE_CREATED",
                               payload=payload)

    counts = deliver(app)

    assert counts["failed"] == 1
    assert use_smtp.messages == []
    failed = external(app, N.recipient_user_id == user_id)  # and no SMS fallback
    assert failed.status == "failed"
    assert failed.retry_count == app.config["NOTIFY_MAX_ATTEMPTS"]
    assert failed.next_attempt_at is None
    assert "resend the invite" in failed.error
    assert deliver(app)["claimed"] == 0


def test_the_log_channel_is_the_default_and_never_logs_the_link(app, configure, caplog):
    # The message itself is written at DEBUG (development shows it: the demo's codes); at
    # INFO only that it went, to a masked recipient (tests/ops/test_logs.py).
    caplog.set_level(logging.DEBUG, logger="app.notifications")
    token = new_token()
    phone = next_phone()
    payload = invite_payload(app, token)
    with app.app_context():
        notify_phone(phone=phone, notification_type="INVITE_CREATED", payload=payload)
        user = make_user(email="an@example.com", locale="en")
        notify_user(user=user, notification_type="INVITE_CREATED", payload=payload)
        db.session.commit()

    counts = deliver(app)

    assert counts["sent"] == 2
    assert token not in caplog.text
    assert payload["sealed_token"] not in caplog.text
    lines = [r.getMessage() for r in caplog.records
             if r.name == "app.notifications.log_channel" and r.levelno == logging.DEBUG]
    info = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert phone not in "\n".join(info)
    assert "an@example.com" not in "\n".join(info)
    assert f"sms to +•••{phone[-3:]} (INVITE_CREATED) written to the log channel" in info
    sms_line = next(line for line in lines if line.startswith("sms to"))
    assert phone in sms_line
    assert "INVITE_CREATED" in sms_line
    assert "http://portal.test/i/[redacted]" in sms_line
    email_line = next(line for line in lines if line.startswith("email to an@example.com"))
    assert "Invitation to join “Gia đình Nguyễn”" in email_line
    assert "/i/[redacted]" in email_line
    for sent in rows(app, N.channel.in_(("sms", "email"))):
        assert (sent.status, sent.external_message_id) == ("sent", None)


# --- retries and fallback ---------------------------------------------------------------


def test_a_failing_gateway_is_retried_with_backoff_then_given_up(app, use_gateway, configure):
    configure(NOTIFY_MAX_ATTEMPTS=3, NOTIFY_BACKOFF_SECONDS=30)
    use_gateway.fail_always = True
    user_id, _ = queue_to_user(app)
    row_id = external(app, N.recipient_user_id == user_id).id

    for attempt, backoff in ((1, 30), (2, 60)):
        before = utcnow()
        counts = deliver(app)
        assert (counts["claimed"], counts["retrying"]) == (1, 1)
        waiting = row(app, row_id)
        assert (waiting.status, waiting.retry_count) == ("failed", attempt)
        assert waiting.error == "SMS gateway answered HTTP 500"
        delay = (waiting.next_attempt_at - before).total_seconds()
        assert backoff - 1 < delay < backoff + 5
        assert deliver(app)["claimed"] == 0  # not due yet
        make_past(app, row_id)

    counts = deliver(app)
    assert (counts["failed"], counts["fallbacks"]) == (1, 0)  # SMS has nothing to fall back to
    given_up = row(app, row_id)
    assert (given_up.status, given_up.retry_count, given_up.next_attempt_at) == ("failed", 3, None)
    use_gateway.fail_always = False
    assert deliver(app)["claimed"] == 0
    assert use_gateway.requests == []
    assert len(rows(app, N.recipient_user_id == user_id)) == 2  # in-app + the SMS, no more


def test_a_temporary_smtp_refusal_is_retried(app, use_smtp, configure):
    configure(NOTIFY_BACKOFF_SECONDS=0)
    use_smtp.refuse = "451 4.3.0 Try again later"
    user_id, _ = queue_to_user(app, email="lan@example.com")

    assert deliver(app)["retrying"] == 1
    waiting = external(app, N.recipient_user_id == user_id)
    assert waiting.error == "SMTP server answered 451 4.3.0 Try again later"
    use_smtp.refuse = None

    assert deliver(app)["sent"] == 1
    sent = external(app, N.recipient_user_id == user_id)
    assert (sent.status, sent.retry_count, sent.error) == ("sent", 1, None)
    assert len(use_smtp.messages) == 1


def test_an_email_failing_for_good_falls_back_to_one_sms(app, use_smtp, use_gateway, configure):
    configure(NOTIFY_MAX_ATTEMPTS=3, NOTIFY_BACKOFF_SECONDS=0)
    use_smtp.refuse = "554 5.7.1 Mailbox unavailable"
    user_id, phone = queue_to_user(app, email="lan@example.com")

    assert deliver(app)["retrying"] == 1
    assert deliver(app)["retrying"] == 1
    counts = deliver(app)
    assert (counts["failed"], counts["fallbacks"]) == (1, 1)
    assert use_smtp.refused == 3

    email = external(app, N.channel == "email")
    assert (email.status, email.retry_count, email.next_attempt_at) == ("failed", 3, None)
    assert email.error == "SMTP server answered 554 5.7.1 Mailbox unavailable"
    sms = external(app, N.channel == "sms")
    assert (sms.recipient, sms.status, sms.retry_count) == (phone, "pending", 0)
    assert (sms.recipient_user_id, sms.notification_type, sms.invite_id) == (
        user_id, "MEMBER_JOINED", None)
    assert sms.payload == email.payload

    assert deliver(app)["sent"] == 1
    assert use_gateway.recipients() == [phone]
    assert deliver(app)["claimed"] == 0
    assert len(rows(app, N.channel == "sms")) == 1


def test_the_fallback_is_not_queued_twice_for_an_invite(app, use_smtp, use_gateway, configure):
    configure(NOTIFY_MAX_ATTEMPTS=1)
    use_smtp.refuse = "554 5.7.1 Mailbox unavailable"
    with app.app_context():
        user = make_user(email="lan@example.com", locale="en")
        user_id, phone = user.id, user.phone
        db.session.commit()
    invite_id = make_invite(app, phone)
    token = new_token()
    payload = invite_payload(app, token)
    with app.app_context():
        user = db.session.get(User, user_id)
        notify_user(user=user, notification_type="INVITE_CREATED", payload=payload,
                    invite_id=invite_id)
        # An SMS of the same invite to the same phone is already there.
        notify_phone(phone=phone, notification_type="INVITE_CREATED", payload=payload,
                     invite_id=invite_id)
        db.session.commit()

    counts = deliver(app)

    assert (counts["sent"], counts["failed"], counts["fallbacks"]) == (1, 1, 0)
    assert len(rows(app, N.channel == "sms", N.invite_id == invite_id)) == 1
    assert use_gateway.recipients() == [phone]


def test_the_fallback_sms_of_an_invite_carries_the_link(app, use_smtp, use_gateway, configure):
    configure(NOTIFY_MAX_ATTEMPTS=1)
    use_smtp.refuse = "554 5.7.1 Mailbox unavailable"
    invite_id = make_invite(app, next_phone())
    token = new_token()
    _user_id, phone = queue_to_user(app, email="lan@example.com",
                                    notification_type="INVITE_CREATED",
                                    payload=invite_payload(app, token), invite_id=invite_id)
    assert deliver(app)["fallbacks"] == 1
    assert deliver(app)["sent"] == 1
    (request,) = use_gateway.requests
    assert request.body["to"] == phone  # the user's own phone
    assert f"http://portal.test/i/{token}" in request.body["text"]
    sms = external(app, N.channel == "sms")
    assert (sms.invite_id, sms.status) == (invite_id, "sent")
    assert "sealed_token" not in sms.payload


# --- what the worker leaves alone -------------------------------------------------------


def test_rows_that_are_not_due_are_left_alone(app, use_gateway):
    now = utcnow()
    later = now + timedelta(hours=1)
    with app.app_context():
        user = make_user(locale="en")
        phone = user.phone
        notify_user(user=user, notification_type="MEMBER_JOINED", payload=JOINED)  # due SMS
        base = {"notification_type": "MEMBER_LEFT", "channel": "sms", "payload": JOINED}
        others = [
            N(recipient=next_phone(), status="pending", next_attempt_at=later, **base),
            N(recipient=next_phone(), status="failed", retry_count=3, next_attempt_at=now,
              **base),
            N(recipient=next_phone(), status="failed", retry_count=1, next_attempt_at=None,
              **base),
            N(recipient=next_phone(), status="sent", next_attempt_at=now, **base),
            N(recipient=next_phone(), status="cancelled", next_attempt_at=now, **base),
        ]
        db.session.add_all(others)
        db.session.commit()
        untouched_ids = [o.id for o in others]
    snapshot = {(r.id, r.status, r.retry_count, r.next_attempt_at, r.updated_at)
                for r in rows(app, N.id.in_(untouched_ids) | (N.channel == "in_app"))}

    counts = deliver(app)

    assert (counts["claimed"], counts["sent"]) == (1, 1)
    assert use_gateway.recipients() == [phone]
    assert snapshot == {(r.id, r.status, r.retry_count, r.next_attempt_at, r.updated_at)
                        for r in rows(app, N.id.in_(untouched_ids) | (N.channel == "in_app"))}
    (in_app,) = rows(app, N.channel == "in_app")
    assert (in_app.status, in_app.delivered_at) == ("sent", None)  # still unread


def test_the_worker_never_touches_in_app_rows(app, configure):
    with app.app_context():
        user = make_user()
        db.session.add(N(recipient=str(user.id), recipient_user_id=user.id,
                         notification_type="MEMBER_JOINED", channel="in_app", status="pending",
                         next_attempt_at=utcnow(), payload=JOINED))
        db.session.commit()
    assert deliver(app)["claimed"] == 0
    (in_app,) = rows(app)
    assert in_app.status == "pending"


# --- payment service sync ---------------------------------------------------------------


class RecordingProvider:
    """Stands in for the http provider: records sync calls, or fails like it would."""

    name = "fake"

    def __init__(self, *, fail: bool = False) -> None:
        self.calls: list[dict] = []
        self.fail = fail

    def sync_member(self, **kwargs) -> None:
        self.calls.append(kwargs)
        if self.fail:
            raise RuntimeError("payment service answered 503")


def queue_texts(app, n: int) -> list[str]:
    """n committed INVITE_CANCELLED texts, each to a new number; the numbers, in order."""
    phones = [next_phone() for _ in range(n)]
    with app.app_context():
        for phone in phones:
            notify_phone(phone=phone, notification_type="INVITE_CANCELLED",
                         payload={"group_id": 1, "group_name": "Gia đình Nguyễn"})
        db.session.commit()
    return phones


def queue_payment(app) -> tuple[int, int]:
    with app.app_context():
        group = make_group()
        member = make_user()
        notify_payment_sync(subscription_id=group.subscription_id, action="add",
                            user_id=member.id, role="caregiver",
                            notification_type="MEMBER_JOINED", group_id=group.id)
        db.session.commit()
        return group.subscription_id, member.id


def test_payment_rows_with_the_local_provider_are_marked_sent(app, configure):
    queue_payment(app)
    assert deliver(app)["sent"] == 1
    (sync,) = rows(app, N.channel == "payment")
    assert (sync.status, sync.error, sync.external_message_id) == ("sent", None, None)


def test_payment_rows_call_the_provider(app, configure, monkeypatch):
    provider = RecordingProvider()
    monkeypatch.setitem(app.extensions, "payment_provider", provider)
    subscription_id, user_id = queue_payment(app)

    assert deliver(app)["sent"] == 1
    assert provider.calls == [{"subscription_id": subscription_id, "action": "add",
                               "user_id": user_id, "role": "caregiver"}]


def test_a_failing_payment_sync_retries_and_has_no_fallback(app, configure, monkeypatch):
    configure(NOTIFY_MAX_ATTEMPTS=2, NOTIFY_BACKOFF_SECONDS=0)
    provider = RecordingProvider(fail=True)
    monkeypatch.setitem(app.extensions, "payment_provider", provider)
    queue_payment(app)

    assert deliver(app)["retrying"] == 1
    assert deliver(app)["failed"] == 1
    assert deliver(app)["claimed"] == 0
    (sync,) = rows(app)
    assert (sync.channel, sync.status, sync.retry_count) == ("payment", "failed", 2)
    assert sync.error == "RuntimeError: payment service answered 503"
    assert len(provider.calls) == 2


# --- several workers --------------------------------------------------------------------


def test_two_workers_at_once_deliver_every_message_exactly_once(app, configure):
    gateway = SmsGateway(delay=0.02).start()
    try:
        configure(SMS_GATEWAY_URL=gateway.url)
        phones = queue_texts(app, 40)

        start = threading.Barrier(2)
        sent: dict[str, int] = {}
        errors: list[BaseException] = []

        def work(name: str) -> None:
            try:
                with app.app_context():
                    start.wait(timeout=10)
                    total = 0
                    while True:
                        counts = deliver_due(limit=4, worker_id=name)
                        if not counts["claimed"]:
                            break
                        total += counts["sent"]
                    sent[name] = total
            except BaseException as exc:  # noqa: BLE001 - reported by the main thread
                errors.append(exc)

        workers = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(2)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=60)
        assert not errors, errors
        assert sorted(gateway.recipients()) == sorted(phones)  # each exactly once
        assert sum(sent.values()) == 40
        assert all(count > 0 for count in sent.values()), sent  # both took a share
        assert {r.status for r in rows(app)} == {"sent"}
    finally:
        gateway.stop()


# SKIP LOCKED is PostgreSQL's: SQLite has no row locks (its writers queue on BEGIN
# IMMEDIATE instead, which the two-worker test above covers on both databases).
@pytest.mark.skipif(BACKEND != "postgresql",
                    reason="SKIP LOCKED needs row locks; SQLite has none (writers queue)")
def test_rows_locked_by_another_worker_are_skipped_not_waited_for(app, use_gateway):
    phones = queue_texts(app, 2)
    with app.app_context():
        locked_id = db.session.scalar(select(N.id).where(N.recipient == phones[0]))
        engine = db.engine
    result: dict[str, int] = {}
    with engine.connect() as other:
        other.execute(text("SELECT id FROM invite_notifications WHERE id = :id FOR UPDATE"),
                      {"id": locked_id})
        # In a thread: a worker that waited for the lock would hang while we hold it.
        worker = threading.Thread(target=lambda: result.update(deliver(app)))
        worker.start()
        worker.join(timeout=5)
        blocked = worker.is_alive()
        other.rollback()
        worker.join(timeout=10)
    assert not blocked, "the claim waited for a locked row instead of skipping it"
    counts = result
    assert (counts["claimed"], counts["sent"]) == (1, 1)
    assert use_gateway.recipients() == [phones[1]]


def test_a_stopping_worker_hands_back_what_it_has_not_sent(app, use_gateway):
    phones = queue_texts(app, 3)
    asked = []

    def stop_after_one() -> bool:
        asked.append(1)
        return len(asked) > 1

    before = utcnow()
    counts = deliver(app, should_stop=stop_after_one)

    assert (counts["claimed"], counts["sent"], counts["released"]) == (3, 1, 2)
    waiting = rows(app, N.status == "pending")
    assert len(waiting) == 2
    assert all(r.next_attempt_at <= utcnow() and r.next_attempt_at >= before for r in waiting)
    assert deliver(app)["sent"] == 2
    assert sorted(use_gateway.recipients()) == sorted(phones)


# --- the command ------------------------------------------------------------------------


def test_deliver_once_command_prints_the_counts(app, use_gateway):
    queue_to_user(app)
    result = app.test_cli_runner().invoke(args=["notifications", "deliver", "--once"])
    assert result.exit_code == 0, result.output
    assert "claimed=1 sent=1 retrying=0 failed=0" in result.output
    assert len(use_gateway.requests) == 1


def test_deliver_command_help(app):
    runner = app.test_cli_runner()
    group = runner.invoke(args=["notifications", "--help"])
    assert group.exit_code == 0
    assert "deliver" in group.output
    result = runner.invoke(args=["notifications", "deliver", "--help"])
    assert result.exit_code == 0
    for option in ("--once", "--limit", "--interval", "SIGTERM"):
        assert option in result.output


def test_the_worker_loop_delivers_until_stopped(app, use_gateway):
    queued = []

    def sent() -> bool:
        if not queued:
            queue_to_user(app)  # arrives while the worker waits
            queued.append(True)
        return bool(use_gateway.requests)

    assert run_worker_until(app, sent)
    assert len(use_gateway.requests) == 1


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_the_worker_process_exits_cleanly_on_a_signal(app, tmp_path, signum):
    with app.app_context():
        notify_phone(phone=next_phone(), notification_type="INVITE_CANCELLED",
                     payload={"group_id": 1, "group_name": "Gia đình Nguyễn"})
        db.session.commit()
    env = {**os.environ, "FLASK_APP": "wsgi", "APP_ENV": "test",
           "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
           "SECRET_KEY": app.config["SECRET_KEY"], "INSTANCE_PATH": str(tmp_path),
           "SMS_GATEWAY_URL": "", "SMTP_HOST": "", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "flask", "notifications", "deliver", "--interval", "0.1"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "Outbox worker started" in process.stdout.readline()
        deadline = time.monotonic() + 20
        while rows(app, N.status == "pending") and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signum)
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "claimed=1 sent=1" in out
    assert "Outbox worker stopped." in out
    assert "Traceback" not in err
    assert [r.status for r in rows(app)] == ["sent"]
