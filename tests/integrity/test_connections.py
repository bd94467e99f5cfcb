"""flask integrity-check: each invariant of connections broken on purpose, reported with
its rows, repaired with an audit event, then clean (SPEC §8)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlalchemy import delete, func, select, update

from app.extensions import db
from app.models.accounts import User
from app.models.connections import PERMISSION_CODES, Connection, ConnectionPermission
from app.models.groups import FamilyGroup, FamilyGroupMember
from app.models.notifications import InviteNotification
from tests.factories import (
    make_connection,
    make_group,
    make_member,
    make_subscription,
    make_user,
)
from tests.integrity import (
    guard_again,
    repair_events,
    repaired,
    reported,
    unguarded,
    where,
)
from tests.service_helpers import permission_map


def build(run, *, patients: int = 1, caregivers: int = 1, connect: bool = True,
          status: str = "active") -> SimpleNamespace:
    """A family whose patients and caregivers are all connected (as the join does)."""

    def make():
        admin = make_user(name="Quản Trị")
        group = make_group(admin, status=status,
                           subscription=make_subscription(admin, patients=10, caregivers=10))
        ps = [make_member(group, make_user(gender=i % 2)).user_id for i in range(patients)]
        cs = [make_member(group, make_user(gender=1), role="caregiver").user_id
              for _ in range(caregivers)]
        ids = {}
        if connect:
            for p in ps:
                for c in cs:
                    ids[p, c] = make_connection(_user(p), _user(c), group=group).id
        return SimpleNamespace(group=group.id, patients=ps, caregivers=cs, connections=ids)

    return run(make)


def _user(user_id: int) -> User:
    return db.session.get(User, user_id)


def outbox_rows(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(InviteNotification))


def connection_state(app, connection_id: int) -> tuple[bool, dict[str, bool], int | None]:
    with app.app_context():
        connection = db.session.get(Connection, connection_id)
        return (connection.permission_revoked, permission_map(connection),
                connection.family_group_id)


ALL_ON = dict.fromkeys(PERMISSION_CODES, True)
ALL_OFF = dict.fromkeys(PERMISSION_CODES, False)


# --- 1. every patient/caregiver pair of a family has its connection -----------------------


def test_a_missing_connection_is_made_with_six_permissions_on(app, run):
    fam = build(run, patients=2, caregivers=2)
    [p1, p2], [c1, c2] = fam.patients, fam.caregivers
    gone = fam.connections[p2, c1]
    run(lambda: db.session.execute(delete(Connection).where(Connection.id == gone)))
    # A newcomer who met c2 in an earlier, dissolved family: the pair keeps its one row
    # (revoked there), which the repair reuses.
    old = build(run, patients=0, caregivers=0, status="dissolved")

    def newcomer():
        x = make_member(db.session.get(FamilyGroup, fam.group), make_user()).user_id
        row = make_connection(_user(x), _user(c2), group=db.session.get(FamilyGroup, old.group),
                              enabled=False)
        row.permission_revoked = True
        row.relationship_code, row.inverse_relationship_code = "con_gai", "bo"
        return x, row.id

    x, reused = run(newcomer)
    reported(app, {"connection.missing": [
        where(family=fam.group, patient=p2, caregiver=c1),
        where(family=fam.group, patient=x, caregiver=c1),
        where(family=fam.group, patient=x, caregiver=c2)]})
    repaired(app)
    with app.app_context():
        rows = {(c.user_id, c.linked_user_id): c for c in db.session.scalars(
            select(Connection).where(Connection.family_group_id == fam.group))}
        assert len(rows) == 6
        assert (p1, c1) in rows
        assert permission_map(rows[p2, c1]) == ALL_ON
        again = rows[x, c2]
        assert again.id == reused
        assert again.permission_revoked is False
        assert permission_map(again) == ALL_ON
        assert again.relationship_code == "con_gai"
    events = repair_events(app, "connection.missing")
    assert sorted((e["rows"]["patient"], e["rows"]["caregiver"]) for e in events) == \
        sorted([(p2, c1), (x, c1), (x, c2)])
    assert all(e["rows"]["family"] == fam.group for e in events)
    [again_event] = [e for e in events if e["reused"]]
    assert again_event["connection"] == reused


# --- 2. six permission rows per connection --------------------------------------------


def test_missing_permission_rows_are_added_off_and_unknown_ones_deleted(app, run):
    fam = build(run, patients=1, caregivers=2)
    short, extra = fam.connections.values()
    run(lambda: db.session.execute(delete(ConnectionPermission).where(
        ConnectionPermission.contact_id == short,
        ConnectionPermission.permission_code.in_(("health_overview", "encouragement")))))
    with unguarded(app) as cursor:  # the foreign key to the permission types
        cursor.execute("INSERT INTO connection_permissions (contact_id, permission_code, "
                       f"is_enabled, updated_at) VALUES ({int(extra)}, 'retired_code', "
                       "TRUE, CURRENT_TIMESTAMP)")
    output = reported(app, {"connection.permission_rows": [where(connection=short),
                                                            where(connection=extra)]})
    assert "4 of the 6 permission rows" in output
    assert "6 of the 6 permission rows, and 1 of unknown codes" in output
    repaired(app)
    assert connection_state(app, short)[1] == {**ALL_ON, "health_overview": False,
                                               "encouragement": False}
    assert connection_state(app, extra)[1] == ALL_ON
    events = repair_events(app, "connection.permission_rows")
    assert events[0]["added_off"] == ["encouragement", "health_overview"]
    assert events[1]["removed"] == ["retired_code"]


def test_a_connection_with_no_permission_rows_ends_revoked(app, run):
    """Completed OFF (fail closed), it then has none ON: BR-039's repair revokes it."""
    fam = build(run)
    [cid] = fam.connections.values()
    run(lambda: db.session.execute(delete(ConnectionPermission).where(
        ConnectionPermission.contact_id == cid)))
    reported(app, {"connection.permission_rows": [where(connection=cid)],
                   "connection.live_without_permission": [where(connection=cid)]})
    repaired(app)
    assert connection_state(app, cid)[:2] == (True, ALL_OFF)


