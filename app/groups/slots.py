"""The places of a family's plan (BR-047 / BR-059), defined once: counted by the database
per family or for many families at once, or from rows already loaded; the arithmetic
and the refusals beside them. Invites, self-add, accept, the family page, the API, staff,
the integrity checks and the legacy import all use these.

free = total − members of that role − live pending invites of that role. An accept
needs a member place only: its own pending invite already holds one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from flask_babel import gettext as _
from sqlalchemy import Select, func, select

from app.errors import Conflict
from app.extensions import db
from app.models.groups import ROLE_PATIENT, ROLES, FamilyGroupMember
from app.models.invites import ConnectionInvite
from app.payments.provider import SubscriptionInfo

if TYPE_CHECKING:
    from app.groups.queries import GroupView

Counts = dict[str, dict[str, int]]  # role → {"used": members, "pending": live invites}


def role_label(role: str) -> str:
    return _("patient") if role == ROLE_PATIENT else _("caregiver")


def places_left(total: Any, used: Any, pending: Any, *, members_only: bool = False) -> Any:
    """The plan's places of a role not taken: by members and live pending invites, or by
    members only (for an accept). Below zero when the family is over its plan. Plain
    arithmetic, so it takes numbers or SQL column expressions alike."""
    return total - (used if members_only else used + pending)


def limit_reached(*, role: str, total: int) -> str:
    """What the admin is told when a role has no free place (BR-059: and how to get more)."""
    return _("Limit reached: the plan has %(total)d %(role)s places and all are taken "
             "or invited. Cancel a pending invite, remove a member, or get a bigger "
             "plan with an activation code on “My plan”.", total=total, role=role_label(role))


def no_member_place(*, role: str) -> str:
    """What the invitee is told when accepting finds no member place left."""
    return _("This family has no free place for a new %(role)s. Ask the family's "
             "admin to free one or to move to a bigger plan.", role=role_label(role))


@dataclass(frozen=True)
class Slots:
    """One role's places: the plan's total, members, live pending invites."""

    role: str
    total: int
    used: int
    pending: int

    @property
    def free(self) -> int:
        return max(0, places_left(self.total, self.used, self.pending))

    @property
    def over_plan(self) -> bool:
        """More members and invites than places (a lowered plan; integrity, import)."""
        return places_left(self.total, self.used, self.pending) < 0

    @property
    def limit_message(self) -> str | None:
        """limit_reached() when no place is free, else None (the page shows it)."""
        return limit_reached(role=self.role, total=self.total) if self.free == 0 else None

    def has_room(self, *, accepting: bool = False) -> bool:
        """A new invite or self-add has a free place; an accept, a member place."""
        return places_left(self.total, self.used, self.pending, members_only=accepting) > 0

    def check(self, *, accepting: bool = False) -> None:
        """A new invite or self-add needs a free place, an accept a member place.

        Raises Conflict(no_slot)."""
        if self.has_room(accepting=accepting):
            return
        message = no_member_place(role=self.role) if accepting \
            else limit_reached(role=self.role, total=self.total)
        raise Conflict(message, code="no_slot")

    def as_json(self) -> dict[str, int]:
        return {"total": self.total, "used": self.used, "pending": self.pending,
                "free": self.free}


def slots_summary(info: SubscriptionInfo | None, counts: Counts) -> dict[str, Slots]:
    """Each role's Slots from the plan (no plan: no places) and the counts."""
    return {role: Slots(role=role, total=info.slots(role) if info else 0,
                        used=counts[role]["used"], pending=counts[role]["pending"])
            for role in ROLES}


# --- counting ---------------------------------------------------------------------------


def member_counts() -> Select:
    """(group_id, role, n): members per family and role."""
    return (select(FamilyGroupMember.group_id.label("group_id"),
                   FamilyGroupMember.role.label("role"), func.count().label("n"))
            .group_by(FamilyGroupMember.group_id, FamilyGroupMember.role))


def live_invite_counts(now: datetime | None = None) -> Select:
    """(group_id, role, n): live pending invites per family and role."""
    role = ConnectionInvite.role  # one expression: PostgreSQL matches GROUP BY to SELECT
    return (select(ConnectionInvite.family_group_id.label("group_id"), role.label("role"),
                   func.count().label("n"))
            .where(ConnectionInvite.is_live(now))
            .group_by(ConnectionInvite.family_group_id, role))


def count_roles(member_roles: Iterable[str], invite_roles: Iterable[str]) -> Counts:
    """The counts from rows already loaded: the roles of the members and of the live
    pending invites."""
    counts = {role: {"used": 0, "pending": 0} for role in ROLES}
    for role in member_roles:
        counts[role]["used"] += 1
    for role in invite_roles:
        counts[role]["pending"] += 1
    return counts


def slot_counts_of(group_ids: Iterable[int]) -> dict[int, Counts]:
    """The counts of several families, in two statements."""
    ids = sorted(set(group_ids))
    if not ids:
        return {}
    counts = {gid: count_roles((), ()) for gid in ids}
    members = member_counts().where(FamilyGroupMember.group_id.in_(ids))
    invites = live_invite_counts().where(ConnectionInvite.family_group_id.in_(ids))
    for key, query in (("used", members), ("pending", invites)):
        for row in db.session.execute(query):
            counts[row.group_id][row.role][key] = row.n
    return counts


def slot_counts(group_id: int) -> Counts:
    """Members and live pending invites per role of one family (two statements)."""
    return slot_counts_of([group_id])[group_id]


def counts_from_view(view: GroupView) -> Counts:
    """The same counts, from a GroupView already loaded (no query)."""
    return count_roles((m.role for m, _u in view.members), (i.role for i in view.invites))
