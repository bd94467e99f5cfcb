"""Helpers shared by every feature's forms."""

from __future__ import annotations

from flask_wtf import FlaskForm

from app.errors import DomainError


def copy_errors(form: FlaskForm, error: DomainError, default_field: str | None = None) -> None:
    """Put a service's field errors on the form; a message without a field goes to
    default_field, or to the form's own list."""
    placed = False
    for name, messages in error.fields.items():
        field = getattr(form, name, None)
        if field is not None:
            field.errors = list(field.errors) + list(messages)
            placed = True
    if not placed:
        if default_field and getattr(form, default_field, None) is not None:
            field = getattr(form, default_field)
            field.errors = list(field.errors) + [error.message]
        else:
            form.form_errors.append(error.message)
