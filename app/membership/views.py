"""The family group pages: create, the group page with its two sections and slots,
rename, dissolve, add myself, remove a member, leave."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required
from wtforms.fields.choices import SelectChoice

from app.billing.services import subscription_of
from app.connections.matrix import matrix_context
from app.connections.queries import relationship_options
from app.errors import Invalid, NotFound
from app.extensions import db
from app.forms import copy_errors
from app.groups.forms import GroupNameForm, RoleForm, SelfAddForm
from app.groups.places import places_of
from app.groups.queries import GroupView, active_group_of_admin, memberships_of
from app.groups.services import (
    group_create,
    group_for_viewer,
    group_rename,
    group_staff_look,
    role_label,
    subscription_inactive,
)
from app.groups.slots import counts_from_view, slot_counts
from app.htmx import see_other, wants_fragment
from app.membership.services import group_dissolve, group_self_add, member_leave, member_remove
from app.models.accounts import User
from app.models.groups import ROLES, FamilyGroup
from app.pages import acting_user, refused, run_service
from app.payments.provider import PaymentUnavailable
from app.permissions import can_act_as_admin, can_manage_places, is_group_admin
from app.transaction import after_commit

bp = Blueprint("groups", __name__, url_prefix="/family")


# --- helpers --------------------------------------------------------------------------


@bp.context_processor
def _helpers() -> dict:
    return {"role_label": role_label}


def _viewable(group_id: int) -> GroupView:
    """The group as the current user may see it; a 404 for anyone else."""
    return group_for_viewer(actor=acting_user(), group_id=group_id)


def _admin_view(group_id: int) -> GroupView:
    """For the admin's confirmation pages: other viewers are not offered these actions."""
    view = _viewable(group_id)
    if not can_act_as_admin(current_user, view.group):
        abort(403)
    return view


def _relationship_choices() -> list[SelectChoice]:
    return [SelectChoice("", _("Not now"))] + [
        SelectChoice(code, name) for code, name in relationship_options()]


def _slots_context(group: FamilyGroup, counts: dict) -> dict:
    """The places per role (BR-047) and what stands in the way of inviting (BR-037)."""
    return places_of(group, counts).context()


def _context(view: GroupView, rename_form=None, self_add=None) -> dict:
    group, me = view.group, acting_user()
    admin = can_act_as_admin(me, group)
    context = {"view": view, "group": group, "roles": ROLES, "is_admin": admin,
               "manage": can_manage_places(me, group),
               "my_roles": view.role_of(me.id), "self_add": {}, "slots": None,
               "admin_user": db.session.get(User, group.admin_user_id)}
    if context["manage"]:
        context.update(_slots_context(group, counts_from_view(view)))
    if admin:
        choices = _relationship_choices()
        open_roles = context.get("open_roles", frozenset())
        for role in ROLES:
            # Only a role with a free place under an active plan: otherwise the page says
            # why instead of offering what the service would refuse (a refused self-add
            # still shows its form and why).
            if role not in context["my_roles"] and (role in open_roles
                                                    or role in (self_add or {})):
                form = (self_add or {}).get(role) or SelfAddForm(formdata=None, role=role)
                form.relationship.choices = choices
                context["self_add"][role] = form
        context["rename_form"] = rename_form or GroupNameForm(formdata=None, name=group.name)
        context.update(matrix_context(view))  # the permission matrix (issue 4)
    return context


def _page(view: GroupView, *, status: int = 200, **forms):
    return render_template("groups/show.html", **_context(view, **forms)), status


def _confirm(view: GroupView, kind: str, *, status: int = 200, **context):
    """A confirmation step (no JavaScript confirm): a page, or for htmx the partial."""
    context = {"group": view.group, "kind": kind, "form": None, "person": None,
               "role": None} | context
    if wants_fragment():
        return render_template("groups/_confirm.html", inline=True, **context), status
    return render_template("groups/confirm.html", inline=False, **context), status


def _person(view: GroupView, user_id: int, role: str) -> User | None:
    return next((u for m, u in view.members if u.id == user_id and m.role == role), None)


