"""The JSON API, /api/v1 (SPEC §7): parse JSON → the same services → serialise."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")
