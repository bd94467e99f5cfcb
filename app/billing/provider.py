"""The payment service behind one interface (SPEC §6): who is an admin, with which plan.

`payment_provider()` answers the configured provider: `local` (our own subscriptions and
activation codes) or `http` (a payment service's JSON API, app/billing/http_provider.py).
Services ask it at every check (BR-041) and never cache its answer across requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from app.db import utcnow
from app.errors import DomainError
from app.extensions import db


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


class LocalProvider:
    """Subscriptions and activation codes kept in our own tables."""

    name = "local"

    def subscription_for(self, user_id: int) -> SubscriptionInfo | None:
        from app.billing.models import Subscription

        sub = db.session.scalar(
            select(Subscription).where(Subscription.owner_user_id == user_id)
            .order_by(Subscription.status != "active", Subscription.expires_at.desc())
            .limit(1))
        if sub is None:
            return None
        return SubscriptionInfo(subscription_id=sub.id, owner_user_id=sub.owner_user_id,
                                status=sub.status, plan=sub.plan,
                                patient_slots=sub.patient_slots,
                                caregiver_slots=sub.caregiver_slots, expires_at=sub.expires_at)

    def sync_member(self, *, subscription_id: int, action: str, user_id: int,
                    role: str) -> None:
        return None  # our own tables are the record: nothing to tell


def payment_provider() -> PaymentProvider:
    """The provider the configuration names (PAYMENT_PROVIDER)."""
    ext = current_app.extensions
    provider = ext.get("payment_provider")
    if provider is None:
        if current_app.config["PAYMENT_PROVIDER"] == "http":
            from app.billing.http_provider import HttpProvider

            provider = HttpProvider.from_config(current_app.config)
        else:
            provider = LocalProvider()
        ext["payment_provider"] = provider
    return provider
