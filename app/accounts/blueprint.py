"""The accounts blueprint and what its route modules (views, identity_views,
token_views) share. Route modules import it; nothing imports them but create_app."""

from __future__ import annotations

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user

from app.accounts import staff_session
from app.accounts.email_proof import pending_proof
from app.accounts.forms import EmailForm, EmailResendForm
from app.db import utcnow
from app.htmx import wants_fragment
from app.models.accounts import User
from app.pages import local_path

bp = Blueprint("accounts", __name__, url_prefix="/account")


@bp.before_app_request
def _staff_session_limits():
    """A staff session past its idle or absolute limit (issue 21) ends before anything
    reads its user: the request goes on logged out (a page asks to log in, the API answers
    401), with a message saying why."""
    why = staff_session.ended()
    if why is None:
        return
    locale = session.get("locale")
    session.clear()
    if locale:
        session["locale"] = locale
    if not request.path.startswith("/api/"):
        flash(_("Your staff session ended after %(minutes)d minutes without activity. Log in "
                "again.", minutes=current_app.config["STAFF_IDLE_MINUTES"]) if why == "idle"
              else _("Your staff session ended: it lasts at most %(hours)d hours. Log in "
                     "again.", hours=current_app.config["STAFF_SESSION_HOURS"]), "info")


def safe_next(default: str) -> str:
    return local_path(request.values.get("next"), default)


def render_form(template: str, partial: str, form, status: int = 200, **context):
    """The page, or for htmx the form's partial (which the page includes)."""
    name = partial if wants_fragment() else template
    return render_template(name, form=form, **context), status


def redirect_home_if_logged_in():
    """Sign-up pages are for visitors: a logged-in user goes home."""
    return redirect(url_for("core.home")) if current_user.is_authenticated else None


def email_context(user: User, email_form: EmailForm | None = None) -> dict:
    """What the settings page's email section needs (templates/accounts/_email_section.html):
    the proved address, the one waiting for its link, and the forms."""
    pending = pending_proof(user)
    return {"email_form": email_form or EmailForm(formdata=None),
            "email_resend_form": EmailResendForm(formdata=None),
            "email_pending": pending,
            "email_pending_expired": pending is not None and pending.expires_at <= utcnow()}


def flash_email_link_sent(user: User) -> None:
    """Tell a new account that its email address counts once the link comes back."""
    waiting = pending_proof(user)
    if waiting is not None:
        flash(_("We sent a link to %(email)s. Open it to prove the address: until then it "
                "is not used for logging in or for messages.", email=waiting.email), "info")
