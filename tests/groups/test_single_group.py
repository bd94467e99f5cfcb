"""BR-057, one group per user per role: the check the services run reads through
groups_held(), and a batch (the legacy import) passes the same reading in."""

from __future__ import annotations

import pytest
from flask_babel import force_locale

from app.errors import Conflict
from app.groups.services import groups_held, single_group_check
from tests.factories import make_group, make_member, make_user


@pytest.fixture
def ctx(app_ctx):
    with force_locale("en"):
        yield


def test_groups_held_for_a_batch(ctx):
    one, two = make_group(), make_group()
    both, patient, free = make_user(), make_user(), make_user()
    make_member(one, both, role="patient")
    make_member(two, both, role="caregiver")
    make_member(two, patient, role="patient")

    assert groups_held([both.id, patient.id, free.id]) == {
        (both.id, "patient"): one.id, (both.id, "caregiver"): two.id,
        (patient.id, "patient"): two.id}
    assert groups_held([]) == {}


@pytest.mark.parametrize("batched", [False, True])
def test_the_check_alone_and_in_a_batch(ctx, batched):
    one, two = make_group(), make_group()
    user = make_user()
    make_member(one, user, role="patient")
    held = groups_held([user.id]) if batched else None

    single_group_check(user_id=user.id, group_id=two.id, role="caregiver", held=held)
    with pytest.raises(Conflict) as elsewhere:
        single_group_check(user_id=user.id, group_id=two.id, role="patient", held=held)
    with pytest.raises(Conflict) as here:
        single_group_check(user_id=user.id, group_id=one.id, role="patient", held=held)
    with pytest.raises(Conflict) as not_made_yet:
        single_group_check(user_id=user.id, group_id=None, role="patient", held=held)

    assert elsewhere.value.code == here.value.code == "already_in_group"
    assert "another family" in elsewhere.value.message
    assert "in this family" in here.value.message
    assert not_made_yet.value.message == elsewhere.value.message
