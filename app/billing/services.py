"""Plans, activation codes and redeeming them (the local payment provider, SPEC §6)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app.audit.services import audit_record
from app.db import utcnow
from app.errors import Conflict, Forbidden, Invalid, NotFound
from app.extensions import db
from app.models.accounts import User
from app.models.billing import ActivationCode, Subscription
from app.payments.provider import SubscriptionInfo, payment_provider

# Crockford's base32 without look-alikes (no I, L, O, U): codes are read out and typed.
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_GROUPS = 4  # 4 groups of 4 characters: 80 random bits
MAX_CODES_PER_RUN = 1000


def plan_slots(plan: str) -> dict[str, int]:
    """Slots per role of a configured plan. Raises Invalid(unknown_plan)."""
    plans = current_app.config["PLANS"]
    if plan not in plans:
        raise Invalid(_("Unknown plan %(plan)s. Plans: %(plans)s.", plan=plan,
                        plans=", ".join(plans)), code="unknown_plan")
    return plans[plan]


def normalize_code(raw: str) -> str:
    """Upper case, separators dropped, look-alike letters read as the digits they mimic."""
    cleaned = "".join(ch for ch in (raw or "").upper() if ch.isalnum())
    return cleaned.translate(str.maketrans("ILO", "110"))


def code_hash(raw: str) -> str:
    return hashlib.sha256(normalize_code(raw).encode()).hexdigest()


def codes_issue(*, actor: User | None, plan: str, days: int, count: int = 1,
                reason: str | None = None, ip: str | None = None) -> list[str]:
    """Create `count` activation codes for `plan` lasting `days`; returns the codes in clear
    (only their hashes are stored, so this is the one time they can be read).

    actor: the staff member issuing them, or None for the command line.
    reason: why (the staff pages require one); kept in the audit event.
    Raises Invalid(unknown_plan | invalid), Forbidden for a non-staff actor.
    """
    if actor is not None and not actor.is_staff:
        raise Forbidden(_("Only staff can issue activation codes."), code="forbidden")
    plan_slots(plan)
    if days <= 0 or days > 3660:
        raise Invalid(_("The number of days must be between 1 and 3660."), code="invalid")
    if count <= 0 or count > MAX_CODES_PER_RUN:
        raise Invalid(_("The number of codes must be between 1 and %(n)d.",
                        n=MAX_CODES_PER_RUN), code="invalid")
    codes = []
    for _i in range(count):
        raw = "".join(secrets.choice(CODE_ALPHABET) for _c in range(4 * CODE_GROUPS))
        code = "-".join(raw[i:i + 4] for i in range(0, len(raw), 4))
        db.session.add(ActivationCode(code_hash=code_hash(code), plan=plan, duration_days=days,
                                      created_by=actor.id if actor else None))
        codes.append(code)
    details = {"plan": plan, "days": days, "count": count}
    if reason:
        details["reason"] = reason
    audit_record(actor=actor, action="billing.codes_issued", details=details, ip=ip)
    db.session.flush()
    return codes


def subscription_redeem(*, actor: User, code: str, ip: str | None = None) -> Subscription:
    """Redeem an activation code: the actor gets (or extends) a subscription and becomes an
    admin. One subscription row per owner: a new code renews it, so its id — and the
    family group that points at it — stays the same.

    Raises Invalid(invalid_code), Conflict(code_used), NotFound when the payment provider
    is not the local one.
    """
    if current_app.config["PAYMENT_PROVIDER"] != "local":
        raise NotFound(_("Plans are bought at the payment service, not redeemed here."),
                       code="not_found")
    normalized = normalize_code(code)
    if len(normalized) != 4 * CODE_GROUPS:
        raise _invalid_code()
    row = db.session.scalar(select(ActivationCode)
                            .where(ActivationCode.code_hash == code_hash(normalized)))
    if row is None:
        raise _invalid_code()
    now = utcnow()
    # A conditional update: of two people redeeming one code at once, exactly one wins.
    won = db.session.execute(
        update(ActivationCode)
        .where(ActivationCode.id == row.id, ActivationCode.redeemed_by.is_(None))
        .values(redeemed_by=actor.id, redeemed_at=now)
        .execution_options(synchronize_session=False)).rowcount
    if not won:
        message = _("This code has already been used.")
        raise Conflict(message, code="code_used", fields={"code": [message]})
    slots = plan_slots(row.plan)
    mine = (select(Subscription).where(Subscription.owner_user_id == actor.id)
            .order_by(Subscription.id.desc()).limit(1).with_for_update())
    sub = db.session.scalar(mine)
    if sub is None:
        sub = Subscription(owner_user_id=actor.id, starts_at=now, expires_at=now, status="active",
                           plan=row.plan, patient_slots=0, caregiver_slots=0)
        try:
            with db.session.begin_nested():
                db.session.add(sub)
        except IntegrityError:
            # Another code of the same user was redeemed at the same moment and made the
            # row (idx_subscription_active_owner): extend that one.
            sub = db.session.scalar(mine)
    still_running = sub.status == "active" and sub.expires_at > now
    if not still_running:
        sub.starts_at = now
    sub.expires_at = (sub.expires_at if still_running else now) + timedelta(days=row.duration_days)
    sub.status = "active"
    sub.plan = row.plan
    sub.patient_slots = slots["patient"]
    sub.caregiver_slots = slots["caregiver"]
    db.session.flush()
    db.session.execute(update(ActivationCode).where(ActivationCode.id == row.id)
                       .values(subscription_id=sub.id)
                       .execution_options(synchronize_session=False))
    audit_record(actor=actor, action="billing.code_redeemed", subject=sub, ip=ip,
                 details={"plan": row.plan, "days": row.duration_days,
                          "expires_at": sub.expires_at.isoformat()})
    return sub


def _invalid_code() -> Invalid:
    message = _("This activation code is not valid. Check it and try again.")
    return Invalid(message, code="invalid_code", fields={"code": [message]})


def subscription_of(*, actor: User) -> SubscriptionInfo:
    """The actor's subscription as the provider tells it.

    Raises NotFound(no_subscription), PaymentUnavailable.
    """
    info = payment_provider().subscription_for(actor.id)
    if info is None:
        raise NotFound(_("You have no family plan yet. Redeem an activation code to get one."),
                       code="no_subscription")
    return info
