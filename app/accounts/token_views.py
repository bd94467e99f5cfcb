"""The settings page's API tokens (issue 15): revoke one, in place with htmx or as a plain
form post. The list itself is on the settings page (app/accounts/views.py)."""

from __future__ import annotations

from flask import flash, render_template, url_for
from flask_babel import gettext as _
from flask_login import login_required

from app.accounts.blueprint import bp
from app.accounts.tokens import api_token_revoke
from app.htmx import see_other, wants_fragment
from app.pages import refused, run_service
from app.transaction import after_commit


@bp.post("/tokens/<int:token_id>/revoke")
@login_required
def token_revoke(token_id: int):
    """Revoke one of my API tokens: its row again for htmx, else back to the settings."""
    shown, error = run_service(api_token_revoke, token_id=token_id)
    settings_url = url_for("accounts.settings", _anchor="api-tokens")
    if error is not None:
        if wants_fragment():
            return refused(error, settings_url)
        return render_template("errors/error.html", title=_("Request refused"),
                               message=error.message), error.status
    if wants_fragment():
        return after_commit(lambda: render_template("accounts/_token_row.html", shown=shown))
    flash(_("The API token “%(name)s” no longer works.", name=shown.token.name), "success")
    return see_other(settings_url)
