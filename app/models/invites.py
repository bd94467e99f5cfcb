"""Invites to a family group, carried by a link whose token is stored hashed."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ColumnElement,
    ForeignKey,
    Index,
    String,
    and_,
    case,
    text,
)
from sqlalchemy.ext.hybrid import hybrid_method, hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import UTCDateTime, utcnow
from app.extensions import db
from app.models_base import BigId, created_at, pk, updated_at

if TYPE_CHECKING:
    from app.models.accounts import User
    from app.models.groups import FamilyGroup

INVITE_ADD_PATIENT = "add_patient"
INVITE_ADD_CAREGIVER = "add_caregiver"
INVITE_PENDING = "pending"
INVITE_STATUSES = (INVITE_PENDING, "accepted", "rejected", "cancelled", "expired")


class ConnectionInvite(db.Model):
    __tablename__ = "connection_invites"
    __table_args__ = (
        # BR-006. The admin adding themselves (BR-049) never writes an invite row.
        CheckConstraint("receiver_id IS NULL OR sender_id <> receiver_id",
                        name="chk_no_self_invite"),
        CheckConstraint("invite_type IN ('add_patient', 'add_caregiver')",
                        name="chk_invite_type"),
        CheckConstraint(
            "status IN ('pending', 'accepted', 'rejected', 'cancelled', 'expired')",
            name="chk_invite_status"),
        # BR-007: one pending invite per group and phone.
        Index("idx_unique_pending", "family_group_id", "receiver_phone", unique=True,
              sqlite_where=text("status = 'pending'"),
              postgresql_where=text("status = 'pending'")),
        Index("idx_invites_receiver_phone", "receiver_phone"),
        Index("idx_invites_receiver_id", "receiver_id"),
        Index("idx_invites_sender_id", "sender_id"),
        Index("idx_invites_token_hash", "token_hash", unique=True),
        # The staff risk signals read recent invites and recent expiries.
        Index("idx_invites_created", "created_at"),
        # A family's invites, all statuses (the staff group page, the API's invite list).
        Index("idx_invites_family_group", "family_group_id"),
        Index("idx_invites_expires", "expires_at"),
    )

    id: Mapped[int] = pk()
    sender_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id"), nullable=False)
    family_group_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("family_groups.id"))
    receiver_phone: Mapped[str] = mapped_column(String(16), nullable=False)
    receiver_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id"))
    invite_type: Mapped[str] = mapped_column(String(30), nullable=False)
    relationship_code: Mapped[str | None] = mapped_column(
        String(30), ForeignKey("relationships.code"))
    initial_permissions: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default=INVITE_PENDING,
                                        server_default=text("'pending'"))
    # SHA-256 hex of the link token; the raw token is never stored.
    token_hash: Mapped[str | None] = mapped_column(String(64))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()

    # Read only: filled by the read that loads an invite with its family and its sender
    # (app/invites/services.py), so that the link page and the accept that follow have them
    # without a statement of their own (issue 17).
    group: Mapped[FamilyGroup | None] = relationship(viewonly=True)
    sender: Mapped[User] = relationship(viewonly=True, foreign_keys=[sender_id])

    # --- the invite's state: each rule once, for Python and for SQL ----------------------
    # A hybrid's Python side answers for a loaded row, its expression side goes into a
    # WHERE or a SELECT; the two must agree (tests/invites/test_invite_rules.py). `now`
    # defaults to the current time; a caller that asks more than once passes one `now`.

    @hybrid_property
    def role(self) -> str:
        return "patient" if self.invite_type == INVITE_ADD_PATIENT else "caregiver"

    @role.inplace.expression
    @classmethod
    def _role_expression(cls) -> ColumnElement[str]:
        return case((cls.invite_type == INVITE_ADD_PATIENT, "patient"), else_="caregiver")

    @hybrid_property
    def is_pending(self) -> bool:
        """Not yet answered, cancelled or marked expired — live or lapsed."""
        return self.status == INVITE_PENDING

    @is_pending.inplace.expression
    @classmethod
    def _is_pending_expression(cls) -> ColumnElement[bool]:
        return cls.status == INVITE_PENDING

    @hybrid_method
    def is_live(self, now: datetime | None = None) -> bool:
        """A live pending invite: pending and not past its expiry. It holds a place of
        its role (BR-047/059), its link can be answered, it is listed to the invitee."""
        now = now or utcnow()
        return self.is_pending and self.expires_at is not None and self.expires_at > now

    @is_live.inplace.expression
    @classmethod
    def _is_live_expression(cls, now: datetime | None = None) -> ColumnElement[bool]:
        return and_(cls.status == INVITE_PENDING, cls.expires_at > (now or utcnow()))

    @hybrid_method
    def is_lapsed(self, now: datetime | None = None) -> bool:
        """Pending but past its expiry: expired to people, though no job has marked it."""
        now = now or utcnow()
        return self.is_pending and self.expires_at is not None and self.expires_at <= now

    @is_lapsed.inplace.expression
    @classmethod
    def _is_lapsed_expression(cls, now: datetime | None = None) -> ColumnElement[bool]:
        return and_(cls.status == INVITE_PENDING, cls.expires_at <= (now or utcnow()))

    @hybrid_method
    def shown_status(self, now: datetime | None = None) -> str:
        """The status as people see it (pages, the API, staff): a lapsed invite is
        expired."""
        return "expired" if self.is_lapsed(now) else self.status

    @shown_status.inplace.expression
    @classmethod
    def _shown_status_expression(cls, now: datetime | None = None) -> ColumnElement[str]:
        return case((cls.is_lapsed(now), "expired"), else_=cls.status)
