"""Invite forms: input shape only; the rules live in app/invites/services.py."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, RadioField, StringField, TelField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from app.accounts.forms import RegisterForm
from app.forms import BaseForm

ROLE_CHOICES = [SelectChoice("patient", _l("Patient")),
                SelectChoice("caregiver", _l("Caregiver"))]


class InviteForm(BaseForm):
    """BR-055: the phone number and the role, nothing else."""

    phone = TelField(_l("Their phone number"), validators=[DataRequired(), Length(max=20)],
                     render_kw={"autocomplete": "off", "inputmode": "numeric",
                                "placeholder": "0912345678"})
    role = RadioField(_l("Invite as"), choices=ROLE_CHOICES, validators=[DataRequired()])


class InviteSignupForm(RegisterForm):
    """Sign-up from an invite link: the phone is the invited number, shown read-only; the
    view fills it in and the server never reads a posted one."""

    phone = TelField(_l("Phone number"), render_kw={"readonly": True, "autocomplete": "tel"})


class AnswerForm(BaseForm):
    """Accept or reject. The token travels in the body (never in a URL); the relationship
    is checked by the service (BR-050: optional)."""

    token = HiddenField(validators=[Optional(), Length(max=100)])
    relationship = StringField(validators=[Optional(), Length(max=30)])

