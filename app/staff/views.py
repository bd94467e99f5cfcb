"""The staff area, /staff: search, users, groups, the review queue and staff actions.

Every route is guarded once, before it runs, in app/staff/blueprint.py. The queue's
routes live in app/staff/queue_views.py and the actions' in app/staff/action_views.py,
on the same bp.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC

from flask import (
    Response,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.connections.queries import permission_names, permission_state, relationship_names
from app.cursors import cursor_arg, encode_cursor
from app.db import utcnow
from app.errors import Invalid
from app.forms import copy_errors
from app.groups.services import group_staff_look
from app.htmx import see_other
from app.models.accounts import User
from app.models.groups import FamilyGroup
from app.models_base import MAX_ID
from app.pages import acting_user, run_service
from app.staff.access import GRANT_MINUTES, Grant, grant_keep, grant_of
from app.staff.blueprint import bp, found_or_404
from app.staff.forms import (
    AccessReasonForm,
    AuditExportForm,
    GroupFilterForm,
    ReasonForm,
    SearchForm,
)
from app.staff.queries import (
    GROUP_PAGE,
    audit_batches,
    audit_count,
    clean_query,
    group_review,
    group_rows,
    groups_search,
    permission_states,
    search_key,
    user_file,
    user_search,
    users_by_id,
)
from app.staff.services import (
    staff_access_reason,
    staff_audit_exported,
    staff_searched,
    staff_user_viewed,
)
from app.staff.trail import group_trail, user_trail
from app.text import whole_number

GROUP_STATUSES = ("active", "inactive", "dissolved")
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
CSV_BATCH = 1000
# The reason step (issue 21): what each page asks, what its button says.
ASKS = {
    "family": (_l("Why do you need to open this family?"), _l("Open the family")),
    "file": (_l("Why do you need to open this person's file?"), _l("Open the file")),
    "export": (_l("Why do you need to download this family's audit trail?"),
               _l("Download the audit trail (CSV)")),
}


def id_arg(name: str) -> int | None:
    """An optional id in the query string (a keyset bound); Invalid (422) when malformed."""
    raw = request.args.get(name) or None
    if raw is None:
        return None
    value = whole_number(raw)
    if value is None or value > MAX_ID:
        raise Invalid(_("This page link is not valid. Go back to the first page."),
                      code="invalid", fields={name: [_("Not a valid page.")]})
    return value


def views_arg() -> bool:
    """?views=1 shows the staff page views in a trail (hidden by default); Invalid (422)
    for anything but 1 or 0."""
    raw = request.args.get("views") or "0"
    if raw not in ("0", "1"):
        raise Invalid(_("This page link is not valid. Go back to the first page."),
                      code="invalid", fields={"views": [_("Not a valid choice.")]})
    return raw == "1"


# --- search -------------------------------------------------------------------------------


@bp.get("/")
def index():
    """Find a user by phone (however typed) or email, or the start of either; audited."""
    form = SearchForm(request.args)
    query = clean_query(request.args.get("q"))
    users, unsearchable = None, False
    if query:
        unsearchable = search_key(query) is None
        users = [] if unsearchable else user_search(query)
    page = render_template("staff/index.html", form=form, query=query, users=users,
                           unsearchable=unsearchable, staff_section="search")
    if query:
        staff_searched(actor=acting_user(), what="users", query=query, found=len(users),
                       ip=request.remote_addr)
    return page


# --- a user's file ------------------------------------------------------------------------


@bp.get("/users/<int:user_id>")
def user(user_id: int):
    """A user's file: profile, sign-in, families, connections, invites, notifications and
    what they did or was done to them (staff page views on request); first, the reason."""
    person = found_or_404(User, user_id)
    grant = grant_of(acting_user().id, "file", person.id)
    if grant is None:
        return _reason_page("file", AccessReasonForm(formdata=None), subject=person.shown_name,
                            action=url_for("staff.user_reason", user_id=person.id))
    before, views = id_arg("audit_before"), views_arg()
    file = user_file(person)
    people = {**file.people, person.id: person}
    trail = user_trail(person, viewer=acting_user(), connections=file.connections,
                       before_id=before, views=views, people=people)
    here = url_for("staff.user", user_id=person.id, audit_before=before,
                   views=1 if views else None)
    page = render_template(
        "staff/user.html", file=file, person=person, people=people, trail=trail,
        trail_url=_trail_url("staff.user", user_id=person.id),
        states=permission_states([c.id for c in file.connections]),
        permissions=permission_names(), relationships=relationship_names(),
        account_form=ReasonForm(formdata=None, back=here), back=here, staff_section="search")
    staff_user_viewed(actor=acting_user(), user=person, what="staff user page",
                      ip=request.remote_addr, grant=grant.details())
    return page


@bp.post("/users/<int:user_id>/reason")
def user_reason(user_id: int):
    """Say why you open a person's file (audited); the file opens for a while."""
    person = found_or_404(User, user_id)
    return _give_reason("file", person.id, subject=person.shown_name, user=person,
                        done=url_for("staff.user", user_id=person.id),
                        action=url_for("staff.user_reason", user_id=person.id))


# --- the reason step ----------------------------------------------------------------------


def _reason_page(scope: str, form: AccessReasonForm, *, subject: str, action: str,
                 status: int = 200, status_tag: str | None = None):
    """The reason step: the question, what is being opened (its name, as a list shows it)
    and the form; nothing else of the object."""
    question, button = ASKS[scope]
    return render_template(
        "staff/reason.html", form=form, scope=scope, question=question, button=button,
        subject=subject, action=action, status_tag=status_tag, grant_minutes=GRANT_MINUTES,
        staff_section="groups" if scope != "file" else "search"), status


