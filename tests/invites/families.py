"""A committed family of a given size with one pending invite, for the accept's statement
counts (issue 17): the web form's (tests/invites/test_accept_statements.py) and the
API's (tests/api/test_statement_counts.py)."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

from sqlalchemy import func, select

from app.accounts.services import api_token_create
from app.extensions import db
from app.invites.services import invite_create
from app.models.connections import PERMISSION_CODES, Connection, ConnectionPermission
from tests.conftest import person_of
from tests.factories import make_connection, make_group, make_member, make_subscription, make_user

# SQLite's count includes its BEGIN IMMEDIATE; PostgreSQL's BEGIN is no statement of its
# own. The accept through the link page, with a relationship:
#   the user's load; the invite with its family and sender; the relationship with its
#   inverses; the plan (local payment provider); the group's lock; the invite's
#   conditional UPDATE (… RETURNING); the members with their users and the joiner's
#   memberships anywhere; cancelling the invite's unsent messages; then one INSERT each:
#   the membership, the connections, their permissions, the audit events, the outbox.
# Without a relationship there is nothing to look up: one less. A member coming back
# (their earlier connection rows reused) costs one read more: those rows' permissions.
ACCEPT_STATEMENTS = {"sqlite": 14, "postgresql": 13}
SIZES = ((1, 1), (4, 10))  # (patients, caregivers) before the accept


@dataclass
class Joining:
    """A family with `patients` patients and `caregivers` caregivers, all connected, a plan
    with room for one more of each, and a pending invite to the invitee."""

    group_id: int
    invitee: SimpleNamespace  # id, phone, name, email: what login() needs
    api_token: str
    token: str  # the invite link's
    invite_id: int
    others: list[int]  # the members of the other role: whom the accept connects to


def joining(app, *, patients: int, caregivers: int, role: str,
            returning: bool = False) -> Joining:
    """returning: the invitee was connected to the other role's members before (and left):
    their rows, revoked with the six permissions OFF, are reused."""
    with app.app_context():
        admin = make_user(name="Quản trị")
        sub = make_subscription(admin, patients=patients + 1, caregivers=caregivers + 1)
        group = make_group(admin, subscription=sub)
        people: dict[str, list] = {"patient": [], "caregiver": []}
        for member_role, n in (("patient", patients), ("caregiver", caregivers)):
            for i in range(n):
                user = make_user(name=f"{member_role} {i}", gender=i % 2)
                make_member(group, user, role=member_role)
                people[member_role].append(user)
        for patient in people["patient"]:
            for caregiver in people["caregiver"]:
                make_connection(patient, caregiver, group=group)
        invitee = make_user(name="Người được mời", gender=1, locale="en")
        others = people["caregiver" if role == "patient" else "patient"]
        if returning:
            for other in others:
                pair = (invitee, other) if role == "patient" else (other, invitee)
                connection = make_connection(*pair, group=group, enabled=False)
                connection.permission_revoked = True
        issued = invite_create(actor=admin, group=group, phone=invitee.phone, role=role)
        api_token = api_token_create(user=invitee, name="test")
        db.session.commit()
        return Joining(group_id=group.id, invitee=person_of(invitee), api_token=api_token,
                       token=issued.token, invite_id=issued.invite.id,
                       others=[u.id for u in others])


def check_joined(app, fam: Joining, role: str) -> None:
    """The invitee follows (or is followed by) every member of the other role, each
    connection live with its six permissions ON, one row per pair."""
    mine = Connection.user_id if role == "patient" else Connection.linked_user_id
    theirs = Connection.linked_user_id if role == "patient" else Connection.user_id
    with app.app_context():
        rows = list(db.session.execute(
            select(theirs, Connection.permission_revoked, Connection.family_group_id)
            .where(mine == fam.invitee.id)).tuples())
        assert sorted(r[0] for r in rows) == sorted(fam.others)
        assert {(r[1], r[2]) for r in rows} <= {(False, fam.group_id)}
        on = db.session.scalar(
            select(func.count()).select_from(ConnectionPermission)
            .join(Connection, Connection.id == ConnectionPermission.contact_id)
            .where(mine == fam.invitee.id, ConnectionPermission.is_enabled.is_(True)))
        assert on == len(PERMISSION_CODES) * len(fam.others)


def listing(statements: list[str]) -> str:
    return "\n".join(f"  {i + 1}. {' '.join(s.split())[:200]}" for i, s in enumerate(statements))


def same_count(label: str, counted: dict, expected: int) -> None:
    """Every size ran `expected` statements; a failure lists them."""
    counts = {size: len(statements) for size, statements in counted.items()}
    print(f"\n{label}: {counts}")
    detail = "\n".join(f"{size} ({len(s)}):\n{listing(s)}" for size, s in counted.items())
    assert set(counts.values()) == {expected}, f"{label}: {counts}, not {expected}\n{detail}"
