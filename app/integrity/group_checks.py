"""The invariants of families, memberships, invites and plans (SPEC §2, §3, §8).

Plans are read from the local payment provider's subscriptions table. With the http
provider the plans live in the payment service: asking it once per family would turn
one statement into 100,000 requests, so the plan checks are skipped there and say so.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from flask import current_app
from sqlalchemy import (
    and_,
    case,
    delete,
    func,
    literal,
    or_,
    select,
    true,
    union_all,
    update,
)

from app.connections.services import connections_revoke_for_group
from app.db import utcnow
from app.extensions import db
from app.groups.slots import live_invite_counts, member_counts, places_left
from app.integrity.checks import Check, RepairableCheck, Violation, ids_of
from app.models.billing import Subscription
from app.models.groups import ROLE_CAREGIVER, ROLE_PATIENT, FamilyGroup, FamilyGroupMember
from app.models.invites import ConnectionInvite
from app.notifications.services import cancel_invite_messages, notify_payment_sync

INVITES = ConnectionInvite.__tablename__


def _local_only() -> str | None:
    if current_app.config["PAYMENT_PROVIDER"] != "local":
        return "the plans are kept by the http payment service, not in this database"
    return None


def cancel_invites(ids: list[int]) -> None:
    """What cancelling an invite does (app/invites/services.py invite_cancel): the slot
    is free, the link dead, its unsent messages cancelled."""
    if not ids:
        return
    db.session.execute(update(ConnectionInvite).where(ConnectionInvite.id.in_(ids))
                       .values(status="cancelled", updated_at=utcnow())
                       .execution_options(synchronize_session=False))
    cancel_invite_messages(*ids)


class DissolvedMembership(RepairableCheck):
    """SPEC §2: dissolving deletes the memberships. Repair: what dissolve does — the
    family's connections are released, the memberships deleted (the payment service is
    told through the outbox when it is the http one)."""

    code = "membership.dissolved_family"
    title = "No membership of a dissolved family"
    page_row = "membership"

    def page_column(self):
        return FamilyGroupMember.id

    def query(self):
        return (select(FamilyGroupMember.id, FamilyGroupMember.group_id,
                       FamilyGroupMember.user_id, FamilyGroupMember.role,
                       FamilyGroup.subscription_id)
                .join(FamilyGroup, FamilyGroup.id == FamilyGroupMember.group_id)
                .where(FamilyGroup.status == "dissolved")
                .order_by(FamilyGroupMember.id))

    def violation(self, row: Any) -> Violation:
        return Violation(self.code, f"a {row.role} is still a member of a dissolved family",
                         {"membership": row.id, "family": row.group_id, "user": row.user_id},
                         True, group_id=row.group_id,
                         data={"role": row.role, "subscription_id": row.subscription_id})

    def repair(self, batch: list[Violation]) -> None:
        by_group: dict[int, list[Violation]] = defaultdict(list)
        for v in batch:
            by_group[v.group_id].append(v)
        http = current_app.config["PAYMENT_PROVIDER"] == "http"
        for group_id, members in by_group.items():
            revoked = connections_revoke_for_group(actor=None, group_id=group_id)
            db.session.execute(delete(FamilyGroupMember).where(
                FamilyGroupMember.id.in_(ids_of(members, "membership")))
                .execution_options(synchronize_session=False))
            for v in members:
                if http and v.data["subscription_id"]:
                    notify_payment_sync(subscription_id=v.data["subscription_id"],
                                        action="remove", user_id=v.rows["user"],
                                        role=v.data["role"], notification_type="MEMBER_REMOVED",
                                        group_id=group_id)
                self.repaired(v, role=v.data["role"], revoked=revoked, done="deleted")


class InviteOfInactiveFamily(RepairableCheck):
    """A pending invite belongs to an active family (dissolve cancels them). Repair:
    cancel it. An invite with no family (from before families) counts: it can never be
    accepted."""

    code = "invite.family_not_active"
    title = "No pending invite of a family that is not active"
    page_row = "invite"

    def page_column(self):
        return ConnectionInvite.id

    def query(self):
        return (select(ConnectionInvite.id, ConnectionInvite.family_group_id,
                       FamilyGroup.status)
                .outerjoin(FamilyGroup, FamilyGroup.id == ConnectionInvite.family_group_id)
                .where(ConnectionInvite.is_pending,
                       or_(FamilyGroup.id.is_(None), FamilyGroup.status != "active"))
                .order_by(ConnectionInvite.id))

    def violation(self, row: Any) -> Violation:
        why = (f"a pending invite of a family that is {row.status}" if row.status
               else "a pending invite of no family")
        return Violation(self.code, why, {"invite": row.id, "family": row.family_group_id},
                         True, group_id=row.family_group_id)

    def repair(self, batch: list[Violation]) -> None:
        cancel_invites(ids_of(batch, "invite"))
        for v in batch:
            self.repaired(v, subject=(INVITES, v.rows["invite"]), done="cancelled")


def _slot_rows():
    """Per active family and role: the plan's slots, the members and the live pending
    invites (BR-047), in one statement, counted as app/groups/slots.py counts them."""
    roles = union_all(select(literal(ROLE_PATIENT).label("role")),
                      select(literal(ROLE_CAREGIVER).label("role"))).subquery("roles")
    members = member_counts().subquery("m")
    pending = live_invite_counts().subquery("p")
    slots = case((roles.c.role == ROLE_PATIENT, Subscription.patient_slots),
                 else_=Subscription.caregiver_slots)
    used, invited = func.coalesce(members.c.n, 0), func.coalesce(pending.c.n, 0)
    query = (select(FamilyGroup.id, roles.c.role, slots.label("slots"), used.label("used"),
                    invited.label("pending"))
             .join(Subscription, Subscription.id == FamilyGroup.subscription_id)
             .join(roles, true())
             .outerjoin(members, and_(members.c.group_id == FamilyGroup.id,
                                      members.c.role == roles.c.role))
             .outerjoin(pending, and_(pending.c.group_id == FamilyGroup.id,
                                      pending.c.role == roles.c.role))
             .where(FamilyGroup.status == "active")
             .order_by(FamilyGroup.id, roles.c.role))
    return query, slots, used, invited


class MembersOverPlan(Check):
    """BR-047/SEC-005: members of a role never outnumber the plan's slots. Not
    repairable: which member would have to go is the admin's choice."""

    code = "plan.members_over_slots"
    title = "No family has more members of a role than its plan's slots"

    def applies(self) -> str | None:
        return _local_only()

    def query(self):
        query, slots, used, invited = _slot_rows()
        return query.where(places_left(slots, used, invited, members_only=True) < 0)

    def violation(self, row: Any) -> Violation:
        return Violation(self.code, f"{row.used} {row.role}s for {row.slots} places of the plan",
                         {"family": row.id, "role": row.role}, False, group_id=row.id)


