"""Families: create, read, rename, dissolve, list (staff), connections, audit, invites,
and the disconnect and restore of a caregiver (the admin)."""

from __future__ import annotations

from flask import jsonify, request
from flask_babel import gettext as _

from app.api.access import ACCESS_ARGS, ACCESS_REFUSALS, staff_reason
from app.api.auth import actor
from app.api.blueprint import bp
from app.api.contract import (
    Body,
    ChoiceArg,
    CursorArg,
    IntArg,
    TextArg,
    integer,
    operation,
    text,
)
from app.api.queries import (
    group_audit,
    group_invites,
    group_visible,
    members_by_group,
    view_slots,
)
from app.api.routes_connections import NO_BODY, REASON_BODY, controlled_json
from app.api.serializers import audit_json, connection_json, family_json, invite_json
from app.connections.control import caregiver_restore, caregiver_revoke
from app.connections.queries import current_connections
from app.cursors import encode_cursor
from app.errors import Forbidden
from app.extensions import db
from app.groups.queries import group_with_members
from app.groups.services import (
    group_create,
    group_for_viewer,
    group_rename,
    group_staff_look,
)
from app.invites.services import invite_create
from app.membership.handover import group_hand_over
from app.membership.services import group_dissolve
from app.models.accounts import User
from app.models.groups import ROLES, FamilyGroup
from app.models.invites import INVITE_STATUSES
from app.permissions import can_manage_invites
from app.staff.queries import QUERY_MAX, clean_query, groups_search
from app.staff.services import staff_searched
from app.transaction import after_commit

GROUP_STATUSES = ("active", "inactive", "dissolved")
NAME = Body(required={"name": text(description="At most 100 characters once spaces are "
                                               "collapsed.")})
MANAGER_REFUSALS = {403: ("forbidden",)}  # a member who is not the admin
NOT_ADMIN = {403: ("not_admin",), 409: ("group_not_active",)}
# What inviting someone can meet (invite_create).
INVITE_REFUSALS = {422: ("invalid_phone", "self_invite"),
                   403: ("not_admin", "subscription_inactive"),
                   409: ("duplicate_pending", "no_slot", "already_in_group", "group_not_active"),
                   503: ("payment_unavailable",)}


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


def _is_staff_look(user: User, group: FamilyGroup) -> bool:
    """group_staff_look's rule: a staff member who is not the family's admin."""
    return user.is_staff and group.admin_user_id != user.id


def _staff_look(user: User, group: FamilyGroup, what: str, args: dict) -> None:
    """A staff look is recorded with its reason (issue 21), which it must name."""
    if _is_staff_look(user, group):
        grant = staff_reason(user, args, group=group)
        group_staff_look(actor=user, group=group, what=what, ip=request.remote_addr,
                         grant=grant)


@bp.post("/families")
@operation(body=NAME, answers={201: "Family"},
           refusals={403: ("not_admin", "subscription_inactive"), 409: ("group_exists",),
                     503: ("payment_unavailable",)})
def family_create(body: dict):
    """Create the caller's family (an admin with an active plan); 201 family."""
    group = group_create(actor=actor(), name=body["name"], ip=request.remote_addr)
    return after_commit(lambda: (jsonify(family_answer(actor(), group.id)), 201))


@bp.get("/families/<int:group_id>")
@operation(query=ACCESS_ARGS, answers={200: "Family"},
           refusals={422: ACCESS_REFUSALS})
def family_get(group_id: int, args: dict):
    """A family, for its admin, its members and staff (staff: with a reason)."""
    answer = family_answer(actor(), group_id)
    _staff_look(actor(), db.session.get(FamilyGroup, group_id), "family", args)
    return jsonify(answer)


@bp.patch("/families/<int:group_id>")
@operation(body=NAME, answers={200: "Family"}, refusals=NOT_ADMIN)
def family_rename(group_id: int, body: dict):
    """Rename the family (the admin)."""
    group_rename(actor=actor(), group=group_visible(actor(), group_id), name=body["name"],
                 ip=request.remote_addr)
    return after_commit(lambda: jsonify(family_answer(actor(), group_id)))


@bp.delete("/families/<int:group_id>")
@operation(answers={204: None}, refusals=NOT_ADMIN)
def family_dissolve(group_id: int):
    """Dissolve the family (the admin): members released, connections revoked."""
    group_dissolve(actor=actor(), group=group_visible(actor(), group_id),
                   ip=request.remote_addr)
    return "", 204


@bp.get("/families")
@operation(query=(ChoiceArg("status", GROUP_STATUSES), IntArg("limit", 50, 1, 100),
                  TextArg("q", QUERY_MAX, description="The admin's phone however typed, or "
                          "a part of the family's name."), CursorArg()),
           answers={200: "FamilyPage"}, refusals={403: ("forbidden",)})
def family_list(args: dict):
    """Staff: families newest first, by status, by the admin's phone (however typed) or a
    part of the name (q, audited as a search), a page at a time."""
    if not actor().is_staff:
        raise Forbidden(_("Only staff can list families."), code="forbidden")
    limit, query = args["limit"], clean_query(args["q"])
    groups = groups_search(status=args["status"], query=query, before_id=args["cursor"],
                           limit=limit)
    more, groups = len(groups) > limit, groups[:limit]
    members = members_by_group([g.id for g in groups])
    answer = {"items": [family_json(g, members[g.id]) for g in groups],
              "nextCursor": encode_cursor(groups[-1].id) if more else None}
    if query:
        staff_searched(actor=actor(), what="groups", query=query, found=len(groups),
                       ip=request.remote_addr)
    return jsonify(answer)


