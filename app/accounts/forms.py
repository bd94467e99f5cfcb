"""Account forms: input shape only; the rules live in services."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import EmailField, PasswordField, RadioField, StringField, TelField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from app.forms import BaseForm

# WTForms 3.3 deprecates (value, label) tuples in favour of SelectChoice.
GENDER_CHOICES = [SelectChoice("0", _l("Male")), SelectChoice("1", _l("Female"))]


class RegisterForm(BaseForm):
    phone = TelField(_l("Phone number"), validators=[DataRequired(), Length(max=20)],
                     render_kw={"autocomplete": "tel", "inputmode": "numeric",
                                "placeholder": "0912345678"})
    name = StringField(_l("Full name"), validators=[DataRequired(), Length(max=100)],
                       render_kw={"autocomplete": "name"})
    gender = RadioField(_l("Gender"), choices=GENDER_CHOICES, validators=[DataRequired()])
    email = EmailField(_l("Email (optional)"), validators=[Optional(), Length(max=254)],
                       render_kw={"autocomplete": "email"})
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=128)],
                             render_kw={"autocomplete": "new-password"})


class LoginForm(BaseForm):
    login = StringField(_l("Phone number or email"), validators=[DataRequired(), Length(max=254)],
                        render_kw={"autocomplete": "username"})
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=128)],
                             render_kw={"autocomplete": "current-password"})


class PasswordForm(BaseForm):
    current_password = PasswordField(_l("Current password"),
                                     validators=[DataRequired(), Length(max=128)],
                                     render_kw={"autocomplete": "current-password"})
    new_password = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=128)],
                                 render_kw={"autocomplete": "new-password"})


class LogoutForm(BaseForm):
    """Empty: carries the CSRF token so that logging out is a protected POST."""


class ClaimForm(BaseForm):
    """The claim page: an imported account chooses its first password."""

    password = PasswordField(_l("Choose a password"), validators=[DataRequired(), Length(max=128)],
                             render_kw={"autocomplete": "new-password"})


class NewClaimLinkForm(BaseForm):
    """"Got an SMS from the old app?": a new sign-in link to the phone on record."""

    phone = TelField(_l("Phone number"), validators=[DataRequired(), Length(max=20)],
                     render_kw={"autocomplete": "tel", "inputmode": "numeric",
                                "placeholder": "0912345678"})


_CODE_FIELD = {"autocomplete": "one-time-code", "inputmode": "numeric", "placeholder": "123456"}


class CodeForm(BaseForm):
    """Sign-up's second step: the code the SMS brought to the number."""

    phone = TelField(_l("Phone number"), validators=[DataRequired(), Length(max=20)],
                     render_kw={"autocomplete": "tel", "inputmode": "numeric"})
    code = StringField(_l("Code from the SMS"), validators=[DataRequired(), Length(max=20)],
                       render_kw=_CODE_FIELD)


class PhoneOnlyForm(BaseForm):
    """A number, and nothing else: "send me a code" (sign-up resend, forgotten password)."""

    phone = TelField(_l("Phone number"), validators=[DataRequired(), Length(max=20)],
                     render_kw={"autocomplete": "tel", "inputmode": "numeric",
                                "placeholder": "0912345678"})


class ResetForm(BaseForm):
    """Forgotten password, second step: the code and the new password."""

    phone = TelField(_l("Phone number"), validators=[DataRequired(), Length(max=20)],
                     render_kw={"autocomplete": "tel", "inputmode": "numeric"})
    code = StringField(_l("Code from the SMS"), validators=[DataRequired(), Length(max=20)],
                       render_kw=_CODE_FIELD)
    password = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=128)],
                             render_kw={"autocomplete": "new-password"})


class ProveCodeForm(BaseForm):
    """Proving the number of an existing account: the code only (the number is the
    account's)."""

    code = StringField(_l("Code from the SMS"), validators=[DataRequired(), Length(max=20)],
                       render_kw=_CODE_FIELD)


class SendCodeForm(BaseForm):
    """Empty: carries the CSRF token of "send me a code"."""


class ConfirmFields:
    """The check a sensitive action carries (app.accounts.identity.identity_confirm): the
    password, or the code of an SMS sent by the form's "Send me a code" button. A mixin:
    the form of such an action is `class XForm(ConfirmFields, BaseForm)`."""

    password = PasswordField(_l("Your password"), validators=[Optional(), Length(max=128)],
                             render_kw={"autocomplete": "current-password"})
    code = StringField(_l("Or the code from the SMS"),
                       validators=[Optional(), Length(max=20)], render_kw=_CODE_FIELD)


class EmailForm(BaseForm):
    """Settings: the email address to prove (a link goes to it)."""

    email = EmailField(_l("Email address"), validators=[DataRequired(), Length(max=254)],
                       render_kw={"autocomplete": "email", "inputmode": "email"})


class EmailResendForm(BaseForm):
    """Empty: carries the CSRF token of "send the link again"."""


class EmailProveForm(BaseForm):
    """Empty: carries the CSRF token of the email link's confirm button."""
