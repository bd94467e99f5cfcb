"""Domain exceptions raised by services, and the HTTP error pages."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from flask import Flask, current_app, jsonify, render_template, request
from flask.globals import request_ctx
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

log = logging.getLogger("app.errors")


class DomainError(Exception):
    """Base of the exceptions services raise; views and the API map them to answers."""

    status = 400
    code = "error"

    def __init__(self, message: str = "", code: str | None = None,
                 fields: dict[str, list[str]] | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.fields = fields or {}


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class Gone(DomainError):
    status = 410
    code = "gone"


class Invalid(DomainError):
    status = 422
    code = "invalid"


class TooSoon(DomainError):
    """A rule of pace (not Flask-Limiter's per-address buckets): try again later."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str = "", code: str | None = None,
                 fields: dict[str, list[str]] | None = None, *, retry_after: int | None = None):
        super().__init__(message, code, fields)
        self.retry_after = retry_after  # seconds


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/healthz"


def _bind_urls_to_our_address() -> None:
    """A request whose Host is not one of ours (TRUSTED_HOSTS) is refused before Flask can
    bind its URL adapter to that host, so the error page could build no link; its links
    are built for PUBLIC_BASE_URL instead (relative ones, as always)."""
    if request_ctx.url_adapter is None:
        public = urlsplit(current_app.config["PUBLIC_BASE_URL"])
        request_ctx.url_adapter = current_app.url_map.bind(
            public.netloc, script_name=request.root_path or "/", url_scheme=public.scheme)


def _render(status: int, title: str, message: str, code: str | None = None):
    _bind_urls_to_our_address()
    if _wants_json():
        code = {400: "bad_request", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
                410: "gone", 413: "too_large", 429: "rate_limited"}.get(status, "error")
        return jsonify(error={"code": code, "message": message}), status
    return render_template("errors/error.html", status=status, title=title,
                           message=message, code=code), status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def _csrf(_e):
        return _render(400, _("Form expired"),
                       _("This form has expired or was sent from elsewhere. "
                         "Go back, reload the page and try again."))

    @app.errorhandler(DomainError)
    def _domain(e: DomainError):
        titles = {"phone_unverified": _("Your phone number is not proved yet")}
        return _render(e.status, titles.get(e.code) or _("Request refused"), e.message, e.code)

    @app.errorhandler(HTTPException)
    def _http(e: HTTPException):
        titles = {
            400: (_("Bad request"), _("The request could not be understood.")),
            403: (_("Not allowed"), _("You do not have access to this page.")),
            404: (_("Page not found"), _("There is nothing at this address.")),
            405: (_("Not allowed"), _("This action is not available here.")),
            413: (_("Too much at once"),
                  _("What you sent is too large. Shorten it and try again.")),
            429: (_("Too many attempts"),
                  _("Too many attempts in a short time. Wait a minute and try again.")),
        }
        title, message = titles.get(e.code or 500, (_("Error"), _("Something went wrong.")))
        body, status = _render(e.code or 500, title, message)
        # A 405 names the methods that work (RFC 9110), as werkzeug's own page does.
        allowed = getattr(e, "valid_methods", None)
        return body, status, {"Allow": ", ".join(allowed)} if allowed else {}

    @app.errorhandler(Exception)
    def _unexpected(e: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        from app.extensions import db

        db.session.rollback()
        message = _("An unexpected error happened. Nothing was saved; please try again.")
        try:
            return _render(500, _("Something went wrong"), message)
        except Exception:  # noqa: BLE001 - the error page itself failed: answer plain text
            log.exception("error page failed")
            return message, 500, {"Content-Type": "text/plain; charset=utf-8"}
