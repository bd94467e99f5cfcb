"""Proving an email address (issue 21): give one in the settings, send its link again, and
the link's page. The rules are in app/accounts/email_proof.py; these pages load, call and
answer (app/transaction.py commits)."""

from __future__ import annotations

from flask import flash, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app.accounts.blueprint import bp, email_context
from app.accounts.email_proof import (
    email_change,
    email_proof_by_token,
    email_proof_refusal,
    email_proof_resend,
    email_proof_state,
    email_prove,
    proof_hours,
)
from app.accounts.forms import EmailForm, EmailProveForm, EmailResendForm, PasswordForm
from app.accounts.tokens import api_tokens_of
from app.errors import TooSoon, retry_after_header
from app.extensions import db, limit_link_guesses
from app.forms import copy_errors
from app.htmx import see_other
from app.models.accounts import User
from app.pages import keep_link_pages_private
from app.transaction import attempt, undo_refused


def _settings_page(email_form: EmailForm, status: int):
    return render_template("accounts/settings.html", password_form=PasswordForm(),
                           api_tokens=api_tokens_of(user=current_user),
                           **email_context(current_user, email_form)), status


@bp.post("/settings/email")
@login_required
def email_set():
    """Give an email address: a link goes to it; it counts once the link comes back."""
    form = EmailForm()
    if not form.validate():
        return _settings_page(form, 422)
    proof, exc = attempt(email_change, actor=current_user, email=form.email.data,
                         ip=request.remote_addr)
    if exc is not None:
        copy_errors(form, exc, "email")
        status = exc.status
        page, status = _settings_page(form, status)
        if isinstance(exc, TooSoon):
            return page, status, retry_after_header(exc)
        return page, status
    flash(_("A link is on its way to %(email)s. Open it within %(hours)d hours to prove the "
            "address.", email=proof.email, hours=proof_hours()), "info")
    return see_other(url_for("accounts.settings") + "#settings-email")


@bp.post("/settings/email/resend")
@login_required
def email_resend():
    """Send the link again to the address waiting to be proved (paced)."""
    if not EmailResendForm().validate():
        return see_other(url_for("accounts.settings"))
    proof, exc = attempt(email_proof_resend, actor=current_user, ip=request.remote_addr)
    if exc is not None:
        flash(exc.message, "error")  # the wait, or that there is nothing to prove
    else:
        flash(_("A new link is on its way to %(email)s. Earlier links no longer work.",
                email=proof.email), "info")
    return see_other(url_for("accounts.settings") + "#settings-email")


# --- the link (/email/<token>) ---------------------------------------------------------

_TITLES = {
    "not_found": lambda: _("Email link not found"),
    "expired": lambda: _("This email link has expired"),
    "cancelled": lambda: _("This email link no longer works"),
    "used": lambda: _("This email link was already used"),
}


@bp.record_once
def _install_link_route(state) -> None:
    # Short, outside the /account prefix, as the claim link is; its headers have the last
    # word over Talisman's, and app/logging_filters.py keeps its token out of the logs.
    state.app.add_url_rule("/email/<token>", endpoint="accounts.email_link",
                           view_func=email_link, methods=["GET", "POST"])
    keep_link_pages_private(state.app, frozenset({"accounts.email_link"}))


def _state_page(state: str):
    exc = email_proof_refusal(state)
    return render_template("accounts/email_state.html", title=_TITLES[state](),
                           message=exc.message), exc.status


@limit_link_guesses
def email_link(token: str):
    """The link sent to an address: GET shows what it proves and changes nothing (mail
    scanners open links); the button (POST) proves it, logged in or not."""
    proof = email_proof_by_token(token)
    state = email_proof_state(proof)
    if state != "open":
        return _state_page(state)
    owner = db.session.get(User, proof.user_id)
    form = EmailProveForm()
    if request.method == "GET" or not form.validate():
        status = 200 if request.method == "GET" else 400
        return render_template("accounts/email_link.html", form=form, proof=proof,
                               owner=owner, token=token), status
    user, exc = attempt(email_prove, token=token, ip=request.remote_addr)
    if exc is not None:
        undo_refused()
        return _state_page(email_proof_state(email_proof_by_token(token)))
    return render_template("accounts/email_proved.html", email=user.email)
