"""`flask demo-data`: a believable family for trying the portal on an empty database.

The family itself is written against the models (a believable history, with one
connection whose permissions were narrowed); the pending invite and the spare
activation code go through the services, so the printed link and code work.
"""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import func, select

from app.accounts.passwords import hash_password
from app.audit.services import audit_record
from app.billing.services import codes_issue
from app.connections.control import connection_restore, connection_revoke
from app.db import utcnow
from app.extensions import db
from app.invites.links import accept_url
from app.invites.services import invite_create
from app.models.accounts import GENDER_FEMALE, GENDER_MALE, User
from app.models.billing import Subscription
from app.models.connections import PERMISSION_CODES, Connection, ConnectionPermission
from app.models.groups import FamilyGroup, FamilyGroupMember
from app.models.invites import ConnectionInvite
from app.models.notifications import InviteNotification
from app.models.reports import PatientReport
from app.phone import display_phone, normalize_phone

PASSWORD = "giadinh2026"  # noqa: S105 - the demo's published password, printed on load

PEOPLE = [
    # key, phone, name, gender
    ("an", "0912345678", "Nguyễn Văn An", GENDER_MALE),
    ("binh", "0987654321", "Nguyễn Văn Bình", GENDER_MALE),
    ("hoa", "0987654322", "Trần Thị Hoa", GENDER_FEMALE),
    ("cuc", "0901234567", "Nguyễn Thị Cúc", GENDER_FEMALE),
    ("dung", "0933111222", "Lê Văn Dũng", GENDER_MALE),
    ("staff", "0900000001", "Nhân viên Hỗ trợ", GENDER_FEMALE),
]

# (caregiver, patient): (what the caregiver is to the patient, what the patient is to them)
RELATIONS = {
    ("cuc", "binh"): ("con_gai", "bo"),
    ("cuc", "hoa"): ("con_gai", "me"),
    ("dung", "binh"): ("khac", "khac"),
    ("dung", "hoa"): ("khac", "khac"),
}

REPORTS = {
    "binh": [("2026-09", "Huyết áp trung bình 135/85, uống thuốc đều 27/30 ngày."),
             ("2026-10", "Huyết áp trung bình 128/82, đi bộ 5 buổi mỗi tuần.")],
    "hoa": [("2026-09", "Đường huyết lúc đói 7,2 mmol/L, cần giảm tinh bột buổi tối."),
            ("2026-10", "Đường huyết lúc đói 6,5 mmol/L, tuân thủ thuốc 29/30 ngày.")],
}


class DemoError(Exception):
    pass


