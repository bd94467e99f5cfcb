"""Handing the family over (issue 19): the admin passes the family to a member who holds an
active plan of their own, not used by another family, with places enough (BR-041, BR-047).
Called directly on a real database; the http provider through the fake payment service."""

from __future__ import annotations

import pytest

from app.extensions import db
from app.invites.services import invite_create
from app.membership.handover import group_hand_over, handover_candidates
from app.models.groups import FamilyGroup
from app.models.notifications import InviteNotification
from app.payments.http_provider import HttpProvider
from tests.factories import make_group, make_subscription, make_user
from tests.payment_server import PaymentServer, down_url, subscription_json
from tests.service_helpers import (
    admin_group,
    audit_since,
    join,
    last_id,
    members_of,
    outbox_since,
    refused,
)


@pytest.fixture
def family(ctx):
    admin, sub, group = admin_group(patients=2, caregivers=4)
    father = join(group, role="patient", name="Bố Bình")
    daughter = join(group, role="caregiver", name="Con Cúc")
    son = join(group, role="caregiver", name="Con Dũng")
    db.session.commit()
    return {"admin": admin, "sub": sub, "group": group, "father": father,
            "daughter": daughter, "son": son}


def test_hand_over_to_a_member_with_a_plan(family):
    group, daughter = family["group"], family["daughter"]
    plan = make_subscription(daughter, patients=2, caregivers=2)
    before_members = members_of(group)
    mark = last_id(InviteNotification)
    group_hand_over(actor=family["admin"], group=group, to_user_id=daughter.id)
    db.session.commit()
    group = db.session.get(FamilyGroup, group.id)
    assert group.admin_user_id == daughter.id
    assert group.subscription_id == plan.id
    # the members are as they were; the old admin, not a member, stays out
    assert members_of(group) == before_members
    assert family["admin"].id not in {uid for uid, _role in members_of(group)}
    # the new admin and the members are told; the old admin, who did it, is not
    in_app = {(r.recipient_user_id, r.payload["to_you"]) for r in outbox_since(mark)
              if r.channel == "in_app"}
    assert in_app == {(daughter.id, True), (family["son"].id, False),
                      (family["father"].id, False)}
    assert {r.notification_type for r in outbox_since(mark)} == {"FAMILY_HANDED_OVER"}
    # local provider: no payment sync rows
    assert not [r for r in outbox_since(mark) if r.channel == "payment"]
    [event] = audit_since(action="group.handed_over")
    assert event.details["admin_id"] == family["admin"].id
    assert event.details["user_id"] == daughter.id
    assert event.details["to_subscription_id"] == plan.id
    assert event.details["from_subscription_id"] == family["sub"].id
    # the old admin may no longer hand it back
    refused("not_admin", group_hand_over, actor=family["admin"], group=group,
            to_user_id=family["son"].id)


def test_the_old_admin_who_is_a_member_stays_one(family):
    from app.membership.services import group_self_add
    group, admin = family["group"], family["admin"]
    group_self_add(actor=admin, group=group, role="patient")
    make_subscription(family["son"])
    db.session.commit()
    group_hand_over(actor=admin, group=group, to_user_id=family["son"].id)
    db.session.commit()
    assert (admin.id, "patient") in members_of(group)


def test_only_the_admin(family):
    make_subscription(family["son"])
    refused("not_admin", group_hand_over, actor=family["daughter"], group=family["group"],
            to_user_id=family["son"].id)


def test_not_a_member(family):
    outsider = make_user()
    make_subscription(outsider)
    refused("not_a_member", group_hand_over, actor=family["admin"], group=family["group"],
            to_user_id=outsider.id)
    refused("already_admin", group_hand_over, actor=family["admin"], group=family["group"],
            to_user_id=family["admin"].id)


def test_no_subscription(family):
    refused("no_subscription", group_hand_over, actor=family["admin"], group=family["group"],
            to_user_id=family["son"].id)


def test_subscription_inactive(family):
    make_subscription(family["son"], status="expired")
    refused("subscription_inactive", group_hand_over, actor=family["admin"],
            group=family["group"], to_user_id=family["son"].id)


def test_subscription_in_use(family):
    make_group(family["son"], subscription=make_subscription(family["son"]))
    refused("subscription_in_use", group_hand_over, actor=family["admin"],
            group=family["group"], to_user_id=family["son"].id)


def test_not_enough_slots_counts_members_and_pending_invites(family):
    """Two caregivers are members; a plan of two caregiver places holds them, until a
    pending invite asks for a third (BR-047)."""
    make_subscription(family["son"], patients=1, caregivers=2)
    db.session.commit()
    invite_create(actor=family["admin"], group=family["group"], phone="0912000111",
                  role="caregiver")
    err = refused("not_enough_slots", group_hand_over, actor=family["admin"],
                  group=family["group"], to_user_id=family["son"].id)
    assert "2" in err.message
    assert "3" in err.message


def test_candidates_say_who_can_and_why_not(family):
    make_subscription(family["son"])
    candidates = {c.user.id: c.refusal for c in
                  handover_candidates(actor=family["admin"], group=family["group"])}
    assert candidates[family["son"].id] is None
    assert "plan" in candidates[family["daughter"].id]
    assert family["admin"].id not in candidates


def test_a_lapsed_admin_can_still_hand_over(family):
    """Nothing is granted from the old plan: an expired one does not stop a handover."""
    family["sub"].status = "expired"
    make_subscription(family["son"])
    db.session.commit()
    group_hand_over(actor=family["admin"], group=family["group"], to_user_id=family["son"].id)
    assert family["group"].admin_user_id == family["son"].id


@pytest.fixture
def http(app, monkeypatch):
    """The http provider against the fake payment service."""
    with PaymentServer() as server:
        monkeypatch.setitem(app.config, "PAYMENT_PROVIDER", "http")
        monkeypatch.setitem(app.extensions, "payment_provider",
                            HttpProvider(server.url, timeout=0.5))
        yield server


def test_http_provider_moves_the_members_through_the_outbox(family, http):
    group, son = family["group"], family["son"]
    http.subscriptions[family["admin"].id] = subscription_json(family["admin"].id,
                                                               family["sub"].id)
    http.subscriptions[son.id] = subscription_json(son.id, 7007)
    mark = last_id(InviteNotification)
    group_hand_over(actor=family["admin"], group=group, to_user_id=son.id)
    db.session.commit()
    assert group.subscription_id == 7007
    sync = {(r.payload["subscription_id"], r.payload["action"], r.payload["user_id"],
             r.payload["role"]) for r in outbox_since(mark) if r.channel == "payment"}
    members = members_of(group)
    assert sync == ({(family["sub"].id, "remove", uid, role) for uid, role in members}
                    | {(7007, "add", uid, role) for uid, role in members})


def test_http_provider_down_is_503_and_changes_nothing(family, app, monkeypatch):
    monkeypatch.setitem(app.config, "PAYMENT_PROVIDER", "http")
    monkeypatch.setitem(app.extensions, "payment_provider",
                        HttpProvider(down_url(), timeout=0.2, retries=0))
    refused("payment_unavailable", group_hand_over, actor=family["admin"],
            group=family["group"], to_user_id=family["son"].id)
    assert family["group"].admin_user_id == family["admin"].id
