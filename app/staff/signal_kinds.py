"""The six risk signals of the review queue: what each counts, over which window, and
how its items read (titles, links, evidence rows). app/staff/signals.py reads them.

Each signal's counted() is one aggregate statement, (key, level) per subject, limited to
the window so that the indexes of revision 0006 answer it; the threshold is applied by
the reader (RISK_WINDOW_DAYS, RISK_THRESHOLDS: docs/configuration.md).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, and_, distinct, func, literal_column, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.functions import FunctionElement

from app.config import DEFAULT_RISK_THRESHOLDS
from app.db import UTCDateTime, utcnow
from app.extensions import db
from app.models.accounts import User
from app.models.audit import AuditEvent
from app.models.connections import Connection
from app.models.groups import FamilyGroup, FamilyGroupMember
from app.models.invites import ConnectionInvite
from app.models.notifications import InviteNotification
from app.phone import display_phone
from app.staff.delivery_errors import delivery_error

EVIDENCE_ROWS = 200
FLAG_CAP = 100  # items per signal, strongest first
CONNECTIONS = Connection.__tablename__
PROXY = "proxy_execution"
_ID = re.compile(r"[1-9][0-9]{0,17}")  # a canonical id that fits a BIGINT
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # PostgreSQL refuses NUL in text: never a key


def _text_key(raw: str, longest: int) -> str | None:
    return raw if 0 < len(raw) <= longest and not _CONTROL.search(raw) else None


@dataclass
class Cell:
    """One cell of an evidence table: text, a link, a time (formatted by the page), or a
    code the page names in the reader's language (kind: invite, message, channel, role,
    notification — the staff pages' label()). raw: the technical value the text puts into words (a
    delivery error), shown folded away for investigations."""

    text: str = ""
    url: str | None = None
    when: datetime | None = None
    kind: str | None = None
    raw: str | None = None


@dataclass
class EvidenceRow:
    id: str
    cells: list[Cell]
    resend_id: int | None = None  # a failed notification: the page offers a resend form


@dataclass
class Settings:
    """The window and the thresholds, read once per call."""

    days: int
    thresholds: dict[str, int]
    now: datetime

    @property
    def since(self) -> datetime:
        return self.now - timedelta(days=self.days)

    @property
    def hours(self) -> int:
        return self.thresholds["proxy_soon_after_join_hours"]

    def threshold(self, name: str) -> int:
        return self.thresholds[name]


def settings() -> Settings:
    overrides = current_app.config.get("RISK_THRESHOLDS") or {}
    return Settings(days=int(current_app.config.get("RISK_WINDOW_DAYS", 30)),
                    thresholds={**DEFAULT_RISK_THRESHOLDS, **overrides}, now=utcnow())


def flagged_rows(signal: Signal, s: Settings) -> list[tuple[Any, int]]:
    """(key, level) of the signal's items flagged now, strongest first, at most FLAG_CAP:
    its aggregate with the threshold applied. The key as the database holds it."""
    query, key, level = signal.counted(s)
    return [(row.key, int(row.level)) for row in db.session.execute(
        query.having(level >= s.threshold(signal.name))
        .order_by(level.desc(), key).limit(FLAG_CAP))]


# --- SQL helpers ----------------------------------------------------------------------


class _plus_hours(FunctionElement):
    """A timestamp plus a whole number of hours, on SQLite and PostgreSQL."""

    type = UTCDateTime()
    inherit_cache = True
    name = "plus_hours"


@compiles(_plus_hours, "postgresql")
def _plus_hours_pg(element, compiler, **kw):
    when, hours = element.clauses
    return (f"({compiler.process(when, **kw)} + "
            f"make_interval(hours => {compiler.process(hours, **kw)}))")


@compiles(_plus_hours, "sqlite")
def _plus_hours_sqlite(element, compiler, **kw):
    # The same text form as SQLAlchemy stores ("YYYY-MM-DD HH:MM:SS.fff"), so the
    # comparison with a stored timestamp is a plain string comparison.
    when, hours = element.clauses
    return (f"strftime('%Y-%m-%d %H:%M:%f', {compiler.process(when, **kw)}, "
            f"'+' || {compiler.process(hours, **kw)} || ' hours')")


def plus_hours(when, hours: int):
    return _plus_hours(when, literal_column(str(int(hours))))


def _user_link(user_id: int | None, name: str | None) -> tuple[str, str] | None:
    if user_id is None:
        return None
    return (name or _("User %(id)d", id=user_id), url_for("staff.user", user_id=user_id))


def _group_link(group_id: int | None, name: str | None) -> tuple[str, str] | None:
    if group_id is None:
        return None
    return (name or _("Family %(id)d", id=group_id), url_for("staff.group", group_id=group_id))


def _cell(link: tuple[str, str] | None, fallback: str = "") -> Cell:
    return Cell(text=link[0], url=link[1]) if link else Cell(text=fallback)


def _links(*links: tuple[str, str] | None) -> list[tuple[str, str]]:
    return [link for link in links if link is not None]


def _error_cell(stored: str | None) -> Cell:
    found = delivery_error(stored)
    return Cell(text=found.text, raw=found.raw) if found else Cell()


def _recipient_label(recipient: str, name: str | None) -> str:
    if recipient.startswith("+"):
        return display_phone(recipient)
    if recipient.isdigit() and name:
        return _("%(name)s (in the portal)", name=name)
    return recipient


# --- the signals ----------------------------------------------------------------------


class Signal(ABC):
    """One risk signal. counted() is its aggregate: (key, level) per subject, grouped,
    window-limited; the rest turns keys into titles, links and evidence rows."""

    name: str
    heading: Any
    caption: Any

    def key_of(self, raw: str) -> Any:
        """The key as the database holds it, or None when it cannot name an item."""
        return int(raw) if _ID.fullmatch(raw) else None

    @abstractmethod
    def counted(self, s: Settings) -> tuple[Select, Any, Any]:
        """The aggregate, its key column and its level column."""

    @abstractmethod
    def subjects(self, keys: Sequence[Any]) -> dict[Any, Any]:
        """What titles and links need of each subject (names), in one statement."""

    @abstractmethod
    def title(self, key: Any, level: int, subject: Any, s: Settings) -> str:
        """A one-line title of a flagged item."""

    @abstractmethod
    def links(self, key: Any, subject: Any) -> list[tuple[str, str]]:
        """(label, url) of the staff pages of its subjects."""

    @abstractmethod
    def meaning(self, s: Settings) -> str:
        """What the signal means, with its threshold and window."""

    @abstractmethod
    def rows(self, key: Any, subject: Any, s: Settings) -> tuple[list[str], list[EvidenceRow]]:
        """The evidence table: headings and rows."""

    def key_label(self, key: str) -> str:
        return key

    def group_of(self, key: Any, subject: Any) -> int | None:
        return None


class PhoneManyGroups(Signal):
    name = "phone_many_groups"
    heading = _l("One phone number invited into many families")
    caption = _l("Invites to this number in the window")

    def key_of(self, raw: str) -> str | None:
        return _text_key(raw, 16)

    def counted(self, s):
        level = func.count(distinct(ConnectionInvite.family_group_id))
        key = ConnectionInvite.receiver_phone
        return (select(key.label("key"), level.label("level"))
                .where(ConnectionInvite.created_at >= s.since).group_by(key)), key, level

    def subjects(self, keys):
        return {row.phone: row for row in db.session.execute(
            select(User.phone, User.id, User.name).where(User.phone.in_(keys)))}

    def title(self, key, level, subject, s):
        return _("%(phone)s was invited into %(n)d families in %(days)d days",
                 phone=display_phone(key), n=level, days=s.days)

    def links(self, key, subject):
        if subject is not None:
            return _links(_user_link(subject.id, subject.name))
        return [(_("Search %(phone)s", phone=display_phone(key)), url_for("staff.index", q=key))]

    def meaning(self, s):
        return _("A phone number invited into %(n)d or more different families in the last "
                 "%(days)d days. Resending an invite, or inviting again into the same family, "
                 "does not count.", n=s.threshold(self.name), days=s.days)

    def rows(self, key, subject, s):
        sender = aliased(User)
        found = db.session.execute(
            select(ConnectionInvite, FamilyGroup.name, sender.name)
            .outerjoin(FamilyGroup, FamilyGroup.id == ConnectionInvite.family_group_id)
            .join(sender, sender.id == ConnectionInvite.sender_id)
            .where(ConnectionInvite.receiver_phone == key, ConnectionInvite.created_at >= s.since)
            .order_by(ConnectionInvite.created_at.desc(), ConnectionInvite.id.desc())
            .limit(EVIDENCE_ROWS)).tuples()
        headings = [_("Sent"), _("Family"), _("Sent by"), _("Role"), _("Status"),
                    _("Link valid until")]
        return headings, [EvidenceRow(id=f"invite-{invite.id}", cells=[
            Cell(when=invite.created_at),
            _cell(_group_link(invite.family_group_id, group_name)),
            _cell(_user_link(invite.sender_id, sender_name)),
            Cell(text=invite.role, kind="role"),
            Cell(text=invite.shown_status(s.now), kind="invite"),
            Cell(when=invite.expires_at)]) for invite, group_name, sender_name in found]

    def key_label(self, key):
        return display_phone(key)


class CaregiverManyPatients(Signal):
    name = "caregiver_many_patients"
    heading = _l("A caregiver connected to many patients")
    caption = _l("This caregiver's connections made in the window")

    def counted(self, s):
        level = func.count(distinct(Connection.user_id))
        key = Connection.linked_user_id
        return (select(key.label("key"), level.label("level"))
                .where(Connection.created_at >= s.since, key.is_not(None))
                .group_by(key)), key, level

    def subjects(self, keys):
        return {row.id: row for row in db.session.execute(
            select(User.id, User.name, User.phone).where(User.id.in_(keys)))}

    def title(self, key, level, subject, s):
        name = subject.name if subject else _("User %(id)d", id=key)
        return _("%(name)s was connected to %(n)d patients in %(days)d days",
                 name=name, n=level, days=s.days)

    def links(self, key, subject):
        return _links(_user_link(key, subject.name if subject else None))

    def meaning(self, s):
        return _("A caregiver connected to %(n)d or more different patients in the last "
                 "%(days)d days. One family holds only as many patients as its plan allows, "
                 "so this means several families.", n=s.threshold(self.name), days=s.days)

    def rows(self, key, subject, s):
        patient = aliased(User)
        found = db.session.execute(
            select(Connection, patient.name, FamilyGroup.name)
            .join(patient, patient.id == Connection.user_id)
            .outerjoin(FamilyGroup, FamilyGroup.id == Connection.family_group_id)
            .where(Connection.linked_user_id == key, Connection.created_at >= s.since)
            .order_by(Connection.created_at.desc(), Connection.id.desc())
            .limit(EVIDENCE_ROWS)).tuples()
        headings = [_("Connected"), _("Patient"), _("Family"), _("State")]
        return headings, [EvidenceRow(id=f"connection-{c.id}", cells=[
            Cell(when=c.created_at),
            _cell(_user_link(c.user_id, patient_name)),
            _cell(_group_link(c.family_group_id, group_name)),
            Cell(text=_("disconnected or ended") if c.permission_revoked else _("live"))])
            for c, patient_name, group_name in found]

    def key_label(self, key):
        return _("user %(id)s", id=key)


class _ConnectionSignal(Signal):
    """A signal about one connection: its parties, family and the caregiver's join time."""

    def subjects(self, keys):
        patient, caregiver = aliased(User), aliased(User)
        member = FamilyGroupMember
        return {row.id: row for row in db.session.execute(
            select(Connection.id, Connection.family_group_id,
                   FamilyGroup.name.label("group_name"),
                   patient.id.label("patient_id"), patient.name.label("patient_name"),
                   caregiver.id.label("caregiver_id"), caregiver.name.label("caregiver_name"),
                   func.coalesce(member.joined_at, Connection.created_at).label("joined_at"))
            .join(patient, patient.id == Connection.user_id)
            .join(caregiver, caregiver.id == Connection.linked_user_id)
            .outerjoin(FamilyGroup, FamilyGroup.id == Connection.family_group_id)
            .outerjoin(member, and_(member.group_id == Connection.family_group_id,
                                    member.user_id == Connection.linked_user_id,
                                    member.role == "caregiver"))
            .where(Connection.id.in_(keys)))}

    def links(self, key, subject):
        if subject is None:
            return []
        return _links(_user_link(subject.caregiver_id, subject.caregiver_name),
                      _user_link(subject.patient_id, subject.patient_name),
                      _group_link(subject.family_group_id, subject.group_name))

    def parties(self, key, subject) -> dict[str, str]:
        if subject is None:
            return {"caregiver": _("Connection %(id)d", id=key), "patient": "?"}
        return {"caregiver": subject.caregiver_name, "patient": subject.patient_name}

    def group_of(self, key, subject):
        return subject.family_group_id if subject is not None else None

    def key_label(self, key):
        return _("connection %(id)s", id=key)

    def events(self, key, actions: tuple[str, ...], s: Settings, *extra):
        actor = aliased(User)
        return db.session.execute(
            select(AuditEvent, actor.name).outerjoin(actor, actor.id == AuditEvent.actor_id)
            .where(AuditEvent.action.in_(actions), AuditEvent.created_at >= s.since,
                   AuditEvent.subject_type == CONNECTIONS, AuditEvent.subject_id == key, *extra)
            .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
            .limit(EVIDENCE_ROWS)).tuples().all()


