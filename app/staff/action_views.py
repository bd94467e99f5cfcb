"""Staff actions: suspend and reactivate an account, resend a failed notification,
issue activation codes. Each asks for a reason, kept in the audit trail."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

from flask import current_app, flash, render_template, request, url_for
from flask_babel import gettext as _
from wtforms.fields.choices import SelectChoice

from app.accounts.services import account_reactivate, account_suspend
from app.billing.names import plan_name
from app.errors import Invalid
from app.forms import copy_errors
from app.htmx import see_other, wants_fragment
from app.models.accounts import User
from app.models.notifications import InviteNotification
from app.pages import refused, run_service
from app.privacy.blueprint import archive_response
from app.privacy.export import data_export_for_staff
from app.staff.blueprint import bp, found_or_404, fresh_code, label
from app.staff.forms import CodesForm, ReasonForm
from app.staff.services import codes_issue_reasoned, notification_resend
from app.transaction import after_commit

_UNSAFE = re.compile(r"[\x00-\x1f\x7f\\]")


def safe_back(value: str | None, default: str) -> str:
    """Where an action returns: a path on this site under /staff, else the default (no
    open redirect through the `back` field)."""
    prefix = url_for("staff.index")
    if not value or _UNSAFE.search(value) or value.startswith("//"):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not (parts.path + "/").startswith(prefix):
        return default
    if any(unquote(segment) in (".", "..") for segment in parts.path.split("/")):
        return default  # /staff/../account is not a staff page
    return value


def _status(form) -> int:
    """The answer's status for a form shown again: 429 while too many codes failed (the
    form says how long to wait), else 422."""
    return getattr(form, "refused_status", 422)


def _form_again(partial: str, title: str, status: int = 422, **context):
    """A form the service refused as invalid, with its message: the partial for htmx,
    else a page holding it."""
    if wants_fragment():
        return render_template(partial, **context), status
    return render_template("staff/action.html", partial=partial, title=title,
                           staff_section="search", **context), status


def _refused(error, back: str):
    """A refusal the form cannot fix (already suspended, not failed…): flash + 303, or for
    htmx the message with its status and code."""
    return refused(error, back, "staff/_refused.html", code=error.code)


# --- accounts -----------------------------------------------------------------------------


@bp.post("/users/<int:user_id>/suspend")
def suspend(user_id: int):
    """Suspend an account with a reason: no sign-in, sessions and API tokens end."""
    return _account_action(user_id, account_suspend,
                           _("%(name)s is suspended: they cannot log in and their sessions "
                             "and API tokens have ended."))


@bp.post("/users/<int:user_id>/reactivate")
def reactivate(user_id: int):
    """Lift a suspension with a reason: the user can log in again."""
    return _account_action(user_id, account_reactivate,
                           _("%(name)s can log in again. Their old API tokens stay ended."))


def _account_action(user_id: int, service, done: str):
    person = found_or_404(User, user_id)
    form = ReasonForm()
    back = safe_back(form.back.data, url_for("staff.user", user_id=user_id))
    if form.validate() and (error := fresh_code(form)) is None:
        _result, error = run_service(service, user=person, reason=form.reason.data)
        if error is None:
            flash(done % {"name": person.shown_name}, "success")
            return see_other(back)
        if not isinstance(error, Invalid):
            return _refused(error, back)
        copy_errors(form, error, "reason")
    return _form_again("staff/_account_form.html", person.shown_name, person=person,
                       account_form=form, back=back, status=_status(form))


@bp.post("/users/<int:user_id>/export")
def export_data(user_id: int):
    """Download a person's data with a reason (staff.data_exported): the ZIP they get."""
    person = found_or_404(User, user_id)
    form = ReasonForm()
    back = safe_back(form.back.data, url_for("staff.user", user_id=user_id))
    if form.validate() and (error := fresh_code(form)) is None:
        _event, error = run_service(data_export_for_staff, user=person,
                                    reason=form.reason.data)
        if error is None:
            return archive_response(person.id, person.locale)
        if not isinstance(error, Invalid):
            return _refused(error, back)
        copy_errors(form, error, "reason")
    return _form_again("staff/_export_form.html", person.name, person=person,
                       export_form=form, back=back, status=_status(form))


# --- notifications ------------------------------------------------------------------------


@bp.post("/notifications/<int:notification_id>/resend")
def resend(notification_id: int):
    """Queue a failed notification again, with a reason; the worker sends it next run."""
    row = found_or_404(InviteNotification, notification_id)
    if row.family_group_id is not None:
        default = url_for("staff.group", group_id=row.family_group_id)
    elif row.recipient_user_id is not None:
        default = url_for("staff.user", user_id=row.recipient_user_id)
    else:
        default = url_for("staff.index")
    form = ReasonForm()
    back = safe_back(form.back.data, default)
    if form.validate() and (error := fresh_code(form)) is None:
        sent, error = run_service(notification_resend, notification_id=notification_id,
                                  reason=form.reason.data)
        if error is None:
            flash(_("The %(channel)s message is queued again; the next delivery run sends it.",
                    channel=label("channel", sent.channel)), "success")
            return see_other(back)
        if not isinstance(error, Invalid):
            return _refused(error, back)
        copy_errors(form, error, "reason")
    return _form_again("staff/_resend_form.html", _("Resend a notification"), n=row,
                       resend_form=form, back=back, status=_status(form))


# --- activation codes ---------------------------------------------------------------------


def _codes_form(**kwargs) -> CodesForm:
    form = CodesForm(**kwargs)
    form.plan.choices = [SelectChoice(code, plan_name(code))
                         for code in current_app.config["PLANS"]]
    return form


@bp.route("/codes", methods=["GET", "POST"])
def codes():
    """Issue activation codes with a reason; the codes are shown in this answer only."""
    form, issued, status = _codes_form(), None, 200
    if request.method == "POST":
        if form.validate() and fresh_code(form) is None:
            plan, days = form.plan.data, form.days.data
            result, error = run_service(codes_issue_reasoned, plan=plan, days=days,
                                        count=form.count.data, reason=form.reason.data)
            if error is None:
                # Only their hashes are stored: this answer is the one place they appear.
                issued, status = {"codes": result, "plan": plan, "days": days}, 200
                form = _codes_form(formdata=None)
            elif not isinstance(error, Invalid):
                return _refused(error, url_for("staff.codes"))
            else:
                copy_errors(form, error)
        if issued is None:
            status = _status(form)
    context = {"form": form, "issued": issued, "local": current_app.config[
        "PAYMENT_PROVIDER"] == "local"}

    def answer():
        if request.method == "POST" and wants_fragment():
            return render_template("staff/_codes.html", **context), status
        return render_template("staff/codes.html", staff_section="codes", **context), status

    return after_commit(answer) if issued else answer()
