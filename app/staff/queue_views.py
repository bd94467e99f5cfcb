"""The review queue: risk signals, their evidence, and marking an item reviewed."""

from __future__ import annotations

from flask import flash, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import TextAreaField

from app.audit.services import REASON_MAX
from app.errors import Invalid
from app.forms import BaseForm, copy_errors
from app.htmx import see_other, wants_fragment
from app.pages import acting_user, refused, run_service
from app.staff import signals
from app.staff.blueprint import bp
from app.staff.services import review_mark, staff_signal_viewed
from app.transaction import after_commit


class ReviewForm(BaseForm):
    """A review of a flagged item: the note is required (the service says so)."""

    note = TextAreaField(
        _l("Review note"),
        description=_l("What you checked and what you concluded. Kept in the audit trail."),
        render_kw={"rows": 3, "maxlength": REASON_MAX, "required": True})


def _review_context(evidence: signals.Evidence, form: ReviewForm, notice: str | None = None):
    return {"evidence": evidence, "form": form, "notice": notice,
            "review_url": url_for("staff.review", signal=evidence.signal.name,
                                  key=evidence.key)}


def _evidence_page(evidence: signals.Evidence, form: ReviewForm, status: int = 200):
    return render_template("staff/evidence.html", staff_section="queue",
                           evidence_limit=signals.EVIDENCE_ROWS,
                           **_review_context(evidence, form)), status


@bp.get("/queue")
def queue():
    """The review queue: open items per risk signal, then the recently reviewed."""
    return render_template("staff/queue.html", queue=signals.queue(), staff_section="queue")


@bp.get("/queue/<signal>/<key>")
def evidence(signal: str, key: str):
    """The rows behind a flagged item, its past reviews and the review form (audited)."""
    found = signals.evidence(signal, key)
    staff_signal_viewed(actor=acting_user(), signal=found.signal.name, key=found.key,
                        level=found.level, rows=len(found.rows), group_id=found.group_id,
                        ip=request.remote_addr)
    return _evidence_page(found, ReviewForm(formdata=None))


@bp.post("/queue/<signal>/<key>/review")
def review(signal: str, key: str):
    """Mark an item reviewed with a note, at its current level."""
    signals.item_check(signal, key)
    form = ReviewForm()
    done, error = run_service(review_mark, signal=signal, key=key, note=form.note.data)
    if error is None:
        message = _("Marked reviewed at level %(level)d: it comes back if the pattern grows.",
                    level=done.level)
        if wants_fragment():
            return after_commit(lambda: render_template(
                "staff/_review_form.html", **_review_context(
                    signals.evidence(signal, key), ReviewForm(formdata=None), notice=message)))
        flash(message, "success")
        return see_other(url_for("staff.queue"))
    back = url_for("staff.evidence", signal=signal, key=key)
    if not isinstance(error, Invalid):
        return refused(error, back)
    copy_errors(form, error, "note")
    found = signals.evidence(signal, key)
    if wants_fragment():
        return render_template("staff/_review_form.html", **_review_context(found, form)), 422
    return _evidence_page(found, form, 422)
