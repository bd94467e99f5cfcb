"""Account pages: register, log in, log out, settings."""

from __future__ import annotations

from flask import (
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from app.accounts.blueprint import bp, email_context, render_form, safe_next
from app.accounts.claims import (
    account_claim,
    claim_by_token,
    claim_refusal,
    claim_send_new_link,
    claim_state,
)
from app.accounts.forms import (
    ClaimForm,
    LoginForm,
    LogoutForm,
    NewClaimLinkForm,
    PasswordForm,
)
from app.accounts.services import (
    account_change_password,
    account_logout,
)
from app.accounts.signin import authenticate_form, rate_limit_answered_by, start_session
from app.accounts.tokens import api_tokens_of
from app.extensions import (
    db,
    limit_link_guesses,
    limiter,
    login_key,
    login_limit,
    phone_key,
)
from app.forms import copy_errors
from app.htmx import see_other, wants_fragment
from app.models.accounts import User
from app.pages import keep_link_pages_private, run_service
from app.transaction import attempt


def _locked_login(message: str) -> str:
    """The login form refused by its rate limit: the wait, and the way in by a reset."""
    return render_form("accounts/login.html", "accounts/_login_form.html", LoginForm(),
                       locked=message)[0]


@bp.route("/login", methods=["GET", "POST"])
@rate_limit_answered_by(_locked_login)
@limiter.limit(login_limit, methods=["POST"])
@limiter.limit(login_limit, methods=["POST"], key_func=login_key)
def login():
    """Log in with phone or email; one generic message for any failure."""
    if current_user.is_authenticated:
        return redirect(safe_next(url_for("core.home")))
    form = LoginForm()
    if request.method == "GET":
        return render_template("accounts/login.html", form=form)
    if not form.validate():
        return render_form("accounts/login.html", "accounts/_login_form.html", form, 422)
    user, status = authenticate_form(form)
    if user is None:  # 401, or 403 for a suspended account: in the form, page or htmx
        return render_form("accounts/login.html", "accounts/_login_form.html", form, status)
    start_session(user)
    return see_other(safe_next(url_for("core.home")))


@bp.post("/logout")
@login_required
def logout():
    """Log out everywhere: the session epoch moves on, so every session of the user ends."""
    form = LogoutForm()
    if not form.validate():
        return redirect(url_for("core.home"), code=303)
    account_logout(actor=current_user, ip=request.remote_addr)
    locale = current_user.locale
    logout_user()
    session.clear()
    session["locale"] = locale
    flash(_("You are logged out on every device."), "info")
    return see_other(url_for("accounts.login"))


@bp.get("/settings")
@login_required
def settings():
    """The user's settings: language, email, password and API tokens."""
    return render_template("accounts/settings.html", password_form=PasswordForm(),
                           api_tokens=api_tokens_of(user=current_user),
                           **email_context(current_user))


@bp.post("/settings/password")
@login_required
def change_password():
    """Change the password; other sessions end, this one continues."""
    form = PasswordForm()
    if form.validate():
        _done, error = run_service(account_change_password,
                                   current_password=form.current_password.data,
                                   new_password=form.new_password.data)
        if error is not None:
            copy_errors(form, error)
        else:
            login_user(current_user._get_current_object())  # re-mint the id with the new epoch
            flash(_("Password changed. Your other sessions have been logged out."), "success")
            return see_other(url_for("accounts.settings"))
    if wants_fragment():
        return render_template("accounts/_password_form.html", password_form=form), 422
    return render_template("accounts/settings.html", password_form=form,
                           api_tokens=api_tokens_of(user=current_user),
                           **email_context(current_user)), 422


# --- claim links of imported accounts (SPEC §8) ------------------------------------------

_CLAIM_TITLES = {
    "not_found": lambda: _("Sign-in link not found"),
    "expired": lambda: _("This sign-in link has expired"),
    "used": lambda: _("This sign-in link was already used"),
}


@bp.record_once
def _install_claim_route(state) -> None:
    # The link is /claim/<token> (short, for an SMS), outside this blueprint's /account
    # prefix. Its headers must have the last word over Talisman's, as the invite links' do
    # (app/invites/views.py). app/logging_filters.py keeps its token out of the access logs.
    state.app.add_url_rule("/claim/<token>", endpoint="accounts.claim", view_func=claim,
                           methods=["GET", "POST"])
    keep_link_pages_private(state.app, frozenset({"accounts.claim"}))


def _claim_state_page(state: str):
    exc = claim_refusal(state)
    return render_template("accounts/claim_state.html", title=_CLAIM_TITLES[state](),
                           message=exc.message), exc.status


@limit_link_guesses
def claim(token: str):
    """An imported account's one-time link: GET shows the form and changes nothing; POST
    sets the password, once, and logs the user in."""
    found = claim_by_token(token)
    state = claim_state(found)
    if state != "open":
        return _claim_state_page(state)
    user = db.session.get(User, found.user_id)
    form = ClaimForm()
    if request.method == "GET":
        return render_template("accounts/claim.html", form=form, user=user, token=token)
    if not form.validate():
        return render_template("accounts/claim.html", form=form, user=user, token=token), 422
    claimed, exc = attempt(account_claim, token=token, password=form.password.data,
                           ip=request.remote_addr)
    if exc is not None:
        if exc.code == "weak_password":
            copy_errors(form, exc)
            return render_template("accounts/claim.html", form=form, user=user,
                                   token=token), 422
        if exc.code == "account_suspended":
            return render_template("accounts/claim_state.html", title=_("Account suspended"),
                                   message=exc.message), exc.status
        return _claim_state_page(claim_state(claim_by_token(token)))
    user = claimed
    start_session(user)
    flash(_("Welcome, %(name)s. Your password is set: from now on, log in with your phone "
            "number and it.", name=user.name), "success")
    return see_other(url_for("core.home"))


@bp.route("/new-link", methods=["GET", "POST"])
@limiter.limit(login_limit, methods=["POST"])
@limiter.limit(login_limit, methods=["POST"], key_func=phone_key)
def new_claim_link():
    """"Got an SMS from the old app?": a new sign-in link for an unclaimed imported
    account, sent to the phone on record; the same answer whatever the phone."""
    form = NewClaimLinkForm()
    if request.method == "GET":
        return render_template("accounts/claim_new_link.html", form=form)
    if not form.validate():
        return render_template("accounts/claim_new_link.html", form=form), 422
    claim_send_new_link(phone=form.phone.data, ip=request.remote_addr)
    return render_template("accounts/claim_new_link.html", form=None, sent=True)
