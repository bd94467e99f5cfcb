"""Keep link tokens out of the logs (SPEC §4: the raw token never reaches a log line).

Access logs (werkzeug's, gunicorn's) write the request line and the Referer, both of which
can carry an invite link /i/<token> or an account claim link /claim/<token> (SPEC §8);
RedactLinkTokens rewrites such a path segment to /i/[redacted] or /claim/[redacted] before
any handler formats the record. The fixed pages under /i/ are left as they are.
"""

from __future__ import annotations

import logging
import re
from collections.abc import MutableMapping

REDACTED = "/i/[redacted]"
CLAIM_REDACTED = "/claim/[redacted]"
EMAIL_REDACTED = "/email/[redacted]"
# Pages under /i/ whose names are not tokens (app/invites/views.py).
FIXED_PAGES = ("login", "signup", "resume", "accept", "reject")
_SEGMENT = r"[^/?#&\s\"'<>]"
_TOKEN_PATH = re.compile(
    r"/i/(?!(?:" + "|".join(FIXED_PAGES) + r")(?!" + _SEGMENT + r"))" + _SEGMENT + r"+")
_CLAIM_PATH = re.compile(r"/claim/" + _SEGMENT + r"+")
# The link that proves an e-mail address (issue 21).
_EMAIL_PATH = re.compile(r"/email/" + _SEGMENT + r"+")
# Query parameters that carry a phone number, an address or a name (the staff searches'
# q=…; a staff member's reasonText=…, which may name someone, issue 21): a request line at
# INFO must not (issue 20).
_PERSONAL_PARAM = re.compile(r"([?&](?:q|phone|email|login|name|reasonText)=)[^&#\s\"']*")
QUERY_REDACTED = "[redacted]"
# Loggers that write request lines: the development server and gunicorn.
ACCESS_LOGGERS = ("werkzeug", "gunicorn.access", "gunicorn.error")


def redact(text: str) -> str:
    """The text with the token of every /i/<token>, /claim/<token> and /email/<token> path
    replaced, and the value of every personal query parameter (?q=, phone=, email=, login=,
    name=, reasonText=)."""
    if "/i/" in text:
        text = _TOKEN_PATH.sub(REDACTED, text)
    if "/claim/" in text:
        text = _CLAIM_PATH.sub(CLAIM_REDACTED, text)
    if "/email/" in text:
        text = _EMAIL_PATH.sub(EMAIL_REDACTED, text)
    if "=" in text:
        text = _PERSONAL_PARAM.sub(r"\1" + QUERY_REDACTED, text)
    return text


class RedactLinkTokens(logging.Filter):
    """Rewrites link tokens in a record's message and arguments; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        args = record.args
        if isinstance(args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in args)
        elif isinstance(args, MutableMapping):
            # gunicorn's access atoms: change them in place, so that the mapping keeps its
            # class (it answers "-" for headers that the request did not send).
            for key, value in list(args.items()):
                if isinstance(value, str):
                    args[key] = redact(value)
        return True


def mask_recipient(address: str) -> str:
    """A phone number or e-mail address fit for a log line at INFO: its last three digits
    (+84•••••678), or the first letter and the domain (a•••@example.vn). Logs at INFO and
    above never carry a person's number, address or name (issue 20)."""
    if "@" in address:
        local, _, domain = address.rpartition("@")
        return f"{local[:1]}•••@{domain}"
    digits = [c for c in address if c.isdigit()]
    if len(digits) <= 3:
        return "•••"
    prefix = "+" if address.startswith("+") else ""
    return f"{prefix}•••{''.join(digits[-3:])}"


def _attach(target: logging.Logger | logging.Handler) -> None:
    if not any(isinstance(f, RedactLinkTokens) for f in target.filters):
        target.addFilter(RedactLinkTokens())


def install_log_redaction() -> None:
    """Attach the filter to the access loggers and to the root logger's handlers (which
    see every propagated record). Safe to call more than once."""
    for name in ACCESS_LOGGERS:
        _attach(logging.getLogger(name))
    for handler in logging.getLogger().handlers:
        _attach(handler)
