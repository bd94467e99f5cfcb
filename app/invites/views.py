"""Invites, the invitee's side: the link page (SPEC §4), logging in or signing up from it,
answering, and the pending invites. The admin's actions are in app/invites/admin_views.py."""

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
from flask_login import current_user, login_required
from sqlalchemy import select

from app.accounts.forms import LoginForm
from app.accounts.services import (
    account_register,
)
from app.accounts.signin import (
    authenticate_form,
    check_registration_form,
    rate_limit_answered_by,
    start_session,
)
from app.connections.queries import permission_names, relationship_options
from app.connections.services import initial_permission_map
from app.errors import DomainError, Invalid
from app.extensions import (
    LOGIN_SCOPE,
    SIGNUP_SCOPE,
    db,
    limit_link_guesses,
    limiter,
    login_key,
    login_limit,
)
from app.forms import copy_errors
from app.groups.services import role_label
from app.htmx import see_other, wants_fragment
from app.invites.blueprint import bp, group_url
from app.invites.forms import AnswerForm, InviteSignupForm
from app.invites.services import (
    invite_accept,
    invite_by_token,
    invite_for_invitee,
    invite_reject,
    invites_pending_for,
    link_refusal,
)
from app.models.accounts import User
from app.models.groups import FamilyGroup
from app.models.invites import ConnectionInvite
from app.phone import display_phone
from app.tokens import seal, unseal
from app.transaction import undo_refused

# The link opened in this session, sealed (app/tokens.py): the signed cookie is
# readable by whoever holds it, and must not give the token away (F10).
SESSION_KEY = "invite_link"


def _permissions(invite: ConnectionInvite) -> list[tuple[str, str, bool]]:
    """The six permissions each new connection will carry, as the accept will set them."""
    enabled = initial_permission_map(invite.initial_permissions)
    return [(code, name, enabled.get(code, True)) for code, name in permission_names()]


def _question(role: str) -> str:
    if role == "caregiver":
        return _("What are you to the patients of this family?")
    return _("What are you to the caregivers of this family?")


# --- the link: look, log in or sign up, answer ---------------------------------------


_LINK_TITLES = {
    "not_found": lambda: _("Invite link not found"),
    "expired": lambda: _("This invite has expired"),
    "cancelled": lambda: _("This invite was cancelled"),
    "accepted": lambda: _("This invite was already used"),
    "rejected": lambda: _("This invite was declined"),
}


def _state_page(kind: str, exc: DomainError):
    return render_template("invites/link_state.html", title=_LINK_TITLES[kind](),
                           message=exc.message, kind=kind), exc.status


def _link_page(invite: ConnectionInvite, token: str, *, relationship_error: str | None = None,
               status: int = 200):
    group = db.session.get(FamilyGroup, invite.family_group_id)
    sender = db.session.get(User, invite.sender_id)
    # Which way in comes first for a visitor: log in when the invited number has an
    # account, else sign up. No more than the sign-up page says already (it sends a
    # number with a proved account to log in, and tells of an unproved one).
    has_account = not current_user.is_authenticated and db.session.scalar(
        select(User.id).where(User.phone == invite.receiver_phone)) is not None
    return render_template(
        "invites/link.html", invite=invite, group=group, sender=sender, token=token,
        role=role_label(invite.role), permissions=_permissions(invite),
        relationships=relationship_options(), question=_question(invite.role),
        relationship_error=relationship_error, has_account=has_account,
        chosen=request.form.get("relationship", "")), status


def _show_link(token: str):
    """The link page for any state; changes nothing in the database (SPEC §4)."""
    invite = invite_by_token(token)
    refusal = link_refusal(invite)
    if refusal is not None:
        return _state_page(*refusal)
    if current_user.is_authenticated and current_user.phone != invite.receiver_phone:
        return render_template("invites/wrong_phone.html"), 403
    if not current_user.is_authenticated:
        # A session cookie, not a database write: /i/login and /i/signup read it back,
        # so the token never appears in another URL.
        session[SESSION_KEY] = seal(token)
    return _link_page(invite, token)


def _session_token() -> str:
    """The token of the link opened in this session ("" when none or unreadable)."""
    sealed = session.get(SESSION_KEY)
    return (unseal(sealed) or "") if isinstance(sealed, str) else ""


@bp.get("/i/<token>")
@limit_link_guesses
def link(token: str):
    """The invite link: who invites you, to which family, as what, with which permissions."""
    return _show_link(token)


@bp.get("/i/resume")
@limit_link_guesses
def resume():
    """The link page again after logging in or signing up, token from the session."""
    return _show_link(_session_token())


def _session_invite():
    """The invite of the link opened in this session: (invite, None) when it is open,
    else (None, the response to give)."""
    token = _session_token()
    if not token:
        return None, None
    invite = invite_by_token(token)
    refusal = link_refusal(invite)
    if refusal is not None:
        session.pop(SESSION_KEY, None)
        return None, _state_page(*refusal)
    return invite, None


