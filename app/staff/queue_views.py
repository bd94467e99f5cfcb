"""The review queue: risk signals, their evidence, and marking an item reviewed."""

from __future__ import annotations

from app.staff.views import bp


@bp.get("/queue")
def queue():
    """The review queue (stub)."""
    return "queue"
