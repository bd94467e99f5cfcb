"""The caller's in-app notifications."""

from __future__ import annotations

from flask import jsonify

from app.api import bp
from app.api.auth import actor
from app.api.body import int_arg
from app.api.serializers import notification_json
from app.notifications.queries import in_app_for_user


@bp.get("/notifications")
def notifications():
    """In-app notifications, newest first, in the caller's language."""
    limit = int_arg("limit", default=50, low=1, high=200)
    user = actor()
    return jsonify(items=[notification_json(row, user.locale)
                          for row in in_app_for_user(user.id, limit=limit)])
