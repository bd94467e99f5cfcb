"""A family's places as the admin's pages show them (the family page, the invite form):
the plan read once from the payment service (BR-041: never cached), each role's Slots
(app/groups/slots.py, the one rule), what stands in the way of inviting (BR-037), and
which roles a new member can be added to now."""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _

from app.groups.services import subscription_inactive
from app.groups.slots import Counts, Slots, slots_summary
from app.models.groups import FamilyGroup
from app.payments.provider import PaymentUnavailable, payment_provider


@dataclass(frozen=True)
class Places:
    """slots: each role's Slots, None when the payment service did not answer;
    plan_problem: why nobody can be invited now (no plan, an expired one), or None."""

    slots: dict[str, Slots] | None
    plan_problem: str | None = None

    @property
    def unknown(self) -> bool:
        return self.slots is None

    @property
    def open_roles(self) -> frozenset[str]:
        """The roles an invite or a self-add can fill now: a free place under an active
        plan (what the services check, Slots.check). Pages offer the invite of any other
        role only as a secondary action (BR-059: the button always shows) and no self-add."""
        if self.slots is None or self.plan_problem:
            return frozenset()
        return frozenset(role for role, slots in self.slots.items() if slots.has_room())

    def context(self) -> dict:
        """What templates/groups/_slots.html and templates/invites/new.html need."""
        return {"slots": self.slots, "slots_unknown": self.unknown,
                "plan_problem": self.plan_problem, "open_roles": self.open_roles}


def places_of(group: FamilyGroup, counts: Counts) -> Places:
    """The family's places from its counts (slot_counts, or counts_from_view for a page
    that loaded the members) and its admin's plan, asked now."""
    try:
        info = payment_provider().subscription_for(group.admin_user_id)
    except PaymentUnavailable:
        return Places(slots=None)
    problem = None
    if info is None:
        problem = _("No family plan was found for this family's admin, so new invites and "
                    "joining are paused. Get one with an activation code on “My plan”.")
    elif not info.is_active:
        problem = subscription_inactive(for_admin=True).message
    return Places(slots=slots_summary(info, counts), plan_problem=problem)
