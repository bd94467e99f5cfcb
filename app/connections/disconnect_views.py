"""The silent disconnect and restore on the pages (BR-040/056), per connection (the admin
or the patient) and per caregiver (the admin): a confirmation step (for a disconnect, an
optional private reason and the emergency-alert warning; for a restore, the permissions
that come back as they were), then the service; nobody is told."""

from __future__ import annotations

from flask import abort, flash, make_response, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required

from app.connections.blueprint import (
    back_key,
    bp,
    failed_get,
    held_controls,
    page_back_url,
    patient_block_now,
)
from app.connections.control import (
    Controlled,
    caregiver_check,
    caregiver_restore,
    caregiver_revoke,
    connection_restore,
    connection_restore_preview,
    connection_revoke,
)
from app.connections.forms import BackForm, DisconnectForm
from app.connections.matrix import Matrix
from app.connections.queries import (
    current_connections,
    newly_uncovered,
    permission_names,
    permission_state,
)
from app.errors import DomainError, Invalid
from app.forms import copy_errors
from app.groups.queries import GroupView
from app.groups.services import group_for_viewer
from app.htmx import see_other, wants_fragment
from app.models.accounts import User
from app.pages import acting_user, refused, run_service
from app.transaction import after_commit

# --- silent disconnect and restore, per connection ------------------------------------


def _disconnect_step(held: Controlled, form: DisconnectForm, *, status: int = 200):
    """The confirmation before a disconnect, warning when it leaves the patient with
    nobody receiving emergency alerts: a page, or inline in the row for htmx."""
    connections, _users = current_connections(patient_id=held.patient.id)
    uncovered = newly_uncovered(connections, without=[held.connection.id])
    back = form.back_to
    context = {"held": held, "form": form, "uncovered": bool(uncovered), "back": back,
               "back_url": page_back_url(back, held.group.id, held.connection.id)}
    if not wants_fragment():
        return render_template("connections/disconnect.html", inline=False, **context), status
    response = make_response(
        render_template("connections/_disconnect_confirm.html", inline=True, **context), status)
    if status == 422:  # the form posts into the row; its errors replace the form itself
        response.headers["HX-Retarget"] = f"#disconnect-{held.connection.id}"
        response.headers["HX-Reswap"] = "outerHTML"
    return response


def _row_changed(held: Controlled, back: str, message: str):
    """After a disconnect or restore: the row, the counter out of band and the message for
    the page's live region; or a flash."""
    connection_id, patient_id, group_id = held.connection.id, held.patient.id, held.group.id
    if wants_fragment():
        block, users = patient_block_now(patient_id)
        drawn = Matrix(back).block(block, users)
        row = drawn.row(connection_id)
        if row is None:
            abort(404)
        return render_template("connections/_row_changed.html", r=row, b=drawn, message=message)
    flash(message, "success")
    return see_other(page_back_url(back, group_id, connection_id))


@bp.get("/connections/<int:connection_id>/disconnect")
@login_required
def disconnect_confirm(connection_id: int):
    """Ask before a silent disconnect, with an optional private reason."""
    back = back_key(request.args.get("back"))
    held, error = held_controls(connection_id)
    if error is not None:
        return failed_get(error, page_back_url(back))
    return _disconnect_step(held, DisconnectForm(formdata=None, back=back))


@bp.post("/connections/<int:connection_id>/disconnect")
@login_required
def disconnect(connection_id: int):
    """Silently disconnect a caregiver from a patient (BR-040/056): nobody is told."""
    form = DisconnectForm()
    back = form.back_to
    if form.validate():
        held, error = run_service(connection_revoke, connection_id=connection_id,
                           reason=form.reason.data)
        if error is None:
            message = _("%(caregiver)s is disconnected from %(patient)s. They were not told.",
                        caregiver=held.caregiver.name, patient=held.patient.name)
            return after_commit(lambda: _row_changed(held, back, message))
        if not isinstance(error, Invalid):
            return refused(error, page_back_url(back))
        copy_errors(form, error, "reason")
    held, error = held_controls(connection_id)
    if error is not None:
        return refused(error, page_back_url(back))
    return _disconnect_step(held, form, status=422)


def _named(values: dict[str, bool]) -> tuple[list[str], list[str]]:
    """The names, in the reader's language and display order, of the permissions ON in
    `values` and of those OFF."""
    names = permission_names()
    return ([name for code, name in names if values.get(code)],
            [name for code, name in names if not values.get(code)])


def _restored_message(held: Controlled) -> str:
    """What a restore did, naming the permissions back on and those still off."""
    on, off = _named(held.restored or permission_state(held.connection))
    names = {"caregiver": held.caregiver.name, "patient": held.patient.name,
             "on": ", ".join(on), "off": ", ".join(off)}
    if held.patient.id == acting_user().id:
        if off:
            return _("%(caregiver)s is connected to you again, as before the disconnect: "
                     "%(on)s on; %(off)s still off. They were not told.", **names)
        return _("%(caregiver)s is connected to you again, as before the disconnect: "
                 "%(on)s on. They were not told.", **names)
    if off:
        return _("%(caregiver)s is connected to %(patient)s again, as before the disconnect: "
                 "%(on)s on; %(off)s still off. They were not told.", **names)
    return _("%(caregiver)s is connected to %(patient)s again, as before the disconnect: "
             "%(on)s on. They were not told.", **names)


