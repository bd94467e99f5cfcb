"""Invites: cancel, resend (the admin); pending, accept, reject (the invitee)."""

from __future__ import annotations

from flask import jsonify, request
from flask_babel import gettext as _
from sqlalchemy import select

from app.api import bp
from app.api.auth import actor
from app.api.body import json_body
from app.api.queries import users_by_id
from app.api.serializers import connection_json, family_json, invite_json
from app.errors import NotFound
from app.extensions import db
from app.groups.models import FamilyGroup
from app.groups.queries import group_view
from app.invites.models import ConnectionInvite
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

RELATIONSHIP = {"relationship": (str, None)}


def _no_body() -> None:
    """Actions without input accept no body, or an empty JSON object."""
    if request.get_data():
        json_body()


@bp.delete("/invites/<int:invite_id>")
def invite_delete(invite_id: int):
    """Cancel a pending invite (the admin); its slot is free again."""
    invite_cancel(actor=actor(), invite=invite_for_admin(actor=actor(), invite_id=invite_id),
                  ip=request.remote_addr)
    db.session.commit()
    return "", 204


@bp.post("/invites/<int:invite_id>/resend")
def invite_resend_link(invite_id: int):
    """A new link for a pending invite (the admin); the old link stops working."""
    _no_body()
    issued = invite_resend(actor=actor(),
                           invite=invite_for_admin(actor=actor(), invite_id=invite_id),
                           ip=request.remote_addr)
    answer = invite_json(issued.invite, token=issued.token)
    db.session.commit()
    return jsonify(answer)


@bp.get("/invites/pending")
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


def _accept(invite: ConnectionInvite, relationship: str | None):
    joined = invite_accept(actor=actor(), invite=invite, relationship=relationship,
                           ip=request.remote_addr)
    view = group_view(joined.group, with_invites=False)
    users = users_by_id({uid for c in joined.connections for uid in (c.user_id, c.linked_user_id)})
    answer = {"family": family_json(joined.group, view.members), "role": joined.role,
              "connections": [connection_json(c, users, viewer=actor())
                              for c in joined.connections]}
    db.session.commit()
    return jsonify(answer)


@bp.post("/invites/accept")
def invite_accept_token():
    """Accept the invite a link's token names; 200 {family, role, connections}."""
    body = json_body(required={"token": (str,)}, optional=RELATIONSHIP)
    invite = invite_by_token(body["token"])
    if invite is None:
        raise NotFound(_("This invite link is not valid."), code="not_found")
    return _accept(invite, body.get("relationship"))


@bp.post("/invites/<int:invite_id>/accept")
def invite_accept_id(invite_id: int):
    """Accept an invite to the caller's phone; 200 {family, role, connections}."""
    body = json_body(optional=RELATIONSHIP) if request.get_data() else {}
    return _accept(invite_for_invitee(actor=actor(), invite_id=invite_id),
                   body.get("relationship"))


@bp.post("/invites/<int:invite_id>/reject")
def invite_reject_id(invite_id: int):
    """Decline an invite to the caller's phone; 200 invite."""
    _no_body()
    invite = invite_reject(actor=actor(),
                           invite=invite_for_invitee(actor=actor(), invite_id=invite_id),
                           ip=request.remote_addr)
    answer = invite_json(invite)
    db.session.commit()
    return jsonify(answer)
