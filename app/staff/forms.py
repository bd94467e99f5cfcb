"""Staff forms: input shape only. The reason every action needs is checked by the services
(audit_reason), so that the pages and the API say the same thing."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, NumberRange

from app.audit.access import REASONS
from app.audit.services import REASON_MAX
from app.billing.services import MAX_CODES_PER_RUN
from app.forms import BaseForm, WholeNumberField

MAX_DAYS = 3660
BETWEEN = _l("Enter a whole number from %(min)d to %(max)d.")
CODE_LABEL = _l("Code from your authenticator app")


def code_field(label=CODE_LABEL) -> StringField:
    """A TOTP code (or a recovery code): checked by app/accounts/mfa.py, not here."""
    return StringField(label, render_kw={"autocomplete": "one-time-code", "maxlength": 16,
                                         "autocapitalize": "characters", "spellcheck": "false"})


class ReasonForm(BaseForm):
    """Suspend, reactivate, resend: the reason kept in the audit trail, and the staff page
    to go back to."""

    reason = TextAreaField(_l("Reason"), render_kw={"rows": 2, "maxlength": 500})
    # A fresh code confirms each action (issue 21).
    code = code_field()
    back = HiddenField()


class AccessReasonForm(BaseForm):
    """Why a staff member opens a family or a person's file (issue 21): a reason from the
    list and free text. The choice is not checked here but by the service (access_reason),
    so the pages and the API refuse it with the same words."""

    reason = SelectField(_l("Reason"), default="",
                         validate_choice=False, choices=[
                             SelectChoice("", _l("Choose a reason")),
                             *(SelectChoice(code, name) for code, name in REASONS.items())])
    reason_text = TextAreaField(_l("In your words"),
                                render_kw={"rows": 2, "maxlength": REASON_MAX})


class AuditExportForm(AccessReasonForm):
    """Download a family's audit trail as CSV: the reason travels with the request (a POST
    whose answer is the file), confirmed by a fresh code as every export (issue 21)."""

    code = code_field()


class CodesForm(BaseForm):
    """Issue activation codes; the view fills the plan choices from the configuration."""

    plan = SelectField(_l("Plan"), choices=[])
    days = WholeNumberField(_l("Days"), default=365, validators=[
        InputRequired(), NumberRange(min=1, max=MAX_DAYS, message=BETWEEN)])
    count = WholeNumberField(_l("How many codes"), default=1, validators=[
        InputRequired(), NumberRange(min=1, max=MAX_CODES_PER_RUN, message=BETWEEN)])
    reason = TextAreaField(_l("Reason"), render_kw={"rows": 2, "maxlength": 500})
    code = code_field()


class SearchForm(BaseForm):
    """The staff user search (GET: no CSRF, the query string is the state)."""

    class Meta:
        csrf = False

    q = StringField(_l("Phone or email"), render_kw={
        "type": "search", "autocomplete": "off", "maxlength": 254})


class GroupFilterForm(BaseForm):
    """The group list's filters (GET: no CSRF)."""

    class Meta:
        csrf = False

    status = SelectField(_l("Status"), default="", choices=[
        SelectChoice("", _l("All")), SelectChoice("active", _l("Active")),
        SelectChoice("inactive", _l("Inactive")), SelectChoice("dissolved", _l("Dissolved"))])
    q = StringField(_l("Family name or admin phone"), render_kw={
        "type": "search", "autocomplete": "off", "maxlength": 254})
