"""The caregiver's side forms: input shape only; relationship_set checks the value."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import SelectField
from wtforms.validators import StopValidation

from app.forms import BaseForm


def _sent(_form, field) -> None:
    """The field must be in the post; its empty value ("Not set") is a valid answer."""
    if not field.raw_data:
        raise StopValidation(_("Choose a relationship, or “Not set”."))


class RelationshipForm(BaseForm):
    """What am I to the other party of a connection (BR-030); the view fills the choices,
    the service checks the code (unknown_relationship)."""

    relationship = SelectField(_l("Relationship"), choices=[], validate_choice=False,
                               validators=[_sent])
