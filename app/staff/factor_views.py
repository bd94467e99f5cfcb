"""The staff area's second factor (issue 21): enrolment with a QR code, the code step a
session passes once, and new recovery codes. The blueprint's guard
(app/staff/blueprint.py) sends a staff member here until the session passed it; these
routes are the ones it lets through."""

from __future__ import annotations

from flask import render_template, request, session, url_for
from flask_login import current_user
from wtforms import StringField

from app.accounts import staff_session
from app.accounts.mfa import (
    is_enrolled,
    mark_session_passed,
    mfa_check,
    mfa_enrol,
    mfa_enrolment,
    mfa_recovery_renew,
    recovery_codes_left,
    show_recovery_code,
)
from app.accounts.signin import rate_limit_answered_by
from app.extensions import limiter, login_limit
from app.forms import BaseForm, copy_errors
from app.htmx import see_other
from app.pages import acting_user, local_path, run_service
from app.staff.blueprint import bp
from app.staff.forms import CODE_LABEL, code_field
from app.transaction import after_commit


class FactorForm(BaseForm):
    """A code from the authenticator app, or a recovery code."""

    code = code_field(CODE_LABEL)


class EnrolForm(BaseForm):
    """The first code from the authenticator app, which confirms the enrolment."""

    code = StringField(CODE_LABEL, render_kw={
        "inputmode": "numeric", "autocomplete": "one-time-code", "maxlength": 12})


def _next() -> str:
    """Where to go once the factor is passed: a staff page asked for, else the staff area."""
    default = url_for("staff.index")
    target = local_path(request.values.get("next"), default)
    return target if target.startswith(default) else default


def _passed(user) -> None:
    mark_session_passed(session, user)
    staff_session.mark_staff()


def _locked(message: str) -> str:
    return render_template("staff/factor.html", form=FactorForm(), next=_next(),
                           locked=message)


@bp.route("/factor", methods=["GET", "POST"])
@rate_limit_answered_by(_locked)
@limiter.limit(login_limit, methods=["POST"])
def factor():
    """The code step: a session passes it once, with a code from the app or a recovery
    code; then the staff page asked for."""
    me = current_user._get_current_object()
    if not me.staff_pending:
        return see_other(_next())
    if not is_enrolled(me):
        return see_other(url_for("staff.factor_enrol", next=_next()))
    form = FactorForm()
    if request.method == "GET":
        return render_template("staff/factor.html", form=form, next=_next())
    _method, error = run_service(mfa_check, code=form.code.data, purpose="sign_in")
    if error is None:
        _passed(me)
        return see_other(_next())
    copy_errors(form, error, "code")
    return render_template("staff/factor.html", form=form, next=_next()), error.status


@bp.route("/factor/enrol", methods=["GET", "POST"])
@rate_limit_answered_by(lambda message: render_template(
    "staff/enrol.html", form=EnrolForm(), enrolment=None, next=_next(), locked=message))
@limiter.limit(login_limit, methods=["POST"])
def factor_enrol():
    """Set up the authenticator app: scan the QR code (or type the secret), give the first
    code; the ten recovery codes are shown once."""
    me = current_user._get_current_object()
    if is_enrolled(me):
        return see_other(url_for("staff.factor", next=_next()))
    form = EnrolForm()
    status = 200
    if request.method == "POST":
        codes, error = run_service(mfa_enrol, code=form.code.data)
        if error is None:
            _passed(me)
            shown = [show_recovery_code(c) for c in codes]
            return after_commit(lambda: render_template(
                "staff/recovery_codes.html", codes=shown, next=_next(), first=True))
        copy_errors(form, error, "code")
        status = error.status
    enrolment, _error = run_service(mfa_enrolment)
    return render_template("staff/enrol.html", form=form, enrolment=enrolment,
                           next=_next()), status


@bp.route("/factor/recovery-codes", methods=["GET", "POST"])
@limiter.limit(login_limit, methods=["POST"])
def recovery_codes():
    """How many recovery codes are left, and ten new ones for a fresh code (the old ones
    stop working)."""
    me = acting_user()
    form = FactorForm()
    status = 200
    if request.method == "POST":
        codes, error = run_service(mfa_recovery_renew, code=form.code.data)
        if error is None:
            shown = [show_recovery_code(c) for c in codes]
            return after_commit(lambda: render_template(
                "staff/recovery_codes.html", codes=shown, next=url_for("staff.index"),
                first=False))
        copy_errors(form, error, "code")
        status = error.status
    return render_template("staff/renew_codes.html", form=form, left=recovery_codes_left(me),
                           staff_section="factor"), status

