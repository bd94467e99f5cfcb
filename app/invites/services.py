"""Invites (BR-006/007/011/055/057, SEC-005) and their links (SPEC §4).

Checks run when the invite is made and again inside the accept transaction, under the
group lock; the partial unique indexes are the last line.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from app.accounts.identity import require_proved_phone
from app.accounts.services import parse_phone, phone_proved
from app.audit.services import audit_record, audit_row
from app.connections.services import relationship_with_inverses
from app.db import utcnow
from app.errors import (
    Conflict,
    DomainError,
    Forbidden,
    Gone,
    Invalid,
    NotFound,
    TooSoon,
    wait_phrase,
)
from app.extensions import db
from app.groups.services import (
    admin_grant_check,
    free_slot_check,
    group_active_check,
    group_lock,
    group_subscription_check,
    not_admin,
    role_check,
    single_group_check,
)
from app.membership.services import JoinResult, join_reading, member_join, member_place_check
from app.models.accounts import User
from app.models.groups import FamilyGroup
from app.models.invites import (
    INVITE_ADD_CAREGIVER,
    INVITE_ADD_PATIENT,
    INVITE_PENDING,
    ConnectionInvite,
)
from app.notifications.services import (
    cancel_invite_messages,
    notify_phone,
    notify_user,
    user_message_rows,
)
from app.tokens import new_token, seal, token_hash


@dataclass
class IssuedInvite:
    """An invite with its link token in clear: shown once, to the admin who made it."""

    invite: ConnectionInvite
    token: str


def _expire_stale(group_id: int) -> None:
    """Mark the group's pending invites past expiry as expired (frees idx_unique_pending)."""
    db.session.execute(update(ConnectionInvite).where(
        ConnectionInvite.family_group_id == group_id, ConnectionInvite.is_lapsed())
        .values(status="expired", updated_at=utcnow())
        .execution_options(synchronize_session="fetch"))


def _issue_link(invite: ConnectionInvite, sender: User, group: FamilyGroup) -> str:
    """A new token and expiry for the invite, and its message to the invitee."""
    token = new_token()
    invite.token_hash = token_hash(token)
    invite.expires_at = utcnow() + timedelta(days=current_app.config["INVITE_TTL_DAYS"])
    db.session.flush()
    payload = {"group_id": group.id, "group_name": group.name or "", "sender_name": sender.name,
               "role": invite.role, "expires_at": invite.expires_at.isoformat(),
               "sealed_token": seal(token)}
    receiver = proved_holder(invite.receiver_phone)
    if receiver is not None:
        notify_user(user=receiver, notification_type="INVITE_CREATED", payload=payload,
                    invite_id=invite.id, group_id=group.id)
    else:
        notify_phone(phone=invite.receiver_phone, notification_type="INVITE_CREATED",
                     payload=payload, invite_id=invite.id, group_id=group.id)
    return token


def proved_holder(phone: str) -> User | None:
    """The account that holds `phone` and has proved it (ID-001); an account that has not
    proved its number holds no claim on it: the invite goes to the number alone."""
    user = db.session.scalar(select(User).where(User.phone == phone))
    return user if user is not None and user.phone_proved else None


def message_pace_check(*, group_id: int, phone: str) -> None:
    """An invite's text goes to a phone at most once per INVITE_MESSAGE_SECONDS from one
    family, whether by a resend or by cancelling and inviting again: an admin cannot turn
    the portal into a way to flood someone's phone (issue 7). Call it under the group lock.

    Raises TooSoon(rate_limited)."""
    seconds = current_app.config["INVITE_MESSAGE_SECONDS"]
    if not seconds:
        return
    last = db.session.scalar(
        select(func.max(ConnectionInvite.updated_at))
        .where(ConnectionInvite.family_group_id == group_id,
               ConnectionInvite.receiver_phone == phone))
    wait = seconds - (utcnow() - last).total_seconds() if last is not None else 0
    if wait > 0:
        raise TooSoon(_("An invite was sent to this number a moment ago. You can send it "
                        "again in %(wait)s.", wait=wait_phrase(wait)), retry_after=wait)


