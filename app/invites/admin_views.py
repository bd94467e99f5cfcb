"""Invites, the admin's side: the invite form (phone and role only, BR-055), cancel and
resend. The link pages and answering live in app/invites/views.py, on the same
blueprint."""

from __future__ import annotations

from flask import current_app, flash, render_template, request
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from app.accounts.services import parse_phone
from app.errors import DomainError, Invalid, NotFound, retry_after_header
from app.extensions import db
from app.forms import copy_errors
from app.groups.places import places_of
from app.groups.services import role_label
from app.groups.slots import slot_counts
from app.htmx import see_other, wants_fragment
from app.invites.blueprint import bp, group_url
from app.invites.forms import InviteForm
from app.invites.links import accept_url
from app.invites.services import (
    IssuedInvite,
    invite_cancel,
    invite_create,
    invite_for_admin,
    invite_resend,
)
from app.models.groups import ROLES, FamilyGroup
from app.models.invites import ConnectionInvite
from app.transaction import after_commit, undo_refused


def _admin_group(group_id: int) -> FamilyGroup:
    group = db.session.get(FamilyGroup, group_id)
    if group is None or group.admin_user_id != current_user.id:
        raise NotFound(_("This family does not exist or you cannot see it."), code="not_found")
    return group


# Refusals that only a bigger or renewed plan lifts: the form links to "My plan".
_PLAN_REFUSALS = {"no_slot", "subscription_inactive"}


def _invite_form(group: FamilyGroup, form: InviteForm, *, duplicate=None, plan_link=False,
                 status: int = 200):
    """The form; the page says up front which roles have no free place (BR-059)."""
    if wants_fragment():
        return render_template("invites/_invite_form.html", group=group, form=form,
                               duplicate=duplicate, plan_link=plan_link), status
    places = places_of(group, slot_counts(group.id))
    return render_template("invites/new.html", group=group, form=form, duplicate=duplicate,
                           plan_link=plan_link, roles=ROLES, **places.context()), status


def _issued(issued: IssuedInvite, *, resent: bool, status: int):
    """The link, shown once: it is not stored anywhere the admin could open it again."""
    invite = issued.invite
    group = db.session.get(FamilyGroup, invite.family_group_id)
    name = "invites/_issued.html" if wants_fragment() else "invites/issued.html"
    response = current_app.make_response((render_template(
        name, group=group, invite=invite, link=accept_url(issued.token), resent=resent,
        role=role_label(invite.role)), status))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/family/<int:group_id>/invites", methods=["GET", "POST"])
@login_required
def new(group_id: int):
    """The invite form (phone and role, BR-055) and sending it."""
    group = _admin_group(group_id)
    form = InviteForm()
    if request.method == "GET":
        if request.args.get("role") in ROLES:
            form.role.data = request.args["role"]
        return _invite_form(group, form)
    if not form.validate():
        return _invite_form(group, form, status=422)
    try:
        issued = invite_create(actor=current_user, group=group, phone=form.phone.data,
                               role=form.role.data, ip=request.remote_addr)
    except DomainError as exc:
        undo_refused()
        copy_errors(form, exc)
        duplicate = (_pending_invite(group.id, form.phone.data)
                     if exc.code == "duplicate_pending" else None)
        # htmx swaps every status (base.html): the fragment carries the refusal's own.
        return _invite_form(group, form, duplicate=duplicate,
                            plan_link=exc.code in _PLAN_REFUSALS, status=exc.status)
    return after_commit(lambda: _issued(issued, resent=False, status=201))


def _pending_invite(group_id: int, phone: str) -> ConnectionInvite | None:
    """The pending invite that a duplicate collided with, for its Resend button (BR-007)."""
    try:
        e164 = parse_phone(phone)
    except Invalid:
        return None
    return db.session.scalar(select(ConnectionInvite).where(
        ConnectionInvite.family_group_id == group_id, ConnectionInvite.receiver_phone == e164,
        ConnectionInvite.is_pending))


def _action_error(exc: DomainError):
    """A refused cancel or resend: a page, or for htmx (a row's button, the invite panel's
    Resend) the message in the page's live region (app/errors.py answers it)."""
    if wants_fragment():
        raise exc
    undo_refused()
    return render_template("invites/refused.html", title=_("Request refused"),
                           message=exc.message), exc.status, retry_after_header(exc)


@bp.post("/invites/<int:invite_id>/cancel")
@login_required
def cancel(invite_id: int):
    """Cancel a pending invite: its link dies and its slot is free again."""
    try:
        invite = invite_for_admin(actor=current_user, invite_id=invite_id)
        invite_cancel(actor=current_user, invite=invite, ip=request.remote_addr)
        group_id = invite.family_group_id
    except DomainError as exc:
        return _action_error(exc)
    if wants_fragment():
        # The row goes away (empty body); the group page may refresh its slot line.
        return "", 200, {"HX-Trigger": "invites-changed"}
    flash(_("The invite was cancelled. Its link no longer works."), "success")
    return see_other(group_url(group_id))


@bp.post("/invites/<int:invite_id>/resend")
@login_required
def resend(invite_id: int):
    """A new link for a pending invite; the old one stops working."""
    try:
        invite = invite_for_admin(actor=current_user, invite_id=invite_id)
        issued = invite_resend(actor=current_user, invite=invite, ip=request.remote_addr)
    except DomainError as exc:
        return _action_error(exc)
    return after_commit(lambda: _issued(issued, resent=True, status=200))
