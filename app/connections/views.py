"""The connection controls on the pages: the admin's permission matrix actions, the
patient's "Who follows me", the silent disconnect and restore, and the history.

Dual control: the admin and the patient use the same endpoints; the services in
app/connections/control.py decide who may do what. Each toggle, disconnect and restore
answers htmx with the fragment it changed (and the patient's emergency-alert counter out of
band), and a plain form post with a 303 back to the page it came from.
"""

from __future__ import annotations

from flask import (
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import login_required

from app.connections.blueprint import (
    back_key,
    bp,
    dry_run,
    failed_get,
    held_controls,
    in_block,
    page_back_url,
    parties,
)
from app.connections.control import (
    Controlled,
    permissions_set,
)
from app.connections.forms import ToggleForm
from app.connections.matrix import Matrix, labels
from app.connections.queries import (
    EMERGENCY,
    connection_for_history,
    connection_history,
    current_connections,
    matrix_blocks,
    newly_uncovered,
    permission_names,
    permission_state,
    private_details,
)
from app.errors import DomainError
from app.extensions import db
from app.groups.services import role_label
from app.htmx import see_other, wants_fragment
from app.models.accounts import User
from app.models.connections import PERMISSION_CODES
from app.models.groups import FamilyGroup
from app.pages import acting_user, refused
from app.transaction import after_commit, attempt

# --- helpers --------------------------------------------------------------------------
























# --- Who follows me -------------------------------------------------------------------


@bp.get("/followers")
@login_required
def followers():
    """Who follows me: my caregivers, their permissions, disconnect and restore."""
    me = acting_user()
    connections, users = current_connections(patient_id=me.id)
    users[me.id] = me
    block = Matrix("followers").blocks([me], connections, users)[0]
    return render_template("connections/followers.html", b=block)


# --- permission toggles ---------------------------------------------------------------


def _toggle(held_or_connection, code: str, back: str, *, status: int = 200,
            message: str | None = None, refusal: str | None = None):
    c = (held_or_connection.connection if isinstance(held_or_connection, Controlled)
         else held_or_connection)
    way_out = (url_for("connections.disconnect_confirm", connection_id=c.id, back=back)
               if refusal == "last_permission" else None)
    # Always a fragment answering an action on this switch: the focus comes back to it.
    return render_template("connections/_toggle.html", s=Matrix(back).switch(c, code, refocus=True),
                           message=message, disconnect_url=way_out), status


def _toggle_refused(error: DomainError, connection_id: int, code: str, back: str):
    """A conflict (BR-039, a disconnected connection) is shown beside the toggle, in its
    present state; a 403/404 goes back to the page with a flash."""
    if error.status in (409, 422):
        connections, _users = current_connections(connection_id=connection_id)
        if connections:
            connection = connections[0]
            if wants_fragment():
                return _toggle(connection, code, back, status=error.status,
                               message=error.message, refusal=error.code)
            flash(error.message, "error")
            return see_other(page_back_url(back, connection.family_group_id, connection_id))
    return refused(error, page_back_url(back))


def _toggle_invalid(form: ToggleForm, connection_id: int, code: str, back: str):
    """A malformed toggle post (not a click on our form): 422 and what was wrong."""
    message = next((e for f in form for e in f.errors), _("The request was not understood."))
    if wants_fragment():
        held, error = held_controls(connection_id)
        if error is not None:
            return refused(error, page_back_url(back))
        return _toggle(held, code, back, status=422, message=message)
    return render_template("errors/error.html", status=422, title=_("Request refused"),
                           message=message), 422


def _toggle_ask(connection_id: int, code: str, back: str):
    """Turning OFF asks first (BR-024), with the stronger warning for emergency alerts
    (BR-018) and, when it would leave the patient with nobody alerted, that too."""
    held, error = dry_run(permissions_set, connection_id=connection_id,
                           changes={code: False})
    if error is not None:
        return _toggle_refused(error, connection_id, code, back)
    if not permission_state(held.connection).get(code):
        return _toggled(held, code, back, changed=False)  # already off: nothing to ask
    connections, _users = current_connections(patient_id=held.patient.id)
    uncovered = newly_uncovered(connections, switched_off=(held.connection.id, code))
    context = {"c": held.connection, "code": code, "users": parties(held), "back": back,
               "uncovered": bool(uncovered), **labels()}
    if wants_fragment():
        return render_template("connections/_toggle_confirm.html", inline=True, **context)
    return render_template("connections/toggle_confirm.html", inline=False, **context)


def _toggled(held: Controlled, code: str, back: str, *, changed: bool = True):
    """After a toggle: the fragment and, for emergency alerts, the counter out of band; or
    a flash and the page."""
    answer, message = _toggled_answer(held, code, back, changed=changed)
    if message:
        flash(message, "success")
    return answer


def _toggled_answer(held: Controlled, code: str, back: str, *, changed: bool = True):
    """The answer to a toggle, made from the rows the service read and changed (its
    patient's block came with it): (response, the message to flash or None). What changed
    is said either way: flashed, or in the fragment for the page's live region."""
    connection_id = held.connection.id
    message = None
    if changed:
        on = permission_state(held.connection).get(code)
        names = dict(permission_names())
        message = (_("“%(permission)s” is on for %(caregiver)s.", permission=names.get(code, code),
                     caregiver=held.caregiver.name) if on else
                   _("“%(permission)s” is off for %(caregiver)s.",
                     permission=names.get(code, code), caregiver=held.caregiver.name))
    if wants_fragment():
        users = {**held.users, held.patient.id: held.patient}
        matrix = Matrix(back)
        block = matrix_blocks([held.patient], held.block)[0]
        c = in_block(block, connection_id)
        switch = matrix.switch(c, code, refocus=True)
        oob = changed and code == EMERGENCY
        return render_template("connections/_toggled.html", s=switch, oob=oob, message=message,
                               b=matrix.block(block, users) if oob else None), None
    return see_other(page_back_url(back, held.group.id, connection_id)), message


@bp.post("/connections/<int:connection_id>/permissions/<code>")
@login_required
def permission_toggle(connection_id: int, code: str):
    """Turn one permission on (at once) or off (after the confirmation step):
    enabled=on|off, confirmed=1 once asked."""
    if code not in PERMISSION_CODES:
        abort(404)
    return _toggle_request(connection_id, code, ToggleForm())


@bp.post("/switch")
@login_required
def permission_switch():
    """A switch of the matrix: its patient's form posts set=<connection id> <code> <on|off>
    (the button pressed), then as permission_toggle."""
    connection_id, code, enabled = _pressed(request.form.get("set", ""))
    if connection_id is None:
        return render_template("errors/error.html", status=422, title=_("Request refused"),
                               message=_("The request was not understood.")), 422
    fields = request.form.copy()
    fields["enabled"] = enabled
    return _toggle_request(connection_id, code, ToggleForm(formdata=fields))


def _pressed(value: str) -> tuple[int | None, str, str]:
    """(connection id, code, "on"|"off") of a switch's set=…, or (None, "", "")."""
    parts = value.split()
    if (len(parts) == 3 and parts[0].isdecimal() and len(parts[0]) <= 18
            and parts[1] in PERMISSION_CODES and parts[2] in ("on", "off")):
        return int(parts[0]), parts[1], parts[2]
    return None, "", ""


def _toggle_request(connection_id: int, code: str, form: ToggleForm):
    back = form.back_to
    if not form.validate():
        return _toggle_invalid(form, connection_id, code, back)
    if not form.turned_on and not form.is_confirmed:
        return _toggle_ask(connection_id, code, back)
    held, error = attempt(permissions_set, actor=acting_user(), connection_id=connection_id,
                          changes={code: form.turned_on}, ip=request.remote_addr)
    if error is not None:
        return _toggle_refused(error, connection_id, code, back)
    # Made from the rows the service locked and changed, kept through the commit: they are
    # what it committed, and read again they would cost the statements of a page.
    return after_commit(lambda: _toggled(held, code, back), expire=False)


@bp.get("/connections/<int:connection_id>/permissions/<code>")
@login_required
def permission_show(connection_id: int, code: str):
    """One toggle as it is ("Keep it on"); without htmx, back to the page."""
    if code not in PERMISSION_CODES:
        abort(404)
    back = back_key(request.args.get("back"))
    held, error = held_controls(connection_id)
    if error is not None:
        return failed_get(error, page_back_url(back))
    if not wants_fragment():
        return redirect(page_back_url(back, held.group.id, connection_id))
    return _toggle(held, code, back)


# --- history --------------------------------------------------------------------------


@bp.get("/connections/<int:connection_id>/history")
@login_required
def history(connection_id: int):
    """A connection's story, for its group's admin and its patient (404 for anyone else,
    the caregiver included: they never learn of a disconnect)."""
    me = acting_user()
    connection = connection_for_history(actor=me, connection_id=connection_id)
    group = (db.session.get(FamilyGroup, connection.family_group_id)
             if connection.family_group_id is not None else None)
    is_admin = group is not None and group.admin_user_id == me.id
    events, actors = connection_history(connection)
    entries = [(event, private_details(event, me)) for event in events]
    back_url = (url_for("groups.show", group_id=group.id) if is_admin and group is not None
                else url_for("connections.followers"))
    return render_template(
        "connections/history.html", connection=connection, entries=entries, actors=actors,
        patient=db.session.get(User, connection.user_id),
        caregiver=db.session.get(User, connection.linked_user_id), group=group,
        back_url=back_url, role_label=role_label, **labels())