class ProxySoonAfterJoin(_ConnectionSignal):
    name = "proxy_soon_after_join"
    heading = _l("Proxy execution turned on right after joining")
    caption = _l("Changes of “act on the patient's behalf” on this connection in the window")

    def counted(self, s):
        member = FamilyGroupMember
        joined = func.coalesce(member.joined_at, Connection.created_at)
        level = func.count(AuditEvent.id)
        key = Connection.id
        query = (
            select(key.label("key"), level.label("level")).select_from(AuditEvent)
            .join(Connection, and_(AuditEvent.subject_type == CONNECTIONS,
                                   AuditEvent.subject_id == Connection.id))
            # The caregiver's joining of the family the change happened in; a caregiver
            # who has left since counts from the connection's creation.
            .outerjoin(member, and_(member.group_id == AuditEvent.family_group_id,
                                    member.user_id == Connection.linked_user_id,
                                    member.role == "caregiver"))
            .where(AuditEvent.action == "connection.permission_changed",
                   AuditEvent.created_at >= s.since,
                   AuditEvent.details["permission"].as_string() == PROXY,
                   AuditEvent.details["to"].as_boolean().is_(True),
                   AuditEvent.created_at >= joined,
                   AuditEvent.created_at <= plus_hours(joined, s.hours))
            .group_by(key))
        return query, key, level

    def title(self, key, level, subject, s):
        return _("%(caregiver)s was allowed to act on behalf of %(patient)s within %(hours)d "
                 "hours of joining (turned on %(n)d× in %(days)d days)",
                 hours=s.hours, n=level, days=s.days, **self.parties(key, subject))

    def meaning(self, s):
        return _("“Act on the patient's behalf” (proxy execution) turned on within %(hours)d "
                 "hours of the caregiver joining the family, %(n)d or more times on one "
                 "connection in the last %(days)d days.",
                 hours=s.hours, n=s.threshold(self.name), days=s.days)

    def rows(self, key, subject, s):
        found = self.events(key, ("connection.permission_changed",), s,
                            AuditEvent.details["permission"].as_string() == PROXY)
        joined = subject.joined_at if subject is not None else None
        headings = [_("When"), _("By"), _("Change"), _("Joined the family"),
                    _("Hours after joining")]
        rows = []
        for event, actor_name in found:
            details = event.details or {}
            after = ""
            if joined is not None:
                hours = (event.created_at - joined).total_seconds() / 3600
                after = (_("%(hours).1f h", hours=hours) if hours >= 0
                         else _("before this joining"))
            rows.append(EvidenceRow(id=f"event-{event.id}", cells=[
                Cell(when=event.created_at),
                _cell(_user_link(event.actor_id, actor_name), _("Someone")),
                Cell(text=_("turned on") if details.get("to") else _("turned off")),
                Cell(when=joined),
                Cell(text=after)]))
        return headings, rows


