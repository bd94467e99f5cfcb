"""Deleting my account (issue 19, item 4; BR-022): POST /me/deletion."""

from __future__ import annotations

from flask import request

from app.api.auth import actor
from app.api.blueprint import bp
from app.api.contract import Body, operation
from app.api.routes_accounts import CONFIRMATION
from app.extensions import limit_code_checks
from app.privacy.deletion import account_delete


@bp.post("/me/deletion")
@limit_code_checks  # guessing the password or the code with a token
@operation(body=Body(optional=CONFIRMATION), answers={204: None}, rate_limited=True,
           refusals={403: ("staff_account",), 409: ("admin_must_hand_over",),
                     422: ("confirmation_required", "bad_password", "invalid_code")})
def me_deletion(body: dict):
    """Delete my account: memberships end as a leave, connections and invites end, my
    personal fields are erased, every session and token ends (this one too: 401 after)."""
    account_delete(actor=actor(), password=body.get("password"), code=body.get("code"),
                   ip=request.remote_addr)
    return "", 204