def _locked_login(message: str) -> str:
    """The link's login form refused by the shared login limit: the wait, and the reset."""
    invite = _session_invite()[0]
    if invite is None:  # the link died meanwhile: the wait, on the account login form
        partial = "accounts/_login_form.html" if wants_fragment() else "accounts/login.html"
        return render_template(partial, form=LoginForm(), locked=message)
    partial = "invites/_login_form.html" if wants_fragment() else "invites/login.html"
    return render_template(partial, form=LoginForm(), invite=invite, locked=message)


@bp.route("/i/login", methods=["GET", "POST"])
@rate_limit_answered_by(_locked_login)
# The login page's own buckets: guesses here count against the same allowance.
@limiter.shared_limit(login_limit, scope=LOGIN_SCOPE, methods=["POST"])
@limiter.shared_limit(login_limit, scope=LOGIN_SCOPE, methods=["POST"], key_func=login_key)
def login():
    """Log in from an invite link, then back to the invite."""
    if current_user.is_authenticated:
        return redirect(url_for("invites.resume"))
    invite, refused = _session_invite()
    if invite is None:
        return refused or redirect(url_for("accounts.login"))
    form = LoginForm()
    partial = "invites/_login_form.html" if wants_fragment() else "invites/login.html"
    if request.method == "GET":
        form.login.data = display_phone(invite.receiver_phone)
        return render_template("invites/login.html", form=form, invite=invite)
    if not form.validate():
        return render_template(partial, form=form, invite=invite), 422
    user, status = authenticate_form(form)
    if user is None:  # 401 or 403, in the form for a page and for htmx alike
        return render_template(partial, form=form, invite=invite), status
    start_session(user, **{SESSION_KEY: session[SESSION_KEY]})  # the link stays
    return see_other(url_for("invites.resume"))


def _locked_signup(message: str) -> str:
    """The link's sign-up form refused by the sign-up limit: what was typed, and the wait."""
    invite = _session_invite()[0]
    if invite is None:  # the link died meanwhile
        if wants_fragment():
            return render_template("_refusal.html", message=message)
        return render_template("invites/link_state.html", title=_("Too many attempts"),
                               message=message)
    form = InviteSignupForm()
    form.phone.data = display_phone(invite.receiver_phone)
    partial = "invites/_signup_form.html" if wants_fragment() else "invites/signup.html"
    return render_template(partial, form=form, invite=invite, locked=message)


@bp.route("/i/signup", methods=["GET", "POST"])
@rate_limit_answered_by(_locked_signup)
@limiter.shared_limit(login_limit, scope=SIGNUP_SCOPE, methods=["POST"])
def signup():
    """Sign up from an invite link: the phone is the invited number (the link proves it)."""
    if current_user.is_authenticated:
        return redirect(url_for("invites.resume"))
    invite, refused = _session_invite()
    if invite is None:
        return refused or redirect(url_for("accounts.register"))
    form = InviteSignupForm()
    form.phone.data = display_phone(invite.receiver_phone)  # whatever was posted
    partial = "invites/_signup_form.html" if wants_fragment() else "invites/signup.html"
    holder = db.session.scalar(select(User).where(User.phone == invite.receiver_phone))
    if request.method == "GET":
        if holder is not None and holder.phone_proved:
            flash(_("The invited number already has an account: log in to answer."), "info")
            return redirect(url_for("invites.login"))
        return render_template("invites/signup.html", form=form, invite=invite,
                               unproved_holder=holder is not None)
    if not form.validate():
        check_registration_form(form, phone=invite.receiver_phone)
        return render_template(partial, form=form, invite=invite), 422
    try:
        # The link reached the number: it is proved (ID-001), and an account that held it
        # without proving it loses it.
        user = account_register(
            phone=invite.receiver_phone, password=form.password.data, name=form.name.data,
            gender=int(form.gender.data), email=form.email.data,
            locale=session.get("locale", "vi"), proved_by="invite_link", ip=request.remote_addr)
    except DomainError as exc:
        undo_refused()
        copy_errors(form, exc)
        return render_template(partial, form=form, invite=invite,
                               phone_taken=exc.code == "phone_taken"), 422
    start_session(user, **{SESSION_KEY: session[SESSION_KEY]})  # the link stays
    flash(_("Welcome, %(name)s. Your account is ready.", name=user.name), "success")
    return see_other(url_for("invites.resume"))


_ANSWER_TITLES = {
    "phone_mismatch": lambda: _("This invite is for another phone number"),
    "invite_expired": lambda: _("This invite has expired"),
    "invite_not_pending": lambda: _("This invite is no longer open"),
    "no_slot": lambda: _("This family has no free place"),
    "already_in_group": lambda: _("You are already in a family"),
    "subscription_inactive": lambda: _("This family's plan has expired"),
    "payment_unavailable": lambda: _("Please try again later"),
    "not_found": lambda: _("Invite not found"),
}


