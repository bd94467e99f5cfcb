"""The review queue's risk signals (issue 5, point 3): six patterns worth a staff member's
look, each counted by one aggregate statement over a recent window and flagged when its
count reaches a threshold (RISK_WINDOW_DAYS, RISK_THRESHOLDS: docs/configuration.md).

An item is (signal, key): the key names its subject as text — a phone number, a user id,
a connection id, a group id or a notification recipient. review_mark (services) records
a review at the item's level; the item leaves the queue until its level grows.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import current_app, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, and_, distinct, func, literal_column, select, tuple_
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.functions import FunctionElement

from app.accounts.models import User
from app.accounts.phone import display_phone
from app.audit.models import AuditEvent
from app.config import DEFAULT_RISK_THRESHOLDS
from app.connections.models import Connection
from app.db import UTCDateTime, utcnow
from app.errors import NotFound
from app.extensions import db
from app.groups.models import FamilyGroup, FamilyGroupMember
from app.invites.models import ConnectionInvite
from app.notifications.models import InviteNotification
from app.staff.models import StaffReview

FLAG_CAP = 100  # items per signal, strongest first
EVIDENCE_ROWS = 200
RECENT_REVIEWS = 20
PAST_REVIEWS = 50
CONNECTIONS = Connection.__tablename__
PROXY = "proxy_execution"
_ID = re.compile(r"[1-9][0-9]{0,17}")  # a canonical id that fits a BIGINT
_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # PostgreSQL refuses NUL in text: never a key


def _text_key(raw: str, longest: int) -> str | None:
    return raw if 0 < len(raw) <= longest and not _CONTROL.search(raw) else None

# --- what the pages get ---------------------------------------------------------------


@dataclass
class Flag:
    """A flagged item: its signal, key, level (the count), a one-line title and links to
    the staff pages of its subjects."""

    signal: str
    key: str
    level: int
    title: str
    links: list[tuple[str, str]] = field(default_factory=list)

    @property
    def anchor(self) -> str:
        """A stable HTML id: flag-<signal>-<key with anything but letters and digits as ->."""
        return f"flag-{self.signal}-{_NOT_ALNUM.sub('-', self.key)}"


@dataclass
class Cell:
    """One cell of an evidence table: text, a link, a time (formatted by the page), or a
    code the page names in the reader's language (kind: invite, message, channel, role —
    the staff pages' label())."""

    text: str = ""
    url: str | None = None
    when: datetime | None = None
    kind: str | None = None


@dataclass
class EvidenceRow:
    id: str
    cells: list[Cell]
    resend_id: int | None = None  # a failed notification: the page offers a resend form


@dataclass
class PastReview:
    review: StaffReview
    reviewer: str | None


@dataclass
class Evidence:
    signal: Signal
    key: str
    title: str
    meaning: str
    level: int
    threshold: int
    flagged: bool
    links: list[tuple[str, str]]
    caption: str
    headings: list[str]
    rows: list[EvidenceRow]
    group_id: int | None
    reviews: list[PastReview]

    @property
    def resend(self) -> bool:
        return any(row.resend_id is not None for row in self.rows)


@dataclass
class Section:
    signal: Signal
    meaning: str
    open: list[Flag]
    flagged: int


@dataclass
class Reviewed:
    signal: Signal
    key: str
    title: str
    level: int
    level_now: int | None
    note: str
    reviewer: str | None
    at: datetime


@dataclass
class Queue:
    sections: list[Section]
    reviewed: list[Reviewed]

    @property
    def open_count(self) -> int:
        return sum(len(section.open) for section in self.sections)


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


def _invite_status(invite: ConnectionInvite, now: datetime) -> str:
    """A pending invite past its expiry is expired, as people see it."""
    if invite.status == "pending" and invite.expires_at is not None and invite.expires_at <= now:
        return "expired"
    return invite.status


def _recipient_label(recipient: str, name: str | None) -> str:
    if recipient.startswith("+"):
        return display_phone(recipient)
    if recipient.isdigit() and name:
        return _("%(name)s (in the portal)", name=name)
    return recipient