class DisconnectCycles(_ConnectionSignal):
    name = "disconnect_cycles"
    heading = _l("Repeated disconnects and restores")
    caption = _l("Disconnects and restores of this connection in the window")

    def counted(self, s):
        level = func.count(AuditEvent.id)
        key = AuditEvent.subject_id
        return (select(key.label("key"), level.label("level"))
                .where(AuditEvent.action == "connection.disconnected",
                       AuditEvent.created_at >= s.since, AuditEvent.subject_type == CONNECTIONS)
                .group_by(key)), key, level

    def title(self, key, level, subject, s):
        return _("%(caregiver)s was disconnected from %(patient)s %(n)d times in %(days)d days",
                 n=level, days=s.days, **self.parties(key, subject))

    def meaning(self, s):
        return _("One connection silently disconnected %(n)d or more times in the last "
                 "%(days)d days: disconnect and restore cycles, perhaps a dispute or "
                 "pressure on the patient.", n=s.threshold(self.name), days=s.days)

    def rows(self, key, subject, s):
        found = self.events(key, ("connection.disconnected", "connection.restored"), s)
        headings = [_("When"), _("What"), _("By"), _("As"), _("Private reason")]
        return headings, [EvidenceRow(id=f"event-{event.id}", cells=[
            Cell(when=event.created_at),
            Cell(text=_("disconnected") if event.action == "connection.disconnected"
                 else _("restored")),
            _cell(_user_link(event.actor_id, actor_name), _("Someone")),
            Cell(text=(event.details or {}).get("as") or "", kind="role"),
            Cell(text=(event.details or {}).get("reason") or "")])
            for event, actor_name in found]


