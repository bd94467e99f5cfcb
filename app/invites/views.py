"""Invites: the invite form and its actions for the admin, the link page, answering."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("invites", __name__)
