"""The family group pages: create, the group page with its two sections and slots,
rename, dissolve, add myself, remove a member, leave."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("groups", __name__, url_prefix="/family")
