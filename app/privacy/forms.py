"""The privacy pages' forms: input shape only."""

from __future__ import annotations

from app.accounts.forms import ConfirmFields
from app.forms import BaseForm


class ExportForm(ConfirmFields, BaseForm):
    """Download my data: the password, or an SMS code (identity_confirm checks them)."""


class DeleteAccountForm(ConfirmFields, BaseForm):
    """Delete my account: the password, or an SMS code; nothing else (the page says what
    follows)."""
