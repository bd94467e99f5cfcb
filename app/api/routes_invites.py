"""Invites: cancel, resend (the admin); pending, accept, reject (the invitee)."""

from __future__ import annotations

from flask import jsonify, request
from flask_babel import gettext as _
from sqlalchemy import select

from app.api.auth import actor
from app.api.blueprint import bp
from app.api.contract import Body, operation, text
from app.api.queries import users_by_id
from app.api.routes_connections import NO_BODY, RELATIONSHIP
from app.api.serializers import connection_json, family_json, invite_json
from app.errors import NotFound
from app.extensions import db, limit_link_guesses
from app.groups.queries import group_view
from app.invites.services import (
    invite_accept,
    invite_by_token,
    invite_cancel,
    invite_for_admin,
    invite_for_invitee,
    invite_reject,
    invite_resend,
    invites_pending_for,
)
from app.models.groups import FamilyGroup
from app.models.invites import ConnectionInvite

# What accepting can meet (invite_accept).
ACCEPT_REFUSALS = {403: ("phone_mismatch", "phone_unverified", "subscription_inactive"),
                   410: ("invite_expired",),
                   409: ("invite_not_pending", "no_slot", "already_in_group",
                         "group_not_active"),
                   422: ("unknown_relationship",), 503: ("payment_unavailable",)}


@bp.delete("/invites/<int:invite_id>")
@operation(answers={204: None}, refusals={403: ("not_admin",), 409: ("invite_not_pending",)})
def invite_delete(invite_id: int):
    """Cancel a pending invite (the admin); its slot is free again."""
    invite_cancel(actor=actor(), invite=invite_for_admin(actor=actor(), invite_id=invite_id),
                  ip=request.remote_addr)
    return "", 204


@bp.post("/invites/<int:invite_id>/resend")
@operation(body=NO_BODY, answers={200: "Invite"},
           refusals={403: ("not_admin", "subscription_inactive"),
                     409: ("invite_not_pending", "no_slot", "already_in_group",
                           "group_not_active"),
                     503: ("payment_unavailable",)},
           rate_limited=True)
def invite_resend_link(invite_id: int, body: dict):
    """A new link for a pending invite (the admin); the old link stops working."""
    issued = invite_resend(actor=actor(),
                           invite=invite_for_admin(actor=actor(), invite_id=invite_id),
                           ip=request.remote_addr)
    answer = invite_json(issued.invite, token=issued.token)
    return jsonify(answer)


@bp.get("/invites/pending")
@operation(answers={200: "PendingInviteList"}, refusals={403: ("phone_unverified",)})
def invites_pending():
    """Open invites to the caller's phone, with the family's and the sender's names."""
    invites = invites_pending_for(actor())
    groups = {g.id: g for g in db.session.scalars(select(FamilyGroup).where(
        FamilyGroup.id.in_({i.family_group_id for i in invites})))} if invites else {}
    senders = users_by_id({i.sender_id for i in invites})
    items = []
    for invite in invites:
        group, sender = groups.get(invite.family_group_id), senders.get(invite.sender_id)
        items.append({**invite_json(invite), "familyName": group.name if group else None,
                      "senderName": sender.name if sender else None})
    return jsonify(items=items)


def _accept(invite: ConnectionInvite, relationship: str | None, *, via_link: bool):
    joined = invite_accept(actor=actor(), invite=invite, relationship=relationship,
                           via_link=via_link, ip=request.remote_addr)
    view = group_view(joined.group, with_invites=False)
    users = users_by_id({uid for c in joined.connections for uid in (c.user_id, c.linked_user_id)})
    answer = {"family": family_json(joined.group, view.members), "role": joined.role,
              "connections": [connection_json(c, users, viewer=actor())
                              for c in joined.connections]}
    return jsonify(answer)


@bp.post("/invites/accept")
@limit_link_guesses
@operation(body=Body(required={"token": text(description="The token of the link.")},
                     optional={"relationship": RELATIONSHIP}),
           answers={200: "Accepted"}, refusals={**ACCEPT_REFUSALS, 404: ("not_found",)},
           rate_limited=True)
def invite_accept_token(body: dict):
    """Accept the invite a link's token names; 200 {family, role, connections}."""
    invite = invite_by_token(body["token"])
    if invite is None:
        raise NotFound(_("This invite link is not valid."), code="not_found")
    return _accept(invite, body.get("relationship"), via_link=True)  # the token proves it


@bp.post("/invites/<int:invite_id>/accept")
@operation(body=Body(optional={"relationship": RELATIONSHIP}, empty=True),
           answers={200: "Accepted"}, refusals=ACCEPT_REFUSALS)
def invite_accept_id(invite_id: int, body: dict):
    """Accept an invite to the caller's phone; 200 {family, role, connections}."""
    return _accept(invite_for_invitee(actor=actor(), invite_id=invite_id),
                   body.get("relationship"), via_link=False)


@bp.post("/invites/<int:invite_id>/reject")
@operation(body=NO_BODY, answers={200: "Invite"},
           refusals={403: ("phone_mismatch", "phone_unverified"), 409: ("invite_not_pending",)})
def invite_reject_id(invite_id: int, body: dict):
    """Decline an invite to the caller's phone; 200 invite."""
    invite = invite_reject(actor=actor(),
                           invite=invite_for_invitee(actor=actor(), invite_id=invite_id),
                           ip=request.remote_addr)
    answer = invite_json(invite)
    return jsonify(answer)
