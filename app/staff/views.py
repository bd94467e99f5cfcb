"""The staff area, /staff: search, users, groups, the review queue and staff actions.

Every route is guarded once, here, before it runs: an anonymous visitor is sent to the
login page, a signed-in non-staff user gets 403 with no data. The queue's routes live in
app/staff/queue_views.py and the actions' in app/staff/action_views.py, on this bp.
"""

from __future__ import annotations

from flask import Blueprint, redirect, request, url_for
from flask_login import current_user

from app.staff.services import staff_check

bp = Blueprint("staff", __name__, url_prefix="/staff")


@bp.before_request
def _staff_only():
    """Anonymous → the login page (back here after); non-staff → 403 (the app's error
    page renders the Forbidden)."""
    if not current_user.is_authenticated:
        return redirect(url_for("accounts.login", next=request.full_path.rstrip("?")))
    staff_check(current_user)
    return None


@bp.get("/")
def index():
    """Search users by phone or email (stub, replaced by the pages' helper)."""
    return "staff"


@bp.get("/groups")
def groups():
    """Groups by status, name or admin phone (stub)."""
    return "groups"


# The queue's and the actions' routes register themselves on bp.
from app.staff import action_views, queue_views  # noqa: E402, F401