# --- the signals ----------------------------------------------------------------------


class Signal:
    """One risk signal. counted() is its aggregate: (key, level) per subject, grouped,
    window-limited; the rest turns keys into titles, links and evidence rows."""

    name: str
    heading: Any
    caption: Any

    def key_of(self, raw: str) -> Any:
        """The key as the database holds it, or None when it cannot name an item."""
        return int(raw) if _ID.fullmatch(raw) else None

    def counted(self, s: Settings) -> tuple[Select, Any, Any]:
        raise NotImplementedError

    def subjects(self, keys: Sequence[Any]) -> dict[Any, Any]:
        """What titles and links need of each subject (names), in one statement."""
        raise NotImplementedError

    def title(self, key: Any, level: int, subject: Any, s: Settings) -> str:
        raise NotImplementedError

    def links(self, key: Any, subject: Any) -> list[tuple[str, str]]:
        raise NotImplementedError

    def meaning(self, s: Settings) -> str:
        raise NotImplementedError

    def rows(self, key: Any, subject: Any, s: Settings) -> tuple[list[str], list[EvidenceRow]]:
        raise NotImplementedError

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
            Cell(text=_invite_status(invite, s.now), kind="invite"),
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
                ConnectionInvite.status.in_(("expired", "pending")))

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
            Cell(text=_invite_status(invite, s.now), kind="invite"),
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
            Cell(text=n.notification_type),
            Cell(text=n.channel, kind="channel"),
            Cell(text=str(n.retry_count)),
            Cell(text=n.error or ""),
            _cell(_group_link(n.family_group_id, group_name))]) for n, group_name in found]

    def key_label(self, key):
        return _recipient_label(key, None)


SIGNALS: dict[str, Signal] = {signal.name: signal for signal in (
    PhoneManyGroups(), CaregiverManyPatients(), ProxySoonAfterJoin(), DisconnectCycles(),
    ExpiredInvites(), FailingNotifications())}


# --- reading them ---------------------------------------------------------------------


def _signal(name: str) -> Signal:
    signal = SIGNALS.get(name)
    if signal is None:
        raise NotFound(_("There is no such risk signal."), code="unknown_signal")
    return signal


def _flags(signal: Signal, s: Settings) -> list[Flag]:
    query, key, level = signal.counted(s)
    found = db.session.execute(query.having(level >= s.threshold(signal.name))
                               .order_by(level.desc(), key).limit(FLAG_CAP)).all()
    subjects = signal.subjects([row.key for row in found]) if found else {}
    return [Flag(signal=signal.name, key=str(row.key), level=row.level,
                 title=signal.title(row.key, row.level, subjects.get(row.key), s),
                 links=signal.links(row.key, subjects.get(row.key))) for row in found]


def _level(signal: Signal, key: Any, s: Settings) -> int:
    """The item's count in the window now, flagged or not (0 when it has none)."""
    query, key_column, _level_column = signal.counted(s)
    row = db.session.execute(query.where(key_column == key)).first()
    return int(row.level) if row else 0


def flags(signal: str | None = None) -> list[Flag]:
    """Items flagged now (level at or above the threshold), up to FLAG_CAP per signal,
    strongest first: of one signal, or of all in SIGNALS order. Two statements per signal
    (the counts, then the subjects' names). Raises NotFound(unknown_signal)."""
    s = settings()
    signals = [_signal(signal)] if signal is not None else list(SIGNALS.values())
    return [flag for one in signals for flag in _flags(one, s)]


def current_level(signal: str, key: str) -> int | None:
    """The item's level if it is flagged now, else None (unknown signal or key too)."""
    one = SIGNALS.get(signal)
    parsed = one.key_of(key) if one is not None else None
    if parsed is None:
        return None
    s = settings()
    level = _level(one, parsed, s)
    return level if level >= max(s.threshold(one.name), 1) else None