def invite_create(*, actor: User, group: FamilyGroup, phone: str, role: str,
                  initial_permissions: dict | None = None,
                  ip: str | None = None) -> IssuedInvite:
    """Invite a phone number into the group as patient or caregiver (BR-055: the phone and
    the role only; the name comes from the invitee's profile).

    Raises Invalid(invalid_phone | self_invite | invalid), Forbidden(not_admin |
    subscription_inactive), Conflict(duplicate_pending | no_slot | already_in_group |
    group_not_active), TooSoon(rate_limited), PaymentUnavailable.
    """
    role_check(role)
    e164 = parse_phone(phone)
    if group.admin_user_id != actor.id:
        raise not_admin()
    if e164 == actor.phone:
        message = _("This is your own number. To join your family yourself, use "
                    "“Add me” in the patient or caregiver section.")
        raise Invalid(message, code="self_invite", fields={"phone": [message]})
    info = admin_grant_check(actor=actor, group=group)  # before the lock: it may be a call
    group = group_lock(group.id)
    group_active_check(group)
    _expire_stale(group.id)
    pending = db.session.scalar(select(ConnectionInvite).where(
        ConnectionInvite.family_group_id == group.id, ConnectionInvite.receiver_phone == e164,
        ConnectionInvite.is_pending))
    if pending is not None:
        raise _duplicate_pending()
    receiver = proved_holder(e164)
    if receiver is not None:
        single_group_check(user_id=receiver.id, group_id=group.id, role=role)
    free_slot_check(group_id=group.id, info=info, role=role)
    message_pace_check(group_id=group.id, phone=e164)
    invite = ConnectionInvite(
        sender_id=actor.id, family_group_id=group.id, receiver_phone=e164,
        receiver_id=receiver.id if receiver else None,
        invite_type=INVITE_ADD_PATIENT if role == "patient" else INVITE_ADD_CAREGIVER,
        initial_permissions=initial_permissions, status=INVITE_PENDING)
    try:
        with db.session.begin_nested():
            db.session.add(invite)
            token = _issue_link(invite, actor, group)
    except IntegrityError:
        raise _duplicate_pending() from None
    audit_record(actor=actor, action="invite.created", subject=invite, group_id=group.id, ip=ip,
                 details={"phone": e164, "role": role, "expires_at": invite.expires_at.isoformat()})
    return IssuedInvite(invite=invite, token=token)


def _duplicate_pending() -> Conflict:
    message = _("This number already has a pending invite to your family. "
                "Use “Resend” on that invite instead.")
    return Conflict(message, code="duplicate_pending", fields={"phone": [message]})


# --- why an invite cannot be answered: one set of messages, for the link page, the
# invitee's pages, the admin's and the API ---------------------------------------------


def closed_message(status: str | None) -> str:
    """What to tell someone about an invite in this status (as people see it) that can
    no longer be answered."""
    messages = {
        "expired": _("The link has expired. Ask the family's admin to send it again."),
        "cancelled": _("The family's admin cancelled this invite. If this is a "
                       "mistake, ask them to invite you again."),
        "accepted": _("This invite has already been accepted; a link works "
                      "once. Log in to see your family."),
        "rejected": _("This invite was declined. The family's admin can invite "
                      "you again."),
    }
    return messages.get(status or "", _("This invite is no longer open."))


def _not_pending(invite: ConnectionInvite) -> Conflict:
    return Conflict(closed_message(invite.shown_status()), code="invite_not_pending")


def _open_check(invite: ConnectionInvite) -> None:
    """Raises Gone(invite_expired) for a lapsed invite, Conflict(invite_not_pending) for
    one answered, cancelled or marked expired."""
    if invite.is_lapsed():
        raise Gone(closed_message("expired"), code="invite_expired")
    if not invite.is_pending:
        raise _not_pending(invite)


def link_refusal(invite: ConnectionInvite | None) -> tuple[str, DomainError] | None:
    """Why an invite link cannot be answered — (its state, the error to show) — or None
    while the invite is open. A link that leads nowhere, an expired or cancelled invite
    are gone (410); an answered one is a conflict (409). Reads only."""
    group = db.session.get(FamilyGroup, invite.family_group_id) \
        if invite is not None and invite.family_group_id else None
    if invite is None or group is None:
        return "not_found", NotFound(_(
            "This invite link does not work. Check that you opened the whole link from "
            "your message, or ask the family's admin to send a new one."))
    state = invite.shown_status()
    if state == INVITE_PENDING:
        return None
    if state in ("accepted", "rejected"):
        return state, Conflict(closed_message(state))
    return (state if state == "expired" else "cancelled"), Gone(closed_message(state))


def invite_for_admin(*, actor: User, invite_id: int) -> ConnectionInvite:
    """An invite of a group the actor administers. Raises NotFound for anyone else."""
    invite = db.session.get(ConnectionInvite, invite_id)
    group = db.session.get(FamilyGroup, invite.family_group_id) if invite else None
    if invite is None or group is None or group.admin_user_id != actor.id:
        raise NotFound(_("This invite does not exist or is not yours."), code="not_found")
    return invite


