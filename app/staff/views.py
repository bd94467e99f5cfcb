"""The staff area, /staff: search, users, groups, the review queue and staff actions.

Every route is guarded once, before it runs, in app/staff/blueprint.py. The queue's
routes live in app/staff/queue_views.py, the actions' in app/staff/action_views.py, the
reason step's and the audit CSV's in app/staff/access_views.py, on the same bp. A
family's review and a person's file open only with a live reason (issue 21).
"""

from __future__ import annotations

from flask import (
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _

from app.connections.queries import permission_names, permission_state, relationship_names
from app.cursors import cursor_arg, encode_cursor
from app.errors import Invalid
from app.groups.services import group_staff_look
from app.models.accounts import User
from app.models.groups import FamilyGroup
from app.models_base import MAX_ID
from app.pages import acting_user
from app.staff.access import family_name, grant_of, reason_page
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
    clean_query,
    group_review,
    group_rows,
    groups_search,
    permission_states,
    search_key,
    user_file,
    user_search,
)
from app.staff.services import (
    staff_searched,
    staff_user_viewed,
)
from app.staff.trail import group_trail, user_trail
from app.text import whole_number

GROUP_STATUSES = ("active", "inactive", "dissolved")


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
        return reason_page("file", AccessReasonForm(formdata=None), subject=person.shown_name,
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
        return reason_page("family", AccessReasonForm(formdata=None), subject=family_name(family),
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


def _trail_url(endpoint: str, **ids):
    """url(before=None, views=False): a trail's page links, keeping the filter."""
    def url(before: int | None = None, views: bool = False) -> str:
        return url_for(endpoint, **ids, audit_before=before, views=1 if views else None,
                       _anchor="audit")
    return url


