"""The API blueprint, /api/v1, and its answers to a refusal. Route modules import it;
nothing imports them but create_app."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError

from app.accounts.identity import api_hint
from app.api.auth import authenticate
from app.errors import DomainError, retry_after_header

bp = Blueprint("api", __name__, url_prefix="/api/v1")
bp.before_request(authenticate)


def error_response(exc: DomainError, status: int | None = None):
    """The error body for a refusal; `fields` names the input at fault, when known."""
    error = {"code": exc.code, "message": exc.message or _("The request was refused.")}
    if exc.fields:
        error["fields"] = exc.fields
    response = jsonify(error=error)
    response.status_code = status or exc.status
    if response.status_code == 429:
        response.headers.update(retry_after_header(exc))
    if response.status_code == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


@bp.errorhandler(DomainError)
def _domain_error(exc: DomainError):
    # Nothing to roll back here: a route's refusal was rolled back (or its kept record
    # committed) by the request's boundary, app/transaction.py; one raised before the
    # route (authentication) wrote nothing the session's teardown does not discard.
    hint = api_hint(exc.code)
    if hint:  # the API's own way out, where the page has a button
        exc.message = f"{exc.message} {hint}"
    return error_response(exc)


@bp.errorhandler(CSRFError)
def _csrf_error(_exc: CSRFError):
    return error_response(DomainError(
        _("The CSRF token is missing or not valid. Send it in the X-CSRFToken header, "
          "or use an API token."), code="csrf_failed"), 400)


@bp.after_request
def _no_store(response):
    response.headers["Cache-Control"] = "no-store"  # personal and health data
    return response
