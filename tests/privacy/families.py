"""A family for the My data tests: an admin, a patient and a caregiver connected, an
invite sent, a silent disconnect with a private reason and a restore, an in-app message."""

from __future__ import annotations

from dataclasses import dataclass

from app.connections.control import connection_restore, connection_revoke, permissions_set
from app.extensions import db
from app.invites.services import invite_create
from app.notifications.services import notify_in_app
from tests.factories import make_connection, make_group, make_member, make_subscription, make_user

REASON = "Lý do riêng: cãi nhau với mẹ"


@dataclass
class Story:
    admin: object
    patient: object
    caregiver: object
    group: object
    connection: object
    invitee_phone: str


def story(*, disconnected: bool = True, restored: bool = False) -> Story:
    admin = make_user(name="Quản Trị Viên", email="admin@example.vn")
    sub = make_subscription(admin, patients=3, caregivers=5)
    group = make_group(admin, subscription=sub, name="Gia đình Lê")
    patient = make_user(name="Bà Lê Thị Mai", email="mai@example.vn", gender=1)
    caregiver = make_user(name="Anh Lê Văn Hùng", email="hung@example.vn")
    make_member(group, patient, role="patient")
    make_member(group, caregiver, role="caregiver")
    connection = make_connection(patient, caregiver, group=group)
    permissions_set(actor=admin, connection_id=connection.id,
                    changes={"encouragement": False})
    invitee_phone = "+84987654321"
    invite_create(actor=admin, group=group, phone=invitee_phone, role="caregiver")
    if disconnected:
        connection_revoke(actor=admin, connection_id=connection.id, reason=REASON)
        if restored:
            connection_restore(actor=admin, connection_id=connection.id)
    notify_in_app(user=patient, notification_type="PERMISSION_ENABLED", group_id=group.id,
                  payload={"group_id": group.id, "group_name": group.name})
    db.session.commit()
    return Story(admin, patient, caregiver, group, connection, invitee_phone)
