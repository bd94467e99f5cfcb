"""Plans and subscription statuses as people read them, for My plan and the staff pages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

PLAN_NAMES = {"family_basic": _l("Family Basic"), "family": _l("Family"),
              "family_plus": _l("Family Plus")}


STATUS_NAMES = {"active": _l("Active"), "expired": _l("Expired"), "cancelled": _l("Cancelled")}


def plan_name(code: str) -> str:
    """A configured plan's display name; plans added by configuration show their code."""
    return str(PLAN_NAMES.get(code, code))
