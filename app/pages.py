"""What the HTML views share: the acting user, a service called as that user (committed
by the request's boundary, app/transaction.py), and a refusal answered to a plain post
(flash + 303) or to htmx (the message + HX-Redirect)."""

from __future__ import annotations

import re

from flask import flash, make_response, render_template, request
from flask_login import current_user

from app.errors import DomainError
from app.htmx import see_other, wants_fragment
from app.models.accounts import User
from app.transaction import attempt

# A backslash or a control character lets a path leave the site: browsers read /\host and
# /<tab>/host as //host, and werkzeug drops tabs and refuses newlines in Location (a 500).
_NOT_IN_A_PATH = re.compile(r"[\x00-\x1f\x7f\\]")


def local_path(target: str | None, default: str) -> str:
    """`target` when it is a path on this site (a `next` field), else `default`."""
    if (target and target.startswith("/") and not target.startswith("//")
            and not _NOT_IN_A_PATH.search(target)):
        return target
    return default


def acting_user() -> User:
    return current_user._get_current_object()


def run_service(service, **kwargs):
    """Call a service as the current user: (result, None), or (None, error) with its
    writes undone. The request's boundary commits a success (app/transaction.py)."""
    return attempt(service, actor=acting_user(), ip=request.remote_addr, **kwargs)


def refused(error: DomainError, back: str, partial: str = "_refusal.html", **context):
    """A refusal the form cannot fix: a flash on the page (303); for htmx the partial with
    the message and the status, plus HX-Redirect so the page with the flash replaces it
    (htmx swaps no 4xx/5xx answer but 409 and 422)."""
    flash(error.message, "error")
    if not wants_fragment():
        return see_other(back)
    response = make_response(
        render_template(partial, message=error.message, **context), error.status)
    response.headers["HX-Redirect"] = back
    return response


def keep_link_pages_private(app, endpoints: frozenset[str]) -> None:
    """SPEC §4: the pages that carry a link token (invite, claim and e-mail links) leak
    their URL to no one: no Referer, no cache. Talisman sets Referrer-Policy on every
    response and cannot vary it per view, and Flask runs after_request functions
    last-registered-first: this one goes first in the list, so it runs after Talisman's
    and has the last word on those pages."""

    def headers(response):
        if request.endpoint in endpoints:
            response.headers["Referrer-Policy"] = "no-referrer"
            response.headers["Cache-Control"] = "no-store"
        return response

    app.after_request_funcs.setdefault(None, []).insert(0, headers)
