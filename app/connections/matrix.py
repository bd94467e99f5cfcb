"""The permission matrix's read model for the pages: the rows (one block per patient)
and the labels every row and switch needs, in the reader's language. The family page
(app/membership) and the connection views both render from it."""

from __future__ import annotations

from flask import current_app, url_for

from app.connections.queries import (
    current_connections,
    matrix_blocks,
    permission_names,
    permission_state,
    relationship_names,
)
from app.groups.queries import GroupView

RELATED_ENDPOINT = "care.relationship"


def labels() -> dict:
    """What every matrix row and toggle needs to name things in the reader's language."""
    permissions = permission_names()
    return {"permissions": permissions, "permission_label": dict(permissions),
            "relationship_names": relationship_names(), "permission_state": permission_state,
            "related": RELATED_ENDPOINT in current_app.view_functions,
            "toggle_url": toggle_url_maker()}


def toggle_url_maker():
    """toggle_url(connection_id, code): url_for once per page instead of once per switch
    (the matrix has six per connection, and url_for was the switch's biggest cost)."""
    marker_id, marker_code = 987654321, "__code__"
    sample = url_for("connections.permission_toggle", connection_id=marker_id, code=marker_code)
    head, rest = sample.split(str(marker_id), 1)
    middle, tail = rest.split(marker_code, 1)
    return lambda connection_id, code: f"{head}{int(connection_id)}{middle}{code}{tail}"


def matrix_context(view: GroupView) -> dict:
    """The group page's permission matrix (its admin only): one block per patient, and per
    caregiver how many of their connections are live or disconnected. Four statements
    whatever the size of the family."""
    connections, users = current_connections(group_id=view.group.id)
    patients = [user for _member, user in view.users_in("patient")]
    per_caregiver: dict[int, dict[str, int]] = {}
    for c in connections:
        counts = per_caregiver.setdefault(c.linked_user_id, {"live": 0, "revoked": 0})
        counts["revoked" if c.permission_revoked else "live"] += 1
    return {"matrix": matrix_blocks(patients, connections), "matrix_users": users,
            "caregiver_connections": per_caregiver, **labels()}
