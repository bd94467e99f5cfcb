"""Extensions, created unbound and initialised once in create_app()."""

from __future__ import annotations

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
    from app.accounts.phone import normalize_login

    return "login:" + normalize_login(request.form.get("login"))
