"""Extensions, created unbound and initialised once in create_app()."""

from __future__ import annotations

import math
import time

from flask import request
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_talisman import Talisman
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

# Named constraints, so Alembic can drop and recreate them on both databases.
# Check constraints are always named by hand (the seed's names, e.g. chk_invite_type).
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()


def talisman_view(**options):
    """Per-view security options, e.g. @talisman_view(force_https=False).

    Talisman keeps its settings on the instance, so every app gets its own instance in
    create_app(); a decorator only marks the view, which any instance then reads.
    """
    return Talisman()(**options)

limiter = Limiter(key_func=get_remote_address)


# Flask-Limiter names a route's buckets after its endpoint: the invite link's login and the
# API's token route share the login page's (shared_limit(login_limit, scope=LOGIN_SCOPE)),
# so together they allow no more guesses than the page alone.
LOGIN_SCOPE = "accounts.login"
# Sign-ups (each costs a password hash) share the API's register bucket the same way.
SIGNUP_SCOPE = "api.auth_register"


def login_limit() -> str:
    from flask import current_app

    return current_app.config["LOGIN_RATE_LIMIT"]


# Guessing link tokens (SPEC §4): the invite and claim links' misses — answers 404 — per
# client address, one bucket for every route that takes a token (LINK_RATE_LIMIT). A link
# that works, has expired or was used costs nothing: only guessing fills the bucket.
LINK_SCOPE = "link-tokens"


def link_limit() -> str:
    from flask import current_app

    return current_app.config["LINK_RATE_LIMIT"]


def _link_missed(response) -> bool:
    return response.status_code == 404


def limit_link_guesses(view):
    return limiter.shared_limit(link_limit, scope=LINK_SCOPE, deduct_when=_link_missed)(view)


def login_key() -> str:
    """Rate-limit key for the login identifier, so one account is not guessed from many IPs.

    Keyed like the lookup itself: a phone counts once however it is written.
    """
    from app.phone import normalize_login

    return "login:" + normalize_login(request.form.get("login"))


# One-time SMS codes (ID-001/002): how many go to one number (PHONE_CODE_RATE_LIMIT,
# one bucket for sign-ups, resends, resets and proofs), and how many codes one address
# may try (the login limit, its own bucket).
CODE_SEND_SCOPE = "sms-codes"
CODE_CHECK_SCOPE = "sms-code-checks"


def code_send_limit() -> str:
    from flask import current_app

    return current_app.config["PHONE_CODE_RATE_LIMIT"]


def phone_key() -> str:
    """Rate-limit key for the number a request is about: the `phone` of the form or JSON
    body, else the caller's own (a route's limits are checked when its view is called, once
    the API has found the bearer token's user); one key however the number is written."""
    from flask_login import current_user

    from app.phone import normalize_login

    raw = request.form.get("phone")
    if raw is None and request.is_json:
        data = request.get_json(silent=True)
        raw = data.get("phone") if isinstance(data, dict) else None
    if raw is None and current_user and current_user.is_authenticated:
        raw = current_user.phone
    if not isinstance(raw, str):
        return "phone:?" + (request.remote_addr or "")  # nobody's number: per address
    return "phone:" + normalize_login(raw)


def limit_code_sending(view):
    """Per number (PHONE_CODE_RATE_LIMIT) and per address (the sign-up bucket)."""
    view = limiter.shared_limit(code_send_limit, scope=CODE_SEND_SCOPE, key_func=phone_key,
                                methods=["POST"])(view)
    return limiter.shared_limit(login_limit, scope=SIGNUP_SCOPE, methods=["POST"])(view)


def limit_code_checks(view):
    """Per address: each try at a code (a code itself allows PHONE_CODE_TRIES)."""
    return limiter.shared_limit(login_limit, scope=CODE_CHECK_SCOPE, methods=["POST"])(view)


def forget_login_failures(*logins: str | None) -> None:
    """Empty the per-account login buckets of these logins (phone, email): a password
    reset lets an owner locked out by someone else's guessing back in (ID-002, F6)."""
    from limits import parse_many

    from app.phone import normalize_login

    for login in filter(None, logins):
        for item in parse_many(login_limit()):
            limiter.limiter.clear(item, "login:" + normalize_login(login), LOGIN_SCOPE)


def rate_limit_wait(exceeded) -> int:
    """Seconds until the limits that refused this request (a RateLimitExceeded) let it
    through: the latest reset among its limits that are used up, the breached one and any
    other with nothing left (Flask-Limiter stops at the first breach, so a later limit it
    did not reach is not known yet). Whole seconds, rounded up."""
    # window.reset_time, not reset_at, which adds a second: an hour's window read 3,601 s.
    resets = [limit.window.reset_time for limit in limiter.current_limits
              if limit.breached or limit.window.remaining <= 0]
    if not resets:  # no window known: the whole window of the limit that was hit
        return max(1, exceeded.limit.limit.get_expiry())
    return max(1, math.ceil(max(resets) - time.time()))