def invite_cancel(*, actor: User, invite: ConnectionInvite, ip: str | None = None) -> None:
    """Cancel a pending invite: its slot is free again, its link dead, its unsent messages
    cancelled. A revocation: never blocked by billing.

    Raises Forbidden(not_admin), Conflict(invite_not_pending).
    """
    group = db.session.get(FamilyGroup, invite.family_group_id)
    if group is None or group.admin_user_id != actor.id:
        raise not_admin()
    if not invite.is_pending:
        raise _not_pending(invite)
    invite.status = "cancelled"
    invite.updated_at = utcnow()
    cancel_invite_messages(invite.id)
    audit_record(actor=actor, action="invite.cancelled", subject=invite, group_id=group.id,
                 ip=ip, details={"phone": invite.receiver_phone, "role": invite.role})
    db.session.flush()


def invite_resend(*, actor: User, invite: ConnectionInvite, ip: str | None = None) -> IssuedInvite:
    """Renew a pending (or lapsed) invite: a new token, the old link dead, a new expiry,
    the message sent again. A lapsed invite takes its slot again, so the slot is checked.

    Raises Forbidden(not_admin | subscription_inactive), Conflict(invite_not_pending |
    no_slot | already_in_group), TooSoon(rate_limited), PaymentUnavailable.
    """
    group = db.session.get(FamilyGroup, invite.family_group_id)
    if group is None:
        raise not_admin()
    info = admin_grant_check(actor=actor, group=group)
    group = group_lock(group.id)
    group_active_check(group)
    db.session.refresh(invite)
    if not invite.is_pending:
        raise _not_pending(invite)
    receiver = proved_holder(invite.receiver_phone)
    if receiver is not None:
        single_group_check(user_id=receiver.id, group_id=group.id, role=invite.role)
    if invite.is_lapsed():
        free_slot_check(group_id=group.id, info=info, role=invite.role)
    message_pace_check(group_id=group.id, phone=invite.receiver_phone)
    cancel_invite_messages(invite.id, superseded=True)
    invite.updated_at = utcnow()
    token = _issue_link(invite, actor, group)
    audit_record(actor=actor, action="invite.resent", subject=invite, group_id=group.id, ip=ip,
                 details={"phone": invite.receiver_phone, "role": invite.role,
                          "expires_at": invite.expires_at.isoformat()})
    return IssuedInvite(invite=invite, token=token)


def _invite_where(*where) -> ConnectionInvite | None:
    """The invite, with its family and its sender (invite.group, invite.sender) read in
    the same statement: the link page and the accept that follow need them (issue 17)."""
    return db.session.scalar(
        select(ConnectionInvite).where(*where)
        .options(joinedload(ConnectionInvite.group), joinedload(ConnectionInvite.sender)))


def invite_by_token(token: str) -> ConnectionInvite | None:
    """The invite a link points at, whatever its state (None: unknown or malformed)."""
    if not token or len(token) > 100:
        return None
    return _invite_where(ConnectionInvite.token_hash == token_hash(token))


def invite_for_invitee(*, actor: User, invite_id: int) -> ConnectionInvite:
    """An invite to the actor's phone. Raises Forbidden(phone_unverified) until the actor's
    number is proved (whatever the id: nothing is told about it), NotFound for anyone
    else's invite."""
    require_proved_phone(actor)
    invite = _invite_where(ConnectionInvite.id == invite_id)
    if invite is None or invite.receiver_phone != actor.phone:
        raise NotFound(_("This invite does not exist or is not for you."), code="not_found")
    return invite


def invites_pending_for(user: User) -> list[ConnectionInvite]:
    """Open invites to the user's phone, newest first. Raises Forbidden(phone_unverified)
    until the number is proved."""
    require_proved_phone(user)
    return list(db.session.scalars(select(ConnectionInvite).where(
        ConnectionInvite.receiver_phone == user.phone, ConnectionInvite.is_live())
        .order_by(ConnectionInvite.created_at.desc())))


def _phone_mismatch() -> Forbidden:
    return Forbidden(_("This invite was sent to another phone number. Log in with the "
                       "account of the invited number to answer it."), code="phone_mismatch")


def _answerer_check(actor: User, invite: ConnectionInvite, *, via_link: bool,
                    ip: str | None) -> None:
    """Only the holder of the invited number answers. A link proves the number (it reached
    it): answering through one proves the actor's; answering by id needs it proved."""
    if invite.receiver_phone != actor.phone:
        raise _phone_mismatch()
    if via_link:
        phone_proved(user=actor, how="invite_link", ip=ip)
    else:
        require_proved_phone(actor)


