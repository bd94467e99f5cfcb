"""The lookup data of SPEC §2, as the migrations leave it."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models.connections import PermissionType, Relationship, RelationshipInverse
from tests.spec_data import SPEC_INVERSES

pytestmark = pytest.mark.usefixtures("app_ctx")

SPEC_RELATIONSHIPS = {
    "con_trai": ("Con trai", "Son"), "con_gai": ("Con gái", "Daughter"),
    "vo": ("Vợ", "Wife"), "chong": ("Chồng", "Husband"),
    "bo": ("Bố", "Father"), "me": ("Mẹ", "Mother"),
    "anh_trai": ("Anh trai", "Older brother"), "chi_gai": ("Chị gái", "Older sister"),
    "em_trai": ("Em trai", "Younger brother"), "em_gai": ("Em gái", "Younger sister"),
    "ong": ("Ông", "Grandfather"), "ba": ("Bà", "Grandmother"),
    "chau": ("Cháu", "Grandchild"), "khac": ("Khác", "Other"),
}


SPEC_PERMISSIONS = [
    ("health_overview", "Xem tổng quan sức khỏe"),
    ("emergency_alert", "Nhận cảnh báo khẩn cấp"),
    ("task_config", "Cấu hình nhiệm vụ"),
    ("compliance_tracking", "Theo dõi tuân thủ"),
    ("proxy_execution", "Thực hiện thay mặt"),
    ("encouragement", "Gọi động viên"),
]


def test_fourteen_relationships_with_both_names():
    found = {r.code: (r.name_vi, r.name_en, r.is_active)
             for r in db.session.scalars(select(Relationship))}
    assert found == {code: (*names, True) for code, names in SPEC_RELATIONSHIPS.items()}
    orders = sorted(db.session.scalars(select(Relationship.display_order)))
    assert orders == list(range(1, 15))


def test_twenty_eight_inverse_mappings_exactly_as_the_spec_says():
    found = {(m.relationship_code, m.target_gender): m.inverse_code
             for m in db.session.scalars(select(RelationshipInverse))}
    assert found == SPEC_INVERSES


def test_six_permission_types_in_order():
    found = [(p.code, p.name_vi) for p in
             db.session.scalars(select(PermissionType).order_by(PermissionType.display_order))]
    assert found == SPEC_PERMISSIONS
    assert all(p.name_en and p.icon and p.is_active
               for p in db.session.scalars(select(PermissionType)))
