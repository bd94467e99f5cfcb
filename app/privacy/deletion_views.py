"""Deleting my account (issue 19, item 4): the consequences written out, the confirmation
(password or SMS code), and a plain page once it is done."""

from __future__ import annotations

from flask import render_template, session, url_for
from flask_login import current_user, login_required, logout_user

from app.extensions import limit_code_checks
from app.forms import copy_errors
from app.htmx import see_other
from app.pages import refused, run_service
from app.privacy.blueprint import bp
from app.privacy.deletion import account_delete, groups_to_hand_over
from app.privacy.forms import DeleteAccountForm


def _page(form: DeleteAccountForm, status: int = 200):
    return render_template("privacy/delete.html", form=form,
                           to_hand_over=groups_to_hand_over(current_user)), status


@bp.get("/delete")
@login_required
def delete_account():
    """What deleting my account ends, erases and keeps; the form that confirms it."""
    return _page(DeleteAccountForm())


@bp.post("/delete")
@login_required
@limit_code_checks  # guessing the password or the code, from a session left open
def delete_account_confirm():
    """Delete my account; log out and show that it is done, in my language."""
    form = DeleteAccountForm()
    if not form.validate():
        return _page(form, 422)
    _done, error = run_service(account_delete, password=form.password.data,
                               code=form.code.data)
    if error is not None:
        if error.fields:
            copy_errors(form, error)
            return _page(form, 422)
        return refused(error, url_for("privacy.delete_account"))
    locale = current_user.locale
    logout_user()
    session.clear()
    session["locale"] = locale
    return see_other(url_for("privacy.deleted"))


@bp.get("/deleted")
def deleted():
    """The account is deleted: what happened, in the language the person chose."""
    if current_user.is_authenticated:
        return see_other(url_for("core.home"))
    return render_template("privacy/deleted.html")


