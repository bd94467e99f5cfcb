"""Families: create, read, rename, dissolve, list (staff), connections, audit, invites,
and the disconnect and restore of a caregiver (the admin)."""

from __future__ import annotations

from flask import jsonify, request
from flask_babel import gettext as _

from app.accounts.models import User
from app.api import bp
from app.api.auth import actor
from app.api.body import choice_arg, cursor_arg, encode_cursor, int_arg, json_body
from app.api.queries import (
    group_audit,
    group_invites,
    group_visible,
    members_by_group,
    view_slots,
)
from app.api.routes_connections import controlled_json, no_body, reason_body
from app.api.serializers import audit_json, connection_json, family_json, invite_json
from app.connections.control import caregiver_restore, caregiver_revoke
from app.connections.queries import current_connections
from app.errors import Forbidden, Invalid
from app.extensions import db
from app.groups.membership import group_dissolve
from app.groups.models import FamilyGroup
from app.groups.services import (
    group_create,
    group_for_viewer,
    group_rename,
    group_staff_look,
)
from app.invites.models import INVITE_STATUSES
from app.invites.services import invite_create
from app.permissions import can_manage_invites
from app.staff.queries import QUERY_MAX, clean_query, groups_search
from app.staff.services import staff_searched

GROUP_STATUSES = ("active", "inactive", "dissolved")
STR = (str,)


def family_answer(user: User, group_id: int) -> dict:
    """The family as `user` may see it (NotFound otherwise): invites and slots for the
    admin and staff. A fixed number of queries whatever the group's size."""
    view = group_for_viewer(actor=user, group_id=group_id)
    private = can_manage_invites(user, view.group)
    return family_json(view.group, view.members, private=private, invites=view.invites,
                       slots=view_slots(view) if private else None)


def _manager_group(user: User, group_id: int) -> FamilyGroup:
    """A group whose invites, connections and history the user may read (admin, staff);
    a member gets 403, anyone else 404."""
    group = group_visible(user, group_id)
    if not can_manage_invites(user, group):
        raise Forbidden(_("Only the family's admin can see this."), code="forbidden")
    return group


def _staff_look(user: User, group: FamilyGroup, what: str) -> None:
    if group_staff_look(actor=user, group=group, what=what, ip=request.remote_addr):
        db.session.commit()


@bp.post("/families")
def family_create():
    """Create the caller's family (an admin with an active plan); 201 family."""
    body = json_body(required={"name": STR})
    group = group_create(actor=actor(), name=body["name"], ip=request.remote_addr)
    db.session.commit()
    return jsonify(family_answer(actor(), group.id)), 201


@bp.get("/families/<int:group_id>")
def family_get(group_id: int):
    """A family, for its admin, its members and staff."""
    answer = family_answer(actor(), group_id)
    _staff_look(actor(), db.session.get(FamilyGroup, group_id), "family")
    return jsonify(answer)


@bp.patch("/families/<int:group_id>")
def family_rename(group_id: int):
    """Rename the family (the admin)."""
    body = json_body(required={"name": STR})
    group_rename(actor=actor(), group=group_visible(actor(), group_id), name=body["name"],
                 ip=request.remote_addr)
    db.session.commit()
    return jsonify(family_answer(actor(), group_id))


@bp.delete("/families/<int:group_id>")
def family_dissolve(group_id: int):
    """Dissolve the family (the admin): members released, connections revoked."""
    group_dissolve(actor=actor(), group=group_visible(actor(), group_id),
                   ip=request.remote_addr)
    db.session.commit()
    return "", 204


@bp.get("/families")
def family_list():
    """Staff: families newest first, by status, by the admin's phone (however typed) or a
    part of the name (q, audited as a search), a page at a time."""
    if not actor().is_staff:
        raise Forbidden(_("Only staff can list families."), code="forbidden")
    status = choice_arg("status", GROUP_STATUSES)
    limit = int_arg("limit", default=50, low=1, high=100)
    raw = request.args.get("q") or ""
    query = clean_query(raw)
    if len(raw) > QUERY_MAX:
        raise Invalid(_("Some fields are missing or not right."), code="invalid",
                      fields={"q": [_("At most %(n)d characters.", n=QUERY_MAX)]})
    groups = groups_search(status=status, query=query, before_id=cursor_arg(), limit=limit)
    more, groups = len(groups) > limit, groups[:limit]
    members = members_by_group([g.id for g in groups])
    answer = {"items": [family_json(g, members[g.id]) for g in groups],
              "nextCursor": encode_cursor(groups[-1].id) if more else None}
    if query:
        staff_searched(actor=actor(), what="groups", query=query, found=len(groups),
                       ip=request.remote_addr)
        db.session.commit()
    return jsonify(answer)


@bp.get("/families/<int:group_id>/connections")
def family_connections(group_id: int):
    """The family's current connections, disconnected ones included (admin, staff); those
    whose member left or was removed are history, in the audit trail."""
    group = _manager_group(actor(), group_id)
    connections, users = current_connections(group_id=group.id)
    answer = {"items": [connection_json(c, users, viewer=actor()) for c in connections]}
    _staff_look(actor(), group, "connections")
    return jsonify(answer)


@bp.get("/families/<int:group_id>/audit")
def family_audit(group_id: int):
    """The family's history, newest first (admin, staff); a disconnect's private reason
    only for staff and its author."""
    group = _manager_group(actor(), group_id)
    limit = int_arg("limit", default=50, low=1, high=200)
    answer = {"items": [audit_json(e, viewer=actor()) for e in group_audit(group.id, limit)]}
    _staff_look(actor(), group, "audit")
    return jsonify(answer)


@bp.put("/families/<int:group_id>/caregivers/<int:caregiver_id>/revoke")
def family_caregiver_revoke(group_id: int, caregiver_id: int):
    """Silently disconnect a caregiver from every patient of the family (the admin)."""
    reason = reason_body()
    held = caregiver_revoke(actor=actor(), group=group_visible(actor(), group_id),
                            caregiver_id=caregiver_id, reason=reason, ip=request.remote_addr)
    answer = {"items": [controlled_json(h, actor()) for h in held]}
    db.session.commit()
    return jsonify(answer)


@bp.put("/families/<int:group_id>/caregivers/<int:caregiver_id>/restore")
def family_caregiver_restore(group_id: int, caregiver_id: int):
    """Restore every disconnected connection of a caregiver of the family (the admin)."""
    no_body()
    held = caregiver_restore(actor=actor(), group=group_visible(actor(), group_id),
                             caregiver_id=caregiver_id, ip=request.remote_addr)
    answer = {"items": [controlled_json(h, actor()) for h in held]}
    db.session.commit()
    return jsonify(answer)


@bp.post("/families/<int:group_id>/invites")
def family_invite(group_id: int):
    """Invite a phone number as patient or caregiver (the admin); 201 invite + acceptUrl."""
    body = json_body(required={"phone": STR, "role": STR})
    issued = invite_create(actor=actor(), group=group_visible(actor(), group_id),
                           phone=body["phone"], role=body["role"], ip=request.remote_addr)
    answer = invite_json(issued.invite, token=issued.token)
    db.session.commit()
    return jsonify(answer), 201


@bp.get("/families/<int:group_id>/invites")
def family_invites(group_id: int):
    """The family's invites, newest first, optionally by status (admin, staff)."""
    group = _manager_group(actor(), group_id)
    status = choice_arg("status", INVITE_STATUSES)
    answer = {"items": [invite_json(i) for i in group_invites(group.id, status)]}
    _staff_look(actor(), group, "invites")
    return jsonify(answer)
