"""Membership forms: input shape only; the rules live in the membership services."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import RadioField
from wtforms.validators import InputRequired

from app.forms import BaseForm


class HandOverForm(BaseForm):
    """Hand the family over (issue 19): to which member; the view lists the members, the
    service decides who may take it."""

    user_id = RadioField(_l("Who becomes the family's admin?"), coerce=int, choices=[],
                         validate_choice=False,
                         validators=[InputRequired(message=_l("Choose a member."))])
