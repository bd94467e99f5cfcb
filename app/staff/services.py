"""Staff actions and the audit of staff looks. Each action names its staff member and a
reason in the audit trail; each look at a user or a group is recorded (SPEC §1)."""

from __future__ import annotations

from flask_babel import gettext as _

from app.audit.access import ACCESS_REASON, access_reason
from app.audit.services import audit_reason, audit_record
from app.db import utcnow
from app.errors import Conflict, Forbidden, Invalid, NotFound
from app.extensions import db
from app.models.accounts import User
from app.models.audit import AuditEvent
from app.models.groups import FamilyGroup
from app.models.invites import ConnectionInvite
from app.models.notifications import InviteNotification
from app.models.staff import StaffReview

SEARCH_AUDIT_MAX = 100


def staff_check(actor: User | None) -> None:
    """Raises Forbidden(staff_only) unless the actor is a signed-in staff member."""
    if actor is None or not getattr(actor, "is_authenticated", False) or not actor.is_staff:
        raise Forbidden(_("This part of the portal is for staff only."), code="staff_only")


ACCESS_SCOPES = ("family", "file", "export")


def staff_access_reason(*, actor: User, scope: str, reason: str | None, text: str | None,
                        group: FamilyGroup | None = None, user: User | None = None,
                        ip: str | None = None,
                        fields: tuple[str, str] = ("reason", "reason_text")) -> AuditEvent:
    """Record why a staff member opens a family (scope family), a person's file (file) or
    a family's audit export (export): staff.access_reason with the reason's code and free
    text, the family's group_id or the person as subject, so the family's admin and the
    patient can see that staff looked, when and why. fields: the names the caller gives the
    code and the text (the form's, or the API's query parameters), for Invalid to point
    at. Returns the flushed event: its id is the grant that later views name. The caller
    commits.

    Raises Forbidden(staff_only), Invalid(reason_required | reason_too_long).
    """
    staff_check(actor)
    if scope not in ACCESS_SCOPES or (group is None) == (user is None):
        raise ValueError("staff_access_reason: a scope and exactly one of group, user")
    code, free = access_reason(reason, text, code_field=fields[0], text_field=fields[1])
    details = {"opened": scope, "reason_code": code} | ({"reason": free} if free else {})
    event = audit_record(actor=actor, action=ACCESS_REASON, subject=group or user,
                         group_id=group.id if group is not None else None, ip=ip,
                         details=details)
    db.session.flush()
    return event


def staff_user_viewed(*, actor: User, user: User, what: str, ip: str | None = None,
                      families: list[int] | None = None,
                      grant: dict | None = None) -> None:
    """Record that a staff member looked at a user's data (staff.user_viewed), with the
    ids of the families shown beside it (one row, as a search records its results) and
    the reason it was opened for (grant: reason_code and the staff.access_reason event's
    id); the caller commits. A staff member looking at themselves is not recorded."""
    staff_check(actor)
    if actor.id != user.id:
        details = ({"view": what} | ({"families": families} if families else {})
                   | (grant or {}))
        audit_record(actor=actor, action="staff.user_viewed", subject=user, ip=ip,
                     details=details)


def staff_searched(*, actor: User, what: str, query: str, found: int,
                   ip: str | None = None) -> None:
    """Record a staff search (what: users | groups) with its text and how many it found:
    a search result shows phones and names, so it is a look too."""
    staff_check(actor)
    audit_record(actor=actor, action="staff.searched", ip=ip,
                 details={"what": what, "q": query[:SEARCH_AUDIT_MAX], "found": found})


def staff_audit_exported(*, actor: User, group: FamilyGroup, rows: int,
                         grant: dict | None = None, ip: str | None = None) -> None:
    """Record that a group's audit trail left the portal as CSV (staff.audit_exported),
    with the reason given for it (grant: reason_code and its event's id)."""
    staff_check(actor)
    audit_record(actor=actor, action="staff.audit_exported", subject=group, group_id=group.id,
                 ip=ip, details={"rows": rows} | (grant or {}))


