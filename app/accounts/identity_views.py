"""Account pages of a proved number (ID-001/002): sign up with an SMS code, the forgotten
password, and proving the number of an existing account. The rules are in
app/accounts/identity.py; these pages load, call and answer (app/transaction.py commits)."""

from __future__ import annotations

from flask import after_this_request, flash, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app.accounts.blueprint import (
    bp,
    flash_email_link_sent,
    redirect_home_if_logged_in,
    render_form,
    safe_next,
)
from app.accounts.forms import (
    CodeForm,
    PhoneOnlyForm,
    ProveCodeForm,
    RegisterForm,
    ResetForm,
    SendCodeForm,
)
from app.accounts.identity import (
    code_minutes,
    confirm_code_send,
    password_reset_confirm,
    password_reset_start,
    phone_proof_confirm,
    phone_proof_start,
    registration_resend,
    registration_start,
    registration_verify,
)
from app.accounts.services import parse_phone
from app.accounts.signin import (
    check_registration_form,
    keep_chosen_language,
    rate_limit_answered_by,
    start_session,
)
from app.errors import DomainError, Invalid, TooSoon, retry_after_header
from app.extensions import forget_login_failures, limit_code_checks, limit_code_sending
from app.forms import copy_errors
from app.htmx import see_other
from app.phone import display_phone
from app.transaction import after_commit, undo_refused

SIGNUP_PHONE = "signup_phone"  # the number waiting for its code (not a secret)
RESET_PHONE = "reset_phone"


def _refused(form, exc: DomainError, default_field: str | None = None) -> int:
    """Put a refusal on the form and say which status to answer. A wrong code was counted:
    that count is kept (invalid_code() said keep_on_refusal); anything else rolls back."""
    undo_refused()
    copy_errors(form, exc, default_field)
    if isinstance(exc, TooSoon):  # in the form, for a page and htmx alike (base.html)
        headers = retry_after_header(exc)  # the wait the message states

        @after_this_request
        def _retry_after(response):
            response.headers.update(headers)
            return response

        return 429
    return exc.status


def _number_of(raw: str | None) -> str:
    """The number as people write it (0912 345 678), for a form's field."""
    try:
        return display_phone(parse_phone(raw or ""))
    except Invalid:
        return raw or ""


# --- sign up ---------------------------------------------------------------------------


# Flask-Limiter's 429 on these forms is answered by the form, with the wait in it
# (rate_limit_answered_by): what was typed stays, the password excepted.


def _locked_register(message: str) -> str:
    return render_form("accounts/register.html", "accounts/_register_form.html",
                       RegisterForm(), locked=message)[0]


@bp.route("/register", methods=["GET", "POST"])
@rate_limit_answered_by(_locked_register)
@limit_code_sending
def register():
    """Sign up, step 1: the account's values; a code goes to the number by SMS."""
    if (home := redirect_home_if_logged_in()) is not None:
        return home
    form = RegisterForm()
    if request.method == "GET":
        return render_template("accounts/register.html", form=form)
    if not form.validate():
        check_registration_form(form, phone=form.phone.data or "")
        return render_form("accounts/register.html", "accounts/_register_form.html", form, 422)
    try:
        registration_start(
            phone=form.phone.data, password=form.password.data, name=form.name.data,
            gender=int(form.gender.data), email=form.email.data,
            locale=session.get("locale", "vi"), ip=request.remote_addr)
    except DomainError as exc:
        status = _refused(form, exc, "phone")
        return render_form("accounts/register.html", "accounts/_register_form.html", form,
                            status)
    session[SIGNUP_PHONE] = _number_of(form.phone.data)
    return see_other(url_for("accounts.register_verify", next=request.args.get("next")))


def _verify_page(form: CodeForm, status: int = 200, *, locked: str | None = None):
    return render_template("accounts/register_verify.html", form=form,
                           resend_form=PhoneOnlyForm(phone=form.phone.data),
                           minutes=code_minutes(), locked=locked), status


@bp.route("/register/verify", methods=["GET", "POST"])
@rate_limit_answered_by(lambda message: _verify_page(CodeForm(), locked=message)[0])
@limit_code_checks
def register_verify():
    """Sign up, step 2: the code from the SMS; the account exists from here."""
    if (home := redirect_home_if_logged_in()) is not None:
        return home
    form = CodeForm()
    if request.method == "GET":
        form.phone.data = session.get(SIGNUP_PHONE, "")
        return _verify_page(form)
    if not form.validate():
        return _verify_page(form, 422)
    try:
        user = registration_verify(phone=form.phone.data, code=form.code.data,
                                   ip=request.remote_addr)
    except DomainError as exc:
        return _verify_page(form, _refused(form, exc, "code"))
    start_session(user)  # a new session: nothing planted before sign-up survives it (F4)
    flash(_("Welcome, %(name)s. Your account is ready.", name=user.name), "success")
    flash_email_link_sent(user)
    return see_other(safe_next(url_for("core.home")))


