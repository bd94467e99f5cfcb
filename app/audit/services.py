"""Writing the audit trail. Every service that changes something calls audit_record."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _

from app.errors import Invalid
from app.extensions import db
from app.models.audit import AuditEvent

REASON_MAX = 500


def audit_record(*, actor: Any | None, action: str, subject: Any | None = None,
                 group_id: int | None = None, details: dict[str, Any] | None = None,
                 ip: str | None = None) -> AuditEvent:
    """Add an audit event to the session (flushed with the change it records).

    actor: the user who acted, or None for the system or an anonymous visitor.
    subject: the model instance acted on; its table name and id are kept.
    """
    event = AuditEvent(
        actor_id=getattr(actor, "id", None),
        action=action,
        subject_type=getattr(subject, "__tablename__", None),
        subject_id=getattr(subject, "id", None),
        family_group_id=group_id,
        details=details or None,
        ip=ip,
    )
    db.session.add(event)
    return event


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
