"""Plans, activation codes and the local provider (SPEC §6), called directly on a real
database."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app.billing.services import (
    codes_issue,
    normalize_code,
    plan_slots,
    subscription_of,
    subscription_redeem,
)
from app.db import utcnow
from app.errors import DomainError
from app.extensions import db
from app.models.audit import AuditEvent
from app.models.billing import ActivationCode, Subscription
from app.payments.provider import LocalProvider, SubscriptionInfo, payment_provider
from tests.factories import make_subscription, make_user
from tests.service_helpers import audit_since, refused, row_counts

CODE_RE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$")


def near(when, expected, seconds: int = 60) -> bool:
    return abs((when - expected).total_seconds()) < seconds


def one_code(plan: str = "family", days: int = 30) -> str:
    return codes_issue(actor=None, plan=plan, days=days)[0]


# --- plans ------------------------------------------------------------------------------


def test_plan_slots_come_from_the_configured_plans(ctx):
    assert plan_slots("family_basic") == {"patient": 1, "caregiver": 2}
    assert plan_slots("family") == {"patient": 2, "caregiver": 4}
    assert plan_slots("family_plus") == {"patient": 4, "caregiver": 8}


def test_plan_slots_unknown_plan_is_refused(ctx):
    with pytest.raises(DomainError) as caught:
        plan_slots("gold")
    assert caught.value.code == "unknown_plan"
    assert "family_basic" in caught.value.message


# --- codes_issue ------------------------------------------------------------------------


def test_codes_issue_stores_only_hashes_of_readable_codes(ctx):
    codes = codes_issue(actor=None, plan="family_plus", days=90, count=3)

    assert len(codes) == len(set(codes)) == 3
    assert all(CODE_RE.match(code) for code in codes)
    rows = list(db.session.scalars(select(ActivationCode).order_by(ActivationCode.id)))
    assert [r.code_hash for r in rows] == [
        hashlib.sha256(code.replace("-", "").encode()).hexdigest() for code in codes]
    assert {(r.plan, r.duration_days, r.created_by, r.redeemed_by) for r in rows} == {
        ("family_plus", 90, None, None)}
    stored = " ".join(str(v) for row in db.session.execute(select(ActivationCode.__table__))
                      for v in row)
    for code in codes:
        assert code not in stored
        assert code.replace("-", "") not in stored
    [event] = audit_since(action="billing.codes_issued")
    assert (event.actor_id, event.details) == (None, {"plan": "family_plus", "days": 90,
                                                      "count": 3})


def test_codes_issue_by_staff_records_who_issued_them(ctx):
    staff = make_user(is_staff=True)

    codes_issue(actor=staff, plan="family", days=30)

    assert db.session.scalar(select(ActivationCode.created_by)) == staff.id
    assert audit_since(action="billing.codes_issued")[0].actor_id == staff.id


def test_codes_issue_refuses_a_non_staff_actor(ctx):
    refused("forbidden", codes_issue, actor=make_user(), plan="family", days=30)


@pytest.mark.parametrize(("plan", "days", "count", "code"), [
    ("gold", 30, 1, "unknown_plan"),
    ("family", 0, 1, "invalid"),
    ("family", -5, 1, "invalid"),
    ("family", 3661, 1, "invalid"),
    ("family", 30, 0, "invalid"),
    ("family", 30, 1001, "invalid"),
])
def test_codes_issue_validates_plan_days_and_count(ctx, plan, days, count, code):
    refused(code, codes_issue, actor=None, plan=plan, days=days, count=count)


def test_codes_issue_accepts_the_limits(ctx):
    assert len(codes_issue(actor=None, plan="family", days=3660, count=1)) == 1
    assert len(codes_issue(actor=None, plan="family", days=1, count=1000)) == 1000


# --- subscription_redeem ---------------------------------------------------------------


def test_redeem_makes_the_user_an_admin_with_the_plans_slots(ctx):
    user = make_user()
    code = one_code("family_basic", days=30)

    sub = subscription_redeem(actor=user, code=code, ip="203.0.113.9")

    db.session.flush()
    assert (sub.owner_user_id, sub.plan, sub.status) == (user.id, "family_basic", "active")
    assert (sub.patient_slots, sub.caregiver_slots) == (1, 2)
    assert near(sub.expires_at, utcnow() + timedelta(days=30))
    assert near(sub.starts_at, utcnow())
    row = db.session.scalar(select(ActivationCode))
    db.session.refresh(row)
    assert (row.redeemed_by, row.subscription_id) == (user.id, sub.id)
    assert near(row.redeemed_at, utcnow())
    [event] = audit_since(action="billing.code_redeemed")
    assert (event.actor_id, event.subject_type, event.subject_id, event.ip) == (
        user.id, "subscriptions", sub.id, "203.0.113.9")
    assert event.details == {"plan": "family_basic", "days": 30,
                             "expires_at": sub.expires_at.isoformat()}
    info = subscription_of(actor=user)
    assert (info.subscription_id, info.is_active, info.slots("caregiver")) == (sub.id, True, 2)


def test_redeem_reads_codes_as_people_type_them(ctx):
    code = one_code()
    # lower case, spaces instead of dashes, O for 0 and l for 1: all read the same.
    typed = code.lower().replace("-", " ").replace("0", "o").replace("1", "l")
    assert normalize_code(typed) == code.replace("-", "")

    assert subscription_redeem(actor=make_user(), code=typed).status == "active"


def test_redeem_a_used_code_is_refused(ctx):
    code = one_code()
    first = make_user()
    sub = subscription_redeem(actor=first, code=code)
    expires = sub.expires_at

    error = refused("code_used", subscription_redeem, actor=make_user(), code=code)
    assert error.fields == {"code": [error.message]}
    refused("code_used", subscription_redeem, actor=first, code=code)
    assert db.session.get(Subscription, sub.id).expires_at == expires


@pytest.mark.parametrize("code", ["", "ABCD", "ABCD-EFGH-JKMN-PQRS-TVWX", "ABCD-EFGH-JKMN-PQRS",
                                  "!!!!-????"])
def test_redeem_an_unknown_or_malformed_code_is_refused(ctx, code):
    one_code()  # a real code exists: the wrong one still does not match it
    error = refused("invalid_code", subscription_redeem, actor=make_user(), code=code)
    assert "not valid" in error.message


def test_redeem_renews_the_same_row_from_its_current_expiry(ctx):
    user = make_user()
    sub = subscription_redeem(actor=user, code=one_code(days=30))
    first_expiry, sub_id = sub.expires_at, sub.id
    db.session.commit()

    again = subscription_redeem(actor=user, code=one_code(days=60))

    assert again.id == sub_id
    assert again.expires_at == first_expiry + timedelta(days=60)
    assert db.session.scalar(select(Subscription.id).where(
        Subscription.owner_user_id == user.id)) == sub_id
    assert row_counts()["subscriptions"] == 1


def test_redeem_after_expiry_restarts_the_same_row_from_now(ctx):
    user = make_user()
    sub = make_subscription(user, days=10)
    db.session.execute(update(Subscription).where(Subscription.id == sub.id).values(
        status="expired", expires_at=utcnow() - timedelta(days=3)))
    db.session.expire(sub)

    again = subscription_redeem(actor=user, code=one_code(days=30))

    assert again.id == sub.id
    assert again.status == "active"
    assert near(again.expires_at, utcnow() + timedelta(days=30))
    assert near(again.starts_at, utcnow())


def test_redeem_of_another_plan_applies_its_slots(ctx):
    user = make_user()
    sub = subscription_redeem(actor=user, code=one_code("family_basic"))
    assert (sub.patient_slots, sub.caregiver_slots) == (1, 2)

    sub = subscription_redeem(actor=user, code=one_code("family_plus"))

    assert (sub.plan, sub.patient_slots, sub.caregiver_slots) == ("family_plus", 4, 8)
    info = payment_provider().subscription_for(user.id)
    assert (info.plan, info.slots("patient"), info.slots("caregiver")) == ("family_plus", 4, 8)


def test_redeem_is_not_offered_with_the_http_provider(ctx, app, monkeypatch):
    code = one_code()
    monkeypatch.setitem(app.config, "PAYMENT_PROVIDER", "http")
    refused("not_found", subscription_redeem, actor=make_user(), code=code)
    assert db.session.scalar(select(ActivationCode.redeemed_by)) is None


# --- subscription_of and the local provider ---------------------------------------------


def test_subscription_of_without_a_plan_says_how_to_get_one(ctx):
    with pytest.raises(DomainError) as caught:
        subscription_of(actor=make_user())
    assert caught.value.code == "no_subscription"
    assert "activation code" in caught.value.message


def test_local_provider_reports_expiry_by_date_as_well_as_status(ctx):
    user = make_user()
    sub = make_subscription(user, plan="family", patients=2, caregivers=4)
    info = LocalProvider().subscription_for(user.id)
    assert info == SubscriptionInfo(subscription_id=sub.id, owner_user_id=user.id,
                                    status="active", plan="family", patient_slots=2,
                                    caregiver_slots=4, expires_at=sub.expires_at)
    assert (info.is_active, info.effective_status) == (True, "active")

    sub.expires_at = utcnow() - timedelta(minutes=1)
    db.session.flush()
    info = LocalProvider().subscription_for(user.id)
    assert (info.status, info.is_active, info.effective_status) == ("active", False, "expired")

    sub.status = "cancelled"
    db.session.flush()
    info = LocalProvider().subscription_for(user.id)
    assert (info.is_active, info.effective_status) == (False, "cancelled")
    assert LocalProvider().subscription_for(make_user().id) is None


def test_local_provider_prefers_the_active_subscription(ctx):
    user = make_user()
    old = make_subscription(user, days=400, status="cancelled")
    current = make_subscription(user, days=30)
    assert old.expires_at > current.expires_at

    assert LocalProvider().subscription_for(user.id).subscription_id == current.id


def test_audit_rows_of_billing_name_no_code(ctx):
    code = one_code()
    subscription_redeem(actor=make_user(), code=code)
    db.session.flush()
    text = " ".join(str(e.details) for e in db.session.scalars(select(AuditEvent)))
    assert code not in text
    assert code.replace("-", "") not in text
