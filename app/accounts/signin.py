"""Logging in and signing up from a page's form, shared by the account pages and the
invite link's pages (app/invites): check the credentials, start a fresh session in the
language the visitor chose, answer a rate limit inside the form, and put the registration
rules' findings on a sign-up form."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import make_response, request, session
from flask_limiter import RateLimitExceeded
from flask_login import login_user

from app.accounts import staff_session
from app.accounts.forms import LoginForm
from app.accounts.services import (
    LOCALES,
    account_authenticate,
    account_check_registration,
    account_set_locale,
)
from app.errors import DomainError, Forbidden, try_again_in
from app.extensions import rate_limit_wait
from app.forms import copy_errors
from app.models.accounts import User
from app.transaction import attempt

# Set by the language switch (app/core.py) when a visitor, not logged in, picks a language:
# logging in then keeps that language (and stores it on the account) instead of the one the
# account had. The language a logged-out session keeps from its last user is no choice.
LOCALE_CHOSEN = "locale_chosen"


def authenticate_form(form: LoginForm) -> tuple[User | None, int]:
    """Check a valid login form's credentials. On refusal the message goes on the form and
    the status comes back: 401, or 403 for a suspended account (the failed attempt's audit
    event is kept: the service said keep_on_refusal). htmx swaps every status (base.html),
    so a page and an htmx request get the same one."""
    user, error = attempt(account_authenticate, login=form.login.data,
                          password=form.password.data, ip=request.remote_addr)
    if error is not None:
        form.form_errors.append(error.message)
        return None, 403 if isinstance(error, Forbidden) else 401
    return user, 200


def keep_chosen_language(user: User) -> None:
    """The language a visitor chose before logging in becomes the account's (SPEC §1: the
    language is stored on the user). Call it before the commit."""
    chosen = session.get("locale") if session.get(LOCALE_CHOSEN) else None
    if chosen in LOCALES and chosen != user.locale:
        account_set_locale(actor=user, locale=chosen)


def start_session(user: User, **keep) -> None:
    """Log in with a fresh session (no fixation) in the user's language — the one chosen on
    the way in, if any (keep_chosen_language) — plus `keep`."""
    keep_chosen_language(user)
    session.clear()
    session["locale"] = user.locale
    session.update(keep)
    staff_session.start(user.staff_role)
    user.staff_factor_passed(False)  # a new session passes the staff factor anew
    login_user(user)


def rate_limit_answered_by(render: Callable[[str], str]):
    """Flask-Limiter's 429 on a form's route, answered by the form: render(message) makes
    the page, or for htmx the form's partial, with how long to wait in the form (the
    generic answer of app/errors.py would go to the page's live region, away from the
    form). Decorate the route above its limits, so that it sees what they raise."""

    def decorate(view):
        @wraps(view)
        def answered(*args, **kwargs):
            try:
                return view(*args, **kwargs)
            except RateLimitExceeded as exc:
                wait = rate_limit_wait(exc)
                response = make_response(render(try_again_in(wait)), 429)
                response.headers["Retry-After"] = str(wait)
                return response

        return answered

    return decorate


def check_registration_form(form, *, phone: str) -> None:
    """For a form that failed its shape checks: add the service's findings on the other
    fields too, so one submit shows every problem."""
    try:
        account_check_registration(phone=phone, password=form.password.data or "",
                                   name=form.name.data or "", gender=None,
                                   email=form.email.data)
    except DomainError as exc:
        copy_errors(form, exc, fill_only=True)
