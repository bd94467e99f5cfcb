"""Users and their families, the other direction of the references (SPEC §7)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import jsonify, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from app.api.access import ACCESS_ARGS, ACCESS_REFUSALS, staff_reason
from app.api.auth import actor
from app.api.blueprint import bp
from app.api.contract import Body, ChoiceArg, operation, text
from app.api.queries import group_visible, members_by_group
from app.api.routes_connections import RELATIONSHIP
from app.api.routes_families import INVITE_REFUSALS
from app.api.serializers import family_json, invite_json, membership_json, user_json
from app.errors import Forbidden, Invalid, NotFound
from app.extensions import db
from app.groups.queries import ties_of
from app.invites.services import invite_create
from app.membership.services import group_self_add, member_leave, member_remove
from app.models.accounts import User
from app.models.groups import ROLES, FamilyGroup, FamilyGroupMember
from app.staff.services import staff_user_viewed


@dataclass
class Sight:
    """What a viewer may see of a user: their ties (only those in families the viewer
    shares, unless self or staff) and whether phone and email show."""

    user: User
    ties: list[tuple[FamilyGroup, str]]
    private: bool
    full: bool  # self or staff


def user_sight(viewer: User, user_id: int) -> Sight:
    """Self, staff and people sharing a family see a user; NotFound for anyone else.
    Phone and email show to the user, staff and the admin of a family the user is in."""
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound(_("This person does not exist or you cannot see them."),
                       code="not_found")
    ties = ties_of([viewer.id, user.id])
    if viewer.id == user.id or viewer.is_staff:
        return Sight(user=user, ties=ties[user.id], private=True, full=True)
    shared = {g.id for g, _role in ties[viewer.id]} & {g.id for g, _role in ties[user.id]}
    if not shared:
        raise NotFound(_("This person does not exist or you cannot see them."),
                       code="not_found")
    seen = [(g, role) for g, role in ties[user.id] if g.id in shared]
    admin = any(g.admin_user_id == viewer.id and role != "admin" for g, role in seen)
    return Sight(user=user, ties=seen, private=admin, full=False)


def _staff_looked(viewer: User, sight: Sight, what: str, args: dict, *,
                  families: bool) -> None:
    """SPEC §1: a staff member's look at a user (phone, email) and at the families shown
    with it is recorded, as the staff pages and /staff/users record theirs, with the reason
    it must name (issue 21): one row whatever the number of families; committed with the
    request's answer."""
    if not viewer.is_staff or viewer.id == sight.user.id:
        return
    grant = staff_reason(viewer, args, person=sight.user)
    shown = sorted({g.id for g, _role in sight.ties}) if families else None
    staff_user_viewed(actor=viewer, user=sight.user, what=what, ip=request.remote_addr,
                      families=shown, grant=grant)


def _families(ties: list[tuple[FamilyGroup, str]]) -> list[dict]:
    members = members_by_group(sorted({g.id for g, _role in ties}))
    return [{**family_json(g, members[g.id]), "role": role}
            for g, role in sorted(ties, key=lambda t: (t[0].id, t[1]))]


@bp.get("/users/<int:user_id>")
@operation(query=(ChoiceArg("expand", ("families",)), *ACCESS_ARGS), answers={200: "User"},
           refusals={422: ACCESS_REFUSALS})
def user_get(user_id: int, args: dict):
    """A user (?expand=families adds the families the caller may see)."""
    expand = args["expand"]
    sight = user_sight(actor(), user_id)
    answer = user_json(sight.user, roles=[(g.id, role) for g, role in sight.ties],
                       private=sight.private)
    if expand:
        answer["families"] = _families(sight.ties)
    _staff_looked(actor(), sight, "api user", args, families=bool(expand))
    return jsonify(answer)


@bp.get("/users/<int:user_id>/families")
@operation(query=ACCESS_ARGS, answers={200: "FamilyWithRoleList"},
           refusals={403: ("forbidden",), 422: ACCESS_REFUSALS})
def user_families(user_id: int, args: dict):
    """The user's families with the role held in each (self, staff)."""
    sight = user_sight(actor(), user_id)
    if not sight.full:
        raise Forbidden(_("Only this person and staff can list their families."),
                        code="forbidden")
    items = _families(sight.ties)
    _staff_looked(actor(), sight, "api user families", args, families=True)
    return jsonify(items=items)


@bp.post("/users/<int:user_id>/families/<int:group_id>")
@operation(body=Body(required={"role": text(enum=list(ROLES))},
                     optional={"relationship": RELATIONSHIP}),
           answers={201: "Membership", 202: "InviteSent"},
           refusals={**INVITE_REFUSALS, 422: ("unknown_relationship", "self_invite")},
           rate_limited=True)
def user_family_add(user_id: int, group_id: int, body: dict):
    """The admin adds themselves (201 membership, BR-049) or invites the user to their
    phone (202 {invite})."""
    group = group_visible(actor(), group_id)
    if user_id == actor().id:
        joined = group_self_add(actor=actor(), group=group, role=body["role"],
                                relationship=body.get("relationship"), ip=request.remote_addr)
        answer = membership_json(joined.member)
        return jsonify(answer), 201
    if "relationship" in body:
        message = _("The relationship is chosen by the invited person when they accept.")
        raise Invalid(message, code="invalid", fields={"relationship": [message]})
    target = user_sight(actor(), user_id).user
    issued = invite_create(actor=actor(), group=group, phone=target.phone, role=body["role"],
                           ip=request.remote_addr)
    answer = {"invite": invite_json(issued.invite, token=issued.token)}
    return jsonify(answer), 202


@bp.delete("/users/<int:user_id>/families/<int:group_id>")
@operation(query=(ChoiceArg("role", ROLES, required=True,
                            message=_l("Choose patient or caregiver.")),), answers={204: None},
           refusals={403: ("not_admin", "admin_cannot_remove_self", "admin_cannot_leave")})
def user_family_remove(user_id: int, group_id: int, args: dict):
    """The admin removes a member; a member leaves (?role= patient | caregiver)."""
    role = args["role"]
    me = actor()
    group = group_visible(me, group_id)
    if user_id == me.id and not (group.admin_user_id == me.id
                                 and _holds(group.id, me.id, role)):
        # Leaving; the admin's own membership (BR-049) is a removal, refused as such.
        member_leave(actor=me, group=group, role=role, ip=request.remote_addr)
    else:
        member_remove(actor=me, group=group, user_id=user_id, role=role, ip=request.remote_addr)
    return "", 204


def _holds(group_id: int, user_id: int, role: str) -> bool:
    return db.session.scalar(select(FamilyGroupMember.id).where(
        FamilyGroupMember.group_id == group_id, FamilyGroupMember.user_id == user_id,
        FamilyGroupMember.role == role)) is not None
