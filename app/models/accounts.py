"""Users and their personal API tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    false,
    text,
    true,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column

from app.db import UTCDateTime
from app.extensions import db
from app.models_base import BigId, created_at, pk, updated_at

GENDER_MALE = 0
GENDER_FEMALE = 1
GENDER_NAMES = {GENDER_MALE: "male", GENDER_FEMALE: "female"}


# What a scrubbed copy of a deleted person's name, number or address reads as (issue 19):
# never a phone number (no "+"), and short enough for every column it replaces.
ERASED = "[erased]"

# The instance attribute (not a column) in which a request's door says whether this staff
# member passed the second factor (User.is_staff).
STAFF_FACTOR = "_staff_factor"


def person_name(user_id: int | None, name: str | None, deleted: bool) -> str:
    """How the portal names a person, everywhere it shows one (pages, staff, the audit's
    sentences, messages): their name, or "deleted user #id" for a tombstone (issue 19),
    whose name was erased."""
    if deleted:
        return _("deleted user #%(id)s", id=user_id if user_id is not None else "?")
    return name or ""


class User(db.Model):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("gender IN (0, 1)", name="chk_users_gender"),
        CheckConstraint("locale IN ('vi', 'en')", name="chk_users_locale"),
    )

    id: Mapped[int] = pk()
    # NULL once someone else proved the number (ID-001): the account lost it.
    phone: Mapped[str | None] = mapped_column(String(16), unique=True)
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    gender: Mapped[int | None] = mapped_column(SmallInteger)
    # NULL for users created by the legacy import until they claim their account.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    locale: Mapped[str] = mapped_column(String(5), nullable=False, default="vi",
                                        server_default=text("'vi'"))
    # The staff role as stored (column is_staff). What a request may do as staff is
    # is_staff below: the role, once the second factor was passed (issue 21).
    staff_role: Mapped[bool] = mapped_column("is_staff", Boolean, nullable=False,
                                             default=False, server_default=false())
    # False = suspended by staff.
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True,
                                            server_default=true())
    # Bumped by logout, password change and suspension: every session minted under an
    # older epoch stops working, on every worker, at its next request.
    session_epoch: Mapped[int] = mapped_column(Integer, nullable=False, default=0,
                                               server_default=text("0"))
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the phone proved the number (ID-001): an SMS code, an invite link or a claim
    # link that reached it. NULL: the number is not an identity yet (no invites by it).
    phone_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When a link sent to `email` came back (issue 21): only then does the address count,
    # for login and for notifications. NULL: an address typed but never proved (every
    # address from before migration 0013), which counts for nothing.
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The owner deleted the account (issue 19): its personal fields are erased and the row
    # stays as a tombstone, so the audit trail keeps pointing at "deleted user #id".
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    @property
    def shown_name(self) -> str:
        """person_name(): the name, or "deleted user #id" for a tombstone."""
        return person_name(self.id, self.name, self.is_deleted)

    @hybrid_property
    def is_staff(self) -> bool:
        """Acts as staff: the staff role, and in a request the second factor passed in
        this session or by this API token (issue 21). The request's two doors (the session
        loader, the bearer token; app/accounts/mfa.py staff_factor_passed) say which; a
        user loaded outside a request (a command, a service in a test) keeps the role."""
        return self.staff_role and self.__dict__.get(STAFF_FACTOR, True)

    @is_staff.inplace.setter
    def _is_staff_set(self, value: bool) -> None:
        self.staff_role = value

    @is_staff.inplace.expression
    @classmethod
    def _is_staff_expression(cls):
        return cls.staff_role

    def staff_factor_passed(self, passed: bool) -> None:
        """Said by a request's door (the session loader, the bearer token): a staff member
        who has not passed the second factor acts as an ordinary user in this request."""
        self.__dict__[STAFF_FACTOR] = bool(passed) or not self.staff_role

    @property
    def staff_pending(self) -> bool:
        """Staff by role, but the second factor is not passed yet: the staff area sends
        them to enrolment or to the code step."""
        return self.staff_role and not self.__dict__.get(STAFF_FACTOR, True)

    @property
    def phone_proved(self) -> bool:
        return self.phone is not None and self.phone_verified_at is not None

    @property
    def email_proved(self) -> bool:
        return self.email is not None and self.email_verified_at is not None

    # Flask-Login protocol. The id carries the epoch, see session_epoch.
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return f"{self.id}:{self.session_epoch}"

    @property
    def gender_name(self) -> str | None:
        return GENDER_NAMES.get(self.gender) if self.gender is not None else None

    def __repr__(self) -> str:
        return f"<User {self.id}>"


class ApiToken(db.Model):
    """A personal API token: only the SHA-256 of the token is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = pk()
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    created_at: Mapped[datetime] = created_at()
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When a TOTP code came with the password that issued it (issue 21): only such a token
    # reaches the staff routes (/api/v1/staff/*) and staff's sight.
    mfa_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class StaffFactor(db.Model):
    """A staff member's TOTP second factor (issue 21): its secret, sealed (app/tokens.py),
    confirmed once a code from the authenticator came back; the last time step accepted,
    so a code is never taken twice; the failed tries of the current window."""

    __tablename__ = "staff_factors"
    __table_args__ = (CheckConstraint("failures >= 0", name="chk_staff_factors_failures"),)

    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    secret_sealed: Mapped[str] = mapped_column(String(255), nullable=False)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_step: Mapped[int | None] = mapped_column(BigInteger)
    failures: Mapped[int] = mapped_column(Integer, nullable=False, default=0,
                                          server_default=text("0"))
    failed_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = created_at()