def _index_page(form: GroupNameForm, status: int = 200):
    info = unavailable = problem = None
    try:
        info = subscription_of(actor=acting_user())
    except NotFound:
        pass
    except PaymentUnavailable as exc:
        unavailable = exc.message
    if info is not None and not info.is_active:
        problem = subscription_inactive(for_admin=True).message
    return render_template("groups/index.html", memberships=memberships_of(current_user.id),
                           info=info, unavailable=unavailable, plan_problem=problem,
                           form=form), status


# --- pages and actions ----------------------------------------------------------------


@bp.get("")
@login_required
def index():
    """My family: the admin's group, else the families I belong to, else how to start one."""
    group = active_group_of_admin(current_user.id)
    if group is not None:
        return redirect(url_for("groups.show", group_id=group.id))
    return _index_page(GroupNameForm())


@bp.post("")
@login_required
def create():
    """Create the family (the owner of an active plan), then on to its page."""
    form = GroupNameForm()
    if form.validate():
        group, error = run_service(group_create, name=form.name.data)
        if error is None:
            flash(_("Your family “%(name)s” is ready. Invite its patients and caregivers.",
                    name=group.name), "success")
            return see_other(url_for("groups.show", group_id=group.id))
        if not isinstance(error, Invalid):
            form.form_errors.append(error.message)
            return refused(error, url_for("groups.index"), "groups/_create_form.html",
                            form=form)
        copy_errors(form, error, "name")
    if wants_fragment():
        return render_template("groups/_create_form.html", form=form), 422
    return _index_page(form, 422)


@bp.get("/<int:group_id>")
@login_required
def show(group_id: int):
    """The family page: patients and caregivers, pending invites, places, the admin's tools."""
    view = _viewable(group_id)
    me = acting_user()
    if me.is_staff and view.group.admin_user_id != me.id and me.id not in view.member_ids:
        # Staff open a family on the staff pages, which ask why first (issue 21).
        return see_other(url_for("staff.group", group_id=group_id))
    group_staff_look(actor=me, group=view.group, what="family page", ip=request.remote_addr)
    return _page(view)


@bp.get("/<int:group_id>/slots/<any(patient, caregiver):role>")
@login_required
def slots(group_id: int, role: str):
    """One role's places, refreshed by htmx when an invite is cancelled (invites-changed)."""
    view = _viewable(group_id)
    if not wants_fragment():
        return redirect(url_for("groups.show", group_id=group_id))
    if not can_manage_places(current_user, view.group):
        abort(404)
    return render_template("groups/_slots.html", group=view.group, role=role,
                           is_admin=is_group_admin(current_user, view.group),
                           **_slots_context(view.group, counts_from_view(view)))


@bp.post("/<int:group_id>/rename")
@login_required
def rename(group_id: int):
    """Rename the family (the admin); htmx swaps the form and the heading in place."""
    view, form = _viewable(group_id), GroupNameForm()
    back = url_for("groups.show", group_id=group_id)
    if form.validate():
        group, error = run_service(group_rename, group=view.group, name=form.name.data)
        if error is None:
            if wants_fragment():
                return after_commit(lambda: render_template(
                    "groups/_renamed.html", group=group, saved=True,
                    form=GroupNameForm(formdata=None, name=group.name)))
            flash(_("The family is now called “%(name)s”.", name=group.name), "success")
            return see_other(back)
        if not isinstance(error, Invalid):
            form.form_errors.append(error.message)
            return refused(error, back, "groups/_rename_form.html", form=form,
                            group=view.group)
        copy_errors(form, error, "name")
    if wants_fragment():
        return render_template("groups/_rename_form.html", form=form, group=view.group), 422
    return _page(view, status=422, rename_form=form)