def reviews_of(signal: str, key: str) -> list[PastReview]:
    """The item's reviews, newest first, with the reviewers' names."""
    return [PastReview(review=review, reviewer=name) for review, name in db.session.execute(
        select(StaffReview, User.name).outerjoin(User, User.id == StaffReview.reviewed_by)
        .where(StaffReview.signal == signal, StaffReview.subject_key == key)
        .order_by(StaffReview.created_at.desc(), StaffReview.id.desc())
        .limit(PAST_REVIEWS)).tuples()]


def queue() -> Queue:
    """Open items per signal (never reviewed, or grown beyond their latest review's
    level) and the recently reviewed items (the latest review of each, in the window).
    At most 14 statements whatever the number of items."""
    s = settings()
    found = {name: _flags(signal, s) for name, signal in SIGNALS.items()}
    every = {(flag.signal, flag.key): flag for items in found.values() for flag in items}
    latest: dict[tuple[str, str], StaffReview] = {}
    if every:
        newest = (select(func.max(StaffReview.id))
                  .where(tuple_(StaffReview.signal, StaffReview.subject_key).in_(list(every)))
                  .group_by(StaffReview.signal, StaffReview.subject_key))
        latest = {(r.signal, r.subject_key): r for r in db.session.scalars(
            select(StaffReview).where(StaffReview.id.in_(newest)))}
    sections = []
    for name, signal in SIGNALS.items():
        open_items = [flag for flag in found[name]
                      if (review := latest.get((name, flag.key))) is None
                      or flag.level > review.level]
        sections.append(Section(signal=signal, meaning=signal.meaning(s), open=open_items,
                                flagged=len(found[name])))
    recent = (select(func.max(StaffReview.id)).where(StaffReview.created_at >= s.since)
              .group_by(StaffReview.signal, StaffReview.subject_key))
    reviewed = []
    for review, reviewer in db.session.execute(
            select(StaffReview, User.name).outerjoin(User, User.id == StaffReview.reviewed_by)
            .where(StaffReview.id.in_(recent))
            .order_by(StaffReview.created_at.desc(), StaffReview.id.desc())
            .limit(RECENT_REVIEWS)).tuples():
        signal = SIGNALS.get(review.signal)
        if signal is None:
            continue  # a signal retired since
        now = every.get((review.signal, review.subject_key))
        reviewed.append(Reviewed(
            signal=signal, key=review.subject_key, level=review.level,
            level_now=now.level if now else None,
            title=now.title if now else signal.key_label(review.subject_key),
            note=review.note, reviewer=reviewer, at=review.created_at))
    return Queue(sections=sections, reviewed=reviewed)


def item_check(signal: str, key: str) -> tuple[Signal, Any]:
    """The signal and the key as the database holds it. Raises NotFound(unknown_signal),
    NotFound(not_found) for a key that cannot name an item of this signal."""
    one = _signal(signal)
    parsed = one.key_of(key)
    if parsed is None:
        raise NotFound(_("There is no such item in the review queue."), code="not_found")
    return one, parsed


def evidence(signal: str, key: str) -> Evidence:
    """The rows behind an item, its subjects' links and its past reviews. An item that is
    not flagged (any more) still shows what there is.

    Raises NotFound(unknown_signal), NotFound(not_found) for a key that cannot name an
    item of this signal.
    """
    one, parsed = item_check(signal, key)
    s = settings()
    level = _level(one, parsed, s)
    subject = one.subjects([parsed]).get(parsed)
    headings, rows = one.rows(parsed, subject, s)
    threshold = s.threshold(one.name)
    return Evidence(signal=one, key=str(parsed), title=one.title(parsed, level, subject, s),
                    meaning=one.meaning(s), level=level, threshold=threshold,
                    flagged=level >= max(threshold, 1), links=one.links(parsed, subject),
                    caption=str(one.caption), headings=headings, rows=rows,
                    group_id=one.group_of(parsed, subject), reviews=reviews_of(one.name, key))
