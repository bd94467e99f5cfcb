"""Writing the outbox. Services call these inside their own transaction (SPEC §5).

Every message to a user gets an in-app row (shown on the notifications page; status
'sent' = unread, 'delivered' = read) and one external row for the worker: email when the
user has a proved address (issue 21: an address counts once a link sent to it came back),
else SMS; the worker falls back from email to SMS (BR-004). Someone without an account
(an invitee) gets SMS only. Silent actions (BR-056) never call these.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, update

from app.db import utcnow
from app.extensions import db
from app.models.accounts import User
from app.models.notifications import InviteNotification


def _row(*, invite_id: int | None, recipient: str, recipient_user_id: int | None,
         notification_type: str, channel: str, status: str, group_id: int | None,
         payload: dict[str, Any], sent_at: datetime | None = None,
         next_attempt_at: datetime | None = None) -> dict[str, Any]:
    """An outbox row's columns, every row naming the same ones (notify_write batches them)."""
    return {"invite_id": invite_id, "recipient": recipient,
            "recipient_user_id": recipient_user_id, "notification_type": notification_type,
            "channel": channel, "status": status, "sent_at": sent_at,
            "next_attempt_at": next_attempt_at, "family_group_id": group_id,
            "payload": payload}


def user_message_rows(*, user: User, notification_type: str, payload: dict[str, Any],
                      invite_id: int | None = None,
                      group_id: int | None = None) -> list[dict[str, Any]]:
    """The rows notify_user() adds, for notify_write(): in-app, then email or SMS."""
    now = utcnow()
    # The in-app copy never carries the sealed link: it stays for good, the SMS/email row
    # drops it once sent. The invitee answers in-app from their pending invites.
    in_app = in_app_row(user=user, notification_type=notification_type, invite_id=invite_id,
                        group_id=group_id,
                        payload={k: v for k, v in payload.items() if k != "sealed_token"})
    # An unproved address is skipped as a missing one is (issue 21).
    channel, address = ("email", user.email) if user.email_proved else ("sms", user.phone)
    return [in_app, _row(invite_id=invite_id, recipient=address, recipient_user_id=user.id,
                         notification_type=notification_type, channel=channel,
                         status="pending", next_attempt_at=now, group_id=group_id,
                         payload=payload)]


def notify_user(*, user: User, notification_type: str, payload: dict[str, Any],
                invite_id: int | None = None, group_id: int | None = None) -> None:
    """Queue a message to a user: in-app now, and email or SMS through the worker."""
    for row in user_message_rows(user=user, notification_type=notification_type,
                                 payload=payload, invite_id=invite_id, group_id=group_id):
        db.session.add(InviteNotification(**row))


def in_app_row(*, user: User, notification_type: str, payload: dict[str, Any],
               invite_id: int | None = None, group_id: int | None = None) -> dict[str, Any]:
    """The row notify_in_app() adds, for notify_write()."""
    return _row(invite_id=invite_id, recipient=str(user.id), recipient_user_id=user.id,
                notification_type=notification_type, channel="in_app", status="sent",
                sent_at=utcnow(), group_id=group_id, payload=payload)


def notify_in_app(*, user: User, notification_type: str, payload: dict[str, Any],
                  invite_id: int | None = None, group_id: int | None = None) -> None:
    """A message shown in the portal only (status 'sent' = unread)."""
    db.session.add(InviteNotification(**in_app_row(
        user=user, notification_type=notification_type, payload=payload,
        invite_id=invite_id, group_id=group_id)))


def notice_replace(*, replaces: int | None, user: User, notification_type: str,
                   group_id: int | None, payload: dict[str, Any] | None) -> None:
    """An unread in-app notice brought up to date: the row `replaces` (if any) removed and,
    with a payload, a new one added in its place (in-app only; nothing goes out).

    A new row rather than an UPDATE: it gets a newer id and time, so it stands at the top
    of the list, and a page that showed the old one and is then marked read
    (notifications_mark_read's up_to) leaves the new one unread. An in-app row is the
    notice itself, never delivered elsewhere: removing it loses nothing the audit trail
    does not keep.
    """
    if payload is not None:
        notify_in_app(user=user, notification_type=notification_type, payload=payload,
                      group_id=group_id)
        # Written before the old row goes: SQLite would hand a new row the highest id
        # again once it is deleted.
        db.session.flush()
    if replaces is not None:
        db.session.execute(delete(InviteNotification).where(
            InviteNotification.id == replaces, InviteNotification.channel == "in_app",
            InviteNotification.status == "sent"))


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


def notify_email_address(*, email: str, notification_type: str, payload: dict[str, Any],
                         user: User) -> None:
    """Queue an e-mail to an address that `user` has not proved yet: only the link that
    proves it goes this way (issue 21), never in-app, never by SMS instead."""
    db.session.add(InviteNotification(
        invite_id=None, recipient=email, notification_type=notification_type,
        recipient_user_id=user.id, channel="email", status="pending",
        next_attempt_at=utcnow(), payload=payload))


def payment_sync_row(*, subscription_id: int, action: str, user_id: int, role: str,
                     notification_type: str, group_id: int,
                     invite_id: int | None = None) -> dict[str, Any]:
    """The row notify_payment_sync() adds, for notify_write()."""
    return _row(invite_id=invite_id, recipient=f"subscription:{subscription_id}",
                recipient_user_id=None, notification_type=notification_type,
                channel="payment", status="pending", next_attempt_at=utcnow(),
                group_id=group_id,
                payload={"subscription_id": subscription_id, "action": action,
                         "user_id": user_id, "role": role})


def notify_payment_sync(*, subscription_id: int, action: str, user_id: int, role: str,
                        notification_type: str, group_id: int,
                        invite_id: int | None = None) -> None:
    """Queue a membership change for the http payment service (SPEC §6)."""
    db.session.add(InviteNotification(**payment_sync_row(
        subscription_id=subscription_id, action=action, user_id=user_id, role=role,
        notification_type=notification_type, group_id=group_id, invite_id=invite_id)))


def notify_write(rows: list[dict[str, Any]]) -> None:
    """Write outbox rows (user_message_rows, in_app_row, payment_sync_row) in one INSERT,
    in their order, at once: a join that tells every member costs one statement whatever
    the family's size (issue 17)."""
    if rows:
        # render_nulls: every row names every column, so they all go in one batch.
        db.session.execute(insert(InviteNotification).execution_options(render_nulls=True),
                           rows)


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
