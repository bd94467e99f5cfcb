"""What each notification says, in the recipient's language (SPEC §1, §5).

Outbox rows carry names and facts, not sentences: the text is rendered when the message
goes out (or is shown in-app), in the recipient's language at that moment. One short
text per type serves SMS, email and the in-app page alike.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from flask import current_app
from flask_babel import force_locale, get_locale
from flask_babel import gettext as _

from app.dates import when
from app.models.accounts import ERASED, person_name
from app.phone import display_phone

LANGUAGES = ("vi", "en")
DEFAULT_LOCALE = "vi"


class Notification(Protocol):
    """An outbox row, or a snapshot of one taken by the worker."""

    notification_type: str
    payload: dict[str, Any] | None


def render_message(notification: Notification, locale: str | None, *,
                   link: str | None = None) -> tuple[str, str]:
    """(subject, text) in `locale` (Vietnamese when unknown).

    link: the invite link of an INVITE_CREATED message (or the claim link of an
    ACCOUNT_CLAIM one) sent by SMS or email; the in-app copy has none (the invitee opens
    their pending invites in the portal).
    """
    with force_locale(locale if locale in LANGUAGES else DEFAULT_LOCALE):
        return _render(notification.notification_type, notification.payload or {}, link)


def _role(role: Any) -> str:
    if role == "patient":
        return _("patient")
    if role == "caregiver":
        return _("caregiver")
    return str(role or "")


def _when(value: Any) -> str:
    """An ISO timestamp in the display time zone and the current language's format."""
    try:
        return when(datetime.fromisoformat(str(value)))
    except ValueError:
        return ""


def _unerased(p: dict[str, Any]) -> dict[str, Any]:
    """A message that named a person who since deleted their account (issue 19): the name
    was scrubbed, the message says "deleted user #id"."""
    deleted = p.get("deleted_user_id")
    if deleted is None:
        return p
    return {k: person_name(deleted, None, True) if v == ERASED and k.endswith("name") else v
            for k, v in p.items()}