@bp.post("/<int:group_id>/self-add")
@login_required
def self_add(group_id: int):
    """Add me as patient or caregiver (the admin, BR-049): no invite, a place used."""
    view, form = _viewable(group_id), SelfAddForm()
    back = url_for("groups.show", group_id=group_id)
    role = form.role.data if form.role.data in ROLES else ROLES[0]
    form.relationship.choices = _relationship_choices()
    if form.validate():
        result, error = run_service(group_self_add, group=view.group, role=form.role.data,
                             relationship=form.relationship.data or None)
        if error is None:
            flash(_("You are now a %(role)s in this family.", role=role_label(result.role)),
                  "success")
            return see_other(back)
        if not isinstance(error, Invalid):
            form.form_errors.append(error.message)
            return refused(error, back, "groups/_self_add_form.html", form=form, role=role,
                            group=view.group)
        copy_errors(form, error)
    if wants_fragment():
        return render_template("groups/_self_add_form.html", form=form, role=role,
                               group=view.group), 422
    return _page(view, status=422, self_add={role: form})


@bp.get("/<int:group_id>/dissolve")
@login_required
def dissolve_confirm(group_id: int):
    """Ask before dissolving the family (the admin)."""
    return _confirm(_admin_view(group_id), "dissolve")


@bp.post("/<int:group_id>/dissolve")
@login_required
def dissolve(group_id: int):
    """Dissolve the family (the admin): members released, connections revoked, invites
    cancelled."""
    view = _viewable(group_id)
    _result, error = run_service(group_dissolve, group=view.group)
    if error is not None:
        return refused(error, url_for("groups.show", group_id=group_id))
    flash(_("The family “%(name)s” was dissolved. Its history is kept.",
            name=view.group.name), "success")
    return see_other(url_for("groups.index"))


@bp.get("/<int:group_id>/members/<int:user_id>/remove")
@login_required
def remove_confirm(group_id: int, user_id: int):
    """Ask before removing a member: a page, or inside the member's row for htmx."""
    view, role = _admin_view(group_id), request.args.get("role", "")
    person = _person(view, user_id, role)
    if person is None:
        abort(404)
    return _confirm(view, "remove", person=person, user_id=user_id, role=role)


@bp.post("/<int:group_id>/members/<int:user_id>/remove")
@login_required
def remove(group_id: int, user_id: int):
    """Remove a member (the admin, never themselves, BR-058); htmx drops the row and
    updates the places out of band."""
    view, form = _viewable(group_id), RoleForm()
    back, role = url_for("groups.show", group_id=group_id), form.role.data
    person = _person(view, user_id, role)
    if form.validate():
        _result, error = run_service(member_remove, group=view.group, user_id=user_id, role=role)
        if error is None:
            if wants_fragment():
                return after_commit(lambda: render_template(
                    "groups/_removed.html", group=view.group, role=role, is_admin=True,
                    oob=True, **_slots_context(view.group, slot_counts(group_id))))
            flash(_("%(name)s is no longer a %(role)s in this family.",
                    name=person.name if person else "", role=role_label(role)), "success")
            return see_other(back)
        if not isinstance(error, Invalid):
            return refused(error, back)
        copy_errors(form, error)
    return _confirm(view, "remove", status=422, form=form, person=person, user_id=user_id,
                    role=role)


@bp.get("/<int:group_id>/leave")
@login_required
def leave_confirm(group_id: int):
    """Ask before leaving the family in one role (a member, not the admin)."""
    view, role = _viewable(group_id), request.args.get("role", "")
    if is_group_admin(current_user, view.group) or role not in view.role_of(current_user.id):
        abort(404)
    return _confirm(view, "leave", role=role)


@bp.post("/<int:group_id>/leave")
@login_required
def leave(group_id: int):
    """Leave the family in one role (a member, not the admin, BR-061)."""
    view, form = _viewable(group_id), RoleForm()
    if form.validate():
        _result, error = run_service(member_leave, group=view.group, role=form.role.data)
        if error is None:
            flash(_("You left “%(name)s”.", name=view.group.name), "success")
            return see_other(url_for("groups.index"))
        if not isinstance(error, Invalid):
            return refused(error, url_for("groups.show", group_id=group_id))
        copy_errors(form, error)
    return _confirm(view, "leave", status=422, form=form, role=form.role.data)
