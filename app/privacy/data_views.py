"""My data and its export (issue 19, items 1-2)."""

from __future__ import annotations

from datetime import datetime

from flask import render_template, request, url_for
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_login import login_required

from app.connections.queries import permission_names
from app.dates import when
from app.forms import copy_errors
from app.pages import acting_user
from app.privacy.blueprint import archive_response, bp, limit_exports
from app.privacy.data import data_of
from app.privacy.export import data_export_confirm
from app.privacy.forms import ExportForm
from app.transaction import attempt

INVITE_STATUSES = {"pending": _l("waiting"), "accepted": _l("accepted"),
                   "rejected": _l("declined"), "cancelled": _l("cancelled"),
                   "expired": _l("expired")}


def at(value: str | None) -> str:
    """An ISO moment of a row, in the reader's words and time zone."""
    return when(datetime.fromisoformat(value.replace("Z", "+00:00"))) if value else ""


def language() -> str:
    return getattr(get_locale(), "language", "vi")


def _page(form: ExportForm, status: int = 200):
    me = acting_user()
    data = data_of(me, locale=language())
    return render_template("privacy/my_data.html", data=data, export_form=form,
                           back=url_for("privacy.my_data"), at=at,
                           invite_statuses=INVITE_STATUSES,
                           permission_list=permission_names()), status


@bp.get("/data")
@login_required
def my_data():
    """What the portal holds about me: profile, families, connections and their history,
    invites, notifications, the audit trail; and the export."""
    return _page(ExportForm(formdata=None))


@bp.post("/data/export")
@login_required
@limit_exports
def export():
    """Download my data as a ZIP, after my password or an SMS code (422 otherwise)."""
    me = acting_user()
    form = ExportForm()
    if form.validate():
        _event, error = attempt(data_export_confirm, actor=me, password=form.password.data,
                                code=form.code.data, ip=request.remote_addr)
        if error is None:
            return archive_response(me.id, language())
        copy_errors(form, error, "password")
    return _page(form, 422)