class ExpiredInvites(Signal):
    name = "expired_invites"
    heading = _l("Many expired invites in one family")
    caption = _l("This family's invites that expired in the window")

    @staticmethod
    def _expired(s: Settings):
        return (ConnectionInvite.expires_at >= s.since, ConnectionInvite.expires_at <= s.now,
                ConnectionInvite.shown_status(s.now) == "expired")

    def counted(self, s):
        level = func.count(ConnectionInvite.id)
        key = ConnectionInvite.family_group_id
        return (select(key.label("key"), level.label("level"))
                .where(*self._expired(s), key.is_not(None)).group_by(key)), key, level

    def subjects(self, keys):
        admin = aliased(User)
        return {row.id: row for row in db.session.execute(
            select(FamilyGroup.id, FamilyGroup.name, FamilyGroup.admin_user_id,
                   admin.name.label("admin_name"))
            .join(admin, admin.id == FamilyGroup.admin_user_id)
            .where(FamilyGroup.id.in_(keys)))}

    def title(self, key, level, subject, s):
        name = (subject.name if subject else None) or _("Family %(id)d", id=key)
        return _("%(n)d invites of %(group)s expired unanswered in %(days)d days",
                 n=level, group=name, days=s.days)

    def links(self, key, subject):
        if subject is None:
            return []
        return _links(_group_link(subject.id, subject.name),
                      _user_link(subject.admin_user_id, subject.admin_name))

    def meaning(self, s):
        return _("%(n)d or more invites of one family expired unanswered in the last "
                 "%(days)d days: numbers invited without their owners' knowledge, or an "
                 "admin collecting phone numbers.", n=s.threshold(self.name), days=s.days)

    def rows(self, key, subject, s):
        sender = aliased(User)
        found = db.session.execute(
            select(ConnectionInvite, sender.name)
            .join(sender, sender.id == ConnectionInvite.sender_id)
            .where(ConnectionInvite.family_group_id == key, *self._expired(s))
            .order_by(ConnectionInvite.expires_at.desc(), ConnectionInvite.id.desc())
            .limit(EVIDENCE_ROWS)).tuples()
        headings = [_("Expired"), _("Phone"), _("Role"), _("Status"), _("Sent by"), _("Sent")]
        return headings, [EvidenceRow(id=f"invite-{invite.id}", cells=[
            Cell(when=invite.expires_at),
            Cell(text=display_phone(invite.receiver_phone),
                 url=url_for("staff.index", q=invite.receiver_phone)),
            Cell(text=invite.role, kind="role"),
            Cell(text=invite.shown_status(s.now), kind="invite"),
            _cell(_user_link(invite.sender_id, sender_name)),
            Cell(when=invite.created_at)]) for invite, sender_name in found]

    def key_label(self, key):
        return _("family %(id)s", id=key)

    def group_of(self, key, subject):
        return subject.id if subject is not None else None


