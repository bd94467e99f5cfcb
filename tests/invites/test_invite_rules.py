"""The invite's state rules of app/models/invites.py: each hybrid's Python side and its SQL
side agree, at the expiry boundary too, for every status."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.db import utcnow
from app.extensions import db
from app.models.invites import INVITE_ADD_CAREGIVER, INVITE_ADD_PATIENT, ConnectionInvite
from tests.factories import make_group, next_phone

NOW = utcnow().replace(microsecond=0)

# (status, expires_at relative to NOW or None) → (is_live, is_lapsed, shown_status)
CASES = [
    ("pending", timedelta(seconds=1), (True, False, "pending")),
    ("pending", timedelta(0), (False, True, "expired")),  # expiry at `now`: not live
    ("pending", -timedelta(days=1), (False, True, "expired")),
    ("pending", None, (False, False, "pending")),
    ("accepted", timedelta(days=1), (False, False, "accepted")),
    ("accepted", -timedelta(days=1), (False, False, "accepted")),
    ("rejected", -timedelta(days=1), (False, False, "rejected")),
    ("cancelled", timedelta(days=1), (False, False, "cancelled")),
    ("expired", -timedelta(days=1), (False, False, "expired")),
    ("expired", timedelta(days=1), (False, False, "expired")),
]


def _invite(group, status, offset, invite_type=INVITE_ADD_CAREGIVER) -> ConnectionInvite:
    row = ConnectionInvite(sender_id=group.admin_user_id, family_group_id=group.id,
                           receiver_phone=next_phone(), invite_type=invite_type, status=status,
                           expires_at=None if offset is None else NOW + offset)
    db.session.add(row)
    return row


@pytest.mark.parametrize(("status", "offset", "expected"), CASES)
def test_python_and_sql_agree(app_ctx, status, offset, expected):
    row = _invite(make_group(), status, offset)
    db.session.flush()
    python = (row.is_live(NOW), row.is_lapsed(NOW), row.shown_status(NOW))
    sql = tuple(db.session.execute(
        select(ConnectionInvite.is_live(NOW), ConnectionInvite.is_lapsed(NOW),
               ConnectionInvite.shown_status(NOW))
        .where(ConnectionInvite.id == row.id)).one())
    assert python == expected
    # SQL answers NULL where Python answers False (a missing expiry): both are "no"
    assert (bool(sql[0]), bool(sql[1]), sql[2]) == expected


def test_filters_select_the_rows_python_picks(app_ctx):
    group = make_group()
    rows = [_invite(group, status, offset) for status, offset, _e in CASES
            if status != "pending" or offset is None or offset != timedelta(0)]
    rows.append(_invite(group, "pending", timedelta(0)))
    db.session.flush()
    for predicate, python in ((ConnectionInvite.is_live(NOW), lambda r: r.is_live(NOW)),
                              (ConnectionInvite.is_lapsed(NOW), lambda r: r.is_lapsed(NOW)),
                              (ConnectionInvite.is_pending, lambda r: r.is_pending)):
        found = set(db.session.scalars(select(ConnectionInvite.id).where(
            ConnectionInvite.family_group_id == group.id, predicate)))
        assert found == {r.id for r in rows if python(r)}
    for shown in ("pending", "expired", "accepted", "cancelled"):
        found = set(db.session.scalars(select(ConnectionInvite.id).where(
            ConnectionInvite.family_group_id == group.id,
            ConnectionInvite.shown_status(NOW) == shown)))
        assert found == {r.id for r in rows if r.shown_status(NOW) == shown}


def test_role_in_python_and_sql(app_ctx):
    group = make_group()
    patient = _invite(group, "pending", timedelta(days=1), INVITE_ADD_PATIENT)
    caregiver = _invite(group, "pending", timedelta(days=1), INVITE_ADD_CAREGIVER)
    db.session.flush()
    assert (patient.role, caregiver.role) == ("patient", "caregiver")
    assert dict(db.session.execute(
        select(ConnectionInvite.id, ConnectionInvite.role)
        .where(ConnectionInvite.family_group_id == group.id)).tuples().all()) == {
        patient.id: "patient", caregiver.id: "caregiver"}


def test_now_defaults_to_the_current_time(app_ctx):
    row = _invite(make_group(), "pending", None)
    row.expires_at = utcnow() + timedelta(minutes=5)
    assert (row.is_live(), row.is_lapsed(), row.shown_status()) == (True, False, "pending")
    row.expires_at = utcnow() - timedelta(seconds=1)
    assert (row.is_live(), row.is_lapsed(), row.shown_status()) == (False, True, "expired")
