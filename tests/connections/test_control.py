"""The connection controls (app/connections/control.py) called directly on a real
database: toggles (BR-024, BR-039), the silent disconnect and restore (BR-040, BR-056),
dual control, the relationship (BR-030, BR-028), and who may do what."""

from __future__ import annotations

import pytest

from app.connections.control import (
    caregiver_restore,
    caregiver_revoke,
    connection_restore,
    connection_revoke,
    permissions_set,
    relationship_set,
)
from app.connections.queries import (
    connection_history,
    current_connections,
    newly_uncovered,
    private_details,
    uncovered_patients,
)
from app.extensions import db
from app.membership.services import member_leave, member_remove
from app.models.connections import PERMISSION_CODES
from app.models.notifications import InviteNotification
from tests.factories import make_user
from tests.service_helpers import (
    ALL_OFF,
    ALL_ON,
    admin_group,
    audit_since,
    connection_between,
    join,
    last_id,
    outbox_since,
    permission_map,
    refused,
    row_counts,
)


@pytest.fixture
def family(ctx):
    """An admin, two patients (a father and a mother) and two caregivers (a daughter, a
    son), every pair connected with all six ON."""
    admin, sub, group = admin_group(patients=2, caregivers=4)
    father = join(group, role="patient", gender=0, name="Bố Bình")
    mother = join(group, role="patient", gender=1, name="Mẹ Hoa")
    daughter = join(group, role="caregiver", gender=1, name="Con Cúc")
    son = join(group, role="caregiver", gender=0, name="Con Dũng")
    db.session.commit()
    return {"admin": admin, "sub": sub, "group": group, "father": father, "mother": mother,
            "daughter": daughter, "son": son, "mark": last_id(InviteNotification)}


def link(family, patient="father", caregiver="daughter"):
    return connection_between(family[patient], family[caregiver])


# --- toggles: BR-024, BR-039 ----------------------------------------------------------


def test_br024_admin_turns_a_permission_off_and_on_at_once(family):
    c = link(family)
    permissions_set(actor=family["admin"], connection_id=c.id,
                    changes={"health_overview": False}, ip="192.0.2.1")
    db.session.commit()
    assert permission_map(c) == {**ALL_ON, "health_overview": False}
    permissions_set(actor=family["admin"], connection_id=c.id, changes={"health_overview": True})
    db.session.commit()
    assert permission_map(c) == ALL_ON
    events = audit_since(action="connection.permission_changed")
    assert [(e.actor_id, e.subject_id, e.details["permission"], e.details["from"],
             e.details["to"], e.details["as"]) for e in events] == [
        (family["admin"].id, c.id, "health_overview", True, False, "admin"),
        (family["admin"].id, c.id, "health_overview", False, True, "admin")]
    assert events[0].ip == "192.0.2.1"


def test_br024_partial_change_leaves_the_other_permissions_alone(family):
    c = link(family)
    permissions_set(actor=family["admin"], connection_id=c.id,
                    changes={"task_config": False, "proxy_execution": False})
    assert permission_map(c) == {**ALL_ON, "task_config": False, "proxy_execution": False}
    other = link(family, "mother", "daughter")
    assert permission_map(other) == ALL_ON


def test_br024_setting_a_permission_to_its_current_value_writes_nothing(family):
    c = link(family)
    before = row_counts()
    permissions_set(actor=family["admin"], connection_id=c.id, changes={"health_overview": True})
    assert row_counts() == before


def test_br039_turning_off_the_last_permission_is_refused(family):
    c = link(family)
    permissions_set(actor=family["admin"], connection_id=c.id,
                    changes=dict.fromkeys(PERMISSION_CODES[1:], False))
    error = refused("last_permission", permissions_set, actor=family["admin"],
                    connection_id=c.id, changes={PERMISSION_CODES[0]: False})
    assert "Disconnect" in error.message
    assert permission_map(c) == {**ALL_OFF, PERMISSION_CODES[0]: True}


def test_br039_turning_all_six_off_in_one_change_is_refused(family):
    c = link(family)
    refused("last_permission", permissions_set, actor=family["admin"], connection_id=c.id,
            changes=ALL_OFF)
    assert permission_map(c) == ALL_ON


