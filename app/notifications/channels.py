"""Channels that take a message out of the process: an SMS gateway, SMTP, or the log.

A send function returns the provider's message id (or None) or raises ChannelError; the
worker turns that into a retry. With no SMS gateway or SMTP host configured, the message
goes to the log instead, so the embedded default needs no outside service (SPEC §5).
Nothing here writes an invite link to a log line or an error text: see redact().
"""

from __future__ import annotations

import logging
import re
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

import httpx
from flask import current_app

from app.logging_filters import mask_recipient

log = logging.getLogger("app.notifications")
# The log channel's messages themselves (DEBUG): who they go to and what they say.
message_log = logging.getLogger("app.notifications.log_channel")

_LINK_TOKEN = re.compile(r"/i/[A-Za-z0-9_\-]+")


class ChannelError(Exception):
    """The channel failed or refused the message; worth another try later."""


def redact(text: str) -> str:
    """The text without the token of any invite link (/i/<token> → /i/[redacted])."""
    return _LINK_TOKEN.sub("/i/[redacted]", text)


def log_message(channel: str, *, to: str, notification_type: str, text: str) -> None:
    """The channel of the embedded default. At INFO, that a message went and to whom,
    masked (no number, address or name at INFO); the message itself, link token redacted,
    at DEBUG on its own logger (app.notifications.log_channel), which development turns
    on (the demo's codes appear in the terminal; create_app)."""
    log.info("%s to %s (%s) written to the log channel", channel, mask_recipient(to),
             notification_type)
    message_log.debug("%s to %s (%s): %s", channel, to, notification_type, redact(text))


def send_sms(*, to: str, text: str, notification_type: str) -> str | None:
    """POST {"to", "text"} to SMS_GATEWAY_URL; the gateway's {"id"} when it answers one."""
    config = current_app.config
    url = config["SMS_GATEWAY_URL"]
    if not url:
        log_message("sms", to=to, notification_type=notification_type, text=text)
        return None
    headers = {"Accept": "application/json"}
    if config["SMS_GATEWAY_TOKEN"]:
        headers["Authorization"] = f"Bearer {config['SMS_GATEWAY_TOKEN']}"
    try:
        response = httpx.post(url, json={"to": to, "text": text}, headers=headers,
                              timeout=config["NOTIFY_TIMEOUT"])
    except httpx.HTTPError as exc:
        raise ChannelError(f"SMS gateway unreachable: {type(exc).__name__}: {exc}") from exc
    if not response.is_success:
        raise ChannelError(f"SMS gateway answered HTTP {response.status_code}")
    try:
        body = response.json()
    except ValueError:
        return None  # a 2xx without JSON is still accepted
    message_id = body.get("id") if isinstance(body, dict) else None
    return str(message_id)[:100] if message_id not in (None, "") else None


def send_email(*, to: str, subject: str, text: str, notification_type: str) -> str | None:
    """Send a plain UTF-8 email through SMTP_HOST; its Message-ID."""
    config = current_app.config
    if not config["SMTP_HOST"]:
        log_message("email", to=to, notification_type=notification_type,
                    text=f"{subject} | {text}")
        return None
    message = EmailMessage()
    message["From"] = config["MAIL_FROM"]
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(usegmt=True)
    # The sender's domain, not socket.getfqdn(): that can stall on a DNS lookup.
    domain = parseaddr(config["MAIL_FROM"])[1].rpartition("@")[2] or "localhost"
    message["Message-ID"] = make_msgid(domain=domain)
    message.set_content(text)
    try:
        with smtplib.SMTP(config["SMTP_HOST"], config["SMTP_PORT"],
                          timeout=config["NOTIFY_TIMEOUT"]) as smtp:
            if config["SMTP_STARTTLS"]:
                smtp.starttls(context=ssl.create_default_context())
            if config["SMTP_USERNAME"]:
                smtp.login(config["SMTP_USERNAME"], config["SMTP_PASSWORD"])
            smtp.send_message(message)
    except smtplib.SMTPResponseException as exc:
        reason = exc.smtp_error.decode(errors="replace") if isinstance(
            exc.smtp_error, bytes) else str(exc.smtp_error)
        raise ChannelError(f"SMTP server answered {exc.smtp_code} {reason}") from exc
    except smtplib.SMTPRecipientsRefused as exc:
        raise ChannelError("SMTP server refused the recipient") from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise ChannelError(f"SMTP failed: {type(exc).__name__}: {exc}") from exc
    return str(message["Message-ID"])[:100]
