"""The privacy blueprint (/me): My data, its export, deleting the account. Its route
modules (data_views, deletion_views) import it; nothing imports them but create_app."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("privacy", __name__, url_prefix="/me")
