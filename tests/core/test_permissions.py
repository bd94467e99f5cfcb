"""Who may see a group (app/permissions.py): the Python check and its SQL condition agree
for the admin, a member, staff, an outsider and an anonymous visitor."""

from __future__ import annotations

import pytest
from flask_login import AnonymousUserMixin
from sqlalchemy import select

from app.extensions import db
from app.models.groups import FamilyGroup, FamilyGroupMember
from app.permissions import (
    can_act_as_admin,
    can_manage_places,
    can_view_group,
    group_viewable_by,
)
from tests.factories import make_group, make_member, make_user


@pytest.mark.parametrize(("who", "sees"), [
    ("admin", True), ("patient", True), ("caregiver", True), ("staff", True),
    ("outsider", False), ("member_elsewhere", False), ("anonymous", False),
])
def test_python_and_sql_agree(app_ctx, who, sees):
    admin = make_user()
    group, other = make_group(admin), make_group()
    people = {"admin": admin, "patient": make_user(), "caregiver": make_user(),
              "staff": make_user(is_staff=True), "outsider": make_user(),
              "member_elsewhere": make_user(), "anonymous": AnonymousUserMixin()}
    make_member(group, people["patient"], role="patient")
    make_member(group, people["caregiver"], role="caregiver")
    make_member(other, people["member_elsewhere"], role="patient")
    user = people[who]
    member_ids = set(db.session.scalars(select(FamilyGroupMember.user_id).where(
        FamilyGroupMember.group_id == group.id)))

    assert can_view_group(user, group, member_ids) is sees
    found = set(db.session.scalars(select(FamilyGroup.id).where(group_viewable_by(user))))
    assert (group.id in found) is sees


@pytest.mark.parametrize("status", ["active", "inactive", "dissolved"])
@pytest.mark.parametrize("who", ["admin", "staff", "member", "outsider"])
def test_the_admin_and_staff_manage_an_active_family_only(app_ctx, who, status):
    """The family page's invite controls and places (can_manage_places) and the admin's
    changes (can_act_as_admin) are offered in an active family only."""
    admin = make_user()
    group = make_group(admin)
    group.status = status
    people = {"admin": admin, "staff": make_user(is_staff=True), "member": make_user(),
              "outsider": make_user()}
    make_member(group, people["member"], role="caregiver")
    user = people[who]

    active = status == "active"
    assert can_manage_places(user, group) is (active and who in ("admin", "staff"))
    assert can_act_as_admin(user, group) is (active and who == "admin")
