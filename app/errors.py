"""Domain exceptions raised by services, and the HTTP error pages."""

from __future__ import annotations

import logging
import math
from urllib.parse import urlsplit

from flask import Flask, current_app, g, jsonify, make_response, render_template, request
from flask.globals import request_ctx
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from app.htmx import wants_fragment

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


def invalid_fields(fields: dict[str, list[str]]) -> Invalid:
    """A request whose fields are missing or malformed, each with its own message."""
    return Invalid(_("Some fields are missing or not right."), code="invalid", fields=fields)


# Set on flask.g by the request's boundary (app/transaction.py) once it has committed and
# before it makes an after_commit answer: an error from then on must not say nothing was saved.
SAVED_BEFORE_THE_ANSWER = "fc_saved_before_the_answer"


def wait_phrase(seconds: float) -> str:
    """How long to wait, in the user's language: seconds under a minute, then minutes
    under an hour, then hours, always rounded up (never "come back" before it is time)."""
    seconds = max(1, math.ceil(seconds))
    minutes = math.ceil(seconds / 60)
    if seconds < 60:
        return ngettext("%(num)d second", "%(num)d seconds", seconds)
    if minutes < 60:
        return ngettext("%(num)d minute", "%(num)d minutes", minutes)
    return ngettext("%(num)d hour", "%(num)d hours", math.ceil(seconds / 3600))


def try_again_in(seconds: float) -> str:
    """The 429 message of a limit: how long until it lets the request through."""
    return _("Too many attempts. Try again in %(wait)s.", wait=wait_phrase(seconds))


class TooSoon(DomainError):
    """A rule of pace (not Flask-Limiter's per-address buckets): try again later.

    retry_after: seconds until the rule lets the request through, when known; it is sent
    as Retry-After, and without a message of its own the answer says try_again_in() it."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str = "", code: str | None = None,
                 fields: dict[str, list[str]] | None = None, *,
                 retry_after: float | None = None):
        self.retry_after = max(1, math.ceil(retry_after)) if retry_after is not None else None
        if not message and self.retry_after is not None:
            message = try_again_in(self.retry_after)
        super().__init__(message, code, fields)


def retry_after_header(exc: Exception) -> dict[str, str]:
    """Retry-After for a refusal that knows its wait (TooSoon), else nothing."""
    seconds = getattr(exc, "retry_after", None)
    return {"Retry-After": str(seconds)} if seconds else {}


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
        return make_response(jsonify(error={"code": code, "message": message}), status)
    if wants_fragment():
        # htmx swaps every answer (base.html): an error it did not ask a form for goes into
        # the page's live region, never into the element that asked (a switch's cell).
        body = render_template("_announce.html", message=message, category="error", oob=False)
        return make_response(body, status,
                             {"HX-Retarget": "#flashes", "HX-Reswap": "outerHTML"})
    return make_response(render_template("errors/error.html", status=status, title=title,
                                         message=message, code=code), status)


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def _csrf(_e):
        return _render(400, _("Form expired"),
                       _("This form has expired or was sent from elsewhere. "
                         "Go back, reload the page and try again."))

    @app.errorhandler(DomainError)
    def _domain(e: DomainError):
        titles = {"phone_unverified": _("Your phone number is not proved yet")}
        response = _render(e.status, titles.get(e.code) or _("Request refused"), e.message,
                           e.code)
        response.headers.update(retry_after_header(e))
        return response

    @app.errorhandler(HTTPException)
    def _http(e: HTTPException):
        titles = {
            400: (_("Bad request"), _("The request could not be understood.")),
            403: (_("Not allowed"), _("You do not have access to this page.")),
            404: (_("Page not found"), _("There is nothing at this address.")),
            405: (_("Not allowed"), _("This action is not available here.")),
            413: (_("Too much at once"),
                  _("What you sent is too large. Shorten it and try again.")),
        }
        headers = {}
        if e.code == 429:  # Flask-Limiter's: say how long, from the limits that refused
            from app.extensions import rate_limit_wait

            wait = rate_limit_wait(e)
            titles[429] = (_("Too many attempts"), try_again_in(wait))
            headers["Retry-After"] = str(wait)
        title, message = titles.get(e.code or 500, (_("Error"), _("Something went wrong.")))
        response = _render(e.code or 500, title, message)
        # A 405 names the methods that work (RFC 9110), as werkzeug's own page does.
        allowed = getattr(e, "valid_methods", None)
        if allowed:
            headers["Allow"] = ", ".join(allowed)
        response.headers.update(headers)
        return response

    @app.errorhandler(Exception)
    def _unexpected(e: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        from app.extensions import db

        db.session.rollback()
        if g.get(SAVED_BEFORE_THE_ANSWER):  # an after_commit answer failed (app/transaction.py)
            message = _("Your change was saved, but the page could not be shown. Reload "
                        "the page to see it.")
        else:
            message = _("An unexpected error happened. Nothing was saved; please try again.")
        try:
            return _render(500, _("Something went wrong"), message)
        except Exception:  # noqa: BLE001 - the error page itself failed: answer plain text
            log.exception("error page failed")
            return message, 500, {"Content-Type": "text/plain; charset=utf-8"}
