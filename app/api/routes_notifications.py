"""The caller's in-app notifications."""

from __future__ import annotations

from flask import jsonify

from app.api.auth import actor
from app.api.blueprint import bp
from app.api.contract import IntArg, operation
from app.api.serializers import notification_json
from app.notifications.queries import in_app_for_user


@bp.get("/notifications")
@operation(query=(IntArg("limit", 50, 1, 200),), answers={200: "NotificationList"})
def notifications(args: dict):
    """In-app notifications, newest first, in the caller's language."""
    user = actor()
    return jsonify(items=[notification_json(row, user.locale)
                          for row in in_app_for_user(user.id, limit=args["limit"])])
