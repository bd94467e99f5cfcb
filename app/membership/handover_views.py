"""Handing the family over on the pages (issue 19): from the family page's danger zone, a
page that lists the members (those who cannot take it, with why), then the service. A plain
form: it works without JavaScript."""

from __future__ import annotations

from flask import flash, render_template, url_for
from flask_babel import gettext as _
from flask_login import login_required
from wtforms.fields.choices import SelectChoice

from app.errors import DomainError
from app.forms import copy_errors
from app.groups.services import group_for_viewer
from app.htmx import see_other
from app.membership.forms import HandOverForm
from app.membership.handover import group_hand_over, handover_candidates
from app.membership.views import bp
from app.pages import acting_user, refused, run_service
from app.transaction import undo_refused


def _step(group, form: HandOverForm, *, status: int = 200, page: bool = False):
    """The members, the eligible ones to choose from. A refusal goes back to the family
    with a flash; page: it is the error page (a GET of someone who is not the admin)."""
    try:
        candidates = handover_candidates(actor=acting_user(), group=group)
    except DomainError as exc:
        undo_refused()
        if page and exc.status in (403, 404):
            raise
        return refused(exc, url_for("groups.show", group_id=group.id))
    form.user_id.choices = [SelectChoice(c.user.id, c.user.name) for c in candidates
                            if c.refusal is None]
    return render_template("groups/hand_over.html", group=group, form=form,
                           candidates=candidates), status


@bp.get("/<int:group_id>/hand-over")
@login_required
def hand_over_confirm(group_id: int):
    """Ask to whom the family goes (the admin), naming what changes."""
    view = group_for_viewer(actor=acting_user(), group_id=group_id)
    return _step(view.group, HandOverForm(formdata=None), page=True)


@bp.post("/<int:group_id>/hand-over")
@login_required
def hand_over(group_id: int):
    """Hand the family over to a member with a plan of their own (the admin)."""
    view = group_for_viewer(actor=acting_user(), group_id=group_id)
    back = url_for("groups.show", group_id=group_id)
    form = HandOverForm()
    if form.validate():
        to = form.user_id.data
        name = next((u.name for _m, u in view.members if u.id == to), "")
        _group, error = run_service(group_hand_over, group=view.group, to_user_id=to)
        if error is None:
            flash(_("%(name)s is the admin of “%(group)s” now. They and the members were "
                    "told.", name=name, group=view.group.name), "success")
            return see_other(back)
        if error.status not in (409, 422) or error.code == "group_not_active":
            return refused(error, back)
        copy_errors(form, error, "user_id")
    return _step(view.group, form, status=422)
