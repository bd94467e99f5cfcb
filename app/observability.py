"""Structured logs and the request id (issue 20, item 3).

Every request carries an id: the one a trusted proxy sent in `X-Request-ID` when it is
well-formed, else a new one (uuid4 hex). It is kept in a context variable for as long as
the request runs, returned as the `X-Request-ID` header of every answer (errors and
refusals too: the WSGI middleware sees them all), written on the outbox rows the request
queues (app/models/notifications.py), and put on every log record made meanwhile by
RequestIdFilter. The outbox worker runs each message's lines under the id of the request
that queued it (app/outbox/delivery.py), so one request can be followed from the page to
the line that sent its SMS.

Logs are JSON lines (python-json-logger) or text, by LOG_FORMAT (docs/configuration.md):
time (ISO 8601 UTC), level, logger, message, request_id when there is one, and the
exception's text when there is one. The link-token redaction of app/logging_filters.py
runs on the same handlers, before any formatter.
"""

from __future__ import annotations

import logging
import re
import sys
import uuid
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from app.logging_filters import RedactLinkTokens, install_log_redaction

HEADER = "X-Request-ID"
_ENVIRON_KEY = "HTTP_X_REQUEST_ID"
# What an id from outside may look like: anything else is replaced, never logged (a
# newline or a quote in it would forge log lines: log injection).
_WELL_FORMED = re.compile(r"[A-Za-z0-9._:\-]{1,128}", re.ASCII)
_current: ContextVar[str | None] = ContextVar("fc_request_id", default=None)

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"
# gunicorn's access line with the answer's request id at the end (the `o` atom reads a
# response header): access_log_format in the gunicorn conf.
GUNICORN_ACCESS_FORMAT = ('%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" '
                          '%({x-request-id}o)s')
LOG_FORMATS = ("json", "text")


# --- the request id ---------------------------------------------------------------------


def current_request_id() -> str | None:
    """The id of the request (or outbox message) being handled, None outside one."""
    return _current.get()


def new_request_id() -> str:
    return uuid.uuid4().hex


def well_formed(value: str | None) -> bool:
    return value is not None and _WELL_FORMED.fullmatch(value) is not None


@contextmanager
def request_id_context(request_id: str | None):
    """Run the block under `request_id` (the worker: the id the message was queued with)."""
    token = _current.set(request_id)
    try:
        yield
    finally:
        _current.reset(token)


class RequestIdMiddleware:
    """WSGI: give each request its id and return it as X-Request-ID on every answer.

    trust: take the incoming X-Request-ID (when well-formed) because a proxy we trust sets
    it (TRUST_REQUEST_ID, on by default behind PROXY_FIX_HOPS); otherwise a client could
    choose the id its requests are logged under, so it is ignored and one is made.
    """

    def __init__(self, wsgi_app: Callable, *, trust: bool) -> None:
        self.wsgi_app = wsgi_app
        self.trust = trust

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        given = environ.get(_ENVIRON_KEY) if self.trust else None
        request_id = given if well_formed(given) else new_request_id()
        environ["fc.request_id"] = request_id

        def start_with_id(status: str, headers: list[tuple[str, str]], exc_info=None):
            headers = [(k, v) for k, v in headers if k.lower() != "x-request-id"]
            headers.append((HEADER, request_id))
            return start_response(status, headers, exc_info)

        with request_id_context(request_id):
            return self.wsgi_app(environ, start_with_id)


# --- log records ------------------------------------------------------------------------


class RequestIdFilter(logging.Filter):
    """Puts the current request id on every record (request_id), keeping one already set
    (gunicorn's access line, which is written after the request: GunicornAccessRequestId)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            request_id = _current.get()
            if request_id is not None:
                record.request_id = request_id
        return True


class GunicornAccessRequestId(logging.Filter):
    """gunicorn writes its access line once the answer is made, outside the request: take
    the id from the line's atoms (the X-Request-ID response header)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, dict):
            try:
                value = args["{x-request-id}o"]
            except (KeyError, TypeError):
                value = None
            if isinstance(value, str) and well_formed(value):
                record.request_id = value
        return True


def _iso_utc(record: logging.LogRecord) -> str:
    return (datetime.fromtimestamp(record.created, tz=UTC)
            .isoformat(timespec="milliseconds").replace("+00:00", "Z"))


class JsonLines(JsonFormatter):
    """One JSON object per line: time, level, logger, message, request_id (when there is
    one), exception (when there is one), and any `extra=` fields."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("rename_fields", {"asctime": "time", "levelname": "level",
                                            "name": "logger", "exc_info": "exception"})
        kwargs.setdefault("json_ensure_ascii", False)
        super().__init__(JSON_FIELDS, *args, **kwargs)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return _iso_utc(record)


class TextLines(logging.Formatter):
    """The development format, request id in brackets ("-" outside a request)."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT, defaults={"request_id": "-"})

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return _iso_utc(record)


def make_formatter(log_format: str) -> logging.Formatter:
    return JsonLines() if log_format == "json" else TextLines()


def _ours(handler: logging.Handler) -> bool:
    return getattr(handler, "fc_handler", False)


def install_logging(log_format: str) -> None:
    """The root logger's handler in `log_format`, with the request id and the link-token
    redaction on every root handler. Only the handler made here gets the formatter: a
    process that configured its own (a test runner) keeps it. Safe to call again."""
    root = logging.getLogger()
    if not root.handlers:  # gunicorn and flask run leave the root bare
        handler = logging.StreamHandler(sys.stderr)
        handler.fc_handler = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    for handler in root.handlers:
        if _ours(handler):
            handler.setFormatter(make_formatter(log_format))
        if not any(isinstance(f, RequestIdFilter) for f in handler.filters):
            handler.addFilter(RequestIdFilter())
    install_log_redaction()


def gunicorn_logconfig_dict(log_format: str = "json") -> dict[str, Any]:
    """gunicorn's own error and access logs in `log_format`, link tokens redacted, the
    access line carrying the answer's request id (request_id in JSON). For the gunicorn
    conf: `logconfig_dict = gunicorn_logconfig_dict(os.environ.get("LOG_FORMAT", "json"))`
    with `access_log_format = GUNICORN_ACCESS_FORMAT` and `accesslog = "-"`."""
    formatter = ({"()": JsonLines} if log_format == "json" else {"()": TextLines})
    filters = {"redact": {"()": RedactLinkTokens}, "request_id": {"()": RequestIdFilter},
               "access_request_id": {"()": GunicornAccessRequestId}}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"portal": formatter},
        "filters": filters,
        "handlers": {
            "error_console": {"class": "logging.StreamHandler", "formatter": "portal",
                              "filters": ["redact", "request_id"],
                              "stream": "ext://sys.stderr"},
            "access_console": {"class": "logging.StreamHandler", "formatter": "portal",
                               "filters": ["redact", "access_request_id"],
                               "stream": "ext://sys.stdout"},
        },
        # gunicorn lays this over its own defaults key by key: its root names its own
        # "console" handler, which this dict replaces. The root is left bare, for the
        # portal's install_logging() to give it the same format in each worker.
        "root": {"level": "INFO", "handlers": []},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["error_console"],
                               "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": ["access_console"],
                                "propagate": False},
        },
    }
