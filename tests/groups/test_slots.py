"""The slot rule of app/groups/slots.py (BR-047 / BR-059): the arithmetic, the refusal
and its message, and the counting — per family, in batch and from loaded rows — agree."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask_babel import force_locale
from sqlalchemy import select

from app.db import utcnow
from app.errors import Conflict
from app.extensions import db
from app.groups.queries import group_view
from app.groups.slots import (
    Slots,
    counts_from_view,
    limit_reached,
    live_invite_counts,
    places_left,
    slot_counts,
    slot_counts_of,
    slots_summary,
)
from app.models.invites import INVITE_ADD_CAREGIVER, INVITE_ADD_PATIENT, ConnectionInvite
from tests.factories import make_group, make_member, next_phone


@pytest.fixture
def ctx(app_ctx):
    with force_locale("en"):
        yield


@pytest.mark.parametrize(("total", "used", "pending", "free", "over", "invite", "accept"), [
    (3, 0, 0, 3, False, True, True),
    (3, 1, 1, 1, False, True, True),
    (3, 2, 1, 0, False, False, True),   # the last place is held by an invite
    (3, 3, 0, 0, False, False, False),
    (2, 2, 1, 0, True, False, False),   # a lowered plan: over by one
    (0, 0, 0, 0, False, False, False),  # no plan
])
def test_slot_arithmetic(ctx, total, used, pending, free, over, invite, accept):
    slots = Slots(role="caregiver", total=total, used=used, pending=pending)
    assert (slots.free, slots.over_plan) == (free, over)
    assert places_left(total, used, pending) == total - used - pending
    for accepting, allowed in ((False, invite), (True, accept)):
        if allowed:
            slots.check(accepting=accepting)
        else:
            with pytest.raises(Conflict) as refused:
                slots.check(accepting=accepting)
            assert refused.value.code == "no_slot"


def test_the_limit_message_is_the_refusal_and_the_page_text(ctx):
    full = Slots(role="patient", total=2, used=1, pending=1)
    with pytest.raises(Conflict) as refused:
        full.check()
    assert full.limit_message == refused.value.message == limit_reached(role="patient", total=2)
    assert refused.value.message.startswith("Limit reached: the plan has 2 patient places")
    assert Slots(role="patient", total=2, used=1, pending=0).limit_message is None


def test_places_left_is_the_same_rule_in_sql(ctx):
    used, pending, total = 2, 1, 2
    assert db.session.scalar(select(places_left(total, used, pending))) == -1
    assert db.session.scalar(select(places_left(total, used, pending, members_only=True))) == 0


def _invite(group, role, *, status="pending", expires=timedelta(days=1)):
    db.session.add(ConnectionInvite(
        sender_id=group.admin_user_id, family_group_id=group.id, receiver_phone=next_phone(),
        invite_type=INVITE_ADD_PATIENT if role == "patient" else INVITE_ADD_CAREGIVER,
        status=status, expires_at=utcnow() + expires))


def test_counts_agree_per_family_in_batch_and_from_loaded_rows(ctx):
    one, two, empty = make_group(), make_group(), make_group()
    make_member(one, role="patient")
    make_member(one, role="caregiver")
    make_member(two, role="caregiver")
    _invite(one, "caregiver")
    _invite(one, "caregiver")
    _invite(one, "patient", expires=-timedelta(seconds=1))  # lapsed: holds no place
    _invite(one, "patient", status="cancelled")
    _invite(two, "patient")
    db.session.flush()

    batch = slot_counts_of([one.id, two.id, empty.id])

    assert batch[one.id] == {"patient": {"used": 1, "pending": 0},
                             "caregiver": {"used": 1, "pending": 2}}
    assert batch[two.id] == {"patient": {"used": 0, "pending": 1},
                             "caregiver": {"used": 1, "pending": 0}}
    assert batch[empty.id] == {"patient": {"used": 0, "pending": 0},
                               "caregiver": {"used": 0, "pending": 0}}
    for group in (one, two, empty):
        assert slot_counts(group.id) == batch[group.id] == counts_from_view(group_view(group))
    assert slot_counts_of([]) == {}


def test_counting_query_groups_by_the_invite_role(ctx):
    group = make_group()
    _invite(group, "patient")
    _invite(group, "caregiver")
    db.session.flush()
    rows = db.session.execute(live_invite_counts().where(
        ConnectionInvite.family_group_id == group.id)).all()
    assert sorted((r.role, r.n) for r in rows) == [("caregiver", 1), ("patient", 1)]


def test_summary_from_the_plan(ctx):
    class Plan:
        @staticmethod
        def slots(role):
            return {"patient": 1, "caregiver": 4}[role]

    counts = {"patient": {"used": 1, "pending": 0}, "caregiver": {"used": 1, "pending": 1}}
    summary = slots_summary(Plan(), counts)
    assert summary["patient"].as_json() == {"total": 1, "used": 1, "pending": 0, "free": 0}
    assert summary["caregiver"].as_json() == {"total": 4, "used": 1, "pending": 1, "free": 2}
    assert summary["patient"].limit_message is not None
    assert summary["caregiver"].limit_message is None
    assert slots_summary(None, counts)["caregiver"].total == 0
