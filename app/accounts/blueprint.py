"""The accounts blueprint and what its route modules (views, identity_views,
token_views) share. Route modules import it; nothing imports them but create_app."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from flask_login import current_user

from app.htmx import wants_fragment
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
