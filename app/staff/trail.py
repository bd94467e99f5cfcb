"""The audit trails on the staff pages (issue 18): a family's, and a person's activity on
their file. A page of events newest first (keyset on id), the staff page views left out
unless asked for (and counted, so they stay in reach), and every event put into words
(app/audit/words.py) with what names it loaded in a fixed number of statements.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, or_, select

from app.audit.words import (
    CONNECTIONS,
    PAGE_VIEWS,
    USERS,
    Described,
    Names,
    connections_of,
    describe,
    families_of,
    people_of,
)
from app.billing.names import plan_name
from app.connections.queries import permission_names, private_details, relationship_names
from app.extensions import db
from app.models.accounts import User, person_name
from app.models.audit import AuditEvent
from app.models.connections import Connection
from app.models.groups import FamilyGroup
from app.staff.blueprint import LABELS
from app.staff.delivery_errors import delivery_error_text
from app.staff.signal_kinds import SIGNALS

AUDIT_PAGE = 100
ACTIVITY_PAGE = 50


@dataclass
class Trail:
    """One page of a trail, in words. views: staff page views are shown; hidden_views: how
    many the whole trail holds (shown or not); next_before: the next page's cursor."""

    events: list[Described]
    views: bool
    hidden_views: int
    next_before: int | None
    page_size: int
    family_names: dict[int, str]


def _page(where, *, before_id: int | None, views: bool,
          limit: int) -> tuple[list[AuditEvent], int | None]:
    stmt = select(AuditEvent).where(where)
    if not views:
        stmt = stmt.where(AuditEvent.action.not_in(PAGE_VIEWS))
    if before_id is not None:
        stmt = stmt.where(AuditEvent.id < before_id)
    rows = list(db.session.scalars(stmt.order_by(AuditEvent.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, rows[-1].id if more and rows else None


def _views_count(where) -> int:
    return db.session.scalar(select(func.count(AuditEvent.id)).where(
        where, AuditEvent.action.in_(PAGE_VIEWS))) or 0


def _trail(where, *, viewer: User, before_id: int | None, views: bool, limit: int,
           people: dict[int, User], connections: dict[int, tuple[Any, Any]]) -> Trail:
    events, next_before = _page(where, before_id=before_id, views=views, limit=limit)
    names = trail_names(events, people=people, connections=connections)
    return Trail(events=[describe(e, private_details(e, viewer), names) for e in events],
                 views=views, hidden_views=_views_count(where), next_before=next_before,
                 page_size=limit, family_names={k: v for k, v in names.families.items() if v})


def group_trail(group_id: int, *, viewer: User, before_id: int | None = None,
                views: bool = False, people: dict[int, User] | None = None,
                connections: dict[int, tuple[Any, Any]] | None = None) -> Trail:
    """A page of the family's audit trail. people, connections: what the page has loaded
    already (not read again)."""
    return _trail(AuditEvent.family_group_id == group_id, viewer=viewer, before_id=before_id,
                  views=views, limit=AUDIT_PAGE, people=people or {},
                  connections=connections or {})


def user_trail(user: User, *, viewer: User, connections: list[Connection],
               before_id: int | None = None, views: bool = False,
               people: dict[int, User] | None = None) -> Trail:
    """A page of what a person did and what was done to them or to their connections (the
    connections their file lists)."""
    ids = [c.id for c in connections]
    where = or_(AuditEvent.actor_id == user.id,
                and_(AuditEvent.subject_type == USERS, AuditEvent.subject_id == user.id),
                and_(AuditEvent.subject_type == CONNECTIONS, AuditEvent.subject_id.in_(ids)))
    return _trail(where, viewer=viewer, before_id=before_id, views=views,
                  limit=ACTIVITY_PAGE, people={user.id: user, **(people or {})},
                  connections={c.id: (c.linked_user_id, c.user_id) for c in connections})


def trail_names(events: list[AuditEvent], *, people: dict[int, User],
                connections: dict[int, tuple[Any, Any]]) -> Names:
    """What the events' words need: at most three statements (the connections, then the
    people and the families not loaded yet), whatever the number of events."""
    connections = dict(connections)
    missing = connections_of(events) - set(connections)
    if missing:
        connections.update({row.id: (row.linked_user_id, row.user_id)
                            for row in db.session.execute(
                                select(Connection.id, Connection.user_id,
                                       Connection.linked_user_id)
                                .where(Connection.id.in_(missing)))})
    wanted = people_of(events) | {i for pair in connections.values() for i in pair
                                  if i is not None}
    names = {i: u.shown_name for i, u in people.items()}
    unknown = wanted - set(names)
    if unknown:
        names.update({i: person_name(i, name, deleted is not None)
                      for i, name, deleted in db.session.execute(
                          select(User.id, User.name, User.deleted_at)
                          .where(User.id.in_(unknown))).tuples()})
    family_ids = families_of(events)
    families = {i: name for i, name in db.session.execute(
        select(FamilyGroup.id, FamilyGroup.name).where(FamilyGroup.id.in_(family_ids)))
        .tuples()} if family_ids else {}
    return Names(people=names, families=families, connections=connections,
                 relationships=relationship_names(), permissions=dict(permission_names()),
                 channels=LABELS["channel"], notifications=LABELS["notification"],
                 signals={name: signal.heading for name, signal in SIGNALS.items()},
                 plan=plan_name, error=delivery_error_text)
