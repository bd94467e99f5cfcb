"""Connections made when someone joins (BR-045/008/009/038) and the relationship mapping
(BR-030/050/028), called directly on a real database."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.connections.services import (
    connections_for_new_member,
    initial_permission_map,
    inverse_table,
    relationship_check,
    relationship_inverse,
)
from app.errors import DomainError
from app.extensions import db
from app.invites.services import invite_accept, invite_create
from app.membership.services import group_self_add, member_remove
from app.models.connections import PERMISSION_CODES, Connection, ConnectionPermission
from tests.factories import make_member, make_user
from tests.service_helpers import (
    ALL_ON,
    admin_group,
    connection_between,
    invite,
    join,
    patient_and_caregiver,
    permission_map,
    refused,
    row_counts,
)
from tests.spec_data import SPEC_INVERSES


def connection_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Connection))


# --- the mapping (BR-028) ----------------------------------------------------------------


def test_br028_inverse_table_is_the_specs(ctx):
    assert inverse_table() == SPEC_INVERSES


@pytest.mark.parametrize(("code", "gender", "expected"), [
    *[(code, gender, inverse) for (code, gender), inverse in sorted(SPEC_INVERSES.items())],
    ("con_trai", None, "khac"),  # unknown gender
    ("me", None, "khac"),
    (None, 0, None),  # no relationship chosen
    (None, None, None),
])
def test_br028_relationship_inverse(ctx, code, gender, expected):
    assert relationship_inverse(inverse_table(), code, gender) == expected


def test_br030_relationship_check(ctx):
    assert relationship_check(None) is None
    assert relationship_check("") is None
    assert relationship_check("chau") == "chau"
    with pytest.raises(DomainError) as caught:
        relationship_check("hang_xom")
    assert (caught.value.code, caught.value.status, list(caught.value.fields)) == (
        "unknown_relationship", 422, ["relationship"])


def test_br009_initial_permission_map(ctx):
    assert initial_permission_map(None) == ALL_ON
    assert initial_permission_map({}) == ALL_ON
    assert initial_permission_map({"encouragement": False, "nonsense": False}) == {
        **ALL_ON, "encouragement": False}
    # A live connection keeps one permission ON (BR-039): all OFF reads as all ON.
    assert initial_permission_map(dict.fromkeys(PERMISSION_CODES, False)) == ALL_ON


# --- joining connects to every member of the other role (BR-045 / 008 / 009) --------------


def test_br045_caregiver_joining_is_connected_to_every_patient_with_six_permissions_on(ctx):
    admin, _sub, group = admin_group(patients=4, caregivers=4)
    patients = [join(group, role="patient") for _ in range(3)]
    other_caregiver = join(group, role="caregiver")
    before = row_counts()

    caregiver = join(group, role="caregiver")

    after = row_counts()
    assert after["connections"] - before["connections"] == 3
    assert after["permissions"] - before["permissions"] == 18
    for patient in patients:
        link = connection_between(patient, caregiver)
        assert permission_map(link) == ALL_ON
        assert link.family_group_id == group.id
        updaters = set(db.session.scalars(select(ConnectionPermission.updated_by).where(
            ConnectionPermission.contact_id == link.id)))
        assert updaters == {caregiver.id}
    assert connection_between(other_caregiver, caregiver) is None
    assert connection_between(admin, caregiver) is None  # the admin is not a member


def test_br008_patient_joining_is_followed_by_every_caregiver(ctx):
    _admin, _sub, group = admin_group(patients=2, caregivers=4)
    caregivers = [join(group, role="caregiver") for _ in range(3)]
    before = connection_count()

    patient = join(group, role="patient")

    assert connection_count() - before == 3
    for caregiver in caregivers:
        link = connection_between(patient, caregiver)
        assert (link.user_id, link.linked_user_id) == (patient.id, caregiver.id)
        assert permission_map(link) == ALL_ON


def test_br045_first_member_of_a_group_gets_no_connection(ctx):
    _admin, _sub, group = admin_group()
    join(group, role="patient")
    join(group, role="patient")
    assert connection_count() == 0


def test_br045_no_connection_across_groups(ctx):
    _a, _s, first = admin_group()
    _b, _t, second = admin_group()
    patient_elsewhere = join(second, role="patient")
    join(first, role="patient")

    caregiver = join(first, role="caregiver")

    assert connection_between(patient_elsewhere, caregiver) is None
    assert connection_count() == 1


def test_br009_invite_initial_permissions_are_used_for_each_connection(ctx):
    admin, _sub, group = admin_group()
    patients = [join(group, role="patient") for _ in range(2)]
    caregiver = make_user()
    issued = invite_create(actor=admin, group=group, phone=caregiver.phone, role="caregiver",
                           initial_permissions={"emergency_alert": False})

    invite_accept(actor=caregiver, invite=issued.invite)

    for patient in patients:
        assert permission_map(connection_between(patient, caregiver)) == {
            **ALL_ON, "emergency_alert": False}


def test_rejoin_reuses_the_connection_row_with_six_permissions_on_again(ctx):
    admin, group, patient, caregiver = patient_and_caregiver()
    first = connection_between(patient, caregiver)
    member_remove(actor=admin, group=group, user_id=caregiver.id, role="caregiver")
    assert connection_between(patient, caregiver).permission_revoked is True

    second_invite = invite(group, caregiver, role="caregiver").invite
    invite_accept(actor=caregiver, invite=second_invite, relationship="chau")

    again = connection_between(patient, caregiver)
    assert again.id == first.id
    assert (again.permission_revoked, again.invite_id, again.relationship_code) == (
        False, second_invite.id, "chau")
    assert permission_map(again) == ALL_ON
    assert connection_count() == 1
    assert db.session.scalar(select(func.count()).select_from(ConnectionPermission)) == 6


# --- BR-038: a dual-role member never follows themselves ---------------------------------


def test_br038_dual_role_member_is_not_connected_to_themselves(ctx):
    _admin, _sub, group = admin_group()
    caregiver = join(group, role="caregiver")
    person = join(group, role="patient")

    join(group, person, role="caregiver")

    assert connection_between(person, person) is None
    assert connection_between(person, caregiver) is not None
    assert db.session.scalar(select(func.count()).select_from(Connection).where(
        Connection.user_id == Connection.linked_user_id)) == 0


def test_br038_connections_for_new_member_skips_the_member_itself(ctx):
    admin, _sub, group = admin_group()
    person = make_user()
    make_member(group, person, role="caregiver")
    make_member(group, person, role="patient")

    made = connections_for_new_member(actor=admin, group=group, user=person, role="patient")

    assert made == []
    assert connection_count() == 0


def test_br038_admin_adding_themselves_in_both_roles_follows_others_only(ctx):
    admin, _sub, group = admin_group()
    patient = join(group, role="patient")
    group_self_add(actor=admin, group=group, role="caregiver")
    group_self_add(actor=admin, group=group, role="patient")
    assert connection_between(admin, admin) is None
    assert connection_between(patient, admin) is not None


# --- relationship at accept (BR-030 / 050 / 028) -----------------------------------------


@pytest.mark.parametrize(("role", "said", "other_gender", "caregiver_to_patient",
                          "patient_to_caregiver"), [
    # A caregiver says what they are to the patient; the patient's gender picks the inverse.
    ("caregiver", "con_trai", 0, "con_trai", "bo"),
    ("caregiver", "con_trai", 1, "con_trai", "me"),
    ("caregiver", "vo", 0, "vo", "chong"),
    ("caregiver", "chau", 1, "chau", "ba"),
    ("caregiver", "con_gai", None, "con_gai", "khac"),
    # A patient says what they are to the caregiver; the caregiver's gender picks the inverse.
    ("patient", "bo", 0, "con_trai", "bo"),
    ("patient", "bo", 1, "con_gai", "bo"),
    ("patient", "ba", 0, "chau", "ba"),
    ("patient", "chong", 1, "vo", "chong"),
    ("patient", "me", None, "khac", "me"),
])
def test_br030_relationship_at_accept_is_what_the_accepter_is(
        ctx, role, said, other_gender, caregiver_to_patient, patient_to_caregiver):
    _admin, _sub, group = admin_group()
    other_role = "patient" if role == "caregiver" else "caregiver"
    other = join(group, role=other_role, gender=other_gender)

    accepter = join(group, role=role, relationship=said)

    patient, caregiver = (other, accepter) if role == "caregiver" else (accepter, other)
    link = connection_between(patient, caregiver)
    assert (link.relationship_code, link.inverse_relationship_code) == (
        caregiver_to_patient, patient_to_caregiver)


def test_br050_no_relationship_means_both_directions_empty(ctx):
    _admin, _sub, group = admin_group()
    patient = join(group, role="patient", gender=1)
    caregiver = join(group, role="caregiver", relationship=None)
    link = connection_between(patient, caregiver)
    assert (link.relationship_code, link.inverse_relationship_code) == (None, None)


def test_br030_unknown_relationship_writes_nothing(ctx):
    _admin, _sub, group = admin_group()
    join(group, role="patient")
    caregiver = make_user()
    pending = invite(group, caregiver, role="caregiver").invite
    refused("unknown_relationship", invite_accept, actor=caregiver, invite=pending,
            relationship="ban_than")
    assert connection_count() == 0
