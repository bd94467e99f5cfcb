"""Pages that belong to no feature: the health check, the language switch; home (app/home.py)
registers its dashboard on this blueprint."""

from __future__ import annotations

from flask import Blueprint, jsonify, redirect, request, session, url_for
from flask_login import current_user
from sqlalchemy import text

from app.extensions import csrf, db, limiter, talisman_view
from app.pages import local_path

bp = Blueprint("core", __name__)


@bp.get("/healthz")
@limiter.exempt
@csrf.exempt
@talisman_view(force_https=False)  # load balancers probe over plain HTTP inside the network
def healthz():
    """200 when the database answers a query, 503 otherwise (for load balancers)."""
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - any failure to reach the database is "down"
        db.session.rollback()
        return jsonify(status="unavailable"), 503
    return jsonify(status="ok")


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
