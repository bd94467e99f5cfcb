"""The payment service behind one interface (SPEC §6): who is an admin, with which plan.

`payment_provider()` answers the configured provider: `local` (our own subscriptions and
activation codes) or `http` (a payment service's JSON API, app/payments/http_provider.py).
Services ask it at every check (BR-041) and never cache its answer across requests.
"""

from __future__ import annotations

from flask import current_app
from sqlalchemy import select

from app.extensions import db
from app.models.billing import Subscription
from app.payments.http_provider import HttpProvider
from app.payments.types import PaymentProvider, PaymentUnavailable, SubscriptionInfo

__all__ = ["LocalProvider", "PaymentProvider", "PaymentUnavailable", "SubscriptionInfo",
           "payment_provider"]


class LocalProvider:
    """Subscriptions and activation codes kept in our own tables."""

    name = "local"

    def subscription_for(self, user_id: int) -> SubscriptionInfo | None:
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
            provider = HttpProvider.from_config(current_app.config)
        else:
            provider = LocalProvider()
        ext["payment_provider"] = provider
    return provider
