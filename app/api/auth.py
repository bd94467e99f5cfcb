"""Who calls the API (SPEC §7): a personal bearer token, or the browser session — then
with CSRF on unsafe methods. A bearer request never looks at the session."""

from __future__ import annotations

from flask import g, request
from flask_babel import gettext as _
from flask_login import current_user

from app.accounts.services import api_token_user
from app.errors import DomainError
from app.extensions import csrf, login_manager
from app.models.accounts import User
from app.phone import normalize_login

# Routes anyone may call.
PUBLIC_ENDPOINTS = frozenset({"api.auth_register", "api.auth_register_verify",
                              "api.auth_token", "api.auth_password_reset",
                              "api.auth_password_reset_confirm",
                              # the emailed link's token is the proof (issue 21)
                              "api.auth_email_prove"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"


class MfaRequired(DomainError):
    """A staff member calling a staff route without the second factor: a token issued
    without a TOTP code, or a session that has not passed the code step (issue 21)."""

    status = 401
    code = "mfa_required"


# The routes only staff may call, besides /api/v1/staff/*: a staff member who has not passed
# the second factor is told so (401 mfa_required) rather than refused as a non-staff user.
STAFF_ENDPOINTS = frozenset({"api.family_list"})


class TokenRequired(DomainError):
    """A route about the bearer token itself (DELETE /auth/token) called with the browser
    session, which holds none."""

    status = 400
    code = "token_required"


def json_login_key() -> str:
    """login_key (app/extensions.py) for a JSON body: the same key for the same account."""
    data = request.get_json(silent=True)
    login = data.get("login") if isinstance(data, dict) else None
    return "login:" + normalize_login(login if isinstance(login, str) else None)


def authenticate() -> None:
    """The blueprint's before_request: find the user, or refuse with 401."""
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _sep, token = header.partition(" ")
        user = api_token_user(token.strip()) if scheme.lower() == "bearer" else None
        if user is None:
            g._login_user = login_manager.anonymous_user()  # never the session, see below
            raise Unauthorized(_("This API token is not valid. Create a new one."))
        # The token's last_used_at (written at most once a minute) goes with the request's
        # commit (app/transaction.py): a request refused in the end leaves nothing written.
        # Flask-Login's current_user for this request (locale, templates): the token's
        # user, and Flask-Login never loads the session's.
        g._login_user = user
        g.api_user = user
        g.api_bearer = token.strip()
        _factor_check(user)
        return
    if not current_user.is_authenticated:
        raise Unauthorized(_("Log in, or send an API token: Authorization: Bearer TOKEN."))
    if request.method not in SAFE_METHODS:
        csrf.protect()  # the blueprint is exempt from the global check; sessions are not
    g.api_user = current_user._get_current_object()
    _factor_check(g.api_user)


def _factor_check(user: User) -> None:
    """A staff member who has not passed the second factor calls a staff route: 401
    mfa_required, saying how to get a token that may (issue 21)."""
    if not user.staff_pending:
        return
    rule = request.url_rule
    if request.endpoint in STAFF_ENDPOINTS or (
            rule is not None and rule.rule.startswith("/api/v1/staff")):
        raise MfaRequired(_("Staff routes need the second factor: get a token with your "
                            "login, password and a code from your authenticator app "
                            "(POST /api/v1/auth/token with totp), or pass the code step "
                            "of the staff pages."))


def actor() -> User:
    """The user calling this request (set by authenticate)."""
    return g.api_user


def bearer_token() -> str | None:
    """The token of a bearer request (set by authenticate); None with the session."""
    return g.get("api_bearer")