class FailingNotifications(Signal):
    name = "failing_notifications"
    heading = _l("Notifications failing repeatedly")
    caption = _l("Failed notifications to this recipient in the window")

    def key_of(self, raw: str) -> str | None:
        return _text_key(raw, 254)

    def counted(self, s):
        level = func.count(InviteNotification.id)
        key = InviteNotification.recipient
        return (select(key.label("key"), level.label("level"))
                .where(InviteNotification.status == "failed",
                       InviteNotification.created_at >= s.since)
                .group_by(key)), key, level

    def subjects(self, keys):
        return {row.recipient: row for row in db.session.execute(
            select(InviteNotification.recipient, User.id, User.name)
            .join(User, User.id == InviteNotification.recipient_user_id)
            .where(InviteNotification.recipient.in_(keys)).distinct())}

    def title(self, key, level, subject, s):
        return _("Notifications to %(recipient)s failed %(n)d times in %(days)d days",
                 recipient=_recipient_label(key, subject.name if subject else None),
                 n=level, days=s.days)

    def links(self, key, subject):
        return _links(_user_link(subject.id, subject.name)) if subject is not None else []

    def meaning(self, s):
        return _("%(n)d or more notifications to one phone number, address or user failed "
                 "in the last %(days)d days and are still failed: a wrong or dead number, or "
                 "a blocked sender.", n=s.threshold(self.name), days=s.days)

    def rows(self, key, subject, s):
        note = InviteNotification
        found = db.session.execute(
            select(note, FamilyGroup.name)
            .outerjoin(FamilyGroup, FamilyGroup.id == note.family_group_id)
            .where(note.recipient == key, note.status == "failed", note.created_at >= s.since)
            .order_by(note.created_at.desc(), note.id.desc()).limit(EVIDENCE_ROWS)).tuples()
        headings = [_("Created"), _("Message"), _("Channel"), _("Tries"), _("Error"),
                    _("Family")]
        return headings, [EvidenceRow(id=f"notification-{n.id}", resend_id=n.id, cells=[
            Cell(when=n.created_at),
            Cell(text=n.notification_type, kind="notification"),
            Cell(text=n.channel, kind="channel"),
            Cell(text=str(n.retry_count)),
            _error_cell(n.error),
            _cell(_group_link(n.family_group_id, group_name))]) for n, group_name in found]

    def key_label(self, key):
        return _recipient_label(key, None)


SIGNALS: dict[str, Signal] = {signal.name: signal for signal in (
    PhoneManyGroups(), CaregiverManyPatients(), ProxySoonAfterJoin(), DisconnectCycles(),
    ExpiredInvites(), FailingNotifications())}
