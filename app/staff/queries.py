"""What the staff pages read: user search by any common spelling of a phone number or
by email, the keyset-paginated group list, a user's file and a group's review. Each is a
fixed number of statements whatever the size of the data."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import phonenumbers
from sqlalchemy import and_, func, or_, select

from app.connections.queries import current_connections, matrix_blocks
from app.db import utcnow
from app.extensions import db
from app.groups.queries import GroupView, group_view, ties_of
from app.groups.slots import counts_from_view, slots_summary
from app.models.accounts import ApiToken, User
from app.models.audit import AuditEvent
from app.models.connections import Connection, ConnectionPermission
from app.models.groups import FamilyGroup, FamilyGroupMember
from app.models.invites import ConnectionInvite
from app.models.notifications import InviteNotification
from app.models_base import MAX_ID
from app.payments.provider import PaymentUnavailable, SubscriptionInfo, payment_provider

USER_RESULTS = 50
GROUP_PAGE = 25
PROFILE_ROWS = 50

# Mobile prefixes renumbered in 2018 (11 digits → 10); people still type the old ones.
OLD_PREFIXES = {
    "0162": "032", "0163": "033", "0164": "034", "0165": "035", "0166": "036",
    "0167": "037", "0168": "038", "0169": "039", "0120": "070", "0121": "079",
    "0122": "077", "0126": "076", "0128": "078", "0123": "083", "0124": "084",
    "0125": "085", "0127": "081", "0129": "082", "0186": "056", "0188": "058",
    "0199": "059",
}
_NOT_DIGITS = re.compile(r"\D")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_EMAIL_START = re.compile(r"[a-z0-9._%+\-]+")
MIN_PREFIX_DIGITS = 4
MIN_EMAIL_PREFIX = 3
QUERY_MAX = 254


@dataclass(frozen=True)
class SearchKey:
    """What a staff search names: kind is phone (a whole number, E.164), phone_prefix
    (the start of one, E.164 form), email (whole, lower-case) or email_prefix."""

    kind: str
    value: str


def _national_digits(raw: str) -> str | None:
    """The number's digits in national form (0…), from any common way of writing it:
    0912 345 678, 912345678, +84 912 345 678, 84912345678, 0084…, +84 (0) 912…, and
    the pre-2018 eleven-digit numbers (0168…)."""
    text = raw.strip()
    if re.search(r"[^\d\s.\-()+/]", text):
        return None
    digits = _NOT_DIGITS.sub("", text)
    international = True
    if digits.startswith("0084"):
        digits = digits[4:]
    elif digits.startswith("84") and (text.startswith("+") or len(digits) >= 11):
        digits = digits[2:]
    else:
        international = False
    if digits and not digits.startswith("0"):
        if not international and len(digits) != 9:
            return None  # "5678" is not the start of a number: which digits come first?
        digits = "0" + digits
    if 5 <= len(digits) <= 11 and digits[:4] in OLD_PREFIXES:
        # No 10-digit number starts with an old prefix: its start is an old number's too.
        digits = OLD_PREFIXES[digits[:4]] + digits[4:]
    return digits or None


def clean_query(raw: str | None) -> str:
    """A search box's text without control characters (PostgreSQL refuses NUL in a
    string), trimmed, at most QUERY_MAX characters."""
    return _CONTROL.sub(" ", raw or "").strip()[:QUERY_MAX]


def search_key(raw: str | None) -> SearchKey | None:
    """How a staff search box's text is read; None when it names nothing searchable.
    Digits (with the usual separators) are a phone number or its start; text with an @ is
    an email or its start; a word of an address's characters with a letter in it
    (lan.nguyen) is the start of an email."""
    text = clean_query(raw)
    if not text:
        return None
    if "@" in text:
        email = text.lower()
        return SearchKey("email" if re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email)
                         else "email_prefix", email)
    lower = text.lower()
    if (len(lower) >= MIN_EMAIL_PREFIX and _EMAIL_START.fullmatch(lower)
            and re.search(r"[a-z]", lower)):
        return SearchKey("email_prefix", lower)
    digits = _national_digits(text)
    if digits is None:
        return None
    if len(digits) == 10:
        try:
            number = phonenumbers.parse(digits, "VN")
        except phonenumbers.NumberParseException:
            number = None
        if number is not None and phonenumbers.is_valid_number(number):
            return SearchKey("phone", phonenumbers.format_number(
                number, phonenumbers.PhoneNumberFormat.E164))
    if MIN_PREFIX_DIGITS <= len(digits) < 10:
        return SearchKey("phone_prefix", "+84" + digits[1:])
    return None


def users_by_id(ids: set[int]) -> dict[int, User]:
    """Users by id, in one statement (none for no ids)."""
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    return {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(ids)))}


def _prefix_range(column, prefix: str):
    """column starts with prefix, as a range the column's b-tree index answers in any
    collation (phones are '+' and digits only)."""
    upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return and_(column >= prefix, column < upper)


def _like_prefix(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def user_search(raw: str | None, *, limit: int = USER_RESULTS) -> list[User]:
    """Users matching a phone (whole or its start, however typed) or an email (whole or
    its start), by phone; [] when the text names nothing searchable."""
    key = search_key(raw)
    if key is None:
        return []
    if key.kind == "phone":
        where = User.phone == key.value
    elif key.kind == "phone_prefix":
        where = _prefix_range(User.phone, key.value)
    elif key.kind == "email":
        where = User.email == key.value
    else:
        where = User.email.like(_like_prefix(key.value), escape="\\")
    return list(db.session.scalars(select(User).where(where).order_by(User.phone).limit(limit)))


def groups_search(*, status: str | None, query: str | None, before_id: int | None,
                  limit: int = GROUP_PAGE) -> list[FamilyGroup]:
    """Groups newest first, keyset on id (page 5,000 costs what page 1 does): by status,
    and by the admin's phone (however typed) or a part of the name. limit + 1 rows, so
    the caller knows whether there is a next page."""
    stmt = select(FamilyGroup)
    if status is not None:
        stmt = stmt.where(FamilyGroup.status == status)
    text = clean_query(query)
    if text:
        key = search_key(text)
        if key is not None and key.kind == "phone":
            stmt = stmt.where(FamilyGroup.admin_user_id.in_(
                select(User.id).where(User.phone == key.value).scalar_subquery()))
        else:
            stmt = stmt.where(func.lower(FamilyGroup.name).like(
                "%" + _like_prefix(text.lower())[:-1] + "%", escape="\\"))
    if before_id is not None:
        stmt = stmt.where(FamilyGroup.id < min(before_id, MAX_ID))  # beyond: no bound
    return list(db.session.scalars(stmt.order_by(FamilyGroup.id.desc()).limit(limit + 1)))


@dataclass
class GroupRows:
    """What a page of the group list shows beside the groups: admins and member counts."""

    admins: dict[int, User]
    counts: dict[int, dict[str, int]]  # group id → {"patient": n, "caregiver": n}


def group_rows(groups: list[FamilyGroup]) -> GroupRows:
    """The admins of a page of groups and their members per role: two statements, however
    many groups."""
    admins = users_by_id({g.admin_user_id for g in groups})
    counts: dict[int, dict[str, int]] = {g.id: {"patient": 0, "caregiver": 0} for g in groups}
    if groups:
        for group_id, role, n in db.session.execute(
                select(FamilyGroupMember.group_id, FamilyGroupMember.role, func.count())
                .where(FamilyGroupMember.group_id.in_(list(counts)))
                .group_by(FamilyGroupMember.group_id, FamilyGroupMember.role)).tuples():
            counts[group_id][role] = n
    return GroupRows(admins=admins, counts=counts)


# --- a user's file -----------------------------------------------------------------------

@dataclass
class SignIn:
    active: bool
    last_login_at: datetime | None
    tokens_live: int
    failed_24h: int
    last_failed_at: datetime | None


@dataclass
class UserFile:
    """Everything staff see about one user, each list newest first and capped."""

    user: User
    ties: list[tuple[FamilyGroup, str]]
    connections: list[Connection]  # every connection row, either side, ended ones too
    people: dict[int, User]  # the other parties of those connections, and invite senders
    invites_sent: list[ConnectionInvite]
    invites_received: list[ConnectionInvite]
    notifications: list[InviteNotification]
    sign_in: SignIn
    groups: dict[int, FamilyGroup] = field(default_factory=dict)


def user_file(user: User) -> UserFile:
    """A user's groups and roles, connections, invites sent and received, notifications
    and sign-in status."""
    ties = ties_of([user.id])[user.id]
    connections = list(db.session.scalars(
        select(Connection).where(Connection.linked_user_id.is_not(None),
                                 or_(Connection.user_id == user.id,
                                     Connection.linked_user_id == user.id))
        .order_by(Connection.id.desc()).limit(PROFILE_ROWS)))
    sent = list(db.session.scalars(
        select(ConnectionInvite).where(ConnectionInvite.sender_id == user.id)
        .order_by(ConnectionInvite.id.desc()).limit(PROFILE_ROWS)))
    received = list(db.session.scalars(
        select(ConnectionInvite).where(or_(ConnectionInvite.receiver_id == user.id,
                                           ConnectionInvite.receiver_phone == user.phone))
        .order_by(ConnectionInvite.id.desc()).limit(PROFILE_ROWS)))
    recipients = [user.phone] + ([user.email] if user.email else [])
    notifications = list(db.session.scalars(
        select(InviteNotification).where(or_(InviteNotification.recipient_user_id == user.id,
                                             InviteNotification.recipient.in_(recipients)))
        .order_by(InviteNotification.id.desc()).limit(PROFILE_ROWS)))
    people_ids = ({c.user_id for c in connections} | {c.linked_user_id for c in connections}
                  | {i.sender_id for i in received}) - {user.id}
    group_ids = {i.family_group_id for i in sent + received} | {
        c.family_group_id for c in connections if c.family_group_id}
    groups = {g.id: g for g in db.session.scalars(
        select(FamilyGroup).where(FamilyGroup.id.in_(group_ids)))} if group_ids else {}
    return UserFile(user=user, ties=ties, connections=connections,
                    people=users_by_id(people_ids), invites_sent=sent,
                    invites_received=received, notifications=notifications,
                    sign_in=sign_in_status(user), groups=groups)


def sign_in_status(user: User) -> SignIn:
    since = utcnow() - timedelta(hours=24)
    tokens = db.session.scalar(select(func.count(ApiToken.id)).where(
        ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None),
        or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > utcnow())))
    failed = db.session.execute(
        select(func.count(AuditEvent.id), func.max(AuditEvent.created_at)).where(
            AuditEvent.action == "account.login_failed", AuditEvent.subject_type == "users",
            AuditEvent.subject_id == user.id, AuditEvent.created_at >= since)).one()
    return SignIn(active=user.is_active, last_login_at=user.last_login_at,
                  tokens_live=tokens or 0, failed_24h=failed[0] or 0, last_failed_at=failed[1])


# --- a group's review --------------------------------------------------------------------

@dataclass
class GroupReview:
    """A group as staff see it: members, slots, the read-only matrix, every invite with
    its messages per channel, and the people they name (app/staff/trail.py reads its
    audit trail)."""

    view: GroupView
    admin: User | None
    slots: dict | None  # None: the payment service did not answer
    matrix: list
    matrix_users: dict[int, User]
    invites: list[ConnectionInvite]
    messages: dict[int, list[InviteNotification]]  # invite id → its outbox rows
    actors: dict[int, User]
    subscription: SubscriptionInfo | None = None  # the admin's plan, as the provider says
    payment_down: bool = False  # the payment service did not answer


def group_review(group: FamilyGroup) -> GroupReview:
    """The group for the staff page: one provider lookup for the plan and slots (None
    when the payment service is down), the rest a fixed number of statements."""
    view = group_view(group, with_invites=True)
    connections, matrix_users = current_connections(group_id=group.id)
    patients = [user for _member, user in view.users_in("patient")]
    invites = list(db.session.scalars(
        select(ConnectionInvite).where(ConnectionInvite.family_group_id == group.id)
        .order_by(ConnectionInvite.id.desc())))
    messages: dict[int, list[InviteNotification]] = defaultdict(list)
    if invites:
        for row in db.session.scalars(
                select(InviteNotification)
                .where(InviteNotification.invite_id.in_([i.id for i in invites]))
                .order_by(InviteNotification.id)):
            messages[row.invite_id].append(row)
    people = {group.admin_user_id} | {
        i.sender_id for i in invites} | {i.receiver_id for i in invites if i.receiver_id} | {
        row.recipient_user_id for rows in messages.values() for row in rows}
    actors = users_by_id(people)
    try:
        info, down = payment_provider().subscription_for(group.admin_user_id), False
    except PaymentUnavailable:
        info, down = None, True
    slots = None if down else slots_summary(info, counts_from_view(view))
    return GroupReview(view=view, admin=actors.get(group.admin_user_id), slots=slots,
                       matrix=matrix_blocks(patients, connections), matrix_users=matrix_users,
                       invites=invites, messages=dict(messages), actors=actors,
                       subscription=info, payment_down=down)


def audit_batches(group_id: int, *, batch: int = 1000):
    """A group's audit events, oldest first, a list of at most `batch` at a time (keyset
    on id: one statement per batch, and a trail of any length never sits in memory)."""
    after = 0
    while True:
        rows = list(db.session.scalars(
            select(AuditEvent).where(AuditEvent.family_group_id == group_id,
                                     AuditEvent.id > after)
            .order_by(AuditEvent.id).limit(batch)))
        if rows:
            yield rows
        if len(rows) < batch:
            return
        after = rows[-1].id


def audit_all(group_id: int, *, batch: int = 1000):
    """Every audit event of a group, oldest first, read in batches (for the CSV export)."""
    for rows in audit_batches(group_id, batch=batch):
        yield from rows


def audit_count(group_id: int) -> int:
    return db.session.scalar(select(func.count(AuditEvent.id))
                             .where(AuditEvent.family_group_id == group_id)) or 0


def permission_states(connection_ids: list[int]) -> dict[int, dict[str, bool]]:
    """Each connection's six permissions (code → on), in one statement however many."""
    states: dict[int, dict[str, bool]] = {cid: {} for cid in connection_ids}
    if connection_ids:
        for cid, code, enabled in db.session.execute(
                select(ConnectionPermission.contact_id, ConnectionPermission.permission_code,
                       ConnectionPermission.is_enabled)
                .where(ConnectionPermission.contact_id.in_(connection_ids))).tuples():
            states[cid][code] = bool(enabled)
    return states
