"""The caregiver's side: the patients I follow, a patient's page with the blocks my
permissions allow (BR-017), their reports, and how I am related to each (BR-030).

Every page re-reads the connection and its permissions at the moment of the request
(SEC-001, SEC-002). A silently disconnected patient (BR-040) looks like a patient whose
permissions show nothing: no badge, no word about why.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app.care.forms import RelationshipForm
from app.connections.control import (
    CAREGIVER,
    Controlled,
    connection_party,
    relationship_set,
)
from app.connections.queries import (
    HEALTH,
    current_connections,
    enabled_codes,
    permission_names,
    relationship_names,
    relationship_options,
)
from app.errors import Forbidden, Invalid
from app.extensions import db
from app.forms import copy_errors
from app.htmx import see_other, wants_fragment
from app.models.accounts import User
from app.pages import acting_user
from app.reports.services import patient_report_open, patient_reports
from app.transaction import after_commit, undo_refused

bp = Blueprint("care", __name__)

RECENT_REPORTS = 10


def _block_texts(name: str) -> dict[str, str]:
    """What each permission lets the caregiver do for this patient, in plain words."""
    return {
        "emergency_alert": _("You receive %(name)s's emergency alerts.", name=name),
        "task_config": _("You can set up %(name)s's reminders and tasks.", name=name),
        "compliance_tracking": _("You can see whether %(name)s keeps to their care plan.",
                                 name=name),
        "proxy_execution": _("You can act for %(name)s in the app.", name=name),
        "encouragement": _("You can call %(name)s to encourage them.", name=name),
    }


# --- patients I follow ------------------------------------------------------------------


@bp.get("/following")
@login_required
def following():
    """Patients I follow, by family, each as I know them (BR-029/054)."""
    connections, users = current_connections(caregiver_id=current_user.id)
    # The groups came with the connections (no second query).
    groups = sorted({c.group.id: c.group for c in connections}.values(),
                    key=lambda group: (group.name, group.id))
    families = [(g, [(c, users[c.user_id]) for c in connections if c.family_group_id == g.id])
                for g in groups]
    return render_template("care/following.html", families=families,
                           names=relationship_names() if connections else {})


@bp.get("/following/<int:patient_id>")
@login_required
def patient(patient_id: int):
    """One patient I follow: only the blocks my permissions allow now (BR-017)."""
    connections, users = current_connections(patient_id=patient_id,
                                             caregiver_id=current_user.id)
    if not connections:
        abort(404)
    connection, person = connections[0], users[patient_id]
    allowed = enabled_codes(connection)  # empty for a silent disconnect
    reports = None
    if HEALTH in allowed:
        try:
            reports = patient_reports(actor=acting_user(), patient_id=patient_id,
                                      limit=RECENT_REPORTS)
        except Forbidden:
            allowed.discard(HEALTH)  # switched off between the two reads
    blocks = [(code, name) for code, name in permission_names() if code in allowed]
    return render_template("care/patient.html", connection=connection, person=person,
                           blocks=blocks, reports=reports, texts=_block_texts(person.name),
                           names=relationship_names())


# --- reports (SEC-001/002: a 403 with no data, through the error page) -------------------


@bp.get("/following/<int:patient_id>/reports")
@login_required
def reports(patient_id: int):
    """A patient's reports, newest first, the unread ones marked."""
    entries = patient_reports(actor=acting_user(), patient_id=patient_id)
    person = db.session.get(User, patient_id)
    return render_template("care/reports.html", person=person, reports=entries)


@bp.get("/following/<int:patient_id>/reports/<int:report_id>")
@login_required
def report(patient_id: int, report_id: int):
    """One report; opening it records that I have read it."""
    opened = patient_report_open(actor=acting_user(), patient_id=patient_id, report_id=report_id)
    return after_commit(lambda: render_template("care/report.html", report=opened,
                                                person=db.session.get(User, patient_id)))


# --- the relationship (BR-030/050), either party ----------------------------------------


def _about(held: Controlled) -> dict:
    """Plain values for the form, read before the transaction ends."""
    caregiver = held.part == CAREGIVER
    connection = held.connection
    return {"connection_id": connection.id,
            "other_name": (held.patient if caregiver else held.caregiver).name,
            "current": (connection.relationship_code if caregiver
                        else connection.inverse_relationship_code) or "",
            "back": (url_for("care.patient", patient_id=held.patient.id) if caregiver
                     else url_for("connections.followers"))}


def _form(form: RelationshipForm | None = None, current: str = "") -> RelationshipForm:
    form = form or RelationshipForm(formdata=None, relationship=current)
    form.relationship.choices = [("", _("Not set"))] + relationship_options()
    return form


def _saved_message(code: str | None, other_name: str) -> str:
    if code:
        return _("Saved: you are “%(relationship)s” to %(name)s.",
                 relationship=relationship_names().get(code, code), name=other_name)
    return _("Saved: no relationship is set, so %(name)s and you see each other's names.",
             name=other_name)


def _relationship_answer(about: dict, form: RelationshipForm, *, status: int = 200,
                         saved: str | None = None):
    template = "care/_relationship_form.html" if wants_fragment() else "care/relationship.html"
    return render_template(template, form=form, saved=saved, **about), status


@bp.get("/connections/<int:connection_id>/relationship")
@login_required
def relationship(connection_id: int):
    """What am I to the other party of this connection: the form."""
    try:
        about = _about(connection_party(actor=acting_user(), connection_id=connection_id))
    finally:
        db.session.rollback()  # the lock was only for reading
    return render_template("care/relationship.html", form=_form(current=about["current"]),
                           saved=None, **about)


@bp.post("/connections/<int:connection_id>/relationship")
@login_required
def relationship_save(connection_id: int):
    """Save what I am to the other party; the other direction is derived (BR-028)."""
    about = _about(connection_party(actor=acting_user(), connection_id=connection_id))
    form = _form(RelationshipForm())
    if form.validate():
        code = form.relationship.data or None
        try:
            relationship_set(actor=acting_user(), connection_id=connection_id,
                             relationship=code, ip=request.remote_addr)
        except Invalid as exc:
            undo_refused()
            copy_errors(form, exc, "relationship")
        else:
            message = _saved_message(code, about["other_name"])
            if wants_fragment():
                return after_commit(lambda: _relationship_answer(
                    about, _form(current=code or ""), saved=message))
            flash(message, "success")
            return see_other(about["back"])
    return _relationship_answer(about, form, status=422)
