"""My data and its export (issue 19, items 1-2)."""

from __future__ import annotations

from app.privacy.blueprint import bp

del bp  # the routes come with issue 19's "My data" work
