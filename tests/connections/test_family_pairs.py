"""BR-045/008/009 with BR-038: the pairs a family connects, as joining and the legacy import
both compute them (app/connections/services.py family_pairs)."""

from __future__ import annotations

from app.connections.services import family_pairs


def test_every_patient_with_every_caregiver():
    assert family_pairs([1, 2], [3, 4]) == [(1, 3), (1, 4), (2, 3), (2, 4)]


def test_a_member_with_both_roles_does_not_follow_themselves():
    assert family_pairs([1, 2], [2, 3]) == [(1, 2), (1, 3), (2, 3)]


def test_members_compared_by_key():
    patients = [("p", 7)]
    caregivers = [("c", 7), ("c", 8)]
    assert family_pairs(patients, caregivers, key=lambda m: m[1]) == [(("p", 7), ("c", 8))]


def test_no_one_of_a_role_no_pairs():
    assert family_pairs([], [1]) == family_pairs([1], []) == []
