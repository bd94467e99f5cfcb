"""Logging in and signing up from a page's form, shared by the account pages and the
invite link's pages (app/invites): check the credentials, start a fresh session, and put
the registration rules' findings on a sign-up form."""

from __future__ import annotations

from flask import request, session
from flask_login import login_user

from app.accounts.forms import LoginForm
from app.accounts.services import account_authenticate, account_check_registration
from app.errors import DomainError, Forbidden
from app.forms import copy_errors
from app.htmx import wants_fragment
from app.models.accounts import User
from app.transaction import attempt


def authenticate_form(form: LoginForm) -> tuple[User | None, int]:
    """Check a valid login form's credentials. On refusal the message goes on the form and
    the status comes back: 401, or 403 for a suspended account (the failed attempt's audit
    event is kept: the service said keep_on_refusal) — 422 to htmx, which swaps a refused
    form in place only for 422 (base.html's htmx-config)."""
    user, error = attempt(account_authenticate, login=form.login.data,
                          password=form.password.data, ip=request.remote_addr)
    if error is not None:
        form.form_errors.append(error.message)
        if wants_fragment():
            return None, 422
        return None, 403 if isinstance(error, Forbidden) else 401
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
