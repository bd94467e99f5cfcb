"""The connections blueprint and what its route modules (views, disconnect_views) share:
where an action came back to, the controls the current user holds, and a service asked
without keeping anything. Route modules import it; nothing imports them but create_app."""

from __future__ import annotations

from flask import Blueprint, abort, request, url_for

from app.connections.control import Controlled, connection_controlled
from app.connections.forms import BACKS
from app.connections.queries import PatientBlock, current_connections, matrix_blocks
from app.errors import DomainError
from app.extensions import db
from app.htmx import wants_fragment
from app.models.accounts import User
from app.models.connections import Connection
from app.pages import acting_user, refused
from app.transaction import undo_refused

bp = Blueprint("connections", __name__)


@bp.after_request
def _vary(response):
    response.vary.add("HX-Request")
    return response


def back_key(value: str | None) -> str:
    return value if value in BACKS else "group"


def page_back_url(back: str, group_id: int | None = None, connection_id: int | None = None) -> str:
    """The page an action came from; a refusal that proved nothing goes to My family."""
    if back == "followers":
        url = url_for("connections.followers")
    elif group_id is not None:
        url = url_for("groups.show", group_id=group_id)
    else:
        return url_for("groups.index")
    return url + (f"#connection-{connection_id}" if connection_id else "")


def dry_run(service, **kwargs):
    """Ask a service whether it would accept a change, keeping nothing: its writes are
    rolled back with a savepoint (never committed: the request's boundary then commits
    nothing, app/transaction.py). So the confirmation step is offered only for a change
    the rules allow, and the rules stay in the service."""
    savepoint = db.session.begin_nested()
    try:
        result = service(actor=acting_user(), ip=request.remote_addr, **kwargs)
    except DomainError as exc:
        savepoint.rollback()
        undo_refused()
        return None, exc
    savepoint.rollback()
    return result, None


def held_controls(connection_id: int, service=connection_controlled):
    """The connection if the current user holds its controls (the service's own check;
    its row lock ends with the request): (Controlled, None) or (None, error). service: a
    read of control.py that answers a Controlled (connection_restore_preview)."""
    try:
        return service(actor=acting_user(), connection_id=connection_id), None
    except DomainError as exc:
        undo_refused()
        return None, exc


def failed_get(error: DomainError, back: str):
    """A refused GET: the error page (404/403); htmx goes back to the page with a flash."""
    if wants_fragment():
        return refused(error, back)
    raise error


def patient_block_now(patient_id: int) -> tuple[PatientBlock, dict[int, User]]:
    """A patient's block of the matrix as it is now (after a commit)."""
    connections, users = current_connections(patient_id=patient_id)
    patient = users.get(patient_id) or db.session.get(User, patient_id)
    users[patient_id] = patient
    return matrix_blocks([patient], connections)[0], users


def in_block(block: PatientBlock, connection_id: int) -> Connection:
    connection = next((c for c in block.connections if c.id == connection_id), None)
    if connection is None:
        abort(404)
    return connection


def parties(held: Controlled) -> dict[int, User]:
    return {held.patient.id: held.patient, held.caregiver.id: held.caregiver}
