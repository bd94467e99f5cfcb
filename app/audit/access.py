"""Why a staff member opens a family, a person's file or a family's audit export (issue 21):
a reason from a short list, plus free text (required for "other"). The labels live here,
below every feature, because the staff pages ask for them, the audit trail's words name
them, and the family's admin and the patient read them in their history."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.audit.services import REASON_MAX
from app.errors import Invalid

ACCESS_REASON = "staff.access_reason"
OTHER = "other"
REASONS = {
    "support": _l("The family or the person asked for help"),
    "review_signal": _l("A signal in the review queue"),
    "legal": _l("A legal or compliance request"),
    "technical": _l("A technical problem"),
    OTHER: _l("Another reason (say which)"),
}
# What the family's admin and the patient read: the label, never the free text.
SHOWN = {
    "support": _l("the family or the person asked for help"),
    "review_signal": _l("a check prompted by an automatic safety signal"),
    "legal": _l("a legal or compliance request"),
    "technical": _l("a technical problem"),
    OTHER: _l("another reason"),
}


def reason_label(code: str | None) -> str:
    """A reason code as the people looked at read it; unknown codes as "another reason"."""
    return str(SHOWN.get(code or "", SHOWN[OTHER]))


def access_reason(code: str | None, text: str | None, *, code_field: str = "reason",
                  text_field: str = "reason_text") -> tuple[str, str | None]:
    """The reason given to open something: (code, free text or None). The text is required
    for "other" and optional otherwise, at most REASON_MAX characters once spaces are
    collapsed. Raises Invalid(reason_required | reason_too_long) naming the field."""
    code = (code or "").strip()
    if code not in REASONS:
        message = _("Choose why you need to open this: the reason is kept in the audit trail.")
        raise Invalid(message, code="reason_required", fields={code_field: [message]})
    clean = " ".join((text or "").replace("\x00", " ").split())
    if code == OTHER and not clean:
        message = _("You chose “another reason”: say which, in a few words.")
        raise Invalid(message, code="reason_required", fields={text_field: [message]})
    if len(clean) > REASON_MAX:
        message = _("Keep the reason under %(n)d characters.", n=REASON_MAX)
        raise Invalid(message, code="reason_too_long", fields={text_field: [message]})
    return code, clean or None
