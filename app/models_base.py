"""Column helpers shared by every feature's models."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, func
from sqlalchemy.orm import Mapped, mapped_column

from app.db import UTCDateTime, utcnow

# BIGSERIAL on PostgreSQL as in the seed; SQLite only autoincrements INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")
MAX_ID = 2**63 - 1  # the largest BIGINT: ids in URLs and cursors stay within it


def pk() -> Mapped[int]:
    return mapped_column(BigId, primary_key=True)


def created_at() -> Mapped[datetime]:
    return mapped_column(UTCDateTime, nullable=False, default=utcnow,
                         server_default=func.current_timestamp())


def updated_at() -> Mapped[datetime]:
    return mapped_column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow,
                         server_default=func.current_timestamp())
