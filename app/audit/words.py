"""An audit event in the reader's words (issue 18): one sentence per action, its other
details as labelled lines, its subject as a reference the page can link. The staff pages'
trails and a connection's history (templates/connections/_event.html) read events here,
so each action is put into words once.

This module knows the audit trail's codes, not the features: the page passes what names
things (Names: people, families, connections, the relationship and permission lookups,
plans, channels, signals, delivery errors). Every lookup falls back to a readable form,
so an unknown action, a retired code or a deleted person never breaks a page; the raw
action stays with the event for staff to quote in an investigation.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.audit.access import ACCESS_REASON, REASONS, reason_label
from app.dates import when
from app.models.connections import PERMISSION_CODES
from app.phone import display_phone

# A staff member looking at a page (a search shows people too): recorded so that every look
# at someone's data is accountable, and hidden by default on the staff trails, where they
# would bury what happened to the family.
PAGE_VIEWS = ("staff.group_viewed", "staff.user_viewed", "staff.signal_viewed",
              "staff.searched", ACCESS_REASON)

CONNECTIONS = "user_emergency_contacts"
USERS = "users"
FAMILIES = "family_groups"

# Details that name a person by id, a connection by id, or list ids (shown as a count).
PERSON_KEYS = ("user_id", "patient_id", "caregiver_id", "admin_id")
COUNTED_KEYS = {"connections": _l("Connections made"), "revoked": _l("Connections ended"),
                "invites_cancelled": _l("Invites cancelled"), "members": _l("Members"),
                "families": _l("Families shown beside it"),
                "created_user_ids": _l("Accounts created"),
                "families_left": _l("Families left")}

ROLES = {"patient": _l("patient"), "caregiver": _l("caregiver"), "admin": _l("admin")}

KEY_LABELS = {
    "reason": _l("Private reason"), "note": _l("Review note"), "phone": _l("Phone"),
    "role": _l("Role"), "as": _l("Acting as"), "relationship": _l("Relationship"),
    "inverse_relationship": _l("The other way"), "from": _l("Before"),
    "permission": _l("Permission"), "expires_at": _l("Valid until"),
    "scope": _l("Scope"), "view": _l("Page"), "what": _l("Searched"),
    "q": _l("Search text"), "found": _l("Found"), "rows": _l("Rows"), "plan": _l("Plan"),
    "days": _l("Days"), "count": _l("Codes"), "channel": _l("Channel"),
    "type": _l("Message"), "error": _l("Last error"), "retry_count": _l("Tries before"),
    "signal": _l("Signal"), "key": _l("Item"), "level": _l("Level"),
    "by": _l("Proved by"), "proved_by": _l("Proved by"), "phone_proved_by": _l("Proved by"),
    "via": _l("Through"), "cause": _l("Why it ended"), "name": _l("Name"),
    "user_id": _l("Person"), "patient_id": _l("Patient"), "caregiver_id": _l("Caregiver"),
    "admin_id": _l("Admin"), "invite_id": _l("Invite"), "claim_id": _l("Claim link"),
    "subscription_id": _l("Subscription"), "api_tokens_revoked": _l("API tokens revoked"),
    "invariant": _l("Rule checked"), "done": _l("Repair"), "legacyId": _l("Old app's id"),
    "position": _l("Position in the import file"),
    "permissions": _l("Permissions"), "confirmed_by": _l("Confirmed with"),
    "email": _l("Email"), "previous": _l("Before"), "was_proved": _l("It was proved"),
    "reason_code": _l("Why"), "grant": _l("Reason given in event"),
}

# Codes that some details carry, in words.
VALUES = {
    "scope": {"connection": _l("this connection only"),
              "caregiver": _l("every patient of this caregiver"),
              "consent": _l("the patient withdrew consent")},
    "view": {"staff user page": _l("the person's staff page"),
             "staff group page": _l("the family's staff page"),
             "family page": _l("the family's own page"),
             "file": _l("the person's file, through the API")},
    "what": {"users": _l("people"), "groups": _l("families")},
    "by": {"sms_code": _l("a code sent by SMS"), "invite_link": _l("an invite link"),
           "claim_link": _l("a claim link"), "staff": _l("the staff command")},
    "via": {"settings": _l("the settings page"), "api": _l("the API")},
    "cause": {"removed": _l("a member was removed"), "left": _l("a member left"),
              "dissolved": _l("the family was dissolved"),
              "deleted": _l("an account was deleted")},
    "confirmed_by": {"password": _l("the password"), "sms_code": _l("a code sent by SMS")},
    "reason_code": REASONS,
}
VALUES["proved_by"] = VALUES["phone_proved_by"] = VALUES["by"]

SUBJECTS = {
    "connection_invites": _l("an invite"), "invite_notifications": _l("a message"),
    "subscriptions": _l("a plan"), "api_tokens": _l("an API token"),
    "staff_reviews": _l("a review of the queue"), "activation_codes": _l("activation codes"),
    "family_group_members": _l("a membership"),
}


def _plain(code: str) -> str:
    return code


@dataclass(frozen=True)
class Names:
    """What the page that shows events names things with. Every field is optional: what is
    missing reads as a readable form of the code or id.

    parties: (caregiver, patient) names when the page is about one connection (its history).
    connections: connection id → (caregiver id, patient id).
    """

    people: Mapping[int, str] = field(default_factory=dict)
    families: Mapping[int, str] = field(default_factory=dict)
    connections: Mapping[int, tuple[int | None, int | None]] = field(default_factory=dict)
    relationships: Mapping[str, str] = field(default_factory=dict)
    permissions: Mapping[str, str] = field(default_factory=dict)
    channels: Mapping[str, Any] = field(default_factory=dict)
    notifications: Mapping[str, Any] = field(default_factory=dict)  # message type → name
    signals: Mapping[str, Any] = field(default_factory=dict)
    plan: Callable[[str], str] = _plain
    error: Callable[[str], str] = _plain
    parties: tuple[str, str] | None = None

    def person(self, user_id: Any) -> str:
        if user_id is None:
            return _("someone")
        name = self.people.get(user_id)
        return name if name else _("user %(id)s", id=user_id)

    def family(self, group_id: Any) -> str:
        name = self.families.get(group_id) if group_id is not None else None
        return name if name else _("Family %(id)s", id=group_id if group_id is not None else "?")

    def role(self, code: Any) -> str:
        return str(ROLES.get(code, code or ""))

    def relationship(self, code: Any) -> str:
        return self.relationships.get(code) or readable(str(code))

    def permission(self, code: Any) -> str:
        return self.permissions.get(code) or readable(str(code))


# --- one event ------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """One labelled detail: text, or a moment the page formats; code is the raw value when
    the text translates it (a delivery error), kept for investigations."""

    key: str
    label: str
    text: str = ""
    moment: datetime | None = None
    code: str | None = None


@dataclass(frozen=True)
class Subject:
    """What an event was about. kind: user, family, connection (caregiver → patient, either
    id may be None) or text (no page of its own)."""

    kind: str
    text: str
    id: int | None = None
    caregiver: tuple[int | None, str] | None = None
    patient: tuple[int | None, str] | None = None


@dataclass(frozen=True)
class Described:
    """An event as the staff pages show it."""

    id: int
    action: str
    at: datetime
    actor_id: int | None
    actor: str  # the actor's name, or who acted when nobody signed in did
    sentence: str
    subject: Subject | None
    lines: list[Line]
    family_id: int | None
    page_view: bool
    ip: str | None


class _Event:
    """An event being put into words: its details and the page's names."""

    def __init__(self, event: Any, details: Mapping[str, Any], names: Names) -> None:
        self.event, self.details, self.names = event, details, names

    def get(self, key: str, default: Any = None) -> Any:
        return self.details.get(key, default)

    def role(self, default: str | None = None) -> str:
        return self.names.role(self.get("role", default))

    def subject_user(self) -> int | None:
        return self.event.subject_id if self.event.subject_type == USERS else None

    def person(self, key: str = "user_id") -> str:
        user_id = self.get(key)
        return self.names.person(user_id if user_id is not None else self.subject_user())

    def _party_ids(self) -> tuple[Any, Any]:
        caregiver, patient = self.get("caregiver_id"), self.get("patient_id")
        if self.event.subject_type == CONNECTIONS and (caregiver is None or patient is None):
            known = self.names.connections.get(self.event.subject_id, (None, None))
            caregiver = caregiver if caregiver is not None else known[0]
            patient = patient if patient is not None else known[1]
        return caregiver, patient

    def caregiver(self) -> str:
        if self.names.parties:
            return self.names.parties[0]
        return self.names.person(self._party_ids()[0])

    def patient(self) -> str:
        if self.names.parties:
            return self.names.parties[1]
        return self.names.person(self._party_ids()[1])

    def family(self) -> str:
        return self.names.family(self.event.family_group_id)


