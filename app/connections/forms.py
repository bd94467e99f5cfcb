"""Connection control forms: input shape only; the rules live in app/connections/control.py."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, RadioField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import AnyOf, InputRequired, Length, Optional

from app.connections.control import REASON_MAX
from app.forms import BaseForm

BACKS = ("group", "followers")


class BackForm(BaseForm):
    """Restore: where the answer goes back to (the group page or "Who follows me")."""

    back = HiddenField()

    @property
    def back_to(self) -> str:
        return self.back.data if self.back.data in BACKS else "group"


class ToggleForm(BackForm):
    """One permission switched to `enabled` (the target state); turning off needs
    confirmed=1, given by the confirmation step."""

    enabled = HiddenField(validators=[
        InputRequired(message=_l("Say whether the permission is turned on or off.")),
        AnyOf(("on", "off"), message=_l("A permission is turned “on” or “off”."))])
    confirmed = HiddenField()

    @property
    def turned_on(self) -> bool:
        return self.enabled.data == "on"

    @property
    def is_confirmed(self) -> bool:
        return self.confirmed.data == "1"


class DisconnectForm(BackForm):
    """A silent disconnect, with an optional private reason for the audit trail."""

    reason = TextAreaField(
        _l("Reason (optional, private)"),
        validators=[Optional(), Length(max=REASON_MAX)],
        description=_l("Kept in the history for the portal's staff and for you. It is never "
                       "shown to the caregiver."),
        render_kw={"rows": 3, "maxlength": REASON_MAX})


class ConsentForm(BaseForm):
    """Withdrawing consent (issue 19): whether the caregivers are told; the service does
    the rest."""

    tell = RadioField(
        _l("Tell your caregivers?"),
        choices=[SelectChoice("no", _l("Do not tell them: they simply see none of your data")),
                 SelectChoice("yes", _l("Tell them that I withdrew consent"))],
        validators=[InputRequired(message=_l("Choose whether your caregivers are told."))])

    @property
    def telling(self) -> bool:
        return self.tell.data == "yes"
