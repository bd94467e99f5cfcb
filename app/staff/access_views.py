"""The reason step of the staff pages (issue 21): say why before a family's review or a
person's file opens (the grant lasts GRANT_MINUTES, app/staff/access.py), and the family's
audit trail as CSV, downloaded with a reason in the same form."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC

from flask import Response, request, stream_with_context, url_for

from app.db import utcnow
from app.forms import copy_errors
from app.htmx import see_other
from app.models.accounts import User
from app.models.groups import FamilyGroup
from app.pages import acting_user, run_service
from app.staff.access import Grant, family_name, grant_keep, reason_page
from app.staff.blueprint import bp, found_or_404, fresh_code
from app.staff.forms import AccessReasonForm, AuditExportForm
from app.staff.queries import audit_batches, audit_count, users_by_id
from app.staff.services import staff_access_reason, staff_audit_exported

# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
CSV_BATCH = 1000


@bp.post("/users/<int:user_id>/reason")
def user_reason(user_id: int):
    """Say why you open a person's file (audited); the file opens for a while."""
    person = found_or_404(User, user_id)
    return _give_reason("file", person.id, subject=person.shown_name, user=person,
                        done=url_for("staff.user", user_id=person.id),
                        action=url_for("staff.user_reason", user_id=person.id))


@bp.post("/groups/<int:group_id>/reason")
def group_reason(group_id: int):
    """Say why you open a family (audited); the family opens for a while."""
    family = found_or_404(FamilyGroup, group_id)
    return _give_reason("family", family.id, subject=family_name(family), group=family,
                        done=url_for("staff.group", group_id=family.id),
                        action=url_for("staff.group_reason", group_id=family.id),
                        status_tag=family.status)


def _give_reason(scope: str, object_id: int, *, subject: str, action: str, done: str,
                 group: FamilyGroup | None = None, user: User | None = None,
                 status_tag: str | None = None):
    """Record the reason and open the object (303 to its page), or the step again (422)."""
    form = AccessReasonForm()
    if form.validate():
        event, error = run_service(staff_access_reason, scope=scope, group=group, user=user,
                                   reason=form.reason.data, text=form.reason_text.data)
        if error is None:
            grant_keep(acting_user().id, scope, object_id, event_id=event.id,
                       code=event.details["reason_code"])
            return see_other(done)
        copy_errors(form, error, "reason")
    return reason_page(scope, form, subject=subject, action=action, status=422,
                       status_tag=status_tag)


# --- the audit trail as CSV -----------------------------------------------------------------


@bp.route("/groups/<int:group_id>/audit.csv", methods=["GET", "POST"])
def group_audit_csv(group_id: int):
    """The family's whole audit trail as CSV (UTF-8 with BOM for Excel), asked for with a
    reason in the same form (GET shows the form); audited first."""
    family = found_or_404(FamilyGroup, group_id)
    action = url_for("staff.group_audit_csv", group_id=family.id)
    if request.method == "GET":
        return reason_page("export", AuditExportForm(formdata=None),
                           subject=family_name(family), action=action,
                           status_tag=family.status)
    form = AuditExportForm()
    if form.validate() and fresh_code(form) is None:
        event, error = run_service(staff_access_reason, scope="export", group=family,
                                   reason=form.reason.data, text=form.reason_text.data)
        if error is None:
            grant = Grant(event_id=event.id, code=event.details["reason_code"])
            staff_audit_exported(actor=acting_user(), group=family, grant=grant.details(),
                                 rows=audit_count(family.id), ip=request.remote_addr)
            return _csv_answer(group_id)
        copy_errors(form, error, "reason")
    return reason_page("export", form, subject=family_name(family), action=action,
                       status=getattr(form, "refused_status", 422), status_tag=family.status)


def _csv_answer(group_id: int) -> Response:
    filename = f"family-{group_id}-audit-{utcnow():%Y%m%d-%H%M%S}.csv"
    return Response(stream_with_context(_csv_lines(group_id)), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _cell(value) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def _csv_lines(group_id: int):
    """The CSV a batch of events at a time, their actors read once per batch."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        chunk = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return chunk

    buffer.write("\ufeff")
    writer.writerow(["id", "time", "actor_id", "actor_phone", "action", "subject_type",
                     "subject_id", "details", "ip"])
    yield flush()
    for events in audit_batches(group_id, batch=CSV_BATCH):
        actors = users_by_id({e.actor_id for e in events if e.actor_id is not None})
        for e in events:
            actor = actors.get(e.actor_id)
            writer.writerow([_cell(v) for v in (
                e.id, e.created_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
                e.actor_id, actor.phone if actor else None, e.action, e.subject_type,
                e.subject_id,
                json.dumps(e.details, ensure_ascii=False, sort_keys=True, default=str)
                if e.details else None,
                e.ip)])
        yield flush()
