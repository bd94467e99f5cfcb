"""The invite link a person opens (SPEC §4)."""

from __future__ import annotations

from flask import current_app


def accept_url(token: str) -> str:
    """The link, built from PUBLIC_BASE_URL and never from the request's Host header."""
    return f"{current_app.config['PUBLIC_BASE_URL']}/i/{token}"
