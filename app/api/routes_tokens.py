"""The caller's own API token: DELETE /auth/token revokes the token the request comes with
(issue 15). Issuing one is POST /auth/token (app/api/routes_accounts.py)."""

from __future__ import annotations

from flask import request
from flask_babel import gettext as _

from app.accounts.tokens import api_token_revoke_current
from app.api.auth import TokenRequired, actor, bearer_token
from app.api.blueprint import bp
from app.api.contract import operation


@bp.delete("/auth/token")
@operation(answers={204: None}, refusals={400: ("token_required",)})
def auth_token_revoke():
    """Revoke the bearer token of this request; 204, and it no longer works.

    Called with the browser session instead of a token: 400 `token_required` (there is no
    token to revoke; logging out of the portal ends the sessions and every token).
    """
    token = bearer_token()
    if token is None:
        raise TokenRequired(_("This request carries no API token to revoke: send it as "
                              "Authorization: Bearer TOKEN. To end your browser sessions "
                              "and every token, log out."))
    api_token_revoke_current(actor=actor(), token=token, ip=request.remote_addr)
    return "", 204
