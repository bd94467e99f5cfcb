"""Family forms: input shape only; the rules live in the group services."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, SelectField, StringField
from wtforms.validators import DataRequired, Length

from app.forms import BaseForm


class GroupNameForm(BaseForm):
    """Create and rename."""

    name = StringField(_l("Family name"), validators=[DataRequired(), Length(max=100)],
                       render_kw={"autocomplete": "off", "placeholder": _l("Nguyen family")})


class RoleForm(BaseForm):
    """Remove a member and leave: the role of the membership that ends."""

    role = HiddenField(validators=[DataRequired()])


class SelfAddForm(BaseForm):
    """The admin adds themselves (BR-049); the view fills the relationship choices and the
    service checks both values."""

    role = HiddenField(validators=[DataRequired()])
    relationship = SelectField(_l("What are you to them? (optional)"), choices=[],
                               validate_choice=False)