class StaffRecoveryCode(db.Model):
    """One of a staff member's ten single-use recovery codes: only a keyed hash."""

    __tablename__ = "staff_recovery_codes"

    id: Mapped[int] = pk()
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    code_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = created_at()


class AccountClaim(db.Model):
    """A one-time link with which a user created by the legacy import sets a password and
    signs in the first time (SPEC §8); only the SHA-256 of its token is stored."""

    __tablename__ = "account_claims"
    __table_args__ = (Index("idx_account_claims_token_hash", "token_hash", unique=True),)

    id: Mapped[int] = pk()
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = created_at()


# "confirm": a code that confirms a sensitive action (an export, a deletion) as the
# password does (app/accounts/confirm.py).
CODE_PURPOSES = ("register", "reset", "prove", "confirm")


class PhoneCode(db.Model):
    """A one-time SMS code (ID-001, ID-002): one row per (purpose, phone), replaced by each
    new code. Only a keyed hash of the code is stored; it lasts minutes and allows a few
    tries. A registration waits here, with its password already hashed, until its code
    comes back."""

    __tablename__ = "phone_codes"
    __table_args__ = (
        CheckConstraint("purpose IN ('register', 'reset', 'prove', 'confirm')",
                        name="chk_phone_codes_purpose"),
        CheckConstraint("attempts >= 0", name="chk_phone_codes_attempts"),
        Index("idx_phone_codes_purpose_phone", "purpose", "phone", unique=True),
    )

    id: Mapped[int] = pk()
    purpose: Mapped[str] = mapped_column(String(10), nullable=False)
    phone: Mapped[str] = mapped_column(String(16), nullable=False)
    # The account a reset or a proof is for; NULL for a registration.
    user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0,
                                          server_default=text("0"))
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A registration's checked values (name, gender, email, locale, password_hash).
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = created_at()


class EmailProof(db.Model):
    """A one-time link that proves an e-mail address (issue 21): sent to the address, only
    the SHA-256 of its token stored. The address waits here, not in users.email, until the
    link comes back: an address someone merely typed holds nothing and blocks nobody."""

    __tablename__ = "email_proofs"
    __table_args__ = (Index("idx_email_proofs_token_hash", "token_hash", unique=True),)

    id: Mapped[int] = pk()
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    # Lower-case, as parse_email() gives it.
    email: Mapped[str] = mapped_column(String(254), nullable=False, index=True)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Replaced by a newer link, or the address was proved by another account.
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = created_at()