def _render(kind: str, p: dict[str, Any], link: str | None) -> tuple[str, str]:
    p = _unerased(p)
    group = p.get("group_name", "")
    role = _role(p.get("role"))
    member = p.get("member_name", "")
    if kind == "INVITE_CREATED":
        names = {"sender": p.get("sender_name", ""), "group": group, "role": role,
                 "expires": _when(p.get("expires_at"))}
        subject = _("Invitation to join “%(group)s”", group=group)
        if link:
            return subject, _("%(sender)s invites you to join “%(group)s” as a %(role)s. "
                              "Open this link to accept or decline before "
                              "%(expires)s: %(link)s", link=link, **names)
        return subject, _("%(sender)s invites you to join “%(group)s” as a %(role)s. "
                          "The invite is valid until %(expires)s.", **names)
    if kind == "INVITE_ACCEPTED":
        return (_("%(member)s accepted your invite", member=member),
                _("%(member)s accepted your invite and joined “%(group)s” as a %(role)s.",
                  member=member, group=group, role=role))
    if kind == "INVITE_REJECTED":
        return (_("%(member)s declined your invite", member=member),
                _("%(member)s declined your invite to join “%(group)s” as a %(role)s.",
                  member=member, group=group, role=role))
    if kind == "INVITE_CANCELLED":
        return (_("Invite to %(group)s cancelled", group=group),
                _("The invite to join “%(group)s” was cancelled. Its link no longer works.",
                  group=group))
    if kind == "MEMBER_JOINED":
        return (_("New member in %(group)s", group=group),
                _("%(member)s joined “%(group)s” as a %(role)s.",
                  member=member, group=group, role=role))
    if kind == "MEMBER_REMOVED":
        return (_("Removed from %(group)s", group=group),
                _("%(actor)s removed you from “%(group)s”, where you were a %(role)s.",
                  actor=p.get("actor_name", ""), group=group, role=role))
    if kind == "MEMBER_LEFT":
        return (_("A member left %(group)s", group=group),
                _("%(member)s left “%(group)s”, where they were a %(role)s.",
                  member=member, group=group, role=role))
    if kind == "CONSENT_WITHDRAWN":
        patient = p.get("patient_name", "")
        return (_("%(patient)s withdrew consent", patient=patient),
                _("%(patient)s withdrew their consent in “%(group)s”: you no longer see their "
                  "data or act for them, unless they give it again.",
                  patient=patient, group=group))
    if kind == "FAMILY_HANDED_OVER":
        new_admin = p.get("admin_name", "")
        if p.get("to_you"):
            return (_("You are the admin of %(group)s", group=group),
                    _("%(actor)s handed “%(group)s” over to you: you are its admin now, and "
                      "its places come from your plan.", actor=p.get("actor_name", ""),
                      group=group))
        return (_("%(group)s has a new admin", group=group),
                _("%(actor)s handed “%(group)s” over to %(admin)s, who is its admin now.",
                  actor=p.get("actor_name", ""), group=group, admin=new_admin))
    if kind == "PERMISSION_ENABLED":
        locale = getattr(get_locale(), "language", DEFAULT_LOCALE)
        names = p.get("permission_names") or {}
        shown = ", ".join(str(n.get(locale) or n.get("vi") or "") for n in names.values()
                          if isinstance(n, dict)) or ", ".join(p.get("permissions") or [])
        return (_("%(caregiver)s can now do more for you", caregiver=p.get("caregiver_name", "")),
                _("%(actor)s, the admin of %(group)s, turned on for %(caregiver)s: "
                  "%(permissions)s. You can narrow it on “Who follows me”.",
                  actor=p.get("actor_name", ""), group=group,
                  caregiver=p.get("caregiver_name", ""), permissions=shown))
    if kind == "ACCOUNT_CLAIM":
        subject = _("Your Family Connect account is ready")
        name = p.get("name", "")
        if link:
            return subject, _("Hello %(name)s, your family moved to the new Family Connect. "
                              "Open this link once to choose your password and sign in: "
                              "%(link)s", name=name, link=link)
        return subject, _("Hello %(name)s, your family moved to the new Family Connect. "
                          "A sign-in link was sent to your phone.", name=name)
    if kind == "EMAIL_PROOF":
        subject = _("Prove your email address for Family Connect")
        name = p.get("name", "")
        if link:
            return subject, _("Hello %(name)s, open this link to use this address for your "
                              "Family Connect account (it works once, for %(hours)s hours): "
                              "%(link)s If you did not ask for it, ignore this email: nothing "
                              "changes.", name=name, link=link, hours=p.get("hours", 24))
        return subject, _("Hello %(name)s, a link to prove this address was sent to it.",
                          name=name)
    if kind == "EMAIL_TAKEN_OVER":
        return (_("Your email address moved to another account"),
                _("The address %(email)s was proved by another account, which now holds it. "
                  "Your account no longer has it: log in with your phone number, and give "
                  "an address of your own in the settings.", email=p.get("email", "")))
    if kind == "PHONE_CODE":
        return _phone_code(p, link or "")
    if kind == "ACCOUNT_EXISTS":
        url = current_app.config["PUBLIC_BASE_URL"] + "/account/password-reset"
        return (_("Your Family Connect account"),
                _("Someone asked to sign up to Family Connect with this number, which already "
                  "has an account. If it was you, log in, or reset your password: %(url)s. "
                  "If not, ignore this message.", url=url))
    if kind == "PHONE_TAKEN_OVER":
        phone = display_phone(p.get("phone"))
        return (_("Your phone number moved to another account"),
                _("The number %(phone)s was proved by another account, which now holds it. "
                  "Your account never proved it, so it no longer has a phone number: log in "
                  "with your email, or contact support.", phone=phone))
    return _("Family Connect"), _("There is news in “%(group)s”.", group=group)


def _phone_code(p: dict[str, Any], code: str) -> tuple[str, str]:
    """The SMS of a one-time code; the code is given once the row is sent (never in-app)."""
    minutes = p.get("minutes", 10)
    purpose = p.get("purpose")
    if purpose == "reset":
        return (_("Your password reset code"),
                _("Family Connect: your code to reset your password is %(code)s. It works for "
                  "%(minutes)s minutes. If you did not ask for it, ignore this message; "
                  "never give the code to anyone.", code=code, minutes=minutes))
    if purpose == "prove":
        return (_("Your code"),
                _("Family Connect: your code to prove this phone number is %(code)s. It works "
                  "for %(minutes)s minutes. Never give it to anyone.", code=code,
                  minutes=minutes))
    if purpose == "confirm":
        return (_("Your confirmation code"),
                _("Family Connect: your code to confirm an export of your data or the "
                  "deletion of your account is %(code)s. It works for %(minutes)s minutes. "
                  "If you did not ask for it, change your password; never give the code to "
                  "anyone.", code=code, minutes=minutes))
    return (_("Your sign-up code"),
            _("Family Connect: your sign-up code is %(code)s. It works for %(minutes)s "
              "minutes. Never give it to anyone.", code=code, minutes=minutes))