@bp.get("/families/<int:group_id>/connections")
@operation(query=ACCESS_ARGS, answers={200: "ConnectionList"},
           refusals={**MANAGER_REFUSALS, 422: ACCESS_REFUSALS})
def family_connections(group_id: int, args: dict):
    """The family's current connections, disconnected ones included (admin, staff); those
    whose member left or was removed are history, in the audit trail."""
    group = _manager_group(actor(), group_id)
    connections, users = current_connections(group_id=group.id)
    answer = {"items": [connection_json(c, users, viewer=actor()) for c in connections]}
    _staff_look(actor(), group, "connections", args)
    return jsonify(answer)


@bp.get("/families/<int:group_id>/audit")
@operation(query=(IntArg("limit", 50, 1, 200), *ACCESS_ARGS), answers={200: "AuditList"},
           refusals={**MANAGER_REFUSALS, 422: ACCESS_REFUSALS})
def family_audit(group_id: int, args: dict):
    """The family's history, newest first (admin, staff); a disconnect's private reason
    only for staff and its author."""
    group = _manager_group(actor(), group_id)
    limit = args["limit"]
    answer = {"items": [audit_json(e, viewer=actor()) for e in group_audit(group.id, limit)]}
    _staff_look(actor(), group, "audit", args)
    return jsonify(answer)


@bp.put("/families/<int:group_id>/caregivers/<int:caregiver_id>/revoke")
@operation(body=REASON_BODY, answers={200: "ConnectionList"}, refusals={403: ("not_admin",)})
def family_caregiver_revoke(group_id: int, caregiver_id: int, body: dict):
    """Silently disconnect a caregiver from every patient of the family (the admin)."""
    held = caregiver_revoke(actor=actor(), group=group_visible(actor(), group_id),
                            caregiver_id=caregiver_id, reason=body.get("reason"),
                            ip=request.remote_addr)
    answer = {"items": [controlled_json(h, actor()) for h in held]}
    return jsonify(answer)


@bp.put("/families/<int:group_id>/caregivers/<int:caregiver_id>/restore")
@operation(body=NO_BODY, answers={200: "ConnectionList"},
           refusals={403: ("not_admin",), 409: ("consent_withdrawn",)})
def family_caregiver_restore(group_id: int, caregiver_id: int, body: dict):
    """Restore every disconnected connection of a caregiver of the family (the admin)."""
    held = caregiver_restore(actor=actor(), group=group_visible(actor(), group_id),
                             caregiver_id=caregiver_id, ip=request.remote_addr)
    answer = {"items": [controlled_json(h, actor()) for h in held]}
    return jsonify(answer)


@bp.post("/families/<int:group_id>/invites")
@operation(body=Body(required={"phone": text(description="A Vietnamese mobile number, "
                                                         "however typed."),
                               "role": text(enum=list(ROLES))}),
           answers={201: "Invite"}, refusals=INVITE_REFUSALS, rate_limited=True)
def family_invite(group_id: int, body: dict):
    """Invite a phone number as patient or caregiver (the admin); 201 invite + acceptUrl."""
    issued = invite_create(actor=actor(), group=group_visible(actor(), group_id),
                           phone=body["phone"], role=body["role"], ip=request.remote_addr)
    answer = invite_json(issued.invite, token=issued.token)
    return jsonify(answer), 201


@bp.get("/families/<int:group_id>/invites")
@operation(query=(ChoiceArg("status", INVITE_STATUSES), *ACCESS_ARGS),
           answers={200: "InviteList"}, refusals={**MANAGER_REFUSALS, 422: ACCESS_REFUSALS})
def family_invites(group_id: int, args: dict):
    """The family's invites, newest first, optionally by status (admin, staff)."""
    group = _manager_group(actor(), group_id)
    answer = {"items": [invite_json(i) for i in group_invites(group.id, args["status"])]}
    _staff_look(actor(), group, "invites", args)
    return jsonify(answer)


@bp.post("/families/<int:group_id>/handover")
@operation(body=Body(required={"userId": integer(
               description="The member who becomes the admin: they hold an active plan of "
                           "their own, used by no other family, with places for the "
                           "family's members and pending invites.")}),
           answers={200: "Family"},
           refusals={403: ("not_admin",),
                     409: ("group_not_active", "already_admin", "not_a_member",
                           "no_subscription", "subscription_inactive", "subscription_in_use",
                           "not_enough_slots"),
                     503: ("payment_unavailable",)})
def family_hand_over(group_id: int, body: dict):
    """Hand the family over to a member with a plan of their own (the admin); 200 the
    family afterwards — without its invites and slots, which are the new admin's (the
    caller, if not a member, can no longer read it)."""
    group_hand_over(actor=actor(), group=group_visible(actor(), group_id),
                    to_user_id=body["userId"], ip=request.remote_addr)

    def answer():
        view = group_with_members(group_id, with_invites=lambda _group: False)
        return jsonify(family_json(view.group, view.members))
    return after_commit(answer)