@bp.post("/register/resend")
@limit_code_sending
def register_resend():
    """Sign up: a new code to the number, for a sign-up waiting for its code."""
    form = PhoneOnlyForm()
    code_form = CodeForm(formdata=None, phone=form.phone.data)
    if not form.validate():
        code_form.phone.errors = list(form.phone.errors)
        return _verify_page(code_form, 422)
    try:
        registration_resend(phone=form.phone.data, ip=request.remote_addr)
    except TooSoon as exc:
        undo_refused()
        flash(exc.message, "error")  # back to the page: a reload does not post again
        return see_other(url_for("accounts.register_verify"))
    except DomainError as exc:
        return _verify_page(code_form, _refused(code_form, exc, "phone"))
    flash(_("If a sign-up is waiting for this number, a new code is on its way by SMS. "
            "Earlier codes no longer work."), "info")
    session[SIGNUP_PHONE] = _number_of(form.phone.data)
    return see_other(url_for("accounts.register_verify"))


# --- forgotten password (ID-002) ---------------------------------------------------------


@bp.route("/password-reset", methods=["GET", "POST"])
@rate_limit_answered_by(lambda message: render_template(
    "accounts/password_reset.html", form=PhoneOnlyForm(), locked=message))
@limit_code_sending
def password_reset():
    """Forgotten password, step 1: a code to the account's number (same answer for any)."""
    form = PhoneOnlyForm()
    if request.method == "GET":
        return render_template("accounts/password_reset.html", form=form)
    if not form.validate():
        return render_template("accounts/password_reset.html", form=form), 422
    try:
        password_reset_start(phone=form.phone.data, ip=request.remote_addr)
    except DomainError as exc:
        status = _refused(form, exc, "phone")
        return render_template("accounts/password_reset.html", form=form), status
    session[RESET_PHONE] = _number_of(form.phone.data)
    return see_other(url_for("accounts.password_reset_confirm_page"))


@bp.route("/password-reset/confirm", methods=["GET", "POST"])
@rate_limit_answered_by(lambda message: render_template(
    "accounts/password_reset_confirm.html", form=ResetForm(), minutes=code_minutes(),
    locked=message))
@limit_code_checks
def password_reset_confirm_page():
    """Forgotten password, step 2: the code and a new password; every session and API
    token of the account ends, and this browser is logged in."""
    form = ResetForm()
    page = "accounts/password_reset_confirm.html"
    if request.method == "GET":
        form.phone.data = session.get(RESET_PHONE, "")
        return render_template(page, form=form, minutes=code_minutes())
    if not form.validate():
        return render_template(page, form=form, minutes=code_minutes()), 422
    try:
        user = password_reset_confirm(phone=form.phone.data, code=form.code.data,
                                      password=form.password.data, ip=request.remote_addr)
    except DomainError as exc:
        status = _refused(form, exc, "code")
        return render_template(page, form=form, minutes=code_minutes()), status

    keep_chosen_language(user)  # before the commit: start_session runs after it

    def done():  # the login buckets are emptied once the new password is saved
        forget_login_failures(user.phone, user.email)
        start_session(user)
        flash(_("Your password is changed. Every other session and API token of your "
                "account has ended."), "success")
        return see_other(url_for("core.home"))

    return after_commit(done)


# --- proving the number of an existing account -----------------------------------------


def _phone_page(code_form: ProveCodeForm | None = None, status: int = 200):
    return render_template("accounts/phone.html", send_form=SendCodeForm(),
                           code_form=code_form or ProveCodeForm(), minutes=code_minutes(),
                           next=safe_next("")), status


@bp.get("/phone")
@login_required
def phone():
    """My phone number: whether it is proved, and proving it with a code."""
    return _phone_page()


@bp.post("/phone/send")
@login_required
@limit_code_sending
def phone_send():
    """Send a code to my own number."""
    form = SendCodeForm()
    if not form.validate():
        return _phone_page(status=400)
    try:
        phone_proof_start(actor=current_user, ip=request.remote_addr)
    except DomainError as exc:
        undo_refused()
        flash(exc.message, "error")  # the wait, or why there is nothing to send
        return see_other(url_for("accounts.phone", next=request.args.get("next")))
    flash(_("A code is on its way to %(phone)s by SMS.",
            phone=display_phone(current_user.phone)), "info")
    return see_other(url_for("accounts.phone", next=request.args.get("next")))


@bp.post("/phone/confirm")
@login_required
@limit_code_checks
def phone_confirm():
    """The code from the SMS: my number is proved."""
    form = ProveCodeForm()
    if not form.validate():
        return _phone_page(form, 422)
    try:
        phone_proof_confirm(actor=current_user, code=form.code.data, ip=request.remote_addr)
    except DomainError as exc:
        return _phone_page(form, _refused(form, exc, "code"))
    flash(_("Your phone number is proved. Invites to it are yours to answer."), "success")
    return see_other(safe_next(url_for("invites.mine")))


@bp.post("/confirm-code")
@login_required
@limit_code_sending
def confirm_code():
    """Send a code to my number that confirms a sensitive action; back to that action."""
    back = safe_next(url_for("accounts.settings"))
    if not SendCodeForm().validate():
        return see_other(back)
    try:
        confirm_code_send(actor=current_user, ip=request.remote_addr)
    except DomainError as exc:
        undo_refused()
        flash(exc.message, "error")
        return see_other(back)
    flash(_("A code is on its way to %(phone)s by SMS. Type it in the form below.",
            phone=display_phone(current_user.phone)), "info")
    return see_other(back)
