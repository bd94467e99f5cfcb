"""My plan forms: input shape only; the rules live in app/billing/services.py."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from app.forms import BaseForm


class RedeemForm(BaseForm):
    code = StringField(_l("Activation code"), validators=[DataRequired(), Length(max=40)],
                       render_kw={"autocomplete": "off", "autocapitalize": "characters",
                                  "spellcheck": "false", "placeholder": "ABCD-EFGH-JKMN-PQRS"})