# --- 3. no live connection outside its family -------------------------------------------


def test_live_connections_outside_their_family_are_revoked_silently(app, run):
    fam = build(run, patients=1, caregivers=2)
    [p], [c1, c2] = fam.patients, fam.caregivers
    left, stays = fam.connections[p, c1], fam.connections[p, c2]
    inactive = build(run, status="inactive")
    [in_inactive] = inactive.connections.values()
    loose = run(lambda: make_connection(make_user(), make_user()).id)  # no family
    # The caregiver's membership vanished without its connection being released.
    run(lambda: db.session.execute(delete(FamilyGroupMember).where(
        FamilyGroupMember.group_id == fam.group, FamilyGroupMember.user_id == c1)))
    outbox = outbox_rows(app)
    output = reported(app, {"connection.outside_family": [
        where(connection=left, family=fam.group),
        where(connection=in_inactive, family=inactive.group),
        where(connection=loose, family=None)]})
    assert "caregiver is no longer a caregiver of its family" in output
    assert "belongs to a family that is inactive" in output
    assert "belongs to no family" in output
    repaired(app)
    for cid in (left, in_inactive, loose):
        assert connection_state(app, cid)[:2] == (True, ALL_OFF)
    assert connection_state(app, stays)[:2] == (False, ALL_ON)
    assert outbox_rows(app) == outbox  # silent: no outbox row (BR-040)
    assert [e["rows"]["connection"] for e in
            repair_events(app, "connection.outside_family")] == [left, in_inactive, loose]


# --- 4. a revoked connection has every permission OFF ---------------------------------


def test_a_revoked_connection_with_permissions_on_is_turned_off(app, run):
    fam = build(run, caregivers=2)
    cid, fine = fam.connections.values()
    run(lambda: db.session.execute(update(Connection).where(Connection.id.in_((cid, fine)))
                                   .values(permission_revoked=True)))
    run(lambda: db.session.execute(update(ConnectionPermission).where(
        ConnectionPermission.contact_id == fine).values(is_enabled=False)))
    reported(app, {"connection.revoked_permission_on": [where(connection=cid)]})
    repaired(app)
    assert connection_state(app, cid)[:2] == (True, ALL_OFF)
    assert len(repair_events(app, "connection.revoked_permission_on")) == 1


