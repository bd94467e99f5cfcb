"""A failed delivery's error in the reader's words (issue 18).

The outbox worker stores each failure as the technical text its channel raised
(app/notifications/channels.py: the SMS gateway and SMTP; app/outbox/delivery.py: links
that cannot be rebuilt, the payment service). Those texts are for investigations; the
staff pages show one sentence per known kind of failure, in the reader's language, with
the raw text beside it as a secondary detail. An error of no known kind still reads as a
sentence. tests/staff/test_delivery_errors.py raises the channels' real errors, so a
change of their wording shows up there.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from flask_babel import gettext as _


def _sms_status(status: int) -> str:
    if status in (401, 403):
        return _("The SMS gateway refused the portal's credentials (HTTP %(status)d): check "
                 "SMS_GATEWAY_TOKEN.", status=status)
    if status == 429:
        return _("The SMS gateway asked the portal to send more slowly (HTTP %(status)d).",
                 status=status)
    if 400 <= status < 500:
        return _("The SMS gateway refused the number (HTTP %(status)d).", status=status)
    return _("The SMS gateway had a fault of its own (HTTP %(status)d).", status=status)


def _smtp_code(code: int) -> str:
    if code in (530, 534, 535):
        return _("The mail server refused the portal's login (code %(code)d): check "
                 "SMTP_USERNAME and SMTP_PASSWORD.", code=code)
    if code in (550, 551, 553):
        return _("The mail server refused the address: the mailbox does not exist or does "
                 "not accept mail (code %(code)d).", code=code)
    if code == 552:
        return _("The mailbox is full (code %(code)d).", code=code)
    if 400 <= code < 500:
        return _("The mail server asked the portal to try again later (code %(code)d).",
                 code=code)
    return _("The mail server refused the message (code %(code)d).", code=code)


_TIMEOUT = r".*(timeout|timed out)"

# (how the stored text reads, its sentence): the first that matches names it.
KINDS: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (re.compile(r"SMS gateway unreachable:" + _TIMEOUT, re.I | re.S),
     lambda m: _("The SMS gateway did not answer in time.")),
    (re.compile(r"SMS gateway unreachable:"),
     lambda m: _("The SMS gateway could not be reached.")),
    (re.compile(r"SMS gateway answered HTTP (\d{3})"), lambda m: _sms_status(int(m[1]))),
    (re.compile(r"SMTP server answered (\d{3})"), lambda m: _smtp_code(int(m[1]))),
    (re.compile(r"SMTP server refused the recipient"),
     lambda m: _("The mail server refused the address.")),
    (re.compile(r"SMTP failed:" + _TIMEOUT, re.I | re.S),
     lambda m: _("The mail server did not answer in time.")),
    (re.compile(r"SMTP failed:"), lambda m: _("The mail server could not be reached.")),
    (re.compile(r"PaymentUnavailable\b"), lambda m: _("The payment service did not answer.")),
    (re.compile(r"payment sync row without"), lambda m: _(
        "The message to the payment service is incomplete: it cannot be sent.")),
    (re.compile(r"the code expired before it could be sent"), lambda m: _(
        "The one-time code expired before it could be sent.")),
    (re.compile(r"the invite link cannot be recovered"), lambda m: _(
        "The invite link in this message can no longer be rebuilt: the family's admin "
        "can resend the invite.")),
    (re.compile(r"the claim link cannot be recovered"), lambda m: _(
        "The claim link in this message can no longer be rebuilt: the person can ask for "
        "a new one from the log-in page.")),
    (re.compile(r"the code cannot be recovered"), lambda m: _(
        "The code in this message can no longer be rebuilt: the person can ask for a new "
        "code.")),
    (re.compile(r"no delivery channel for"),
     lambda m: _("The portal has no way to send on this channel.")),
]


@dataclass(frozen=True)
class DeliveryError:
    text: str  # the sentence, in the reader's language
    raw: str  # what the worker stored


def delivery_error(raw: str | None) -> DeliveryError | None:
    """The stored error in words, or None when there is none."""
    if not raw:
        return None
    for pattern, words in KINDS:
        match = pattern.match(raw)
        if match:
            return DeliveryError(words(match), raw)
    return DeliveryError(_("The delivery failed for a reason the portal does not know: "
                           "see the technical detail."), raw)


def delivery_error_text(raw: str) -> str:
    """delivery_error()'s sentence alone (the audit trail's words for a resend's error)."""
    found = delivery_error(raw)
    return found.text if found else ""
