"""The notification outbox, written in the same transaction as the event it reports."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import UTCDateTime
from app.extensions import db
from app.models_base import BigId, created_at, pk, updated_at
from app.observability import current_request_id

NOTIFICATION_TYPES = (
    "INVITE_CREATED",
    "INVITE_ACCEPTED",
    "INVITE_REJECTED",
    "INVITE_CANCELLED",
    "MEMBER_JOINED",
    "MEMBER_REMOVED",
    "MEMBER_LEFT",
    # Portal addition (migration 0005): the admin turned a follower's permission ON.
    "PERMISSION_ENABLED",
    # Portal addition (migration 0007): the one-time link an imported user claims their
    # account with (SMS; invite_id is NULL).
    "ACCOUNT_CLAIM",
    # Portal additions (migration 0008, ID-001/002): a one-time SMS code (SMS only, no
    # email fallback); "this number already has an account" to the owner of a number
    # someone tried to sign up with; in-app, to an account whose unproved number someone
    # else proved.
    "PHONE_CODE",
    "ACCOUNT_EXISTS",
    "PHONE_TAKEN_OVER",
    # Portal additions (migration 0009, issue 19): to a caregiver whose connection the
    # patient ended by withdrawing consent, when the patient chose to tell them; to the
    # members of a family whose admin handed it over to another member.
    "CONSENT_WITHDRAWN",
    "FAMILY_HANDED_OVER",
    # Portal additions (migration 0013, issue 21): the link that proves an e-mail address
    # (e-mail only, to the address being proved, never an SMS copy); in-app, to an account
    # whose address someone else proved.
    "EMAIL_PROOF",
    "EMAIL_TAKEN_OVER",
)
CHANNELS = ("in_app", "sms", "email", "push", "payment")
STATUSES = ("pending", "sent", "delivered", "failed", "cancelled")


class InviteNotification(db.Model):
    __tablename__ = "invite_notifications"
    __table_args__ = (
        CheckConstraint(
            "notification_type IN ('INVITE_CREATED', 'INVITE_ACCEPTED', 'INVITE_REJECTED', "
            "'INVITE_CANCELLED', 'MEMBER_JOINED', 'MEMBER_REMOVED', 'MEMBER_LEFT', "
            "'PERMISSION_ENABLED', 'ACCOUNT_CLAIM', 'PHONE_CODE', 'ACCOUNT_EXISTS', "
            "'PHONE_TAKEN_OVER', 'CONSENT_WITHDRAWN', 'FAMILY_HANDED_OVER', 'EMAIL_PROOF', "
            "'EMAIL_TAKEN_OVER')",
            name="chk_notification_type"),
        CheckConstraint("channel IN ('in_app', 'sms', 'email', 'push', 'payment')",
                        name="chk_notification_channel"),
        CheckConstraint("status IN ('pending', 'sent', 'delivered', 'failed', 'cancelled')",
                        name="chk_notification_status"),
        CheckConstraint("retry_count >= 0", name="chk_notification_retry_count"),
        Index("idx_notifications_invite", "invite_id"),
        Index("idx_notifications_due", "status", "next_attempt_at",
              sqlite_where=text("status IN ('pending', 'failed')"),
              postgresql_where=text("status IN ('pending', 'failed')")),
        Index("idx_notifications_recipient_user", "recipient_user_id"),
        # A deletion scrubs the deleted person's name from their families' messages.
        Index("idx_notifications_family_group", "family_group_id",
              sqlite_where=text("family_group_id IS NOT NULL"),
              postgresql_where=text("family_group_id IS NOT NULL")),
        # Staff: everything sent to one phone or address (repeated failures).
        Index("idx_notifications_recipient", "recipient"),
        # Idempotency: one live row per (invite, type, channel, recipient).
        Index("idx_notifications_once", "invite_id", "notification_type", "channel", "recipient",
              unique=True,
              sqlite_where=text("status <> 'cancelled'"),
              postgresql_where=text("status <> 'cancelled'")),
    )

    id: Mapped[int] = pk()
    invite_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("connection_invites.id"))
    # Phone, email or user id, depending on the channel.
    recipient: Mapped[str] = mapped_column(String(254), nullable=False)
    notification_type: Mapped[str] = mapped_column(String(30), nullable=False)
    channel: Mapped[str] = mapped_column(String(10), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="pending",
                                        server_default=text("'pending'"))
    retry_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0,
                                             server_default=text("0"))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(Text)
    external_message_id: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
    # Portal additions: who sees it in-app, in which group, when to try next, what to say.
    recipient_user_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id"))
    family_group_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("family_groups.id"))
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Migration 0011 (issue 20): the id of the request that queued the row, so the worker's
    # lines for it carry it too. Every insert takes it from the request being handled,
    # ORM or Core alike (a Python-side default); None outside a request.
    request_id: Mapped[str | None] = mapped_column(String(128), default=current_request_id)
