"""Deleting my account (issue 19, item 4; BR-022, Decree 13/2023/ND-CP).

The account becomes a tombstone: the users row stays, with its personal fields erased, so
that the audit trail (actor_id, subject_id) keeps pointing at "deleted user #id". Its
memberships end as a leave does (BR-061: the slot is freed, the admin and the followed
patients are told), its connections and pending invites end, every session and token
ends, and the copies of its name, phone number and email elsewhere (audit details, the
outbox, invites, codes, staff reviews) are scrubbed. Each copy is found through an index
(ids, recipient, receiver, the exact number): a deletion never walks a whole table.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import and_, delete, or_, select, update

from app.accounts.identity import identity_confirm
from app.accounts.services import end_sessions_and_tokens
from app.audit.services import audit_record
from app.connections.services import connections_release_of_user
from app.db import utcnow
from app.errors import Conflict, Forbidden
from app.extensions import db
from app.membership.services import member_leave
from app.models.accounts import (
    CODE_PURPOSES,
    ERASED,
    AccountClaim,
    EmailProof,
    PhoneCode,
    User,
)
from app.models.audit import AuditEvent
from app.models.connections import Connection
from app.models.groups import FamilyGroup, FamilyGroupMember
from app.models.invites import ConnectionInvite
from app.models.notifications import InviteNotification
from app.models.reports import PatientReport
from app.models.staff import StaffReview
from app.notifications.services import cancel_invite_messages
from app.phone import display_phone


def deleted_marker(user_id: int) -> str:
    """The non-personal stand-in for a deleted person's number or address in a column that
    must hold something (an invite's receiver_phone, a message's recipient): unique per
    user, at most 16 characters for ids below 10^11, never a valid E.164 number."""
    return f"del-{user_id}"


def admin_must_hand_over() -> Conflict:
    return Conflict(_("You are the admin of a family. Hand the family over to another member, "
                      "or dissolve it, before you delete your account."),
                    code="admin_must_hand_over")


def staff_cannot_delete() -> Forbidden:
    return Forbidden(_("A staff account is closed by the portal's operators, not deleted from "
                       "its settings: staff actions must stay accountable to a named person."),
                     code="staff_account")


def groups_to_hand_over(user: User) -> list[FamilyGroup]:
    """The families the user is the admin of that are not dissolved (active or inactive):
    each must be handed over or dissolved before the account can go."""
    return list(db.session.scalars(select(FamilyGroup).where(
        FamilyGroup.admin_user_id == user.id, FamilyGroup.status != "dissolved")
        .order_by(FamilyGroup.id)))


def deletion_check(user: User) -> None:
    """Whether the account may be deleted now. Raises Forbidden(staff_account),
    Conflict(admin_must_hand_over)."""
    if user.staff_role:  # the role, whether or not this session passed the second step
        raise staff_cannot_delete()
    if groups_to_hand_over(user):
        raise admin_must_hand_over()


def account_delete(*, actor: User, password: str | None = None, code: str | None = None,
                   ip: str | None = None) -> None:
    """Delete the actor's own account (BR-022), confirmed by `password` or an SMS `code`
    (identity_confirm). Flushes; the caller commits and logs the person out.

    Raises Invalid(confirmation_required | bad_password | invalid_code),
    Forbidden(staff_account), Conflict(admin_must_hand_over).
    """
    how = identity_confirm(actor=actor, password=password, code=code)
    deletion_check(actor)
    values = _personal_values(actor)
    memberships = list(db.session.execute(
        select(FamilyGroupMember, FamilyGroup)
        .join(FamilyGroup, FamilyGroup.id == FamilyGroupMember.group_id)
        .where(FamilyGroupMember.user_id == actor.id).order_by(FamilyGroupMember.id)).tuples())
    for member, group in memberships:
        # BR-061, as a leave: connections revoked, slot freed, payment sync, MEMBER_LEFT.
        member_leave(actor=actor, group=group, role=member.role, ip=ip)
    revoked = _connections_end(actor)
    invites = _invites_end(actor)
    families = _families_of(actor) | {g.id for _m, g in memberships}
    _scrub_copies(actor, values, invites=invites, families=families)
    _erase(actor)
    end_sessions_and_tokens(actor)
    audit_record(actor=actor, action="account.deleted", subject=actor, ip=ip,
                 details={"confirmed_by": how, "revoked": revoked,
                          "invites_cancelled": invites.cancelled,
                          "families_left": [g.id for _m, g in memberships]})
    db.session.flush()


# --- what ends --------------------------------------------------------------------------


def _connections_end(user: User) -> list[int]:
    """Connections still live after the leaves (outside any family: the old app's rows)
    end too, their permissions off. Returns their ids."""
    return connections_release_of_user(actor=user, user_id=user.id, cause="deleted")


class _Invites:
    def __init__(self, sent: list[int], received: list[int], cancelled: list[int]):
        self.sent, self.received, self.cancelled = sent, received, cancelled

    @property
    def all(self) -> list[int]:
        return sorted(set(self.sent) | set(self.received))


def _invites_end(user: User) -> _Invites:
    """Pending invites the user sent (none remain for the admin of a dissolved family: its
    dissolve cancelled them; checked anyway) and pending invites to their number or to
    them are cancelled, with their unsent messages."""
    by_phone = [ConnectionInvite.receiver_phone == user.phone] if user.phone else []
    received_where = or_(ConnectionInvite.receiver_id == user.id, *by_phone)
    rows = db.session.execute(select(ConnectionInvite.id, ConnectionInvite.status,
                                     ConnectionInvite.sender_id)
                              .where(or_(ConnectionInvite.sender_id == user.id,
                                         received_where))).all()
    sent = [r.id for r in rows if r.sender_id == user.id]
    received = [r.id for r in rows if r.sender_id != user.id]
    pending = sorted(r.id for r in rows if r.status == "pending")
    if pending:
        db.session.execute(update(ConnectionInvite).where(ConnectionInvite.id.in_(pending))
                           .values(status="cancelled", updated_at=utcnow())
                           .execution_options(synchronize_session="fetch"))
        cancel_invite_messages(*pending)
    return _Invites(sent, received, pending)


def _families_of(user: User) -> set[int]:
    """Every family the user took part in, as the audit trail remembers it (their own
    events carry the family): the families whose messages may name them."""
    return set(db.session.scalars(select(AuditEvent.family_group_id).distinct().where(
        AuditEvent.actor_id == user.id, AuditEvent.family_group_id.is_not(None))))


# --- what is erased ---------------------------------------------------------------------


class _Values:
    """The person's personal values and how their copies look: the name (replaced only
    where a value is exactly it: a short name inside other text is not theirs), the number
    in E.164 and national forms and the email (replaced wherever they appear)."""

    def __init__(self, name: str, phones: list[str], email: str | None):
        self.name = name.strip()
        self.inside = [v for v in [*phones, email] if v]

    def scrub(self, value: Any) -> Any:
        """`value` (text, or JSON: dicts and lists) with the copies replaced by ERASED."""
        if isinstance(value, str):
            if self.name and value.strip() == self.name:
                return ERASED
            for personal in self.inside:
                if personal.lower() in value.lower():
                    value = _replace_folded(value, personal, ERASED)
            return value
        if isinstance(value, dict):
            return {k: self.scrub(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.scrub(v) for v in value]
        return value


def _replace_folded(text: str, old: str, new: str) -> str:
    """Replace `old` in `text`, ignoring case (an email's letters)."""
    lowered, key, out, start = text.lower(), old.lower(), [], 0
    while (found := lowered.find(key, start)) >= 0:
        out += [text[start:found], new]
        start = found + len(key)
    return "".join(out) + text[start:]


def national_forms(e164: str | None) -> list[str]:
    """The ways a number is written: +84912345678, 0912 345 678, 0912345678."""
    if not e164:
        return []
    shown = display_phone(e164)
    return list(dict.fromkeys([e164, shown, shown.replace(" ", ""), e164.lstrip("+")]))


def _personal_values(user: User) -> _Values:
    return _Values(user.name or "", national_forms(user.phone), user.email)


def _scrub_rows(rows: Iterable[Any], values: _Values, *columns: str) -> None:
    for row in rows:
        for column in columns:
            old = getattr(row, column)
            new = values.scrub(old)
            if new != old:
                setattr(row, column, new)  # a new object: the JSON change is seen


def _scrub_copies(user: User, values: _Values, *, invites: _Invites,
                  families: set[int]) -> None:
    """Erase the copies of the person's name, number and email outside the users row."""
    db.session.flush()  # the leaves' messages and events are rows to scrub too
    marker = deleted_marker(user.id)
    addresses = [a for a in (user.phone, user.email) if a]
    # Addresses the account asked to prove (issue 21): the links' e-mails went to them.
    addresses += [a for a in db.session.scalars(
        select(EmailProof.email).where(EmailProof.user_id == user.id).distinct())
        if a not in addresses]
    # Invites to them keep pointing at the tombstone (receiver_id); the number goes. A
    # marker per invite keeps idx_unique_pending (group, receiver_phone) unique.
    received_ids = invites.received
    if received_ids:
        for invite in db.session.scalars(select(ConnectionInvite)
                                         .where(ConnectionInvite.id.in_(received_ids))):
            if invite.receiver_phone in addresses or invite.receiver_id == user.id:
                invite.receiver_phone = f"del-i{invite.id}"[:16]
    # The outbox: their own messages, messages to their number or address, and the
    # messages of their invites and families that name them.
    N = InviteNotification
    where = [N.recipient_user_id == user.id]
    if addresses:
        where.append(N.recipient.in_(addresses))
    if invites.all:
        where.append(N.invite_id.in_(invites.all))
    if families:
        where.append(N.family_group_id.in_(sorted(families)))
    for row in db.session.scalars(select(N).where(or_(*where))):
        if row.recipient in addresses:
            row.recipient = marker
            if row.status in ("pending", "failed"):
                row.status = "cancelled"
                row.updated_at = utcnow()
        payload = values.scrub(row.payload)
        if payload != row.payload:
            row.payload = {**payload, "deleted_user_id": user.id}
        _scrub_rows([row], values, "error")
    # The audit trail: the rows stay, the copies in their details go.
    A = AuditEvent
    about = [A.actor_id == user.id, and_(A.subject_type == "users", A.subject_id == user.id),
             A.action == "staff.searched"]
    if invites.received:
        about.append(and_(A.subject_type == "connection_invites",
                          A.subject_id.in_(invites.received)))
    _scrub_rows(db.session.scalars(select(A).where(or_(*about), A.details.is_not(None))),
                values, "details")
    # Their emergency contacts, and the contact fields of connections they are part of.
    db.session.execute(update(Connection)
                       .where(or_(Connection.user_id == user.id,
                                  Connection.linked_user_id == user.id),
                              or_(Connection.contact_name.is_not(None),
                                  Connection.contact_phone.is_not(None)))
                       .values(contact_name=None, contact_phone=None, updated_at=utcnow())
                       .execution_options(synchronize_session="fetch"))
    # Codes and claim links: nothing left to prove or claim.
    code_where = [PhoneCode.user_id == user.id]
    if user.phone:
        code_where.append(and_(PhoneCode.purpose.in_(CODE_PURPOSES),
                               PhoneCode.phone == user.phone))
    db.session.execute(delete(PhoneCode).where(or_(*code_where))
                       .execution_options(synchronize_session="fetch"))
    db.session.execute(delete(AccountClaim).where(AccountClaim.user_id == user.id)
                       .execution_options(synchronize_session="fetch"))
    db.session.execute(delete(EmailProof).where(EmailProof.user_id == user.id)
                       .execution_options(synchronize_session="fetch"))
    # Their health reports (sensitive data, SPEC's stand-in for the app's reports).
    db.session.execute(delete(PatientReport).where(PatientReport.patient_id == user.id)
                       .execution_options(synchronize_session="fetch"))
    # Staff reviews of a risk signal about their number; the note keeps its words.
    if addresses:
        for review in db.session.scalars(select(StaffReview).where(
                StaffReview.subject_key.in_(addresses))):
            review.subject_key = marker
            _scrub_rows([review], values, "note")


def _erase(user: User) -> None:
    """The tombstone: no personal field left; it cannot log in (no login, no password),
    and no session or token outlives this request."""
    user.name = ""
    user.phone = None
    user.email = None
    user.email_verified_at = None
    user.password_hash = None
    user.gender = None
    user.phone_verified_at = None
    user.last_login_at = None
    user.is_active = False
    user.deleted_at = utcnow()