def test_br039_one_off_one_on_in_the_same_change_is_allowed(family):
    c = link(family)
    permissions_set(actor=family["admin"], connection_id=c.id,
                    changes=dict.fromkeys(PERMISSION_CODES[1:], False))
    permissions_set(actor=family["admin"], connection_id=c.id,
                    changes={PERMISSION_CODES[0]: False, "encouragement": True})
    assert permission_map(c) == {**ALL_OFF, "encouragement": True}


def test_unknown_permission_is_invalid(family):
    c = link(family)
    error = refused("unknown_permission", permissions_set, actor=family["admin"],
                    connection_id=c.id, changes={"read_minds": True})
    assert "read_minds" in error.message


def test_a_permission_value_must_be_a_boolean(family):
    refused("invalid", permissions_set, actor=family["admin"], connection_id=link(family).id,
            changes={"health_overview": "no"})


def test_br040_toggling_a_revoked_connection_is_refused_until_restored(family):
    c = link(family)
    connection_revoke(actor=family["admin"], connection_id=c.id)
    for value in (True, False):
        refused("connection_revoked", permissions_set, actor=family["admin"],
                connection_id=c.id, changes={"health_overview": value})
    connection_restore(actor=family["admin"], connection_id=c.id)
    permissions_set(actor=family["admin"], connection_id=c.id, changes={"health_overview": False})
    assert permission_map(c)["health_overview"] is False


# --- who holds the controls (dual control) --------------------------------------------


def test_dual_control_the_patient_toggles_their_own_followers(family):
    c = link(family)
    permissions_set(actor=family["father"], connection_id=c.id, changes={"encouragement": False})
    assert permission_map(c)["encouragement"] is False
    [event] = audit_since(action="connection.permission_changed")
    assert (event.actor_id, event.details["as"]) == (family["father"].id, "patient")


def test_dual_control_a_patient_cannot_touch_another_patients_follower(family):
    other = link(family, "mother", "daughter")
    refused("not_found", permissions_set, actor=family["father"], connection_id=other.id,
            changes={"encouragement": False})
    refused("not_found", connection_revoke, actor=family["father"], connection_id=other.id)


def test_the_caregiver_cannot_change_their_own_permissions(family):
    c = link(family)
    refused("no_control", permissions_set, actor=family["daughter"], connection_id=c.id,
            changes={"encouragement": False})
    refused("no_control", connection_revoke, actor=family["daughter"], connection_id=c.id)
    refused("no_control", connection_restore, actor=family["daughter"], connection_id=c.id)


def test_another_familys_admin_and_strangers_get_not_found(family):
    c = link(family)
    other_admin, _sub, _group = admin_group()
    for outsider in (other_admin, make_user()):
        refused("not_found", permissions_set, actor=outsider, connection_id=c.id,
                changes={"encouragement": False})
        refused("not_found", connection_revoke, actor=outsider, connection_id=c.id)
        refused("not_found", relationship_set, actor=outsider, connection_id=c.id,
                relationship="con_gai")
    refused("not_found", permissions_set, actor=family["admin"], connection_id=10**12,
            changes={"encouragement": False})


def test_staff_look_but_do_not_change(family):
    staff = make_user(is_staff=True)
    refused("no_control", permissions_set, actor=staff, connection_id=link(family).id,
            changes={"encouragement": False})


def test_an_ended_connection_is_not_found_for_the_admin(family):
    c = link(family)
    member_remove(actor=family["admin"], group=family["group"], user_id=family["daughter"].id,
                  role="caregiver")
    refused("not_found", permissions_set, actor=family["admin"], connection_id=c.id,
            changes={"encouragement": True})
    refused("not_found", connection_restore, actor=family["admin"], connection_id=c.id)


# --- the patient is told when the admin turns a permission ON --------------------------


def test_patient_is_told_in_app_when_the_admin_turns_a_follower_permission_on(family):
    c = link(family)
    # The patient narrowed it; the admin turning it back on is news to them.
    permissions_set(actor=family["father"], connection_id=c.id,
                    changes={"health_overview": False, "encouragement": False})
    assert outbox_since(family["mark"]) == []
    mark = last_id(InviteNotification)
    permissions_set(actor=family["admin"], connection_id=c.id,
                    changes={"health_overview": True, "encouragement": True})
    [row] = outbox_since(mark)
    assert (row.notification_type, row.channel, row.recipient_user_id, row.status) == (
        "PERMISSION_ENABLED", "in_app", family["father"].id, "sent")
    assert row.payload["permissions"] == ["health_overview", "encouragement"]
    assert row.payload["caregiver_name"] == "Con Cúc"