def _permission_changed(e: _Event) -> str:
    permission = e.names.permission(e.get("permission"))
    if e.get("to"):
        return _("Turned “%(permission)s” on (it was off).", permission=permission)
    return _("Turned “%(permission)s” off (it was on).", permission=permission)


def _disconnected(e: _Event) -> str:
    if e.get("scope") == "caregiver":
        return _("Disconnected %(caregiver)s from every patient of the family at once. "
                 "Nobody was told.", caregiver=e.caregiver())
    if e.get("scope") == "consent":
        return _("Disconnected %(caregiver)s from %(patient)s: the patient withdrew consent.",
                 caregiver=e.caregiver(), patient=e.patient())
    return _("Disconnected %(caregiver)s from %(patient)s. Nobody was told.",
             caregiver=e.caregiver(), patient=e.patient())


def _consent_withdrawn(e: _Event) -> str:
    if e.get("told"):
        return _("%(patient)s withdrew consent: %(caregiver)s no longer sees their data, and "
                 "was told. Only %(patient)s can restore it.",
                 patient=e.patient(), caregiver=e.caregiver())
    return _("%(patient)s withdrew consent: %(caregiver)s no longer sees their data. Nobody "
             "was told. Only %(patient)s can restore it.",
             patient=e.patient(), caregiver=e.caregiver())


