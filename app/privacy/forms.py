"""The privacy pages' forms: input shape only."""

from __future__ import annotations

from app.accounts.forms import ConfirmFields


class ExportForm(ConfirmFields):
    """Download my data: the password, or an SMS code (identity_confirm checks them)."""