@bp.get("/connections/<int:connection_id>/restore")
@login_required
def restore_confirm(connection_id: int):
    """Ask before a restore, naming the permissions that come back on and those that stay
    off: a page, or inline in the row's actions cell for htmx."""
    back = back_key(request.args.get("back"))
    held, error = held_controls(connection_id, connection_restore_preview)
    if error is not None:
        return failed_get(error, page_back_url(back))
    back_url = page_back_url(back, held.group.id, connection_id)
    if held.restored is None:  # live already: nothing to ask
        return see_other(back_url)
    on, off = _named(held.restored)
    context = {"held": held, "on": on, "off": off, "back": back, "back_url": back_url}
    if wants_fragment():
        return render_template("connections/_restore_confirm.html", inline=True, **context)
    return render_template("connections/restore_confirm.html", inline=False, **context)


@bp.post("/connections/<int:connection_id>/restore")
@login_required
def restore(connection_id: int):
    """Restore a disconnected caregiver silently, with the permissions as they were just
    before the disconnect (BR-040)."""
    form = BackForm()
    back = form.back_to
    held, error = run_service(connection_restore, connection_id=connection_id)
    if error is not None:
        return refused(error, page_back_url(back))
    message = _restored_message(held)
    return after_commit(lambda: _row_changed(held, back, message))


# --- silent disconnect and restore, per caregiver (the admin) -------------------------


def _caregiver_in(view: GroupView, user_id: int) -> User:
    """A caregiver of the group, for its admin (the service's check: 403, else 404)."""
    caregiver_check(actor=acting_user(), group=view.group, caregiver_id=user_id)
    return next(u for _m, u in view.users_in("caregiver") if u.id == user_id)


def _caregiver_step(view: GroupView, caregiver: User, form: DisconnectForm, *,
                    status: int = 200):
    """Ask before disconnecting a caregiver from every patient, naming the patients who
    would be left with nobody receiving their emergency alerts."""
    connections, users = current_connections(group_id=view.group.id)
    theirs = [c.id for c in connections if c.linked_user_id == caregiver.id]
    uncovered = newly_uncovered(connections, without=theirs)
    context = {"group": view.group, "caregiver": caregiver, "form": form,
               "follows": len(theirs),
               "uncovered": sorted(users[pid].name for pid in uncovered)}
    if wants_fragment():
        return render_template("connections/_caregiver_confirm.html", inline=True,
                               **context), status
    return render_template("connections/caregiver_disconnect.html", inline=False,
                           **context), status


@bp.get("/family/<int:group_id>/caregivers/<int:user_id>/disconnect")
@login_required
def caregiver_disconnect_confirm(group_id: int, user_id: int):
    """Ask before disconnecting a caregiver from every patient of the family."""
    view = group_for_viewer(actor=acting_user(), group_id=group_id)
    caregiver = _caregiver_in(view, user_id)
    return _caregiver_step(view, caregiver, DisconnectForm(formdata=None))


@bp.post("/family/<int:group_id>/caregivers/<int:user_id>/disconnect")
@login_required
def caregiver_disconnect(group_id: int, user_id: int):
    """Silently disconnect a caregiver from every patient of the family (the admin)."""
    back = url_for("groups.show", group_id=group_id)
    try:
        view = group_for_viewer(actor=acting_user(), group_id=group_id)
    except DomainError as exc:
        return refused(exc, url_for("groups.index"))
    form = DisconnectForm()
    if form.validate():
        _held_all, error = run_service(caregiver_revoke, group=view.group, caregiver_id=user_id,
                                reason=form.reason.data)
        if error is None:
            name = next((u.name for _m, u in view.users_in("caregiver") if u.id == user_id), "")
            flash(_("%(caregiver)s is disconnected from every patient of this family. They "
                    "were not told.", caregiver=name), "success")
            return see_other(back)
        if not isinstance(error, Invalid):
            return refused(error, back)
        copy_errors(form, error, "reason")
    return _caregiver_step(view, _caregiver_in(view, user_id), form, status=422)


@bp.post("/family/<int:group_id>/caregivers/<int:user_id>/restore")
@login_required
def caregiver_restore_all(group_id: int, user_id: int):
    """Restore every disconnected connection of a caregiver in the family (the admin)."""
    back = url_for("groups.show", group_id=group_id)
    try:
        view = group_for_viewer(actor=acting_user(), group_id=group_id)
    except DomainError as exc:
        return refused(exc, url_for("groups.index"))
    name = next((u.name for _m, u in view.users_in("caregiver") if u.id == user_id), "")
    _held_all, error = run_service(caregiver_restore, group=view.group, caregiver_id=user_id)
    if error is not None:
        return refused(error, back)
    flash(_("%(caregiver)s is connected to every patient of this family again, each with "
            "the permissions it had before the disconnect. They were not told.",
            caregiver=name), "success")
    return see_other(back)