def _restored(e: _Event) -> str:
    """A restore brings back the permissions as they were (BR-040) and records them; one
    recorded before that brought every permission back."""
    restored = e.get("permissions")
    if not isinstance(restored, Mapping):
        return _("Restored the connection: every permission is on again.")
    on = [e.names.permission(code) for code in PERMISSION_CODES if restored.get(code)]
    return _("Restored the connection as before the disconnect: %(permissions)s on.",
             permissions=", ".join(on))


def _relationship_changed(e: _Event) -> str:
    code = e.get("relationship")
    if not code:
        return _("Cleared how they are related.")
    return _("Set how they are related: %(caregiver)s is “%(relationship)s” to %(patient)s.",
             caregiver=e.caregiver(), relationship=e.names.relationship(code),
             patient=e.patient())


def _released(e: _Event) -> str:
    cause = e.get("cause")
    if cause == "removed":
        return _("The connection ended: a member was removed from the family.")
    if cause == "left":
        return _("The connection ended: a member left the family.")
    if cause == "dissolved":
        return _("The connection ended: the family was dissolved.")
    if cause == "deleted":
        return _("The connection ended: an account was deleted.")
    return _("The connection ended.")


def _joined(e: _Event) -> str:
    return _("%(person)s joined the family as %(role)s.", person=e.person(), role=e.role())


