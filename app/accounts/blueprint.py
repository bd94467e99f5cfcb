"""The accounts blueprint and what its route modules (views, identity_views,
token_views) share. Route modules import it; nothing imports them but create_app."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.accounts.email_proof import pending_proof
from app.accounts.forms import EmailForm, EmailResendForm
from app.db import utcnow
from app.htmx import wants_fragment
from app.models.accounts import User
from app.pages import local_path

bp = Blueprint("accounts", __name__, url_prefix="/account")


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
