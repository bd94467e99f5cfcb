"""A believable family for the browser tests of a module, written server-side.

The people and most connections come from tests/factories.py; what has to look exactly
as the app writes it (an invite and its link, a member who joined by invite, a
permission turned on again, a silent disconnect) goes through the services, so the pages
show real notifications, histories and states.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from app.accounts.services import api_token_create
from app.connections.control import connection_revoke, permissions_set
from app.db import utcnow
from app.extensions import db
from app.invites.services import invite_accept, invite_create
from app.models.accounts import GENDER_FEMALE, GENDER_MALE, ApiToken
from app.models.connections import Connection
from app.models.reports import PatientReport
from tests.factories import (
    make_connection,
    make_group,
    make_member,
    make_subscription,
    make_user,
    next_phone,
)

# (caregiver, patient): (what the caregiver is to the patient, what the patient is to them)
RELATIONS = {("an", "binh"): ("con_trai", "bo"), ("an", "hoa"): ("con_trai", "me"),
             ("cuc", "binh"): ("con_gai", "bo"), ("cuc", "hoa"): ("con_gai", "me")}
# Mixed permissions: Dũng drives Bình to the clinic but does not handle his tasks.
OFF = {("dung", "binh"): ("task_config", "proxy_execution"), ("cuc", "hoa"): ("encouragement",)}
FEMALE = {"hoa", "cuc", "lan", "staff"}


@dataclass(frozen=True)
class Person:
    id: int
    phone: str
    name: str


@dataclass(frozen=True)
class World:
    """Ids and phones only: the rows' session is gone when the tests use them."""

    people: dict[str, Person]
    group_id: int
    connections: dict[tuple[str, str], int]  # (caregiver, patient) → connection id
    invite_token: str
    invite_phone: str
    report_id: int

    def __getitem__(self, key: str) -> Person:
        return self.people[key]


def seed_world() -> World:
    """Inside an app context: an admin's family of two patients and four caregivers (the
    admin one of them), mixed permissions, one silent disconnect, a pending invite,
    reports, notifications, the admin's API tokens (one used, one revoked), a staff member,
    a plan owner without a family, and an account whose number was never proved (ID-001:
    Tâm, who signed up before numbers were proved). Commits."""
    names = {"an": "Nguyễn Văn An", "binh": "Nguyễn Văn Bình", "hoa": "Trần Thị Hoa",
             "cuc": "Nguyễn Thị Cúc", "dung": "Lê Văn Dũng", "lan": "Phạm Thị Lan",
             "staff": "Nhân viên Hỗ trợ", "owner": "Đỗ Minh Khoa", "tam": "Võ Văn Tâm"}
    # The staff member has not set up the authenticator: the browser does (issue 21).
    users = {key: make_user(name=name, is_staff=(key == "staff"), enrolled=False,
                            gender=GENDER_FEMALE if key in FEMALE else GENDER_MALE,
                            **({"phone_verified_at": None} if key == "tam" else {}))
             for key, name in names.items()}
    # Two patient places, five caregiver places: four taken, one held by the pending invite.
    group = make_group(users["an"], name="Gia đình Nguyễn",
                       subscription=make_subscription(users["an"], patients=2, caregivers=5))
    make_subscription(users["owner"])  # a plan, no family yet: the create form
    for key, role in (("binh", "patient"), ("hoa", "patient"), ("an", "caregiver"),
                      ("cuc", "caregiver"), ("dung", "caregiver")):
        make_member(group, users[key], role=role)
    connections: dict[tuple[str, str], int] = {}
    for caregiver in ("an", "cuc", "dung"):
        for patient in ("binh", "hoa"):
            connection = make_connection(users[patient], users[caregiver], group=group)
            connection.relationship_code, connection.inverse_relationship_code = RELATIONS.get(
                (caregiver, patient), (None, None))
            for permission in connection.permissions:
                if permission.permission_code in OFF.get((caregiver, patient), ()):
                    permission.is_enabled = False
            connections[caregiver, patient] = connection.id
    db.session.flush()

    # Lan joins by invite (the admin is told); the admin turns Cúc's encouragement for Hoa
    # on, then off again, so the matrix stays mixed (and Hoa has no notice of it: one
    # notice per net change, none for no change; her unread badge is Lan's joining).
    joined = invite_create(actor=users["an"], group=group, phone=users["lan"].phone,
                           role="caregiver")
    invite_accept(actor=users["lan"], invite=joined.invite, relationship="con_gai")
    cuc_hoa = connections["cuc", "hoa"]
    permissions_set(actor=users["an"], connection_id=cuc_hoa, changes={"encouragement": True})
    permissions_set(actor=users["an"], connection_id=cuc_hoa, changes={"encouragement": False})
    for patient in ("binh", "hoa"):
        connections["lan", patient] = db.session.scalar(select(Connection.id).where(
            Connection.user_id == users[patient].id,
            Connection.linked_user_id == users["lan"].id))
    # Dũng is silently disconnected from Hoa (the admin's private reason is kept).
    connection_revoke(actor=users["an"], connection_id=connections["dung", "hoa"],
                      reason="Tạm dừng")
    invite_phone = next_phone()
    pending = invite_create(actor=users["an"], group=group, phone=invite_phone,
                            role="caregiver")
    reports = [PatientReport(patient_id=users[patient].id, period=period, summary=summary)
               for patient, period, summary in (
                   ("binh", "2026-09", "Huyết áp trung bình 135/85, uống thuốc đều 27/30 ngày."),
                   ("binh", "2026-10", "Huyết áp trung bình 128/82, đi bộ 5 buổi mỗi tuần."),
                   ("hoa", "2026-10", "Đường huyết lúc đói 6,5 mmol/L."))]
    db.session.add_all(reports)
    # The admin's API tokens on the settings page: one in use, one revoked.
    for name in ("Máy tính bảng của An", "Script báo cáo cũ"):
        api_token_create(user=users["an"], name=name)
    tablet, old_script = db.session.scalars(select(ApiToken).where(
        ApiToken.user_id == users["an"].id).order_by(ApiToken.id))
    tablet.last_used_at = utcnow() - timedelta(hours=3)
    old_script.revoked_at = utcnow() - timedelta(days=2)
    db.session.flush()
    world = World(people={key: Person(id=u.id, phone=u.phone, name=u.name)
                          for key, u in users.items()},
                  group_id=group.id, connections=connections, invite_token=pending.token,
                  invite_phone=invite_phone, report_id=reports[0].id)
    db.session.commit()
    return world


def permission(live, connection_id: int, code: str) -> bool:
    """Whether a connection's permission is on now, read from the live server's database."""
    from app.models.connections import ConnectionPermission

    with live.app.app_context():
        enabled = db.session.scalar(select(ConnectionPermission.is_enabled).where(
            ConnectionPermission.contact_id == connection_id,
            ConnectionPermission.permission_code == code))
        db.session.remove()
    return enabled
