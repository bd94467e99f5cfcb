"""Withdrawing consent on the pages (issue 19): from "Who follows me", a confirmation step
that names what happens and asks whether the caregivers are told, then the service
(app/connections/consent.py). A plain form: it works without JavaScript."""

from __future__ import annotations

from flask import flash, render_template, url_for
from flask_babel import ngettext
from flask_login import login_required

from app.connections.blueprint import bp
from app.connections.consent import consent_withdraw
from app.connections.forms import ConsentForm
from app.connections.queries import current_connections
from app.errors import Invalid
from app.forms import copy_errors
from app.htmx import see_other
from app.pages import acting_user, refused, run_service


def _step(form: ConsentForm, *, status: int = 200):
    """The confirmation: who stops following, and the choice to tell them or not."""
    connections, users = current_connections(patient_id=acting_user().id)
    open_ = [c for c in connections if c.consent_withdrawn_at is None]
    caregivers = sorted({users[c.linked_user_id].name for c in open_})
    families = sorted({c.group.name or "" for c in open_})
    return render_template("connections/consent_withdraw.html", form=form,
                           caregivers=caregivers, families=families), status


@bp.get("/followers/withdraw-consent")
@login_required
def consent_confirm():
    """Ask before withdrawing consent: what happens, and whether the caregivers are told."""
    return _step(ConsentForm(formdata=None))


@bp.post("/followers/withdraw-consent")
@login_required
def consent_withdrawal():
    """Withdraw consent: every caregiver stops seeing my data, told or not as I chose."""
    form = ConsentForm()
    back = url_for("connections.followers")
    if form.validate():
        held, error = run_service(consent_withdraw, tell=form.telling)
        if error is None:
            n = len(held)
            if form.telling:
                flash(ngettext("You withdrew consent: %(num)d caregiver no longer sees your "
                               "data and was told.",
                               "You withdrew consent: %(num)d caregivers no longer see your "
                               "data and were told.", n), "success")
            else:
                flash(ngettext("You withdrew consent: %(num)d caregiver no longer sees your "
                               "data. Nobody was told.",
                               "You withdrew consent: %(num)d caregivers no longer see your "
                               "data. Nobody was told.", n), "success")
            return see_other(back)
        if not isinstance(error, Invalid):
            return refused(error, back)
        copy_errors(form, error, "tell")
    return _step(form, status=422)