def load_demo_data() -> list[str]:
    """Write the demo family; returns the lines to print. Refuses a database with users."""
    if db.session.scalar(select(func.count()).select_from(User)):
        raise DemoError("The database already has users; demo data goes into an empty one "
                        "(delete instance/family_connect.sqlite3 and run flask db upgrade).")
    now = utcnow()
    password_hash = hash_password(PASSWORD)
    # Demo numbers count as proved (ID-001): the demo is a family that already signed up.
    users = {key: User(phone=normalize_phone(phone), name=name, gender=gender, locale="vi",
                       password_hash=password_hash, is_staff=(key == "staff"),
                       phone_verified_at=utcnow())
             for key, phone, name, gender in PEOPLE}
    users["an"].email = "an@example.com"
    users["an"].email_verified_at = utcnow()  # proved, as the number is (issue 21)
    db.session.add_all(users.values())
    db.session.flush()

    subscription = Subscription(owner_user_id=users["an"].id, plan="family", patient_slots=2,
                                caregiver_slots=4, status="active", starts_at=now,
                                expires_at=now + timedelta(days=365))
    db.session.add(subscription)
    db.session.flush()
    group = FamilyGroup(admin_user_id=users["an"].id, subscription_id=subscription.id,
                        name="Gia đình Nguyễn", status="active")
    db.session.add(group)
    db.session.flush()
    audit_record(actor=users["an"], action="group.created", subject=group, group_id=group.id)

    # An, the admin, is not a member: the family's fourth caregiver place is free (with
    # Cúc, Dũng and the pending invite), so a newcomer can invite someone, or add
    # themselves as a caregiver (BR-049), at once.
    for key, role in (("binh", "patient"), ("hoa", "patient"),
                      ("cuc", "caregiver"), ("dung", "caregiver")):
        db.session.add(FamilyGroupMember(group_id=group.id, user_id=users[key].id, role=role))
        audit_record(actor=users[key], action="member.joined", subject=users[key],
                     group_id=group.id, details={"role": role})

    for (caregiver, patient), (relation, inverse) in RELATIONS.items():
        connection = Connection(user_id=users[patient].id, linked_user_id=users[caregiver].id,
                                contact_type="caregiver", relationship_code=relation,
                                inverse_relationship_code=inverse, family_group_id=group.id)
        # Dũng, a neighbour who drives Bình to the clinic, does not handle tasks for him.
        off = ({"task_config", "proxy_execution"} if (caregiver, patient) == ("dung", "binh")
               else set())
        connection.permissions = [
            ConnectionPermission(permission_code=code, is_enabled=code not in off)
            for code in PERMISSION_CODES]
        db.session.add(connection)
        db.session.flush()
        audit_record(actor=users[caregiver], action="connection.created", subject=connection,
                     group_id=group.id,
                     details={"patient_id": users[patient].id,
                              "caregiver_id": users[caregiver].id, "relationship": relation,
                              "inverse_relationship": inverse})

    for key, reports in REPORTS.items():
        for period, summary in reports:
            db.session.add(PatientReport(patient_id=users[key].id, period=period, summary=summary))

    db.session.flush()
    # The pending invite and a spare code go through the services, so the link works.
    pending_phone = normalize_phone("0944555666")
    issued = invite_create(actor=users["an"], group=group, phone=pending_phone, role="caregiver")
    ttl_days = current_app.config["INVITE_TTL_DAYS"]
    [spare_code] = codes_issue(actor=None, plan="family_plus", days=365, count=1)
    _staff_review_examples(users, issued.invite)

    base = current_app.config["PUBLIC_BASE_URL"]
    lines = [
        'Demo data loaded: family group "Gia đình Nguyễn" (plan family: 2 patients, '
        "4 caregivers; one caregiver place is free).",
        f"Every demo account's password is: {PASSWORD}",
        "",
        f"{'phone':<14} {'name':<20} role",
    ]
    roles = {"an": "family admin (also email an@example.com)", "binh": "patient",
             "hoa": "patient", "cuc": "caregiver", "dung": "caregiver", "staff": "internal staff"}
    for key, _phone, name, _gender in PEOPLE:
        lines.append(f"{display_phone(users[key].phone):<14} {name:<20} {roles[key]}")
    lines += ["", f"Pending caregiver invite to {display_phone(pending_phone)}, expires in "
              f"{ttl_days} days: {accept_url(issued.token)}",
              f"A spare activation code (plan family_plus, 365 days) for a new account: "
              f"{spare_code}",
              "For staff: the invite's SMS failed (resend it from the family's staff page) "
              "and Dũng's connection to Hoa was disconnected and restored three times (the "
              "review queue flags it). The staff area asks the staff member to set up an "
              "authenticator app (TOTP) at the first visit: scan the QR code it shows.",
              f"Log in at {base}/account/login"]
    return lines


def _staff_review_examples(users: dict[str, User], invite: ConnectionInvite) -> None:
    """Something for staff to review: the pending invite's SMS failed for good, and the
    admin disconnected and restored Dũng → Hoa three times (a disconnect_cycles signal)."""
    for row in db.session.scalars(select(InviteNotification).where(
            InviteNotification.invite_id == invite.id, InviteNotification.channel == "sms")):
        row.status, row.retry_count, row.next_attempt_at = (
            "failed", current_app.config["NOTIFY_MAX_ATTEMPTS"], None)
        row.error = "gateway answered 503 Service Unavailable"
    connection = db.session.scalar(select(Connection).where(
        Connection.user_id == users["hoa"].id, Connection.linked_user_id == users["dung"].id))
    for reason in ("Thử tắt", "Tắt lại", None):
        connection_revoke(actor=users["an"], connection_id=connection.id, reason=reason)
        connection_restore(actor=users["an"], connection_id=connection.id)
    db.session.flush()
