"""Logging in and signing up from a page's form, shared by the account pages and the
invite link's pages (app/invites): check the credentials, start a fresh session, and put
the registration rules' findings on a sign-up form."""

from __future__ import annotations

from flask import request, session
from flask_login import login_user

from app.accounts.forms import LoginForm
from app.accounts.services import account_authenticate, account_check_registration
from app.errors import DomainError, Forbidden
from app.extensions import db
from app.forms import copy_errors
from app.htmx import wants_fragment
from app.models.accounts import User


def authenticate_form(form: LoginForm) -> tuple[User | None, int]:
    """Check a valid login form's credentials and commit. On refusal the message goes on
    the form and the status comes back: 401, or 403 for a suspended account (the failed
    attempt's audit event is kept) — 422 to htmx, which swaps a refused form in place only
    for 422 (base.html's htmx-config)."""
    try:
        user = account_authenticate(login=form.login.data, password=form.password.data,
                                    ip=request.remote_addr)
    except DomainError as exc:
        db.session.commit()  # keep the failed-attempt audit event, nothing else is pending
        form.form_errors.append(exc.message)
        if wants_fragment():
            return None, 422
        return None, 403 if isinstance(exc, Forbidden) else 401
    db.session.commit()
    return user, 200


def start_session(user: User, **keep) -> None:
    """Log in with a fresh session (no fixation): the user's language, plus `keep`."""
    session.clear()
    session["locale"] = user.locale
    session.update(keep)
    login_user(user)


def check_registration_form(form, *, phone: str) -> None:
    """For a form that failed its shape checks: add the service's findings on the other
    fields too, so one submit shows every problem."""
    try:
        account_check_registration(phone=phone, password=form.password.data or "",
                                   name=form.name.data or "", gender=None,
                                   email=form.email.data)
    except DomainError as exc:
        copy_errors(form, exc, fill_only=True)