def test_the_patient_turning_their_own_follower_on_tells_nobody(family):
    c = link(family)
    permissions_set(actor=family["father"], connection_id=c.id, changes={"encouragement": False})
    permissions_set(actor=family["father"], connection_id=c.id, changes={"encouragement": True})
    assert outbox_since(family["mark"]) == []


# --- silent disconnect and restore: BR-040, BR-056 -------------------------------------


def test_br040_disconnect_revokes_and_turns_all_six_off_and_sends_nothing(family):
    c = link(family)
    permissions_set(actor=family["admin"], connection_id=c.id,
                    changes=dict.fromkeys(PERMISSION_CODES[1:], False))  # one left ON
    db.session.commit()
    before = row_counts()
    connection_revoke(actor=family["admin"], connection_id=c.id, reason="  tired of it  ",
                      ip="192.0.2.7")
    db.session.commit()
    c = link(family)
    assert c.permission_revoked is True
    assert permission_map(c) == ALL_OFF  # BR-039 does not hold for the batch revoke
    after = row_counts()
    assert after["outbox"] == before["outbox"]
    assert {k: after[k] - before[k] for k in after} == {**dict.fromkeys(after, 0), "audit": 1}
    [event] = audit_since(action="connection.disconnected")
    assert (event.actor_id, event.subject_id, event.ip, event.details) == (
        family["admin"].id, c.id, "192.0.2.7",
        {"as": "admin", "scope": "connection", "reason": "tired of it",
         "patient_id": family["father"].id, "caregiver_id": family["daughter"].id,
         # what a restore brings back (BR-040): the one left ON
         "permissions": {**ALL_OFF, PERMISSION_CODES[0]: True}})


def test_br056_disconnect_keeps_the_row_the_membership_and_the_slots(family):
    counts = row_counts()
    connection_revoke(actor=family["admin"], connection_id=link(family).id)
    after = row_counts()
    for table in ("members", "connections", "permissions", "invites", "outbox"):
        assert after[table] == counts[table]
    assert [c.id for c in current_connections(group_id=family["group"].id)[0]
            if c.permission_revoked] == [link(family).id]


def test_br040_restore_after_all_six_on_turns_all_six_on_again_and_sends_nothing(family):
    c = link(family)
    connection_revoke(actor=family["admin"], connection_id=c.id)
    connection_restore(actor=family["admin"], connection_id=c.id)
    db.session.commit()
    c = link(family)
    assert c.permission_revoked is False
    assert permission_map(c) == ALL_ON
    assert outbox_since(family["mark"]) == []
    assert [e.action for e in audit_since() if e.subject_id == c.id and
            e.subject_type == "user_emergency_contacts"][-2:] == [
        "connection.disconnected", "connection.restored"]


def test_br040_disconnect_and_restore_are_idempotent(family):
    c = link(family)
    connection_revoke(actor=family["admin"], connection_id=c.id)
    db.session.commit()
    before = row_counts()
    connection_revoke(actor=family["admin"], connection_id=c.id)
    assert row_counts() == before
    connection_restore(actor=family["admin"], connection_id=c.id)
    db.session.commit()
    before = row_counts()
    connection_restore(actor=family["admin"], connection_id=c.id)
    assert row_counts() == before


def test_br040_the_patient_disconnects_and_restores_a_follower(family):
    c = link(family)
    connection_revoke(actor=family["father"], connection_id=c.id, reason="my choice")
    assert link(family).permission_revoked is True
    connection_restore(actor=family["father"], connection_id=c.id)
    assert link(family).permission_revoked is False
    assert outbox_since(family["mark"]) == []


def test_br040_a_reason_longer_than_500_characters_is_refused(family):
    refused("invalid", connection_revoke, actor=family["admin"],
            connection_id=link(family).id, reason="x" * 501)