class InvitesOverPlan(RepairableCheck):
    """BR-047/059: members and live pending invites of a role fit the plan's slots.
    Repair: cancel the newest pending invites beyond the free places."""

    code = "plan.invites_over_slots"
    title = "Members and pending invites of a role fit the plan's slots"
    page_row = "family"

    def page_column(self):
        return FamilyGroup.id

    def applies(self) -> str | None:
        return _local_only()

    def query(self):
        query, slots, used, invited = _slot_rows()
        return query.where(invited > 0, places_left(slots, used, invited) < 0)

    def violation(self, row: Any) -> Violation:
        excess = min(row.pending, -places_left(row.slots, row.used, row.pending))
        return Violation(self.code,
                         f"{row.used} {row.role}s and {row.pending} pending invites for "
                         f"{row.slots} places: {excess} invites too many",
                         {"family": row.id, "role": row.role}, True, group_id=row.id,
                         data={"excess": excess})

    def repair(self, batch: list[Violation]) -> None:
        for v in batch:
            newest = list(db.session.scalars(
                select(ConnectionInvite.id)
                .where(ConnectionInvite.family_group_id == v.group_id,
                       ConnectionInvite.role == v.rows["role"], ConnectionInvite.is_live())
                .order_by(ConnectionInvite.created_at.desc(), ConnectionInvite.id.desc())
                .limit(v.data["excess"])))
            cancel_invites(newest)
            self.repaired(v, invites_cancelled=newest, done="cancelled the newest invites")


class FamilySubscription(Check):
    """BR-041: an active family's subscription exists and is its admin's. Not repairable:
    the plan is the payment side's record, not ours to invent."""

    code = "family.subscription"
    title = "An active family's subscription exists and belongs to its admin"

    def applies(self) -> str | None:
        return _local_only()

    def query(self):
        return (select(FamilyGroup.id, FamilyGroup.admin_user_id, FamilyGroup.subscription_id,
                       Subscription.id.label("found"), Subscription.owner_user_id)
                .outerjoin(Subscription, Subscription.id == FamilyGroup.subscription_id)
                .where(FamilyGroup.status == "active",
                       or_(Subscription.id.is_(None),
                           Subscription.owner_user_id != FamilyGroup.admin_user_id))
                .order_by(FamilyGroup.id))

    def violation(self, row: Any) -> Violation:
        if row.subscription_id is None:
            why = "an active family has no subscription"
        elif row.found is None:
            why = f"an active family's subscription {row.subscription_id} does not exist"
        else:
            why = (f"an active family's subscription {row.subscription_id} belongs to user "
                   f"{row.owner_user_id}, not to its admin {row.admin_user_id}")
        return Violation(self.code, why, {"family": row.id}, False, group_id=row.id)


class AdminActiveFamilies(Check):
    """BR-041: an admin has one active family (the unique index holds one per
    subscription, not per admin). Not repairable: which family to end is the admin's
    choice."""

    code = "family.admin_active_families"
    title = "An admin has at most one active family"

    def query(self):
        admins = (select(FamilyGroup.admin_user_id).where(FamilyGroup.status == "active")
                  .group_by(FamilyGroup.admin_user_id).having(func.count() > 1))
        return (select(FamilyGroup.id, FamilyGroup.admin_user_id)
                .where(FamilyGroup.status == "active", FamilyGroup.admin_user_id.in_(admins))
                .order_by(FamilyGroup.admin_user_id, FamilyGroup.id))

    def violation(self, row: Any) -> Violation:
        return Violation(self.code, "the admin has more than one active family",
                         {"family": row.id, "admin": row.admin_user_id}, False,
                         group_id=row.id)
