"""Writing the outbox. Services call these inside their own transaction (SPEC §5).

Every message to a user gets an in-app row (shown on the notifications page; status
'sent' = unread, 'delivered' = read) and one external row for the worker: email when the
user has an address, else SMS; the worker falls back from email to SMS (BR-004). Someone
without an account (an invitee) gets SMS only. Silent actions (BR-056) never call these.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from app.db import utcnow
from app.extensions import db
from app.models.accounts import User
from app.models.notifications import InviteNotification


def notify_user(*, user: User, notification_type: str, payload: dict[str, Any],
                invite_id: int | None = None, group_id: int | None = None) -> None:
    """Queue a message to a user: in-app now, and email or SMS through the worker."""
    now = utcnow()
    # The in-app copy never carries the sealed link: it stays for good, the SMS/email row
    # drops it once sent. The invitee answers in-app from their pending invites.
    notify_in_app(user=user, notification_type=notification_type, invite_id=invite_id,
                  group_id=group_id,
                  payload={k: v for k, v in payload.items() if k != "sealed_token"})
    channel, address = ("email", user.email) if user.email else ("sms", user.phone)
    db.session.add(InviteNotification(
        invite_id=invite_id, recipient=address, recipient_user_id=user.id,
        notification_type=notification_type, channel=channel, status="pending",
        next_attempt_at=now, family_group_id=group_id, payload=payload))


def notify_in_app(*, user: User, notification_type: str, payload: dict[str, Any],
                  invite_id: int | None = None, group_id: int | None = None) -> None:
    """A message shown in the portal only (status 'sent' = unread)."""
    db.session.add(InviteNotification(
        invite_id=invite_id, recipient=str(user.id), recipient_user_id=user.id,
        notification_type=notification_type, channel="in_app", status="sent",
        sent_at=utcnow(), family_group_id=group_id, payload=payload))


def notify_phone(*, phone: str, notification_type: str, payload: dict[str, Any],
                 invite_id: int | None = None, group_id: int | None = None,
                 user: User | None = None) -> None:
    """Queue an SMS to a phone number, whoever holds it; `user`: the account it is for,
    when there is one (the message then speaks its language), though never in-app."""
    db.session.add(InviteNotification(
        invite_id=invite_id, recipient=phone, notification_type=notification_type,
        recipient_user_id=user.id if user is not None else None,
        channel="sms", status="pending", next_attempt_at=utcnow(), family_group_id=group_id,
        payload=payload))


def notify_payment_sync(*, subscription_id: int, action: str, user_id: int, role: str,
                        notification_type: str, group_id: int,
                        invite_id: int | None = None) -> None:
    """Queue a membership change for the http payment service (SPEC §6)."""
    db.session.add(InviteNotification(
        invite_id=invite_id, recipient=f"subscription:{subscription_id}",
        notification_type=notification_type, channel="payment", status="pending",
        next_attempt_at=utcnow(), family_group_id=group_id,
        payload={"subscription_id": subscription_id, "action": action, "user_id": user_id,
                 "role": role}))


def cancel_invite_messages(*invite_ids: int, superseded: bool = False) -> None:
    """An invite was answered or cancelled: its messages that have not gone out are
    cancelled, and so is the invitee's unread in-app invite (nothing left to answer).

    superseded: a resend replaces the invite's INVITE_CREATED messages whatever their
    state (sent_at and external_message_id stay as history), so the new link can be sent
    under the one-live-row-per-(invite, type, channel, recipient) rule.
    Call it before queuing the answer's own messages: they belong to the invite too.
    """
    query = update(InviteNotification).where(InviteNotification.invite_id.in_(invite_ids),
                                              InviteNotification.channel != "payment")
    if superseded:
        query = query.where(InviteNotification.notification_type == "INVITE_CREATED",
                            InviteNotification.status != "cancelled")
    else:
        query = query.where(
            InviteNotification.status.in_(("pending", "failed"))
            | ((InviteNotification.channel == "in_app") & (InviteNotification.status == "sent")
               & (InviteNotification.notification_type == "INVITE_CREATED")))
    db.session.execute(query.values(status="cancelled", updated_at=utcnow()))


def notifications_mark_read(*, actor: User, up_to: int | None = None) -> int:
    """Mark the actor's unread in-app notifications read; how many changed.

    up_to: the newest id the actor was shown, so that one arriving meanwhile stays
    unread. Flushes, never commits.
    """
    now = utcnow()
    query = update(InviteNotification).where(
        InviteNotification.recipient_user_id == actor.id, InviteNotification.channel == "in_app",
        InviteNotification.status == "sent")
    if up_to is not None:
        query = query.where(InviteNotification.id <= up_to)
    result = db.session.execute(query.values(status="delivered", delivered_at=now,
                                             updated_at=now))
    return result.rowcount