def test_br040_per_caregiver_disconnect_covers_every_patient_and_sends_nothing(family):
    db.session.commit()
    before = row_counts()
    held = caregiver_revoke(actor=family["admin"], group=family["group"],
                            caregiver_id=family["daughter"].id, reason="private")
    assert sorted(h.patient.id for h in held) == sorted([family["father"].id,
                                                         family["mother"].id])
    for patient in ("father", "mother"):
        assert link(family, patient, "daughter").permission_revoked is True
        assert permission_map(link(family, patient, "daughter")) == ALL_OFF
        assert link(family, patient, "son").permission_revoked is False
    after = row_counts()
    assert after["outbox"] == before["outbox"]
    assert after["audit"] == before["audit"] + 2
    assert {e.details["scope"] for e in audit_since(action="connection.disconnected")} == {
        "caregiver"}
    caregiver_restore(actor=family["admin"], group=family["group"],
                      caregiver_id=family["daughter"].id)
    for patient in ("father", "mother"):
        assert permission_map(link(family, patient, "daughter")) == ALL_ON
    assert row_counts()["outbox"] == before["outbox"]


def test_br040_per_caregiver_disconnect_is_for_the_admin_only(family):
    refused("not_admin", caregiver_revoke, actor=family["father"], group=family["group"],
            caregiver_id=family["daughter"].id)
    refused("not_found", caregiver_revoke, actor=family["admin"], group=family["group"],
            caregiver_id=family["father"].id)  # a patient, not a caregiver


def test_br040_disconnect_is_never_blocked_by_billing(family):
    from tests.groups.test_membership import expire

    expire(family["sub"])
    connection_revoke(actor=family["admin"], connection_id=link(family).id)
    connection_restore(actor=family["admin"], connection_id=link(family).id)
    permissions_set(actor=family["admin"], connection_id=link(family).id,
                    changes={"encouragement": False})
    assert permission_map(link(family))["encouragement"] is False


def test_leaving_ends_a_silently_disconnected_connection_too(family):
    c = link(family)
    connection_revoke(actor=family["admin"], connection_id=c.id)
    member_leave(actor=family["daughter"], group=family["group"], role="caregiver")
    [ended] = [e for e in audit_since(action="connection.released") if e.subject_id == c.id]
    assert ended.details == {"cause": "left"}
    assert c.id not in [x.id for x in current_connections(group_id=family["group"].id)[0]]


# --- emergency alert coverage (BR-018's warning) ---------------------------------------


def test_br018_coverage_knows_when_a_disconnect_leaves_a_patient_without_alerts(family):
    connections, _users = current_connections(group_id=family["group"].id)
    daughter, son = link(family, "father", "daughter"), link(family, "father", "son")
    assert uncovered_patients(connections) == set()
    assert newly_uncovered(connections, without=[daughter.id]) == set()
    assert newly_uncovered(connections, without=[daughter.id, son.id]) == {family["father"].id}
    permissions_set(actor=family["admin"], connection_id=son.id,
                    changes={"emergency_alert": False})
    connections, _users = current_connections(group_id=family["group"].id)
    assert newly_uncovered(connections, switched_off=(daughter.id, "emergency_alert")) == {
        family["father"].id}
    assert newly_uncovered(connections, switched_off=(daughter.id, "task_config")) == set()
    connection_revoke(actor=family["admin"], connection_id=daughter.id)
    connections, _users = current_connections(group_id=family["group"].id)
    assert uncovered_patients(connections) == {family["father"].id}


# --- the relationship: BR-030, BR-028, BR-054 ------------------------------------------


def test_br030_the_caregiver_says_what_they_are_and_the_inverse_is_derived(family):
    c = link(family)  # the daughter follows her father
    relationship_set(actor=family["daughter"], connection_id=c.id, relationship="con_gai")
    c = link(family)
    assert (c.relationship_code, c.inverse_relationship_code) == ("con_gai", "bo")
    relationship_set(actor=family["daughter"], connection_id=link(family, "mother").id,
                     relationship="con_gai")
    mother = link(family, "mother")
    assert (mother.relationship_code, mother.inverse_relationship_code) == ("con_gai", "me")
    [event] = audit_since(action="connection.relationship_changed")[:1]
    assert event.details["from"] == {"relationship": None, "inverse_relationship": None}