def _give_reason(scope: str, object_id: int, *, subject: str, action: str, done: str,
                 group: FamilyGroup | None = None, user: User | None = None,
                 status_tag: str | None = None):
    form = AccessReasonForm()
    if form.validate():
        event, error = run_service(staff_access_reason, scope=scope, group=group, user=user,
                                   reason=form.reason.data, text=form.reason_text.data)
        if error is None:
            grant_keep(acting_user().id, scope, object_id, event_id=event.id,
                       code=event.details["reason_code"])
            return see_other(done)
        copy_errors(form, error, "reason")
    return _reason_page(scope, form, subject=subject, action=action, status=422,
                        status_tag=status_tag)


# --- groups -------------------------------------------------------------------------------


@bp.get("/groups")
def groups():
    """Families newest first, by status, name or admin phone; keyset pages; audited search."""
    form = GroupFilterForm(request.args)
    valid = form.validate()
    try:
        before = cursor_arg()
    except Invalid as exc:
        form.form_errors.extend(exc.fields.get("cursor", [exc.message]))
        before, valid = None, False
    if not valid:
        return render_template("staff/groups.html", form=form, rows=None, extras=None,
                               next_url=None, first_url=None, staff_section="groups"), 422
    status, query = form.status.data or None, clean_query(form.q.data)
    rows = groups_search(status=status, query=query, before_id=before, limit=GROUP_PAGE)
    more, rows = len(rows) > GROUP_PAGE, rows[:GROUP_PAGE]
    filters = {"status": status, "q": query or None}
    page = render_template(
        "staff/groups.html", form=form, rows=rows, extras=group_rows(rows),
        next_url=url_for("staff.groups", cursor=encode_cursor(rows[-1].id), **filters)
        if more else None,
        first_url=url_for("staff.groups", **filters) if before is not None else None,
        staff_section="groups")
    if query:
        staff_searched(actor=acting_user(), what="groups", query=query, found=len(rows),
                       ip=request.remote_addr)
    return page


@bp.get("/groups/<int:group_id>")
def group(group_id: int):
    """A family as staff see it: plan, members, read-only matrix, invites, audit trail;
    first, the reason."""
    family = found_or_404(FamilyGroup, group_id)
    grant = grant_of(acting_user().id, "family", family.id)
    if grant is None:
        return _reason_page("family", AccessReasonForm(formdata=None), subject=_name(family),
                            action=url_for("staff.group_reason", group_id=family.id),
                            status_tag=family.status)
    before, views = id_arg("audit_before"), views_arg()
    review = group_review(family)
    me = acting_user()
    trail = group_trail(family.id, viewer=me, before_id=before, views=views,
                        people={**review.actors, **review.matrix_users},
                        connections={c.id: (c.linked_user_id, c.user_id)
                                     for block in review.matrix for c in block.connections})
    page = render_template(
        "staff/group.html", group=family, review=review, permissions=permission_names(),
        relationships=relationship_names(), permission_state=permission_state, trail=trail,
        export_form=AuditExportForm(formdata=None),
        trail_url=_trail_url("staff.group", group_id=group_id),
        back=url_for("staff.group", group_id=group_id, audit_before=before,
                     views=1 if views else None),
        staff_section="groups")
    group_staff_look(actor=me, group=family, what="staff group page", ip=request.remote_addr,
                     grant=grant.details())
    return page


@bp.post("/groups/<int:group_id>/reason")
def group_reason(group_id: int):
    """Say why you open a family (audited); the family opens for a while."""
    family = found_or_404(FamilyGroup, group_id)
    return _give_reason("family", family.id, subject=_name(family), group=family,
                        done=url_for("staff.group", group_id=family.id),
                        action=url_for("staff.group_reason", group_id=family.id),
                        status_tag=family.status)


def _name(family: FamilyGroup) -> str:
    return family.name or _("Family %(id)s", id=family.id)


def _trail_url(endpoint: str, **ids):
    """url(before=None, views=False): a trail's page links, keeping the filter."""
    def url(before: int | None = None, views: bool = False) -> str:
        return url_for(endpoint, **ids, audit_before=before, views=1 if views else None,
                       _anchor="audit")
    return url


@bp.route("/groups/<int:group_id>/audit.csv", methods=["GET", "POST"])
def group_audit_csv(group_id: int):
    """The family's whole audit trail as CSV (UTF-8 with BOM for Excel), asked for with a
    reason in the same form (GET shows the form); audited first."""
    family = found_or_404(FamilyGroup, group_id)
    action = url_for("staff.group_audit_csv", group_id=family.id)
    if request.method == "GET":
        return _reason_page("export", AuditExportForm(formdata=None), subject=_name(family),
                            action=action, status_tag=family.status)
    form = AuditExportForm()
    if form.validate():
        event, error = run_service(staff_access_reason, scope="export", group=family,
                                   reason=form.reason.data, text=form.reason_text.data)
        if error is None:
            grant = Grant(event_id=event.id, code=event.details["reason_code"])
            staff_audit_exported(actor=acting_user(), group=family, grant=grant.details(),
                                 rows=audit_count(family.id), ip=request.remote_addr)
            return _csv_answer(group_id)
        copy_errors(form, error, "reason")
    return _reason_page("export", form, subject=_name(family), action=action, status=422,
                        status_tag=family.status)


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