def _searched(e: _Event) -> str:
    what = VALUES["what"].get(e.get("what"))
    return _("Searched %(what)s for “%(q)s”: %(found)s found.",
             what=what if what else e.get("what", ""), q=e.get("q", ""),
             found=e.get("found", "?"))


def _access_reason(e: _Event) -> str:
    why = reason_label(e.get("reason_code"))
    if e.get("opened") == "file":
        return _("Opened the file of %(person)s as staff. Reason: %(why)s.",
                 person=e.person(), why=why)
    if e.get("opened") == "export":
        return _("Downloaded the family's history as staff. Reason: %(why)s.", why=why)
    return _("Opened the family “%(family)s” as staff. Reason: %(why)s.",
             family=e.family(), why=why)


def _signal(e: _Event) -> str:
    code = e.get("signal", "")
    return str(e.names.signals.get(code) or readable(str(code)))


# action → (the details its sentence says, the sentence). One entry per action the
# portal records; tests/staff/test_words.py checks that every action written has one.
SENTENCES: dict[str, tuple[tuple[str, ...], Callable[[_Event], str]]] = {
    "invite.created": (("role",), lambda e: _(
        "Sent the invite to join as %(role)s.", role=e.role("caregiver"))),
    "invite.resent": ((), lambda e: _("Sent the invite again.")),
    "invite.accepted": (("role",), lambda e: _(
        "Accepted the invite and joined as %(role)s.", role=e.role("caregiver"))),
    "invite.rejected": (("role",), lambda e: _(
        "Declined the invite to join as %(role)s.", role=e.role("caregiver"))),
    "invite.cancelled": (("role",), lambda e: _(
        "Cancelled the invite to join as %(role)s.", role=e.role("caregiver"))),
    "connection.created": (("patient_id", "caregiver_id"), lambda e: _(
        "Connected: %(caregiver)s follows %(patient)s.",
        caregiver=e.caregiver(), patient=e.patient())),
    "connection.permission_changed": (("permission", "from", "to", "patient_id",
                                       "caregiver_id"), _permission_changed),
    "connection.disconnected": (("scope", "patient_id", "caregiver_id"), _disconnected),
    "connection.restored": (("permissions", "patient_id", "caregiver_id"), _restored),
    "connection.relationship_changed": (("relationship",), _relationship_changed),
    "connection.released": (("cause",), _released),
    "connection.consent_withdrawn": (("told", "patient_id", "caregiver_id"),
                                     _consent_withdrawn),
    "group.created": (("name",), lambda e: _(
        "Created the family “%(name)s”.", name=e.get("name") or e.family())),
    "group.renamed": (("from", "to"), lambda e: _(
        "Renamed the family from “%(old)s” to “%(new)s”.",
        old=e.get("from") or "", new=e.get("to") or "")),
    "group.member_joined": (("user_id", "role"), _joined),
    "member.joined": (("user_id", "role"), _joined),
    "group.member_removed": (("user_id", "role"), lambda e: _(
        "Removed %(person)s (%(role)s) from the family.", person=e.person(), role=e.role())),
    "group.member_left": (("role",), lambda e: _(
        "Left the family, where they were %(role)s.", role=e.role())),
    "group.dissolved": ((), lambda e: _("Dissolved the family.")),
    "group.handed_over": (("admin_id", "user_id"), lambda e: _(
        "Handed the family over: %(new)s is its admin now, in place of %(old)s, with their "
        "own plan.", new=e.person(), old=e.person("admin_id"))),
    "staff.group_viewed": ((), lambda e: _(
        "Looked at the family “%(family)s” as staff.", family=e.family())),
    "staff.user_viewed": ((), lambda e: _(
        "Looked at the file of %(person)s as staff.", person=e.person())),
    "staff.signal_viewed": (("signal",), lambda e: _(
        "Looked at the evidence of “%(signal)s” in the review queue.", signal=_signal(e))),
    "staff.signal_reviewed": (("signal",), lambda e: _(
        "Marked an item of “%(signal)s” reviewed.", signal=_signal(e))),
    "staff.searched": (("what", "q", "found"), _searched),
    ACCESS_REASON: (("opened", "reason_code"), _access_reason),
    "staff.audit_exported": ((), lambda e: _(
        "Downloaded the family's audit trail as a CSV file.")),
    "staff.notification_resent": (("channel",), lambda e: _(
        "Put a failed message back in the queue (%(channel)s).",
        channel=e.names.channels.get(e.get("channel")) or e.get("channel", ""))),
    "staff.account_suspended": ((), lambda e: _(
        "Suspended the account of %(person)s.", person=e.person())),
    "staff.account_reactivated": ((), lambda e: _(
        "Lifted the suspension of %(person)s.", person=e.person())),
    "staff.created": ((), lambda e: _(
        "%(person)s was made a member of staff.", person=e.person())),
    "staff.mfa_enrolled": ((), lambda e: _(
        "Set up the authenticator app for the staff area.")),
    "staff.mfa_passed": (("method",), lambda e: _(
        "Passed the second step with one of the recovery codes.")
        if e.get("method") == "recovery" else _(
        "Passed the second step with a code from the authenticator app.")),
    "staff.mfa_failed": ((), lambda e: _("A code for the second step was refused.")),
    "staff.mfa_recovery_renewed": ((), lambda e: _("Made ten new recovery codes.")),
    "staff.mfa_reset": ((), lambda e: _(
        "The second step of %(person)s was reset: they set up their authenticator again.",
        person=e.person())),
    "billing.codes_issued": (("plan", "days", "count"), lambda e: _(
        "Issued %(count)s activation codes: %(plan)s, %(days)s days.", count=e.get("count"),
        plan=e.names.plan(e.get("plan", "")), days=e.get("days"))),
    "billing.code_redeemed": (("plan", "days"), lambda e: _(
        "Redeemed an activation code: %(plan)s for %(days)s days.",
        plan=e.names.plan(e.get("plan", "")), days=e.get("days"))),
    "account.register": ((), lambda e: _("Signed up.")),
    "account.register_existing": ((), lambda e: _(
        "Someone tried to sign up with this account's number.")),
    "account.login": ((), lambda e: _("Logged in.")),
    "account.login_failed": ((), lambda e: _("A login to this account failed.")),
    "account.login_refused_suspended": ((), lambda e: _(
        "Tried to log in, but the account is suspended.")),
    "account.logout": ((), lambda e: _("Logged out: every session ended.")),
    "account.password_changed": ((), lambda e: _("Changed the password.")),
    "account.password_reset_requested": ((), lambda e: _(
        "A password reset code was sent to this account's number.")),
    "account.password_reset": ((), lambda e: _("Set a new password with a code sent by SMS.")),
    "account.phone_proved": (("phone",), lambda e: _(
        "Proved the phone number %(phone)s.", phone=display_phone(e.get("phone") or ""))),
    "account.phone_taken_over": (("phone",), lambda e: _(
        "Proved %(phone)s, which %(person)s held without proving it: the number moved to "
        "this account.", phone=display_phone(e.get("phone") or ""), person=e.person())),
    "account.claimed": ((), lambda e: _("Claimed the account brought over from the old app.")),
    "account.claim_link_resent": ((), lambda e: _(
        "A new claim link was sent to this account's number.")),
    # proved e-mail (issue 21)
    "account.email_proof_sent": (("email",), lambda e: _(
        "A link to prove %(email)s was sent to that address.", email=e.get("email", ""))),
    "account.email_proved": (("email",), lambda e: _(
        "Proved the email address %(email)s.", email=e.get("email", ""))),
    "account.email_taken_over": (("email",), lambda e: _(
        "Proved %(email)s, which %(person)s held: the address moved to this account.",
        email=e.get("email", ""), person=e.person())),
    "account.email_unproved_replaced": (("email",), lambda e: _(
        "Gave a new email address in place of %(email)s, which was never proved.",
        email=e.get("email", ""))),
    "account.data_exported": (("by",), lambda e: _("Downloaded all their data (My data).")),
    "staff.data_exported": ((), lambda e: _(
        "Downloaded the data of %(person)s as staff.", person=e.person())),
    "account.api_token_created": (("name",), lambda e: _(
        "Created the API token “%(name)s”.", name=e.get("name", ""))),
    "account.api_token_revoked": (("name",), lambda e: _(
        "Revoked the API token “%(name)s”.", name=e.get("name", ""))),
    "account.deleted": (("confirmed_by",), lambda e: _(
        "Deleted their own account: its name, phone number and email were erased; "
        "its history stays, under “deleted user #%(id)s”.", id=e.event.subject_id)),
    "integrity.repaired": ((), lambda e: _("The integrity check repaired a fault.")),
    "import.group_imported": ((), lambda e: _("The family was imported from the old app.")),
}


