"""Proved e-mail (issue 21): give an address, send its link again, prove it by the token."""

from __future__ import annotations

from flask import jsonify, request

from app.accounts.email_proof import (
    email_change,
    email_proof_by_token,
    email_proof_refusal,
    email_proof_resend,
    email_proof_state,
    email_prove,
)
from app.api.auth import actor
from app.api.blueprint import bp
from app.api.contract import Body, operation, text
from app.api.serializers import iso
from app.extensions import limit_link_guesses
from app.models.accounts import EmailProof

LINK_REFUSALS = {404: ("email_proof_not_found",), 409: ("email_proof_used",),
                 410: ("email_proof_expired", "email_proof_cancelled")}


def _sent(proof: EmailProof):
    return jsonify(email=proof.email, expiresAt=iso(proof.expires_at)), 202


@bp.post("/me/email")
@operation(body=Body(required={"email": text(description="The address to prove.")}),
           answers={202: "EmailLinkSent"}, rate_limited=True,
           refusals={422: ("invalid_email",), 409: ("already_proved",)})
def me_email(body: dict):
    """Give my email address: a link goes to it; it counts once the link comes back."""
    return _sent(email_change(actor=actor(), email=body["email"], ip=request.remote_addr))


@bp.post("/me/email/resend")
@operation(body=Body(empty=True), answers={202: "EmailLinkSent"}, rate_limited=True,
           refusals={409: ("nothing_to_prove",)})
def me_email_resend(body: dict):
    """Send the link again to my address waiting to be proved (paced)."""
    return _sent(email_proof_resend(actor=actor(), ip=request.remote_addr))


@bp.post("/auth/email/prove")
@limit_link_guesses
@operation(body=Body(required={"token": text(description="The token of the emailed link "
                                                         "(the part after /email/).")}),
           answers={200: "EmailProved"}, public=True, rate_limited=True,
           refusals=LINK_REFUSALS)
def auth_email_prove(body: dict):
    """Prove an address by its link's token; whoever holds the token may (it reached the
    address). Any other account holding the address loses it."""
    state = email_proof_state(email_proof_by_token(body["token"]))
    if state != "open":
        raise email_proof_refusal(state)
    user = email_prove(token=body["token"], ip=request.remote_addr)
    return jsonify(email=user.email, emailVerified=True)
