"""The connection controls on the pages: the admin's permission matrix actions, the
patient's "Who follows me", the silent disconnect and restore, and the history."""

from __future__ import annotations

from flask import Blueprint
from flask_login import login_required

bp = Blueprint("connections", __name__)


@bp.get("/followers")
@login_required
def followers():
    """Who follows me (stub, replaced by the connection-controls work)."""
    return "", 204