def _answer_error(exc: DomainError):
    """A refused answer: nothing was written; a page with the status and the reason."""
    undo_refused()
    title = _ANSWER_TITLES.get(exc.code, lambda: _("The invite could not be answered"))()
    return render_template("invites/refused.html", title=title,
                           message=exc.message), exc.status


def _accept(invite: ConnectionInvite, relationship: str | None, on_invalid, *,
            via_link: bool):
    """Accept and go to the family page; on_invalid(exc) answers a bad
    relationship (the only Invalid that accept raises)."""
    try:
        result = invite_accept(actor=current_user, invite=invite, via_link=via_link,
                               relationship=relationship or None, ip=request.remote_addr)
        group_id, group_name = result.group.id, result.group.name
        role = role_label(result.role)
    except Invalid as exc:
        undo_refused()
        return on_invalid(exc)
    except DomainError as exc:
        return _answer_error(exc)
    session.pop(SESSION_KEY, None)
    flash(_("Welcome to %(family)s. You joined as %(role)s.", family=group_name, role=role),
          "success")
    return see_other(group_url(group_id))


def _reject(invite: ConnectionInvite, *, via_link: bool):
    try:
        invite_reject(actor=current_user, invite=invite, via_link=via_link,
                      ip=request.remote_addr)
        group = db.session.get(FamilyGroup, invite.family_group_id)
        family = group.name if group else ""
    except DomainError as exc:
        return _answer_error(exc)
    session.pop(SESSION_KEY, None)
    if wants_fragment():
        return "", 200  # the invite's row goes away
    flash(_("You declined the invite to %(family)s. The admin has been told.", family=family),
          "info")
    return see_other(url_for("invites.mine"))


def _posted_link_invite(form: AnswerForm):
    """The invite of a token posted by the link page: (invite, token) or a response."""
    token = form.token.data or ""
    invite = invite_by_token(token) if form.validate() else None
    if invite is None:
        # Logged in or not, a token that names nothing is a 404, counted as a guess (F3).
        return None, _state_page(*link_refusal(None))
    if not current_user.is_authenticated:
        session[SESSION_KEY] = seal(token)
        return None, see_other(url_for("invites.login"))
    return invite, token


@bp.post("/i/accept")
@limit_link_guesses
def accept():
    """Accept from the link page, with an optional relationship (BR-050)."""
    form = AnswerForm()
    invite, token = _posted_link_invite(form)
    if invite is None:
        return token  # the answer for a logged-out visitor or a dead link

    def on_invalid(exc: Invalid):
        refusal = link_refusal(invite)
        if refusal is not None:
            return _state_page(*refusal)
        return _link_page(invite, token, relationship_error=exc.message, status=422)

    return _accept(invite, form.relationship.data, on_invalid, via_link=True)


@bp.post("/i/reject")
@limit_link_guesses
def reject():
    """Decline from the link page: one click."""
    invite, answer = _posted_link_invite(AnswerForm())
    return answer if invite is None else _reject(invite, via_link=True)


# --- the invitee's pending invites ---------------------------------------------------


@bp.get("/invites")
@login_required
def mine():
    """The invites waiting for the logged-in user's phone number."""
    invites = invites_pending_for(current_user)
    group_ids = {i.family_group_id for i in invites}
    sender_ids = {i.sender_id for i in invites}
    groups = {g.id: g for g in db.session.scalars(
        select(FamilyGroup).where(FamilyGroup.id.in_(group_ids)))} if invites else {}
    senders = {u.id: u for u in db.session.scalars(
        select(User).where(User.id.in_(sender_ids)))} if invites else {}
    return render_template("invites/mine.html", invites=invites, groups=groups,
                           senders=senders, relationships=relationship_options(),
                           question=_question, role_label=role_label)


@bp.post("/invites/<int:invite_id>/accept")
@login_required
def accept_by_id(invite_id: int):
    """Accept one of my pending invites, with an optional relationship."""
    form = AnswerForm()
    try:
        invite = invite_for_invitee(actor=current_user, invite_id=invite_id)
    except DomainError as exc:
        return _answer_error(exc)
    if not form.validate():  # a NUL (PostgreSQL refuses it: a 500) or an overlong code
        return _answer_error(Invalid(next(iter(form.errors.values()))[0], code="invalid"))
    return _accept(invite, form.relationship.data, _answer_error, via_link=False)


@bp.post("/invites/<int:invite_id>/reject")
@login_required
def reject_by_id(invite_id: int):
    """Decline one of my pending invites."""
    try:
        invite = invite_for_invitee(actor=current_user, invite_id=invite_id)
    except DomainError as exc:
        return _answer_error(exc)
    return _reject(invite, via_link=False)