def _answered(invite: ConnectionInvite, actor: User, status: str) -> bool:
    """Answer the invite if it is still live, as one conditional UPDATE: of two answers at
    once (two tabs, accept and decline), exactly one wins. Whether this one did; if so,
    the invite is read back by the same statement (RETURNING), as a refresh would."""
    now = utcnow()
    answered = db.session.execute(
        update(ConnectionInvite)
        .where(ConnectionInvite.id == invite.id, ConnectionInvite.is_live(now))
        .values(status=status, receiver_id=actor.id, updated_at=now)
        .returning(ConnectionInvite)
        .execution_options(synchronize_session=False, populate_existing=True)).first()
    return answered is not None


def invite_accept(*, actor: User, invite: ConnectionInvite, relationship: str | None = None,
                  via_link: bool = False, ip: str | None = None) -> JoinResult:
    """Accept: join the group and be connected to every member of the other role, each
    connection with six permissions ON (BR-045/008/009). Every check runs again here,
    under the group lock (SEC-005); the invite flips with a conditional update, so a link
    works once. The same statements whatever the family's size (issue 17).

    relationship: what the actor is to the other members (optional, BR-050).
    via_link: answered through the invite's link (its token), which proves the number.
    Raises Forbidden(phone_mismatch | phone_unverified | subscription_inactive),
    Gone(invite_expired),
    Conflict(invite_not_pending | no_slot | already_in_group), Invalid(unknown_relationship),
    PaymentUnavailable.
    """
    _answerer_check(actor, invite, via_link=via_link, ip=ip)
    relationship, inverses = relationship_with_inverses(relationship)
    _open_check(invite)
    group, sender = invite.group, invite.sender  # read with the invite (_invite_where)
    info = group_subscription_check(group)  # before the lock: it may be a call
    group = group_lock(group.id)
    # Under the lock, the conditional UPDATE is the invite's check first: it wins only
    # while the invite is live, as _open_check() would find it. A refusal below rolls it
    # back with the rest; a lost one reads the invite to say why.
    if not _answered(invite, actor, "accepted"):
        db.session.refresh(invite)
        _open_check(invite)
        raise Conflict(closed_message(None), code="invite_not_pending")
    group_active_check(group)
    role = invite.role
    reading = join_reading(group, actor.id, role)
    single_group_check(user_id=actor.id, group_id=group.id, role=role, held=reading.held)
    member_place_check(reading, info=info, role=role)
    cancel_invite_messages(invite.id)  # a link not yet sent has nothing left to do
    messages = []
    if sender is not None and sender.id != actor.id:
        messages = user_message_rows(user=sender, notification_type="INVITE_ACCEPTED",
                                     invite_id=invite.id, group_id=group.id,
                                     payload={"group_id": group.id,
                                              "group_name": group.name or "",
                                              "member_name": actor.name, "role": role})
    events = [audit_row(actor=actor, action="invite.accepted", subject=invite,
                        group_id=group.id, ip=ip,
                        details={"role": role, "relationship": relationship})]
    return member_join(actor=actor, group=group, user=actor, role=role,
                       relationship=relationship, invite=invite, ip=ip, reading=reading,
                       inverses=inverses, events=events, messages=messages)


def invite_reject(*, actor: User, invite: ConnectionInvite, via_link: bool = False,
                  ip: str | None = None) -> ConnectionInvite:
    """Decline an invite (one click); the sender is told (BR-010). A new invite may follow
    (BR-011). A lapsed invite has nothing left to decline (invite_not_pending).

    Raises Forbidden(phone_mismatch | phone_unverified), Conflict(invite_not_pending).
    """
    _answerer_check(actor, invite, via_link=via_link, ip=ip)
    if not _answered(invite, actor, "rejected"):
        db.session.refresh(invite)
        raise _not_pending(invite)
    # Before the sender's message is queued: it belongs to the invite too, and must go out.
    cancel_invite_messages(invite.id)
    group = db.session.get(FamilyGroup, invite.family_group_id)
    sender = db.session.get(User, invite.sender_id)
    if sender is not None:
        notify_user(user=sender, notification_type="INVITE_REJECTED", invite_id=invite.id,
                    group_id=group.id, payload={"group_id": group.id,
                                                "group_name": group.name or "",
                                                "member_name": actor.name, "role": invite.role})
    audit_record(actor=actor, action="invite.rejected", subject=invite, group_id=group.id, ip=ip,
                 details={"role": invite.role})
    return invite
