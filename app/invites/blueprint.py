"""The invites blueprint and what its route modules (views: the invitee's side,
admin_views: the admin's) share. Route modules import it; nothing imports them but
create_app."""

from __future__ import annotations

from flask import Blueprint, request, url_for

bp = Blueprint("invites", __name__)


# Pages that carry a link token (in their URL, the session or a hidden field).
_LINK_ENDPOINTS = {"invites.link", "invites.resume", "invites.login", "invites.signup",
                   "invites.accept", "invites.reject"}


@bp.record_once
def _install_link_headers(state) -> None:
    # Talisman sets Referrer-Policy on every response and cannot vary it per view, and
    # Flask runs after_request functions last-registered-first: put this one first in the
    # list so that it runs after Talisman's and has the last word on the link pages.
    state.app.after_request_funcs.setdefault(None, []).insert(0, _link_headers)


def _link_headers(response):
    """SPEC §4: the link pages leak their URL to no one (no Referer, no cache)."""
    if request.endpoint in _LINK_ENDPOINTS:
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
    return response


def group_url(group_id: int) -> str:
    return url_for("groups.show", group_id=group_id)