# --- 5. a live connection keeps one permission ON -------------------------------------


def test_a_live_connection_with_everything_off_is_marked_revoked(app, run):
    fam = build(run, caregivers=2)
    cid, one_on = fam.connections.values()
    run(lambda: db.session.execute(update(ConnectionPermission).where(
        ConnectionPermission.contact_id.in_((cid, one_on)),
        ConnectionPermission.permission_code != "emergency_alert").values(is_enabled=False)))
    run(lambda: db.session.execute(update(ConnectionPermission).where(
        ConnectionPermission.contact_id == cid).values(is_enabled=False)))
    reported(app, {"connection.live_without_permission": [where(connection=cid)]})
    repaired(app)
    assert connection_state(app, cid)[:2] == (True, ALL_OFF)  # never turned ON
    assert connection_state(app, one_on)[:2] == (False, {**ALL_OFF, "emergency_alert": True})
    [event] = repair_events(app, "connection.live_without_permission")
    assert event["done"] == "revoked"


# --- 6. nobody follows themselves ------------------------------------------------------


@pytest.fixture
def self_connection(app, run):
    fam = build(run, caregivers=0, connect=False)
    [user] = fam.patients
    with unguarded(app) as cursor:  # chk_no_self_connection
        cursor.execute("INSERT INTO user_emergency_contacts (user_id, linked_user_id, "
                       "contact_type, permission_revoked, family_group_id, created_at, "
                       f"updated_at) VALUES ({int(user)}, {int(user)}, 'caregiver', FALSE, "
                       f"{int(fam.group)}, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)")

    def permissions():
        cid = db.session.scalar(select(Connection.id).where(Connection.user_id == user))
        db.session.add_all(ConnectionPermission(contact_id=cid, permission_code=code)
                           for code in PERMISSION_CODES)
        return cid

    yield run(permissions), fam.group
    guard_again(app)


def test_a_self_connection_is_revoked(app, self_connection):
    cid, group_id = self_connection
    # Outside its family too: its caregiver is not a caregiver member (3 reports it).
    reported(app, {"connection.self": [where(connection=cid)],
                   "connection.outside_family": [where(connection=cid, family=group_id)]})
    output = repaired(app)
    assert "[connection.self] repaired 1 violation." in output
    assert connection_state(app, cid)[:2] == (True, ALL_OFF)
    assert len(repair_events(app, "connection.self")) == 1


# --- 7. the inverse relationship matches the mapping ----------------------------------


def test_an_inverse_that_does_not_match_the_mapping_is_recomputed(app, run):
    fam = build(run, patients=2, caregivers=2)
    [man, woman], [c1, c2] = fam.patients, fam.caregivers

    def label():
        values = {
            (man, c1): ("con_trai", "chau"),  # neither side's inverse: wrong
            # (con_gai, me) for a man would hold: he may have said "mother" himself.
            (man, c2): (None, "bo"),         # only the patient's side: derive the other
            (woman, c1): ("vo", "khac"),     # a wife's partner who is a woman: khac, fine
            (woman, c2): ("con_gai", "me"),  # fine
        }
        for pair, (rel, inv) in values.items():
            connection = db.session.get(Connection, fam.connections[pair])
            connection.relationship_code, connection.inverse_relationship_code = rel, inv

    run(label)
    reported(app, {"connection.inverse_relationship": [
        where(connection=fam.connections[man, c1]), where(connection=fam.connections[man, c2])]})
    repaired(app)
    with app.app_context():
        fixed = db.session.get(Connection, fam.connections[man, c1])
        assert (fixed.relationship_code, fixed.inverse_relationship_code) == ("con_trai", "bo")
        # The caregiver (a woman) of a man who says he is her father is his daughter.
        derived = db.session.get(Connection, fam.connections[man, c2])
        assert (derived.relationship_code, derived.inverse_relationship_code) == ("con_gai",
                                                                                  "bo")
    events = repair_events(app, "connection.inverse_relationship")
    assert events[0]["before"] == ["con_trai", "chau"]
    assert events[0]["set"] == {"inverse_relationship_code": "bo"}
