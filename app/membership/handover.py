"""Handing the family over (issue 19): the admin passes the family to a member who holds
an active plan of their own with places enough for it (BR-041, BR-047). The group's admin
and subscription change in one transaction; the members stay as they are (the old admin
stays a member only if they were one). With the http provider the members move from the
old subscription to the new one through the outbox (SPEC §6), as joins and removals do.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.audit.services import audit_record
from app.db import utcnow
from app.errors import Conflict
from app.extensions import db
from app.groups.services import group_active_check, group_lock, not_admin, role_label
from app.groups.slots import slot_counts
from app.models.accounts import User
from app.models.groups import ROLES, FamilyGroup, FamilyGroupMember
from app.notifications.services import notify_payment_sync, notify_user
from app.payments.provider import SubscriptionInfo, payment_provider


@dataclass
class Candidate:
    """A member the family could go to, and why not (None: eligible)."""

    user: User
    refusal: str | None


def subscription_in_use() -> Conflict:
    return Conflict(_("This member's plan already has a family of its own. A plan holds "
                      "one family."), code="subscription_in_use")


def _admin_check(*, actor: User, group: FamilyGroup) -> None:
    """BR-041: the group's admin, the owner of a subscription as the provider says now.
    An expired plan does not stop a handover (it is how a lapsed admin passes the family
    on, and nothing is granted from their plan). Raises Forbidden(not_admin),
    PaymentUnavailable."""
    if group.admin_user_id != actor.id:
        raise not_admin()
    info = payment_provider().subscription_for(actor.id)
    if info is None or info.owner_user_id != actor.id:
        raise not_admin()


def _members(group: FamilyGroup) -> list[tuple[FamilyGroupMember, User]]:
    return list(db.session.execute(
        select(FamilyGroupMember, User).join(User, User.id == FamilyGroupMember.user_id)
        .where(FamilyGroupMember.group_id == group.id)
        .order_by(User.name, User.id, FamilyGroupMember.role)).tuples())


def _target_check(group: FamilyGroup, user_id: int, members: set[int],
                  counts: dict) -> SubscriptionInfo:
    """The new admin: a member (either role) with an active subscription of their own,
    used by no other active family, whose places hold the family's members and pending
    invites of each role (BR-047).

    Raises Conflict(already_admin | not_a_member | no_subscription | subscription_inactive
    | subscription_in_use | not_enough_slots), PaymentUnavailable.
    """
    if user_id == group.admin_user_id:
        raise Conflict(_("You are already this family's admin."), code="already_admin")
    if user_id not in members:
        raise Conflict(_("The family can be handed over only to one of its members."),
                       code="not_a_member")
    info = payment_provider().subscription_for(user_id)
    if info is None or info.owner_user_id != user_id:
        raise Conflict(_("This member has no family plan of their own. They can get one "
                         "with an activation code on “My plan”."), code="no_subscription")
    if not info.is_active:
        raise Conflict(_("This member's family plan has expired or was cancelled. They can "
                         "renew it with an activation code on “My plan”."),
                       code="subscription_inactive")
    in_use = db.session.scalar(select(FamilyGroup.id).where(
        FamilyGroup.subscription_id == info.subscription_id, FamilyGroup.status == "active",
        FamilyGroup.id != group.id))
    if in_use is not None:
        raise subscription_in_use()
    for role in ROLES:
        needed = counts[role]["used"] + counts[role]["pending"]
        if info.slots(role) < needed:
            raise Conflict(_("This member's plan has %(total)d %(role)s places, and the family "
                             "has %(needed)d (members and pending invites).",
                             total=info.slots(role), role=role_label(role), needed=needed),
                           code="not_enough_slots")
    return info


def handover_candidates(*, actor: User, group: FamilyGroup) -> list[Candidate]:
    """The members the admin could hand the family to, each with the reason it cannot be
    them (None when it can), for the confirmation page. Asks the provider once per member.

    Raises Forbidden(not_admin), Conflict(group_not_active), PaymentUnavailable.
    """
    _admin_check(actor=actor, group=group)
    group_active_check(group)
    rows = _members(group)
    members = {u.id for _m, u in rows}
    counts = slot_counts(group.id)
    found: dict[int, Candidate] = {}
    for _m, user in rows:
        if user.id == actor.id or user.id in found:
            continue
        try:
            _target_check(group, user.id, members, counts)
        except Conflict as exc:
            found[user.id] = Candidate(user, exc.message)
        else:
            found[user.id] = Candidate(user, None)
    return list(found.values())


def _sync_members(group: FamilyGroup, rows, old: int | None, new: int) -> None:
    """The http payment service tracks each subscription's members (SPEC §6): they move
    from the old subscription to the new one, through the outbox."""
    if current_app.config["PAYMENT_PROVIDER"] != "http" or old == new:
        return
    for member, _user in rows:
        if old:
            notify_payment_sync(subscription_id=old, action="remove", user_id=member.user_id,
                                role=member.role, notification_type="FAMILY_HANDED_OVER",
                                group_id=group.id)
        notify_payment_sync(subscription_id=new, action="add", user_id=member.user_id,
                            role=member.role, notification_type="FAMILY_HANDED_OVER",
                            group_id=group.id)


def group_hand_over(*, actor: User, group: FamilyGroup, to_user_id: int,
                    ip: str | None = None) -> FamilyGroup:
    """The admin hands the family to another member (issue 19): admin_user_id and
    subscription_id change in this transaction; the members stay; the new admin and the
    members are told (FAMILY_HANDED_OVER); audit group.handed_over.

    Raises Forbidden(not_admin), Conflict(group_not_active | already_admin | not_a_member |
    no_subscription | subscription_inactive | subscription_in_use | not_enough_slots),
    PaymentUnavailable.
    """
    _admin_check(actor=actor, group=group)
    group = group_lock(group.id)
    group_active_check(group)
    if group.admin_user_id != actor.id:  # changed before the lock was ours
        raise not_admin()
    rows = _members(group)
    info = _target_check(group, to_user_id, {u.id for _m, u in rows}, slot_counts(group.id))
    old_subscription = group.subscription_id
    try:
        # the unique index of one active group per subscription is the last line
        with db.session.begin_nested():
            group.admin_user_id = to_user_id
            group.subscription_id = info.subscription_id
            group.updated_at = utcnow()
    except IntegrityError:
        raise subscription_in_use() from None
    _sync_members(group, rows, old_subscription, info.subscription_id)
    new_admin = next(u for _m, u in rows if u.id == to_user_id)
    payload = {"group_id": group.id, "group_name": group.name or "",
               "actor_name": actor.name, "admin_name": new_admin.name}
    for user in {u.id: u for _m, u in rows if u.id != actor.id}.values():
        notify_user(user=user, notification_type="FAMILY_HANDED_OVER", group_id=group.id,
                    payload={**payload, "to_you": user.id == to_user_id})
    audit_record(actor=actor, action="group.handed_over", subject=group, group_id=group.id,
                 ip=ip, details={"admin_id": actor.id, "user_id": to_user_id,
                                 "from_subscription_id": old_subscription,
                                 "to_subscription_id": info.subscription_id,
                                 "plan": info.plan})
    db.session.flush()
    return group
