"""A failed delivery's stored error in words (app/staff/delivery_errors.py). The errors are
the ones the real channels raise (app/notifications/channels.py, with their transport
faked) and the worker stores (app/outbox/delivery.py), so a change of their wording that
the mapping no longer knows fails here."""

from __future__ import annotations

import smtplib
from types import SimpleNamespace

import httpx
import pytest
from flask_babel import force_locale

from app.notifications import channels
from app.notifications.channels import ChannelError
from app.outbox.delivery import PermanentFailure, _error_text, _send
from app.payments.types import PaymentUnavailable
from app.staff.delivery_errors import delivery_error

UNKNOWN = ("The delivery failed for a reason the portal does not know: see the technical "
           "detail.")


@pytest.fixture
def sms(app, monkeypatch):
    """send_sms() through a gateway that answers what the test says (a status or an
    exception); the stored error text of the failure."""
    monkeypatch.setitem(app.config, "SMS_GATEWAY_URL", "http://gateway.test/send")

    def stored(answer) -> str:
        def post(url, **_kwargs):
            if isinstance(answer, Exception):
                raise answer
            return httpx.Response(answer, request=httpx.Request("POST", url))

        monkeypatch.setattr(channels.httpx, "post", post)
        with pytest.raises(ChannelError) as failed:
            channels.send_sms(to="+84912345678", text="Xin chào", notification_type="TEST")
        return _error_text(failed.value)
    return stored


@pytest.fixture
def smtp(app, monkeypatch):
    """send_email() through an SMTP server that fails as the test says."""
    monkeypatch.setitem(app.config, "SMTP_HOST", "mail.test")
    monkeypatch.setitem(app.config, "SMTP_STARTTLS", False)

    def stored(failure: Exception, *, on_connect: bool = False) -> str:
        class Server:
            def __init__(self, *_args, **_kwargs):
                if on_connect:
                    raise failure

            def __enter__(self):
                return self

            def __exit__(self, *_exc):
                return False

            def send_message(self, _message):
                raise failure

        monkeypatch.setattr(channels.smtplib, "SMTP", Server)
        with pytest.raises(ChannelError) as failed:
            channels.send_email(to="lan@example.com", subject="S", text="T",
                                notification_type="TEST")
        return _error_text(failed.value)
    return stored


def words(raw: str, language: str = "en") -> str:
    with force_locale(language):
        found = delivery_error(raw)
    assert found.raw == raw  # the stored text stays beside the words
    return found.text


@pytest.mark.parametrize(("answer", "expected"), [
    (httpx.ConnectTimeout("timed out"), "The SMS gateway did not answer in time."),
    (httpx.ReadTimeout("timed out"), "The SMS gateway did not answer in time."),
    (httpx.ConnectError("connection refused"), "The SMS gateway could not be reached."),
    (400, "The SMS gateway refused the number (HTTP 400)."),
    (422, "The SMS gateway refused the number (HTTP 422)."),
    (401, "The SMS gateway refused the portal's credentials (HTTP 401): check "
          "SMS_GATEWAY_TOKEN."),
    (429, "The SMS gateway asked the portal to send more slowly (HTTP 429)."),
    (503, "The SMS gateway had a fault of its own (HTTP 503)."),
])
def test_sms_gateway_failures_read_as_sentences(ctx, sms, answer, expected):
    assert words(sms(answer)) == expected


@pytest.mark.parametrize(("failure", "on_connect", "expected"), [
    (smtplib.SMTPRecipientsRefused({"lan@example.com": (550, b"no")}), False,
     "The mail server refused the address."),
    (smtplib.SMTPResponseException(550, b"5.1.1 User unknown"), False,
     "The mail server refused the address: the mailbox does not exist or does not accept "
     "mail (code 550)."),
    (smtplib.SMTPResponseException(552, b"5.2.2 Mailbox full"), False,
     "The mailbox is full (code 552)."),
    (smtplib.SMTPResponseException(451, b"4.3.0 Try again later"), False,
     "The mail server asked the portal to try again later (code 451)."),
    (smtplib.SMTPResponseException(535, b"5.7.8 Bad credentials"), False,
     "The mail server refused the portal's login (code 535): check SMTP_USERNAME and "
     "SMTP_PASSWORD."),
    (smtplib.SMTPResponseException(554, b"5.7.1 Rejected"), False,
     "The mail server refused the message (code 554)."),
    (TimeoutError("timed out"), True, "The mail server did not answer in time."),
    (TimeoutError(), True, "The mail server did not answer in time."),
    (ConnectionRefusedError(111, "Connection refused"), True,
     "The mail server could not be reached."),
])
def test_smtp_failures_read_as_sentences(ctx, smtp, failure, on_connect, expected):
    assert words(smtp(failure, on_connect=on_connect)) == expected


def failed_send(**job) -> str:
    with pytest.raises(PermanentFailure) as failed:
        _send(SimpleNamespace(**{"payload": {}, "notification_type": "TEST"} | job))
    return _error_text(failed.value)


@pytest.mark.parametrize(("job", "expected"), [
    ({"channel": "sms", "notification_type": "INVITE_CREATED"},
     "The invite link in this message can no longer be rebuilt: the family's admin can "
     "resend the invite."),
    ({"channel": "sms", "notification_type": "ACCOUNT_CLAIM"},
     "The claim link in this message can no longer be rebuilt: the person can ask for a "
     "new one from the log-in page."),
    ({"channel": "sms", "notification_type": "PHONE_CODE",
      "payload": {"expires_at": "2020-01-01T00:00:00+00:00"}},
     "The one-time code expired before it could be sent."),
    ({"channel": "sms", "notification_type": "PHONE_CODE", "payload": {}},
     "The code in this message can no longer be rebuilt: the person can ask for a new "
     "code."),
    ({"channel": "push"}, "The portal has no way to send on this channel."),
    ({"channel": "payment"},
     "The message to the payment service is incomplete: it cannot be sent."),
])
def test_the_workers_own_failures_read_as_sentences(ctx, job, expected):
    assert words(failed_send(**job)) == expected


def test_the_payment_service_not_answering(ctx):
    assert words(_error_text(PaymentUnavailable())) == "The payment service did not answer."


def test_a_gateway_error_in_vietnamese(ctx, sms):
    assert words(sms(400), "vi") == "Cổng SMS đã từ chối số điện thoại (HTTP 400)."
    assert words(sms(httpx.ConnectTimeout("timed out")), "vi") == (
        "Cổng SMS không phản hồi kịp thời.")


def test_an_unknown_error_still_reads_as_a_sentence(ctx):
    assert words("RuntimeError: something else") == UNKNOWN
    assert delivery_error(None) is None
    assert delivery_error("") is None