def readable(code: str) -> str:
    """A code as words when nothing names it: group.member_joined → "Group: member joined"."""
    text = ": ".join(part.replace("_", " ").strip() for part in code.split(".") if part)
    return text[:1].upper() + text[1:] if text else "?"


def sentence(event: Any, details: Mapping[str, Any] | None = None,
             names: Names | None = None) -> str:
    """What the event's actor did, as a sentence in the reader's language; an action
    without words reads as its readable code."""
    spec = SENTENCES.get(event.action)
    if spec is None:
        return _("Recorded: %(what)s.", what=readable(event.action))
    return spec[1](_Event(event, details if details is not None else (event.details or {}),
                          names or Names()))


def history_sentence(event: Any, details: Mapping[str, Any], *, caregiver: Any, patient: Any,
                     permissions: Mapping[str, str], relationships: Mapping[str, str]) -> str:
    """sentence() for a connection's history page, whose two parties are known."""
    return sentence(event, details, Names(parties=(caregiver.shown_name, patient.shown_name),
                                          permissions=permissions,
                                          relationships=relationships))


def nobody(action: str) -> str:
    """Who acted when no signed-in person did: a visitor for account events (a failed
    login, a reset asked for), the portal itself otherwise (a command, a repair)."""
    return _("Someone not signed in") if action.startswith("account.") else _("The system")


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str) or len(value) < 19:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _line(key: str, value: Any, names: Names) -> Line | None:
    label = str(KEY_LABELS.get(key) or COUNTED_KEYS.get(key) or readable(key))
    if value is None or value == "" or value == []:
        return None
    if key in COUNTED_KEYS and isinstance(value, list):
        return Line(key, label, str(len(value)))
    if key in PERSON_KEYS:
        return Line(key, label, names.person(value))
    if key in ("relationship", "inverse_relationship"):
        return Line(key, label, names.relationship(value))
    if key == "from" and isinstance(value, dict) and "relationship" in value:
        before = value.get("relationship")
        return Line(key, label, names.relationship(before) if before else _("not set"))
    if key == "permission":
        return Line(key, label, names.permission(value))
    if key == "permissions" and isinstance(value, dict):  # the six, as a disconnect found them
        on = [names.permission(c) for c in PERMISSION_CODES if value.get(c) is True]
        off = [names.permission(c) for c in PERMISSION_CODES if value.get(c) is False]
        return Line(key, label, _("on: %(on)s; off: %(off)s",
                                  on=", ".join(on) or "—", off=", ".join(off) or "—"))
    if key in ("role", "as"):
        return Line(key, label, names.role(value))
    if key == "plan":
        return Line(key, label, names.plan(str(value)))
    if key == "channel":
        return Line(key, label, str(names.channels.get(value) or value))
    if key == "type":
        return Line(key, label, str(names.notifications.get(value) or value))
    if key == "signal":
        return Line(key, label, str(names.signals.get(value) or readable(str(value))))
    if key == "error":
        return Line(key, label, names.error(str(value)), code=str(value))
    if key == "phone":
        return Line(key, label, display_phone(str(value)))
    if key in VALUES:
        return Line(key, label, str(VALUES[key].get(value) or value))
    if isinstance(value, bool):
        return Line(key, label, _("on") if value else _("off"))
    moment = _moment(value)
    if moment is not None:
        return Line(key, label, when(moment), moment=moment)
    if key.endswith("_id") and isinstance(value, int):
        return Line(key, label, f"#{value}")
    if isinstance(value, dict | list):
        return Line(key, label, json.dumps(value, ensure_ascii=False, sort_keys=True))
    return Line(key, label, str(value))


