"""Writing the audit trail. Every service that changes something calls audit_record."""

from __future__ import annotations

from typing import Any

from app.audit.models import AuditEvent
from app.extensions import db


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
