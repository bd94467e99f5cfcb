"""Deleting my account (issue 19, item 4)."""

from __future__ import annotations

from app.privacy.blueprint import bp

del bp  # the routes come with issue 19's deletion work
