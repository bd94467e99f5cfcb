"""Writing the audit trail. Every service that changes something calls audit_record."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from sqlalchemy import insert

from app.errors import Invalid
from app.extensions import db
from app.models.audit import AuditEvent

REASON_MAX = 500


def audit_row(*, actor: Any | None, action: str, subject: Any | None = None,
              group_id: int | None = None, details: dict[str, Any] | None = None,
              ip: str | None = None) -> dict[str, Any]:
    """The columns of the audit event audit_record() adds, for audit_write() to write
    with others in one statement. The arguments are audit_record()'s."""
    return {
        "actor_id": getattr(actor, "id", None),
        "action": action,
        "subject_type": getattr(subject, "__tablename__", None),
        "subject_id": getattr(subject, "id", None),
        "family_group_id": group_id,
        "details": details or None,
        "ip": ip,
    }


def audit_record(*, actor: Any | None, action: str, subject: Any | None = None,
                 group_id: int | None = None, details: dict[str, Any] | None = None,
                 ip: str | None = None) -> AuditEvent:
    """Add an audit event to the session (flushed with the change it records).

    actor: the user who acted, or None for the system or an anonymous visitor.
    subject: the model instance acted on; its table name and id are kept.
    """
    event = AuditEvent(**audit_row(actor=actor, action=action, subject=subject,
                                   group_id=group_id, details=details, ip=ip))
    db.session.add(event)
    return event


def audit_write(rows: list[dict[str, Any]]) -> None:
    """Write audit events (audit_row) in one INSERT, in their order, at once: a change that
    records one event per row it made (a join: one per connection) costs one statement
    whatever its size (issue 17)."""
    if rows:
        # render_nulls: every row names every column, so they all go in one batch.
        db.session.execute(insert(AuditEvent).execution_options(render_nulls=True), rows)


def audit_reason(raw: str | None, *, field: str = "reason") -> str:
    """A staff action's reason, written into its audit event: required, at most 500
    characters, no control characters. Raises Invalid(reason_required | reason_too_long)."""
    reason = " ".join((raw or "").replace("\x00", " ").split())
    if not reason:
        message = _("Say why, in a few words: the reason is kept in the audit trail.")
        raise Invalid(message, code="reason_required", fields={field: [message]})
    if len(reason) > REASON_MAX:
        message = _("Keep the reason under %(n)d characters.", n=REASON_MAX)
        raise Invalid(message, code="reason_too_long", fields={field: [message]})
    return reason