def notification_resend(*, actor: User, notification_id: int, reason: str | None,
                        ip: str | None = None) -> InviteNotification:
    """Put a failed outbox message back in the queue: pending, no attempts, due now. The
    worker sends it on its next run; the row keeps its last error until then.

    Raises Forbidden(staff_only), NotFound, Invalid(reason_required | reason_too_long),
    Conflict(not_failed) for a message that did not fail, Conflict(invite_not_pending)
    for an invitation whose invite was answered, cancelled or has expired (its link no
    longer works: the admin resends the invite instead).
    """
    staff_check(actor)
    row = db.session.get(InviteNotification, notification_id, with_for_update=True)
    if row is None:
        raise NotFound(_("This notification does not exist."), code="not_found")
    reason = audit_reason(reason)
    if row.status != "failed":
        raise Conflict(_("Only a failed notification can be sent again."), code="not_failed")
    if row.notification_type == "INVITE_CREATED" and row.invite_id is not None:
        invite = db.session.get(ConnectionInvite, row.invite_id)
        if invite is None or not invite.is_live():
            raise Conflict(_("This invitation is no longer open, so its link would not work. "
                             "The family's admin can send a new invite."),
                           code="invite_not_pending")
    before = {"retry_count": row.retry_count, "error": row.error}
    row.status, row.retry_count, row.next_attempt_at = "pending", 0, utcnow()
    row.updated_at = utcnow()
    audit_record(actor=actor, action="staff.notification_resent", subject=row,
                 group_id=row.family_group_id, ip=ip,
                 details={"reason": reason, "channel": row.channel,
                          "type": row.notification_type, **before})
    db.session.flush()
    return row


def review_mark(*, actor: User, signal: str, key: str, note: str | None,
                ip: str | None = None) -> StaffReview:
    """Mark a flagged item of the review queue reviewed, with a note, at its current level.
    It leaves the queue until its pattern grows beyond that level.

    Raises Forbidden(staff_only), NotFound(unknown_signal), Invalid(reason_required |
    reason_too_long) on the note, Conflict(not_flagged) when the item is not flagged now.
    """
    from app.staff.signals import SIGNALS, current_level

    staff_check(actor)
    if signal not in SIGNALS:
        raise NotFound(_("There is no such risk signal."), code="unknown_signal")
    note = audit_reason(note, field="note")
    level = current_level(signal, key)
    if level is None:
        raise Conflict(_("This item is not flagged any more; there is nothing to review."),
                       code="not_flagged")
    review = StaffReview(signal=signal, subject_key=key, level=level, note=note,
                         reviewed_by=actor.id)
    db.session.add(review)
    db.session.flush()
    audit_record(actor=actor, action="staff.signal_reviewed", subject=review, ip=ip,
                 details={"signal": signal, "key": key, "level": level, "note": note})
    return review


def codes_issue_reasoned(*, actor: User, plan: str, days: int, count: int,
                         reason: str | None, ip: str | None = None) -> list[str]:
    """Activation codes issued from the staff pages; the reason goes into the audit event.
    Returns the codes in clear: the one time they can be read.

    Raises Forbidden(staff_only), Invalid as billing.codes_issue does, and on the reason.
    """
    from app.billing.services import codes_issue

    staff_check(actor)
    reason = audit_reason(reason)
    if not isinstance(days, int) or not isinstance(count, int):
        raise Invalid(_("Enter whole numbers."), code="invalid")
    return codes_issue(actor=actor, plan=plan, days=days, count=count, reason=reason, ip=ip)


def staff_signal_viewed(*, actor: User, signal: str, key: str, level: int, rows: int,
                        group_id: int | None = None, ip: str | None = None) -> None:
    """Record that a staff member opened the evidence of a review-queue item
    (staff.signal_viewed): its rows name people. group_id: the family it belongs to, if
    one, so the look shows in that family's audit trail. The caller commits."""
    staff_check(actor)
    audit_record(actor=actor, action="staff.signal_viewed", group_id=group_id, ip=ip,
                 details={"signal": signal, "key": key, "level": level, "rows": rows})