def lines(event: Any, details: Mapping[str, Any], names: Names) -> list[Line]:
    """The details the sentence does not say, labelled, in a stable order."""
    said = SENTENCES.get(event.action, ((), None))[0]
    order = list(KEY_LABELS)
    keys = sorted((k for k in details if k not in said),
                  key=lambda k: (order.index(k) if k in order else len(order), k))
    return [line for key in keys if (line := _line(key, details[key], names)) is not None]


def subject(event: Any, details: Mapping[str, Any], names: Names) -> Subject | None:
    """What the event was about, named; None when it names nothing."""
    kind, subject_id = event.subject_type, event.subject_id
    if kind is None:
        return None
    if kind == USERS:
        return Subject("user", names.person(subject_id), id=subject_id)
    if kind == FAMILIES:
        return Subject("family", names.family(subject_id), id=subject_id)
    if kind == CONNECTIONS:
        e = _Event(event, details, names)
        caregiver_id, patient_id = e._party_ids()
        return Subject("connection", _("%(caregiver)s → %(patient)s", caregiver=e.caregiver(),
                                       patient=e.patient()),
                       id=subject_id, caregiver=(caregiver_id, e.caregiver()),
                       patient=(patient_id, e.patient()))
    if kind == "family_group_members" and details.get("user_id") is not None:
        return Subject("user", names.person(details["user_id"]), id=details["user_id"])
    if kind == "connection_invites" and details.get("phone"):
        return Subject("text", _("the invite to %(phone)s",
                                 phone=display_phone(str(details["phone"]))))
    named = SUBJECTS.get(kind)
    return Subject("text", str(named) if named else f"{readable(kind)} #{subject_id}")


