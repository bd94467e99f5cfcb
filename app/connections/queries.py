"""Reads of the lookup tables, named in the reader's language."""

from __future__ import annotations

from flask_babel import get_locale
from sqlalchemy import select

from app.connections.models import PermissionType, Relationship
from app.extensions import db


def _english() -> bool:
    return getattr(get_locale(), "language", "vi") == "en"


def relationship_options() -> list[tuple[str, str]]:
    """(code, name) of the active relationships, in display order (BR-050's picker)."""
    en = _english()
    rows = db.session.scalars(select(Relationship).where(Relationship.is_active.is_(True))
                              .order_by(Relationship.display_order))
    return [(r.code, r.name_en if en else r.name_vi) for r in rows]


def permission_names() -> list[tuple[str, str]]:
    """(code, name) of the active permission types, in display order."""
    en = _english()
    rows = db.session.scalars(select(PermissionType).where(PermissionType.is_active.is_(True))
                              .order_by(PermissionType.display_order))
    return [(p.code, p.name_en if en else p.name_vi) for p in rows]
