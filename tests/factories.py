"""Factories: each test builds the rows that matter to it, through the models."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pyotp
from sqlalchemy import update

from app.accounts.passwords import hash_password
from app.db import utcnow
from app.extensions import db
from app.models.accounts import StaffFactor, User
from app.models.billing import Subscription
from app.models.connections import PERMISSION_CODES, Connection, ConnectionPermission
from app.models.groups import FamilyGroup, FamilyGroupMember
from app.tokens import seal

PASSWORD = "matkhau-2026"
_phones = itertools.count(1)
_HASH = hash_password(PASSWORD)


def next_phone() -> str:
    """A fresh valid Vietnamese mobile number in E.164 (+8491xxxxxxx)."""
    return f"+8491{next(_phones):07d}"


def national(e164: str) -> str:
    return "0" + e164[3:]


def make_user(*, enrolled: bool = True, **fields) -> User:
    """A user whose number is proved (ID-001), unless phone_verified_at=None, and whose
    email, if given, is proved (issue 21), unless email_verified_at=None. A staff member
    has set up the test authenticator (TOTP_SECRET), unless enrolled=False."""
    values = {"phone": next_phone(), "name": "Nguyễn Văn Test", "gender": 0,
              "password_hash": _HASH, "locale": "vi", "phone_verified_at": utcnow()}
    if fields.get("email"):
        values["email_verified_at"] = utcnow()
    values.update(fields)
    user = User(**values)
    db.session.add(user)
    db.session.flush()
    if user.staff_role and enrolled:
        enrol(user)
    return user


# Every enrolled staff member of the tests has this authenticator secret (base32).
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def enrol(user: User, secret: str = TOTP_SECRET) -> StaffFactor:
    """The staff member's authenticator set up, as the enrolment page leaves it."""
    factor = StaffFactor(user_id=user.id, secret_sealed=seal(secret), confirmed_at=utcnow())
    db.session.add(factor)
    db.session.flush()
    return factor


def totp_now(secret: str = TOTP_SECRET) -> str:
    return pyotp.TOTP(secret).now()


def authenticator_code(user_id: int, secret: str = TOTP_SECRET) -> str:
    """A code the portal takes now for this staff member: the test forgets which step the
    last code took and its failed tries (a test that is not about replay or pacing acts
    twice within 30 s). Needs an app context; commits."""
    db.session.execute(update(StaffFactor).where(StaffFactor.user_id == user_id)
                       .values(last_step=None, failures=0, failed_since=None))
    db.session.commit()
    return totp_now(secret)


def make_subscription(owner: User, *, plan: str = "family", patients: int = 2,
                      caregivers: int = 4, days: int = 365, status: str = "active") -> Subscription:
    now = utcnow()
    sub = Subscription(owner_user_id=owner.id, plan=plan, patient_slots=patients,
                       caregiver_slots=caregivers, status=status, starts_at=now,
                       expires_at=now + timedelta(days=days))
    db.session.add(sub)
    db.session.flush()
    return sub


def make_group(admin: User | None = None, *, name: str = "Gia đình Test",
               subscription: Subscription | None = None, status: str = "active") -> FamilyGroup:
    admin = admin or make_user()
    subscription = subscription or make_subscription(admin)
    group = FamilyGroup(admin_user_id=admin.id, subscription_id=subscription.id, name=name,
                        status=status)
    db.session.add(group)
    db.session.flush()
    return group


def make_member(group: FamilyGroup, user: User | None = None, *,
                role: str = "patient") -> FamilyGroupMember:
    user = user or make_user()
    member = FamilyGroupMember(group_id=group.id, user_id=user.id, role=role)
    db.session.add(member)
    db.session.flush()
    return member


def make_connection(patient: User, caregiver: User, *, group: FamilyGroup | None = None,
                    enabled: bool = True) -> Connection:
    connection = Connection(user_id=patient.id, linked_user_id=caregiver.id,
                            contact_type="caregiver", family_group_id=group.id if group else None)
    connection.permissions = [ConnectionPermission(permission_code=code, is_enabled=enabled)
                              for code in PERMISSION_CODES]
    db.session.add(connection)
    db.session.flush()
    return connection


def make_email_link(user: User, email: str) -> str:
    """A link sent to `email` to prove it for `user` (issue 21); its token in clear, as
    the e-mail carries it (opened from the outbox row where it waits, sealed)."""
    from sqlalchemy import select

    from app.accounts.email_proof import email_proof_send
    from app.models.notifications import InviteNotification
    from app.tokens import unseal

    proof = email_proof_send(user=user, email=email, paced=False)
    db.session.flush()
    row = db.session.scalar(select(InviteNotification).where(
        InviteNotification.notification_type == "EMAIL_PROOF",
        InviteNotification.payload["proof_id"].as_integer() == proof.id))
    return unseal(row.payload["sealed_token"])
