"""Home: a dashboard of the user's own things, one section per role they hold (issue 18).

- the family's admin: the family, each role's places (used, pending, free), the pending
  invites and the latest changes of its connections;
- a caregiver: each patient followed, with what they may see now;
- a patient: who follows them, with their permissions;
- staff: the review queue's open items and the user search;
- someone in no family yet: the invites waiting for them and how to start a family.

It reads what the features' own pages read (their queries, never their views) and
registers on core's blueprint, so the page stays `core.home`. The admin's dashboard
takes five statements whatever the family's size (tests/core/test_page_statements.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import render_template
from flask_login import current_user
from sqlalchemy import and_, select

from app.accounts.loader import roles_of
from app.connections.matrix import labels
from app.connections.queries import (
    HISTORY_ACTIONS,
    current_connections,
    enabled_codes,
    private_details,
)
from app.core import bp
from app.errors import DomainError
from app.extensions import db
from app.groups.places import Places, places_of
from app.groups.queries import GroupView, pending_invites
from app.groups.slots import counts_from_view, role_label
from app.invites.services import invites_pending_for
from app.models.accounts import User
from app.models.audit import AuditEvent
from app.models.connections import Connection
from app.models.groups import ROLES, FamilyGroup, FamilyGroupMember
from app.pages import acting_user
from app.staff import signals
from app.staff.forms import SearchForm

RECENT_CHANGES = 5


@dataclass
class AdminPanel:
    view: GroupView
    places: Places  # each role's places, and whether a role can take someone now
    changes: list[tuple[AuditEvent, dict, User | None, User | None, User | None]]


@dataclass
class Dashboard:
    admin: AdminPanel | None = None
    following: list[tuple[Connection, User, list[str]]] = field(default_factory=list)
    followers: list[tuple[Connection, User, list[str]]] = field(default_factory=list)
    invites: list = field(default_factory=list)
    invites_need_proof: bool = False
    staff_open: int | None = None


def _admin_group_view(user_id: int) -> GroupView | None:
    """The admin's active family with its members and their users, in one statement."""
    rows = db.session.execute(
        select(FamilyGroup, FamilyGroupMember, User)
        .outerjoin(FamilyGroupMember, FamilyGroupMember.group_id == FamilyGroup.id)
        .outerjoin(User, User.id == FamilyGroupMember.user_id)
        .where(FamilyGroup.admin_user_id == user_id, FamilyGroup.status == "active")
        .order_by(FamilyGroup.id.desc(), FamilyGroupMember.joined_at, FamilyGroupMember.id)
    ).tuples().all()
    if not rows:
        return None
    group = rows[0][0]
    members = [(m, u) for g, m, u in rows if g.id == group.id and m is not None]
    return GroupView(group=group, members=members, invites=pending_invites(group.id))


def _recent_changes(view: GroupView, me: User) -> list:
    """The family's latest connection events with their actor, patient and caregiver (the
    members' users; one statement)."""
    people = {u.id: u for _m, u in view.members} | {me.id: me}
    rows = db.session.execute(
        select(AuditEvent, Connection.user_id, Connection.linked_user_id)
        .outerjoin(Connection, and_(AuditEvent.subject_type == Connection.__tablename__,
                                    Connection.id == AuditEvent.subject_id))
        .where(AuditEvent.family_group_id == view.group.id,
               AuditEvent.action.in_(HISTORY_ACTIONS),
               AuditEvent.action.notin_(("invite.created", "invite.resent")))
        .order_by(AuditEvent.id.desc()).limit(RECENT_CHANGES)).tuples()
    # An event whose patient or caregiver has left the family is on the history page.
    return [(event, private_details(event, me), people.get(event.actor_id),
             people[patient_id], people[caregiver_id])
            for event, patient_id, caregiver_id in rows
            if patient_id in people and caregiver_id in people]


def _admin_panel(me: User) -> AdminPanel | None:
    view = _admin_group_view(me.id)
    if view is None:
        return None
    return AdminPanel(view=view, places=places_of(view.group, counts_from_view(view)),
                      changes=_recent_changes(view, me))


def _may_see(connection: Connection, order: list[str]) -> list[str]:
    on = enabled_codes(connection)
    return [code for code in order if code in on]


@bp.get("/")
def home():
    """The landing page for visitors; the user's dashboard once logged in."""
    if not current_user.is_authenticated:
        return render_template("home.html")
    me = acting_user()
    roles = roles_of(me)
    board = Dashboard()
    named = labels()
    order = [code for code, _label in named["permissions"]]
    if roles.admin:
        board.admin = _admin_panel(me)
    if roles.caregiver or roles.patient:
        connections, users = current_connections(user_id=me.id)
        for c in connections:
            if c.linked_user_id == me.id:
                board.following.append((c, users[c.user_id], _may_see(c, order)))
            elif c.user_id == me.id:
                board.followers.append((c, users[c.linked_user_id], _may_see(c, order)))
    if not roles.any and not me.staff_role:
        try:
            board.invites = invites_pending_for(me)
        except DomainError:
            board.invites_need_proof = True  # an unproved number sees no invite (ID-001)
    if me.is_staff:
        board.staff_open = signals.queue().open_count
    return render_template("home.html", board=board, roles=roles, roles_order=ROLES,
                           role_label=role_label, search=SearchForm(formdata=None), **named)
