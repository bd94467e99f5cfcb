"""Users and their personal API tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
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
from sqlalchemy.orm import Mapped, mapped_column

from app.db import UTCDateTime
from app.extensions import db
from app.models_base import BigId, created_at, pk, updated_at

GENDER_MALE = 0
GENDER_FEMALE = 1
GENDER_NAMES = {GENDER_MALE: "male", GENDER_FEMALE: "female"}


class User(db.Model):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("gender IN (0, 1)", name="chk_users_gender"),
        CheckConstraint("locale IN ('vi', 'en')", name="chk_users_locale"),
    )

    id: Mapped[int] = pk()
    phone: Mapped[str] = mapped_column(String(16), unique=True, nullable=False)
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    gender: Mapped[int | None] = mapped_column(SmallInteger)
    # NULL for users created by the legacy import until they claim their account.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    locale: Mapped[str] = mapped_column(String(5), nullable=False, default="vi",
                                        server_default=text("'vi'"))
    is_staff: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False,
                                           server_default=false())
    # False = suspended by staff.
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True,
                                            server_default=true())
    # Bumped by logout, password change and suspension: every session minted under an
    # older epoch stops working, on every worker, at its next request.
    session_epoch: Mapped[int] = mapped_column(Integer, nullable=False, default=0,
                                               server_default=text("0"))
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()

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
