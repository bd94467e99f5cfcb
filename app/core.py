"""Pages that belong to no feature: the liveness and readiness checks, the language switch;
home (app/home.py) registers its dashboard on this blueprint."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, redirect, request, session, url_for
from flask_login import current_user
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from app.extensions import csrf, db, limiter, talisman_view
from app.pages import local_path

bp = Blueprint("core", __name__)


@bp.get("/healthz")
@limiter.exempt
@csrf.exempt
@talisman_view(force_https=False)  # load balancers probe over plain HTTP inside the network
def healthz():
    """Liveness: 200 while the process answers. It never touches the database: an outage
    there must not make the orchestrator restart processes that are healthy (/readyz)."""
    return jsonify(status="ok")


@bp.get("/readyz")
@limiter.exempt
@csrf.exempt
@talisman_view(force_https=False)
def readyz():
    """Readiness: 200 only when the database answers and its schema is at the migrations'
    head; 503 "unavailable" (no database) or "migrating" (another revision, or none), with
    the revision found and the one expected."""
    expected = _schema_head()
    try:
        connection = db.session.connection()
    except SQLAlchemyError:
        db.session.rollback()
        return _not_ready("unavailable", None, expected)
    try:
        found = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    except DBAPIError as exc:
        db.session.rollback()
        if exc.connection_invalidated:  # the database went away mid-way
            return _not_ready("unavailable", None, expected)
        found = []  # no alembic_version table: a database never migrated
    except SQLAlchemyError:
        db.session.rollback()
        found = []
    revision = found[0] if len(found) == 1 else (", ".join(sorted(found)) or None)
    if revision != expected:
        return _not_ready("migrating", revision, expected)
    return jsonify(status="ready", revision=revision)


def _not_ready(status: str, revision: str | None, expected: str):
    return jsonify(status=status, revision=revision, expected=expected), 503


def _schema_head() -> str:
    """The migration scripts' head, read once per process (Alembic's ScriptDirectory)."""
    kept = current_app.extensions.get("fc_schema_head")
    if kept is None:
        from alembic.script import ScriptDirectory

        directory = current_app.extensions["migrate"].directory
        kept = current_app.extensions["fc_schema_head"] = (
            ScriptDirectory(directory).get_current_head())
    return kept


@bp.post("/language")
def set_language():
    """Switch the interface language; stored on the user when logged in, and on logging in
    when chosen before (app/accounts/signin.py start_session)."""
    from app.accounts.services import account_set_locale
    from app.accounts.signin import LOCALE_CHOSEN

    locale = request.form.get("locale", "")
    if locale not in ("vi", "en"):
        locale = "vi"
    if current_user.is_authenticated:
        account_set_locale(actor=current_user, locale=locale)
    else:
        session[LOCALE_CHOSEN] = True
    session["locale"] = locale
    return redirect(local_path(request.form.get("next"), url_for("core.home")), code=303)