def describe(event: Any, details: Mapping[str, Any], names: Names) -> Described:
    """The event for a staff trail: who, the sentence, the subject, the other details."""
    actor = names.person(event.actor_id) if event.actor_id is not None else nobody(event.action)
    return Described(
        id=event.id, action=event.action, at=event.created_at, actor_id=event.actor_id,
        actor=actor, sentence=sentence(event, details, names),
        subject=subject(event, details, names), lines=lines(event, details, names),
        family_id=event.family_group_id, page_view=event.action in PAGE_VIEWS, ip=event.ip)


# --- what a page must load to name a list of events -----------------------------------


def people_of(events: list[Any]) -> set[int]:
    """The ids of the people the events name: actors, user subjects, details' people."""
    ids: set[int] = set()
    for event in events:
        if event.actor_id is not None:
            ids.add(event.actor_id)
        if event.subject_type == USERS and event.subject_id is not None:
            ids.add(event.subject_id)
        for key in PERSON_KEYS:
            value = (event.details or {}).get(key)
            if isinstance(value, int):
                ids.add(value)
    return ids


def connections_of(events: list[Any]) -> set[int]:
    return {e.subject_id for e in events
            if e.subject_type == CONNECTIONS and e.subject_id is not None}


def families_of(events: list[Any]) -> set[int]:
    return {e.family_group_id for e in events if e.family_group_id is not None} | {
        e.subject_id for e in events if e.subject_type == FAMILIES and e.subject_id is not None}
