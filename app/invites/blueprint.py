"""The invites blueprint and what its route modules (views: the invitee's side,
admin_views: the admin's) share. Route modules import it; nothing imports them but
create_app."""

from __future__ import annotations

from flask import Blueprint, url_for

from app.pages import keep_link_pages_private

bp = Blueprint("invites", __name__)


# Pages that carry a link token (in their URL, the session or a hidden field).
_LINK_ENDPOINTS = frozenset({"invites.link", "invites.resume", "invites.login",
                             "invites.signup", "invites.accept", "invites.reject"})


@bp.record_once
def _install_link_headers(state) -> None:
    keep_link_pages_private(state.app, _LINK_ENDPOINTS)


def group_url(group_id: int) -> str:
    return url_for("groups.show", group_id=group_id)
