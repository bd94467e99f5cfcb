"""What the portal holds about a person (issue 19, "My data"): one reading, shown on the
page, answered by the API and written into the export.

Each section is a list of plain rows (dicts with camelCase keys: the API's words, the
export's columns), built by the row functions below so the page, the API and the export
say the same thing. The page and the API show the newest PAGE of each long list with its
count (data_of: a fixed number of statements whatever the family's size); the export
reads everything in batches (app/privacy/export.py) through the same row functions.

Privacy rules held here (docs/decisions.md, issue 19):
- A silent disconnect (BR-056) reads to the patient as "disconnected by" the actor's role
  (the family's admin, themselves), never by name and never with the private reason.
- The caregiver of a disconnected connection learns nothing beyond what their pages show:
  the six permissions (all off). Their view has no revoked flag, no status that says
  disconnected, and their history leaves out disconnects and restores (in SQL, so counts
  do not give them away either); who changed a permission reads as a role.
- A disconnect's private reason, and the other free texts staff or the admin wrote about
  someone (reasons, review notes, search text), are in nobody's My data: staff read them on
  their own pages.
- Other people's phone numbers and emails are not shown, names are; except the number an
  invite was sent to, to its sender, who typed it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import aliased, joinedload

from app.audit import words
from app.audit.access import ACCESS_REASON
from app.connections.queries import permission_names, relationship_names
from app.extensions import db
from app.models.accounts import User
from app.models.audit import AuditEvent
from app.models.connections import PERMISSION_CODES, Connection
from app.models.groups import FamilyGroup, FamilyGroupMember
from app.models.invites import ConnectionInvite
from app.models.notifications import InviteNotification
from app.notifications.messages import render_message

PAGE = 50  # the newest rows of each long list on the page and in the API
HISTORY_PAGE = 20  # the newest events of each connection's history on the page

CONNECTIONS = Connection.__tablename__
DISCONNECTED, RESTORED = "connection.disconnected", "connection.restored"
RELEASED = "connection.released"
# What a caregiver's history of a connection shows: never a disconnect or a restore
# (BR-056), nor anything else the patient or the admin did to it silently.
CAREGIVER_SEES = ("connection.created", "connection.permission_changed",
                  "connection.relationship_changed", RELEASED)
# Free text someone else wrote, or that names other people: never in My data.
WITHHELD_DETAILS = frozenset({"reason", "note", "q", "error", "found", "grant"})
# What staff did reads as "Family Connect staff", never a name, even once the actor is no
# longer staff (issue 21: that staff looked, when and why, but not who).
STAFF_ACTIONS = "staff."
PERSONAL_DETAILS = frozenset({"phone", "email"})

STATUS_WORDS = {
    "active": _l("Connected"),
    "disconnected": _l("Disconnected by %(who)s"),
    "consent_withdrawn": _l("You withdrew your consent"),
    "ended": _l("Ended"),
}


def iso(value: datetime | None) -> str | None:
    """A moment as ISO 8601 UTC (the API's form), for JSON and CSV."""
    if value is None:
        return None
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass
class Part:
    """A long list as the page shows it: the newest rows, and how many there are."""

    items: list[dict[str, Any]]
    total: int

    @property
    def more(self) -> int:
        return max(0, self.total - len(self.items))


@dataclass
class OwnData:
    profile: dict[str, Any]
    memberships: list[dict[str, Any]]
    connections: list[dict[str, Any]]
    invites_sent: Part
    invites_received: Part
    notifications: Part
    events: Part

    def as_json(self) -> dict[str, Any]:
        def part(p: Part) -> dict[str, Any]:
            return {"items": p.items, "total": p.total}

        return {"profile": self.profile, "memberships": self.memberships,
                "connections": self.connections, "invitesSent": part(self.invites_sent),
                "invitesReceived": part(self.invites_received),
                "notifications": part(self.notifications), "auditEvents": part(self.events)}


# --- who is who, for the rows --------------------------------------------------------------


@dataclass
class Viewer:
    """The person whose data it is, and the names the rows are written with."""

    user: User
    people: dict[int, User] = field(default_factory=dict)
    families: dict[int, str] = field(default_factory=dict)
    admins: dict[int, int] = field(default_factory=dict)  # family id → its admin's id
    relationships: Mapping[str, str] = field(default_factory=dict)
    permissions: Mapping[str, str] = field(default_factory=dict)

    def names(self, parties: tuple[str, str] | None = None) -> words.Names:
        return words.Names(people={i: u.name for i, u in self.people.items()},
                           families=self.families, relationships=self.relationships,
                           permissions=self.permissions, parties=parties)

    def who(self, actor_id: int | None, action: str) -> str:
        """Who acted, for the general trail: you, staff (never a staff member's name),
        someone's name, or the system."""
        if actor_id is None:
            return words.nobody(action)
        if actor_id == self.user.id:
            return _("You")
        actor = self.people.get(actor_id)
        if (actor is not None and actor.staff_role) or action.startswith(STAFF_ACTIONS):
            return _("Family Connect staff")
        return actor.name if actor is not None else _("Someone")

    def role_of(self, actor_id: int | None, connection: Connection) -> str:
        """Who acted on a connection, as a role (BR-056: a disconnect names no one)."""
        if actor_id is None:
            return _("The system")
        if actor_id == self.user.id:
            return _("You")
        actor = self.people.get(actor_id)
        if actor is not None and actor.staff_role:
            return _("Family Connect staff")
        if actor_id == self.admins.get(connection.family_group_id or 0):
            return _("the family's admin")
        if actor_id == connection.user_id:
            return _("the patient")
        if actor_id == connection.linked_user_id:
            return _("the caregiver")
        return _("Someone")


def viewer_for(user: User) -> Viewer:
    return Viewer(user=user, relationships=relationship_names(),
                  permissions=dict(permission_names()))


def load_people(viewer: Viewer, ids: Iterable[int | None]) -> None:
    """Add the people named by `ids` that the viewer does not hold yet: one statement."""
    wanted = {i for i in ids if i is not None and i not in viewer.people}
    if wanted:
        viewer.people.update({u.id: u for u in db.session.scalars(
            select(User).where(User.id.in_(wanted)))})


def load_families(viewer: Viewer, ids: Iterable[int | None]) -> None:
    wanted = {i for i in ids if i is not None and i not in viewer.families}
    if wanted:
        for gid, name, admin in db.session.execute(
                select(FamilyGroup.id, FamilyGroup.name, FamilyGroup.admin_user_id)
                .where(FamilyGroup.id.in_(wanted))):
            viewer.families[gid] = name or _("Family %(id)s", id=gid)
            viewer.admins[gid] = admin


# --- rows ------------------------------------------------------------------------------------


def profile_row(user: User) -> dict[str, Any]:
    return {"id": user.id, "name": user.name, "phone": user.phone, "email": user.email,
            "gender": user.gender_name, "locale": user.locale,
            "createdAt": iso(user.created_at), "phoneProvedAt": iso(user.phone_verified_at),
            "emailProvedAt": iso(user.email_verified_at) if user.email else None,
            "lastLoginAt": iso(user.last_login_at)}


def _role_word(role: str) -> str:
    return str(words.ROLES.get(role, role))


def membership_rows(user: User) -> list[dict[str, Any]]:
    """The families the user is in, by role, and those they run: one statement."""
    rows = db.session.execute(
        select(FamilyGroup, FamilyGroupMember.role, FamilyGroupMember.joined_at)
        .outerjoin(FamilyGroupMember, and_(FamilyGroupMember.group_id == FamilyGroup.id,
                                           FamilyGroupMember.user_id == user.id))
        .where(or_(FamilyGroupMember.id.is_not(None), FamilyGroup.admin_user_id == user.id))
        .order_by(FamilyGroup.id, FamilyGroupMember.role)).tuples().all()
    answer, admin_of = [], set()
    for group, role, joined in rows:
        if group.admin_user_id == user.id and group.id not in admin_of:
            admin_of.add(group.id)
            answer.append({"familyId": group.id, "family": group.name, "familyStatus":
                           group.status, "role": "admin", "roleName": _role_word("admin"),
                           "joinedAt": iso(group.created_at)})
        if role is not None:
            answer.append({"familyId": group.id, "family": group.name, "familyStatus":
                           group.status, "role": role, "roleName": _role_word(role),
                           "joinedAt": iso(joined)})
    return answer


def _details(viewer: Viewer, event: AuditEvent) -> dict[str, Any]:
    """An event's details as its person may read them (the rules at the top)."""
    own = event.actor_id == viewer.user.id or (
        event.subject_type == words.USERS and event.subject_id == viewer.user.id
        and event.actor_id is None)
    return {k: v for k, v in (event.details or {}).items()
            if k not in WITHHELD_DETAILS and (own or k not in PERSONAL_DETAILS)}


def event_row(viewer: Viewer, event: AuditEvent) -> dict[str, Any]:
    """An audit event about the person, or done by them, in their words."""
    details = _details(viewer, event)
    names = viewer.names()
    subject = words.subject(event, details, names)
    return {"id": event.id, "at": iso(event.created_at), "action": event.action,
            "who": viewer.who(event.actor_id, event.action),
            "what": words.sentence(event, details, names),
            "about": subject.text if subject is not None else "",
            "details": "; ".join(f"{line.label}: {line.text}"
                                 for line in words.lines(event, details, names))}


def history_row(viewer: Viewer, connection: Connection, event: AuditEvent,
                parties: tuple[str, str]) -> dict[str, Any]:
    """One event of a connection's history, as its patient or its caregiver may read it.
    Callers never hand a caregiver a disconnect or a restore (CAREGIVER_SEES)."""
    who = viewer.role_of(event.actor_id, connection)
    details = {k: v for k, v in (event.details or {}).items() if k not in WITHHELD_DETAILS}
    if event.action == DISCONNECTED:
        what = _("Disconnected by %(who)s. The caregiver was not told; their permissions "
                 "are all off.", who=who)
    else:
        what = words.sentence(event, details, viewer.names(parties))
    return {"connectionId": connection.id, "id": event.id, "at": iso(event.created_at),
            "action": event.action, "who": who, "what": what}


def _status(viewer: Viewer, connection: Connection, last: AuditEvent | None) -> dict[str, Any]:
    """The connection's state as this party may know it."""
    last_action = last.action if last is not None else None
    if connection.user_id != viewer.user.id:  # the caregiver: ended or not, nothing more
        status = "ended" if connection.permission_revoked and last_action == RELEASED \
            else "active"
        return {"status": status, "statusText": str(STATUS_WORDS[status])}
    if not connection.permission_revoked:
        status, who = "active", None
    elif connection.consent_withdrawn_at is not None:
        status, who = "consent_withdrawn", None
    elif last_action == DISCONNECTED:
        status, who = "disconnected", viewer.role_of(last.actor_id, connection)
    else:
        status, who = "ended", None
    text = str(STATUS_WORDS[status]) % {"who": who} if who else str(STATUS_WORDS[status])
    return {"status": status, "statusText": text, "revoked": connection.permission_revoked,
            "disconnectedBy": who}


def connection_row(viewer: Viewer, connection: Connection, last: AuditEvent | None,
                   patient: User, caregiver: User) -> dict[str, Any]:
    """A connection the person is a party to: the other party by name, the relationship
    as the person sees it, the six permissions now, its state (BR-056 for the caregiver)."""
    as_patient = connection.user_id == viewer.user.id
    other = caregiver if as_patient else patient
    code = connection.relationship_code if as_patient else connection.inverse_relationship_code
    state = {p.permission_code: bool(p.is_enabled) for p in connection.permissions}
    family = connection.family_group_id
    return {"id": connection.id, "familyId": family,
            "family": viewer.families.get(family or 0, ""),
            "as": "patient" if as_patient else "caregiver",
            "asName": _role_word("patient" if as_patient else "caregiver"),
            "other": {"id": other.id, "name": other.name},
            "relationship": viewer.relationships.get(code) if code else None,
            "permissions": {c: state.get(c, False) for c in PERMISSION_CODES},
            "since": iso(connection.created_at),
            **_status(viewer, connection, last)}


def invite_sent_row(viewer: Viewer, invite: ConnectionInvite) -> dict[str, Any]:
    receiver = viewer.people.get(invite.receiver_id or 0)
    return {"id": invite.id, "familyId": invite.family_group_id,
            "family": viewer.families.get(invite.family_group_id or 0, ""),
            "phone": invite.receiver_phone,  # they typed it
            "to": receiver.name if receiver is not None else None,
            "role": invite.role, "roleName": _role_word(invite.role),
            "status": invite.shown_status(), "createdAt": iso(invite.created_at),
            "expiresAt": iso(invite.expires_at)}


def invite_received_row(viewer: Viewer, invite: ConnectionInvite) -> dict[str, Any]:
    sender = viewer.people.get(invite.sender_id)
    return {"id": invite.id, "familyId": invite.family_group_id,
            "family": viewer.families.get(invite.family_group_id or 0, ""),
            "from": sender.name if sender is not None else None,
            "role": invite.role, "roleName": _role_word(invite.role),
            "status": invite.shown_status(), "createdAt": iso(invite.created_at),
            "expiresAt": iso(invite.expires_at)}


def notification_row(viewer: Viewer, row: InviteNotification, locale: str) -> dict[str, Any]:
    subject, text = render_message(row, locale)
    return {"id": row.id, "at": iso(row.created_at), "type": row.notification_type,
            "subject": subject, "text": text, "read": row.status == "delivered"}


# --- the statements: each section's filter, shared with the export ------------------------


def events_filter(user_id: int):
    """The audit events about the person (their account is the subject) or done by them,
    and the reasons staff gave to open a family they run or are a patient in (issue 21;
    its caregivers do not see them)."""
    patient_of = select(FamilyGroupMember.group_id).where(
        FamilyGroupMember.user_id == user_id, FamilyGroupMember.role == "patient")
    admin_of = select(FamilyGroup.id).where(FamilyGroup.admin_user_id == user_id)
    return or_(and_(AuditEvent.subject_type == words.USERS, AuditEvent.subject_id == user_id),
               AuditEvent.actor_id == user_id,
               and_(AuditEvent.action == ACCESS_REASON,
                    or_(AuditEvent.family_group_id.in_(patient_of),
                        AuditEvent.family_group_id.in_(admin_of))))


def notifications_filter(user_id: int):
    N = InviteNotification
    return and_(N.recipient_user_id == user_id, N.channel == "in_app",
                N.status.in_(("sent", "delivered")))


def invites_sent_filter(user_id: int):
    return ConnectionInvite.sender_id == user_id


def invites_received_filter(user: User):
    """Invites to the person: by account, or to their number once they proved it."""
    if user.phone_proved:
        return or_(ConnectionInvite.receiver_id == user.id,
                   ConnectionInvite.receiver_phone == user.phone)
    return ConnectionInvite.receiver_id == user.id


def history_filter(patient_of: list[int], caregiver_of: list[int]):
    """A connection's history: every event on it for its patient; for its caregiver only
    CAREGIVER_SEES (BR-056)."""
    subject = AuditEvent.subject_type == CONNECTIONS
    clauses = []
    if patient_of:
        clauses.append(AuditEvent.subject_id.in_(patient_of))
    if caregiver_of:
        clauses.append(and_(AuditEvent.subject_id.in_(caregiver_of),
                            AuditEvent.action.in_(CAREGIVER_SEES)))
    return and_(subject, or_(*clauses)) if clauses else AuditEvent.id.is_(None)


def connections_of(user_id: int) -> list[tuple[Connection, User, User, FamilyGroup | None]]:
    """Every connection the person is a party to, ended ones too, with both parties, its
    family and its six permissions: one statement."""
    patient, caregiver = aliased(User), aliased(User)
    return list(db.session.execute(
        select(Connection, patient, caregiver, FamilyGroup)
        .join(patient, patient.id == Connection.user_id)
        .join(caregiver, caregiver.id == Connection.linked_user_id)
        .outerjoin(FamilyGroup, FamilyGroup.id == Connection.family_group_id)
        .where(Connection.linked_user_id.is_not(None),
               or_(Connection.user_id == user_id, Connection.linked_user_id == user_id))
        .options(joinedload(Connection.permissions))
        .order_by(Connection.id)).unique().tuples())


def last_states(connection_ids: list[int]) -> dict[int, AuditEvent]:
    """Each connection's latest disconnect, restore or release: one statement."""
    if not connection_ids:
        return {}
    latest = (select(func.max(AuditEvent.id))
              .where(AuditEvent.subject_type == CONNECTIONS,
                     AuditEvent.subject_id.in_(connection_ids),
                     AuditEvent.action.in_((DISCONNECTED, RESTORED, RELEASED)))
              .group_by(AuditEvent.subject_id))
    return {e.subject_id: e for e in db.session.scalars(
        select(AuditEvent).where(AuditEvent.id.in_(latest)))}


def _newest_history(patient_of: list[int], caregiver_of: list[int]
                    ) -> tuple[dict[int, list[AuditEvent]], dict[int, int]]:
    """The newest HISTORY_PAGE events of each connection and each one's count, in one
    statement (a window per connection)."""
    if not patient_of and not caregiver_of:
        return {}, {}
    number = func.row_number().over(partition_by=AuditEvent.subject_id,
                                    order_by=AuditEvent.id.desc()).label("n")
    total = func.count().over(partition_by=AuditEvent.subject_id).label("total")
    ranked = (select(AuditEvent.id, number, total)
              .where(history_filter(patient_of, caregiver_of)).subquery())
    rows = db.session.execute(
        select(AuditEvent, ranked.c.total).join(ranked, ranked.c.id == AuditEvent.id)
        .where(ranked.c.n <= HISTORY_PAGE).order_by(AuditEvent.id.desc())).tuples()
    events: dict[int, list[AuditEvent]] = {}
    totals: dict[int, int] = {}
    for event, count in rows:
        events.setdefault(event.subject_id, []).append(event)
        totals[event.subject_id] = count
    return events, totals


def connection_sections(viewer: Viewer) -> list[dict[str, Any]]:
    """The person's connections with their newest history: a fixed number of statements."""
    found = connections_of(viewer.user.id)
    for _connection, _p, _c, group in found:
        if group is not None:
            viewer.families[group.id] = group.name or _("Family %(id)s", id=group.id)
            viewer.admins[group.id] = group.admin_user_id
    ids = [c.id for c, *_ in found]
    patient_of = [c.id for c, *_ in found if c.user_id == viewer.user.id]
    caregiver_of = [c.id for c, *_ in found if c.user_id != viewer.user.id]
    last = last_states(ids)
    history, totals = _newest_history(patient_of, caregiver_of)
    load_people(viewer, (e.actor_id for events in history.values() for e in events))
    answer = []
    for connection, patient, caregiver, _group in found:
        viewer.people.setdefault(patient.id, patient)
        viewer.people.setdefault(caregiver.id, caregiver)
        row = connection_row(viewer, connection, last.get(connection.id), patient, caregiver)
        parties = (caregiver.name, patient.name)
        row["history"] = [history_row(viewer, connection, e, parties)
                          for e in history.get(connection.id, [])]
        row["historyTotal"] = totals.get(connection.id, 0)
        answer.append(row)
    return answer


def _counts(user: User) -> dict[str, int]:
    """How many rows each long list has: one statement."""
    N = InviteNotification

    def count(model, where):
        return select(func.count()).select_from(model).where(where).scalar_subquery()

    row = db.session.execute(select(
        count(ConnectionInvite, invites_sent_filter(user.id)).label("sent"),
        count(ConnectionInvite, invites_received_filter(user)).label("received"),
        count(N, notifications_filter(user.id)).label("notifications"),
        count(AuditEvent, events_filter(user.id)).label("events"))).one()
    return dict(row._mapping)


def data_of(user: User, *, locale: str) -> OwnData:
    """What the portal holds about `user`, the newest PAGE rows of each long list with
    their counts, in the current language (locale: the notifications' language). A fixed
    number of statements, whatever the size of the family or the number of connections.
    Reads only: whoever calls it has checked that the reader may (the person themselves,
    or staff through their audited action)."""
    viewer = viewer_for(user)
    connections = connection_sections(viewer)
    counts = _counts(user)
    sent = list(db.session.scalars(
        select(ConnectionInvite).where(invites_sent_filter(user.id))
        .order_by(ConnectionInvite.id.desc()).limit(PAGE)))
    received = list(db.session.scalars(
        select(ConnectionInvite).where(invites_received_filter(user))
        .order_by(ConnectionInvite.id.desc()).limit(PAGE)))
    notifications = list(db.session.scalars(
        select(InviteNotification).where(notifications_filter(user.id))
        .order_by(InviteNotification.id.desc()).limit(PAGE)))
    events = list(db.session.scalars(
        select(AuditEvent).where(events_filter(user.id))
        .order_by(AuditEvent.id.desc()).limit(PAGE)))
    load_people(viewer, [*words.people_of(events), *(i.sender_id for i in received),
                         *(i.receiver_id for i in sent)])
    load_families(viewer, [*words.families_of(events),
                           *(i.family_group_id for i in (*sent, *received))])
    return OwnData(
        profile=profile_row(user), memberships=membership_rows(user), connections=connections,
        invites_sent=Part([invite_sent_row(viewer, i) for i in sent], counts["sent"]),
        invites_received=Part([invite_received_row(viewer, i) for i in received],
                              counts["received"]),
        notifications=Part([notification_row(viewer, n, locale) for n in notifications],
                           counts["notifications"]),
        events=Part([event_row(viewer, e) for e in events], counts["events"]))
