"""Helpers shared by every feature's forms."""

from __future__ import annotations

import flask_babel
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField

from app.errors import DomainError
from app.text import NUL_NOT_ALLOWED, has_nul, whole_number

# WTForms' own messages that our forms can show; listed so that extraction puts them in
# our catalogues (WTForms ships no Vietnamese translation).
WTFORMS_MESSAGES = (
    _l("This field is required."),
    _l("Not a valid choice."),
    _l("Invalid input."),
    _l("Field cannot be longer than %(max)d character."),
    _l("Field cannot be longer than %(max)d characters."),
)


class _BabelTranslations:
    """WTForms asks its fields' translations object; answer from our Babel catalogues."""

    def gettext(self, string: str) -> str:
        return flask_babel.gettext(string)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        # Both forms are catalogued as plain messages (Vietnamese has no plural forms).
        return flask_babel.gettext(singular if n == 1 else plural)


_TRANSLATIONS = _BabelTranslations()


class BaseForm(FlaskForm):
    class Meta:
        def get_translations(self, form):
            return _TRANSLATIONS

    def validate(self, extra_validators=None) -> bool:
        """The fields' own checks, and no NUL character in any text: no text column takes
        one (PostgreSQL refuses it), so it is refused here with the field's message rather
        than failing later in the database."""
        valid = super().validate(extra_validators)
        for field in self:
            if has_nul(field.data):
                field.errors = [*field.errors, str(NUL_NOT_ALLOWED)]
                valid = False
        return valid


class WholeNumberField(IntegerField):
    """IntegerField that reads ASCII digits only (WTForms' int() takes "١٢" and "１２").
    Anything else leaves the data None, for the field's NumberRange to refuse with its
    own message (WTForms' "Not a valid integer value." is not in our catalogues)."""

    def process_formdata(self, valuelist):
        if valuelist:
            self.data = whole_number(valuelist[0].strip())


def copy_errors(form: FlaskForm, error: DomainError, default_field: str | None = None, *,
                fill_only: bool = False) -> None:
    """Put a service's field errors on the form; a message without a field goes to
    default_field, or to the form's own list. fill_only: leave fields that already have
    an error of their own alone (no message twice for one problem)."""
    placed = False
    for name, messages in error.fields.items():
        field = getattr(form, name, None)
        if field is not None:
            placed = True
            if not (fill_only and field.errors):
                field.errors = list(field.errors) + list(messages)
    if not placed:
        if default_field and getattr(form, default_field, None) is not None:
            field = getattr(form, default_field)
            field.errors = list(field.errors) + [error.message]
        else:
            form.form_errors.append(error.message)
