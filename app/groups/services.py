"""Family group rules: who is an admin (BR-041), create, rename, and the checks that
invites, self-add and accept share: the grant check, the group lock, slots, BR-057."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.audit.services import audit_record
from app.db import utcnow
from app.errors import Conflict, Forbidden, Invalid, NotFound
from app.extensions import db
from app.groups.queries import group_with_members
from app.groups.slots import role_label, slot_counts, slots_summary
from app.models.accounts import User
from app.models.groups import ROLES, FamilyGroup, FamilyGroupMember
from app.payments.provider import SubscriptionInfo, payment_provider
from app.permissions import can_manage_invites, can_view_group

NAME_MAX = 100


def role_check(role: str | None) -> str:
    """patient or caregiver. Raises Invalid(invalid)."""
    if role not in ROLES:
        message = _("Choose patient or caregiver.")
        raise Invalid(message, code="invalid", fields={"role": [message]})
    return role


def _name_check(name: str | None) -> str:
    name = " ".join((name or "").split())
    if not name or len(name) > NAME_MAX:
        message = _("Enter the family's name (at most %(n)d characters).", n=NAME_MAX)
        raise Invalid(message, code="invalid", fields={"name": [message]})
    return name


def not_admin() -> Forbidden:
    return Forbidden(_("Only the family's admin, with an active family plan, can do this."),
                     code="not_admin")


def subscription_inactive(*, for_admin: bool) -> Forbidden:
    """BR-037: say so, and say how to renew."""
    if for_admin:
        message = _("Your family plan has expired or was cancelled, so new invites and "
                    "joining are paused. Renew it by redeeming an activation code on "
                    "“My plan”; everything else keeps working.")
    else:
        message = _("This family's plan has expired, so nobody can join right now. "
                    "Ask the family's admin to renew it, then open the link again.")
    return Forbidden(message, code="subscription_inactive")


def admin_grant_check(*, actor: User, group: FamilyGroup | None = None) -> SubscriptionInfo:
    """BR-041/BR-037 for anything that grants (create, invite, self-add, resend): ask the
    provider, now, whether the actor owns an active subscription — and, given a group,
    whether it is that group's admin. A renewal under a new subscription id (http
    provider) moves the group to it.

    Raises Forbidden(not_admin | subscription_inactive), PaymentUnavailable.
    """
    if group is not None and group.admin_user_id != actor.id:
        raise not_admin()
    info = payment_provider().subscription_for(actor.id)
    if info is None or info.owner_user_id != actor.id:
        raise not_admin()
    if not info.is_active:
        raise subscription_inactive(for_admin=True)
    if group is not None and group.subscription_id != info.subscription_id:
        group.subscription_id = info.subscription_id
    return info


def group_subscription_check(group: FamilyGroup) -> SubscriptionInfo:
    """For accept: the group's admin must still own an active subscription (SEC-005).

    Raises Forbidden(subscription_inactive), PaymentUnavailable.
    """
    info = payment_provider().subscription_for(group.admin_user_id)
    if info is None or not info.is_active:
        raise subscription_inactive(for_admin=False)
    return info


def group_lock(group_id: int) -> FamilyGroup:
    """Lock the group row for a slot check (SELECT … FOR UPDATE on PostgreSQL; on SQLite
    the transaction already holds the write lock, BEGIN IMMEDIATE), and reload it."""
    group = db.session.scalar(select(FamilyGroup).where(FamilyGroup.id == group_id)
                              .with_for_update().execution_options(populate_existing=True))
    if group is None:
        raise NotFound(_("This family does not exist."), code="not_found")
    return group


def group_active_check(group: FamilyGroup) -> None:
    if group.status != "active":
        raise Conflict(_("This family has been dissolved."), code="group_not_active")


def free_slot_check(*, group_id: int, info: SubscriptionInfo, role: str,
                    accepting: bool = False) -> None:
    """BR-047 / SEC-005, under the group lock: the rule of app/groups/slots.py on the
    family's counts now.

    Raises Conflict(no_slot).
    """
    slots_summary(info, slot_counts(group_id))[role].check(accepting=accepting)


def groups_held(user_ids: Collection[int]) -> dict[tuple[int, str], int]:
    """BR-057's reading, for one user or a batch: (user id, role) → the family where the
    user already holds that role (one group per user per role, so at most one)."""
    if not user_ids:
        return {}
    return {(row.user_id, row.role): row.group_id for row in db.session.execute(
        select(FamilyGroupMember.user_id, FamilyGroupMember.role, FamilyGroupMember.group_id)
        .where(FamilyGroupMember.user_id.in_(user_ids)))}


def single_group_check(*, user_id: int, group_id: int | None, role: str,
                       held: Mapping[tuple[int, str], int] | None = None) -> None:
    """BR-057: one group per user per role (the unique index is the last line).

    group_id: the family being joined (None: one not made yet, the legacy import).
    held: groups_held() of a batch already read, else read now.
    Raises Conflict(already_in_group).
    """
    other = (groups_held([user_id]) if held is None else held).get((user_id, role))
    if other is None:
        return
    if other == group_id:
        message = _("This person is already a %(role)s in this family.", role=role_label(role))
    else:
        message = _("This person is already a %(role)s in another family. A person can be "
                    "a %(role)s in one family only.", role=role_label(role))
    raise Conflict(message, code="already_in_group", fields={"phone": [message]})


def group_create(*, actor: User, name: str, ip: str | None = None) -> FamilyGroup:
    """Create the actor's family group (BR-041: one active group per subscription).

    Raises Invalid, Forbidden(not_admin | subscription_inactive), Conflict(group_exists),
    PaymentUnavailable.
    """
    name = _name_check(name)
    info = admin_grant_check(actor=actor)
    exists = Conflict(_("Your plan already has a family. Open it from “My family”."),
                      code="group_exists")
    if db.session.scalar(select(FamilyGroup.id).where(
            FamilyGroup.subscription_id == info.subscription_id,
            FamilyGroup.status == "active")) is not None:
        raise exists
    group = FamilyGroup(admin_user_id=actor.id, subscription_id=info.subscription_id,
                        name=name, status="active")
    try:
        with db.session.begin_nested():
            db.session.add(group)
    except IntegrityError:
        raise exists from None
    audit_record(actor=actor, action="group.created", subject=group, group_id=group.id, ip=ip,
                 details={"name": name, "plan": info.plan,
                          "subscription_id": info.subscription_id})
    return group


def group_rename(*, actor: User, group: FamilyGroup, name: str,
                 ip: str | None = None) -> FamilyGroup:
    """Rename (the admin; not a grant, so billing does not block it).

    Raises Invalid, Forbidden(not_admin), Conflict(group_not_active).
    """
    if group.admin_user_id != actor.id:
        raise not_admin()
    group_active_check(group)
    name = _name_check(name)
    old = group.name
    group.name = name
    group.updated_at = utcnow()
    audit_record(actor=actor, action="group.renamed", subject=group, group_id=group.id, ip=ip,
                 details={"from": old, "to": name})
    db.session.flush()
    return group


def group_for_viewer(*, actor: User, group_id: int):
    """The group and its members if the actor may see it (admin, member, staff).

    Raises NotFound for anyone else, without saying whether the group exists.
    """
    view = group_with_members(
        group_id, with_invites=lambda group: can_manage_invites(actor, group))
    if view is None or not can_view_group(actor, view.group, view.member_ids):
        raise NotFound(_("This family does not exist or you cannot see it."), code="not_found")
    return view


def group_staff_look(*, actor: User, group: FamilyGroup, what: str,
                     ip: str | None = None, grant: dict | None = None) -> bool:
    """SPEC §1: every staff look at a group is itself audited (staff.group_viewed), with
    the reason it was opened for (grant: reason_code and the staff.access_reason event's
    id, issue 21). A staff member looking at their own family is just its admin. Returns
    whether a row was written; the caller commits."""
    if not actor.is_staff or group.admin_user_id == actor.id:
        return False
    audit_record(actor=actor, action="staff.group_viewed", subject=group, group_id=group.id,
                 ip=ip, details={"view": what} | (grant or {}))
    return True