def test_br030_the_patient_says_what_they_are_and_the_inverse_follows_the_caregivers_gender(
        family):
    relationship_set(actor=family["father"], connection_id=link(family, "father", "son").id,
                     relationship="bo")
    c = link(family, "father", "son")
    assert (c.relationship_code, c.inverse_relationship_code) == ("con_trai", "bo")


def test_br054_clearing_the_relationship_puts_names_back(family):
    c = link(family)
    relationship_set(actor=family["daughter"], connection_id=c.id, relationship="con_gai")
    relationship_set(actor=family["daughter"], connection_id=c.id, relationship=None)
    c = link(family)
    assert (c.relationship_code, c.inverse_relationship_code) == (None, None)


def test_br030_unknown_relationship_is_refused(family):
    refused("unknown_relationship", relationship_set, actor=family["daughter"],
            connection_id=link(family).id, relationship="cousin")


def test_br030_the_admin_who_is_not_a_party_cannot_set_it(family):
    refused("no_control", relationship_set, actor=family["admin"],
            connection_id=link(family).id, relationship="con_gai")


def test_br040_the_caregiver_can_still_set_the_relationship_when_disconnected(family):
    c = link(family)
    connection_revoke(actor=family["admin"], connection_id=c.id)
    relationship_set(actor=family["daughter"], connection_id=c.id, relationship="con_gai")
    assert link(family).relationship_code == "con_gai"
    assert outbox_since(family["mark"]) == []


# --- history ---------------------------------------------------------------------------


def test_history_tells_the_connections_story_and_keeps_the_reason_private(family):
    c = link(family)
    permissions_set(actor=family["admin"], connection_id=c.id, changes={"task_config": False})
    connection_revoke(actor=family["admin"], connection_id=c.id, reason="between us")
    connection_restore(actor=family["father"], connection_id=c.id)
    relationship_set(actor=family["daughter"], connection_id=c.id, relationship="con_gai")
    member_remove(actor=family["admin"], group=family["group"], user_id=family["daughter"].id,
                  role="caregiver")
    events, users = connection_history(link(family))
    assert [e.action for e in events] == [
        "invite.created", "invite.accepted", "connection.created",
        "connection.permission_changed", "connection.disconnected", "connection.restored",
        "connection.relationship_changed", "connection.released"]
    assert set(users) == {family["admin"].id, family["father"].id, family["daughter"].id}
    disconnect = events[4]
    assert private_details(disconnect, family["admin"])["reason"] == "between us"
    assert "reason" not in private_details(disconnect, family["father"])
    assert private_details(disconnect, make_user(is_staff=True))["reason"] == "between us"


def test_the_admin_who_also_follows_a_patient_holds_the_controls_and_speaks_as_caregiver(
        family):
    from app.membership.services import group_self_add

    group_self_add(actor=family["admin"], group=family["group"], role="caregiver")
    own = connection_between(family["father"], family["admin"])
    permissions_set(actor=family["admin"], connection_id=own.id,
                    changes={"encouragement": False})
    assert permission_map(own)["encouragement"] is False
    relationship_set(actor=family["admin"], connection_id=own.id, relationship="con_trai")
    own = connection_between(family["father"], family["admin"])
    assert (own.relationship_code, own.inverse_relationship_code) == ("con_trai", "bo")
    [event] = audit_since(action="connection.relationship_changed")
    assert event.details["as"] == "caregiver"


def test_history_shows_only_the_current_familys_story_of_a_reused_connection(family):
    c = link(family)
    connection_revoke(actor=family["admin"], connection_id=c.id, reason="first family")
    member_leave(actor=family["daughter"], group=family["group"], role="caregiver")
    member_leave(actor=family["father"], group=family["group"], role="patient")
    _admin, _sub, second = admin_group()
    join(second, family["father"], role="patient")
    join(second, family["daughter"], role="caregiver")
    reused = link(family)
    assert reused.id == c.id
    assert reused.family_group_id == second.id
    events, _users = connection_history(reused)
    assert {e.family_group_id for e in events} == {second.id}
    assert "connection.disconnected" not in [e.action for e in events]
    assert [e.action for e in events][-1] == "connection.created"
