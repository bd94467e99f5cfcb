"""What every payment provider answers (SPEC §6): a subscription's places and expiry, or
PaymentUnavailable when the service cannot be asked."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from flask_babel import gettext as _

from app.db import utcnow
from app.errors import DomainError


class PaymentUnavailable(DomainError):
    """The payment service does not answer: grants fail closed (503)."""

    status = 503
    code = "payment_unavailable"

    def __init__(self, message: str = "", code: str | None = None, fields=None):
        super().__init__(message or _(
            "The payment service is not answering right now, so invites and joining are "
            "paused. Nothing was changed; please try again in a few minutes."), code, fields)


@dataclass(frozen=True)
class SubscriptionInfo:
    """A subscription as the provider tells it."""

    subscription_id: int
    owner_user_id: int
    status: str  # active | cancelled | expired
    plan: str
    patient_slots: int
    caregiver_slots: int
    expires_at: datetime

    @property
    def is_active(self) -> bool:
        return self.status == "active" and self.expires_at > utcnow()

    @property
    def effective_status(self) -> str:
        """The status, with an active subscription past its expiry reported as expired."""
        if self.status == "active" and self.expires_at <= utcnow():
            return "expired"
        return self.status

    def slots(self, role: str) -> int:
        return self.patient_slots if role == "patient" else self.caregiver_slots


class PaymentProvider(Protocol):
    name: str

    def subscription_for(self, user_id: int) -> SubscriptionInfo | None:
        """The user's current subscription (the newest), or None when they have none.

        Raises PaymentUnavailable when the service cannot be asked.
        """

    def sync_member(self, *, subscription_id: int, action: str, user_id: int,
                    role: str) -> None:
        """Tell the service a member was added or removed (action add|remove).

        Called by the outbox worker, never inside a request. Raises on failure so the
        worker retries.
        """
