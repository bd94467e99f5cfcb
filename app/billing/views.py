"""My plan: the subscription and redeeming an activation code."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("billing", __name__, url_prefix="/plan")
