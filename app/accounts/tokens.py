"""Personal API tokens as their owner sees them: the list on the settings page, revoking
one there, and revoking the one a request comes with (DELETE /api/v1/auth/token).

Issuing a token and finding a bearer's user stay in app/accounts/services.py; logging out
revokes every token of the user there too (issue 15).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import or_, select

from app.audit.services import audit_record
from app.db import utcnow
from app.errors import NotFound
from app.extensions import db
from app.models.accounts import ApiToken, User
from app.tokens import token_hash

# The settings page lists every live token and those that ended (revoked or expired) in
# the last ENDED_SHOWN_DAYS, newest first, at most SHOWN_AT_MOST of them.
ENDED_SHOWN_DAYS = 30
SHOWN_AT_MOST = 50

LIVE, REVOKED, EXPIRED = "live", "revoked", "expired"


@dataclass(frozen=True)
class ShownToken:
    """A token as its owner sees it: the row and its state (live, revoked or expired)."""

    token: ApiToken
    state: str


@dataclass(frozen=True)
class TokenList:
    """What the settings page lists; `more`: older tokens were left out (SHOWN_AT_MOST)."""

    rows: list[ShownToken]
    more: bool
    ended_days: int = ENDED_SHOWN_DAYS


def token_state(token: ApiToken, *, now: datetime) -> str:
    if token.revoked_at is not None:
        return REVOKED
    if token.expires_at is not None and token.expires_at <= now:
        return EXPIRED
    return LIVE


def api_tokens_of(*, user: User) -> TokenList:
    """The user's tokens for the settings page: the live ones and those that ended in the
    last ENDED_SHOWN_DAYS days, newest first, at most SHOWN_AT_MOST (one statement)."""
    now = utcnow()
    since = now - timedelta(days=ENDED_SHOWN_DAYS)
    rows = list(db.session.scalars(
        select(ApiToken).where(
            ApiToken.user_id == user.id,
            or_(ApiToken.revoked_at >= since,
                ApiToken.revoked_at.is_(None)
                & or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > since)))
        .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
        .limit(SHOWN_AT_MOST + 1)))
    return TokenList(rows=[ShownToken(row, token_state(row, now=now))
                            for row in rows[:SHOWN_AT_MOST]],
                     more=len(rows) > SHOWN_AT_MOST)


def _revoke(*, actor: User, token: ApiToken, via: str, ip: str | None) -> ShownToken:
    """Revoke a locked token of the actor, audited; one that has already ended (revoked,
    expired) is left as it is, with no new event."""
    now = utcnow()
    if token_state(token, now=now) == LIVE:
        token.revoked_at = now
        audit_record(actor=actor, action="account.api_token_revoked", subject=token, ip=ip,
                     details={"name": token.name, "via": via})
        db.session.flush()
    return ShownToken(token, token_state(token, now=now))


def api_token_revoke(*, actor: User, token_id: int, ip: str | None = None) -> ShownToken:
    """Revoke one of the actor's tokens (the settings page); at once it no longer works.
    Revoking a token that has already ended changes nothing.

    Raises NotFound when the actor has no token with that id (another user's included:
    the answer does not say whether it exists).
    """
    token = db.session.scalar(select(ApiToken).where(
        ApiToken.id == token_id, ApiToken.user_id == actor.id).with_for_update())
    if token is None:
        raise NotFound(_("This API token was not found among yours."), code="not_found")
    return _revoke(actor=actor, token=token, via="settings", ip=ip)


def api_token_revoke_current(*, actor: User, token: str, ip: str | None = None) -> ShownToken:
    """Revoke the bearer token `token` (in clear) that the actor's request came with
    (DELETE /api/v1/auth/token). Idempotent under a concurrent revoke.

    Raises NotFound when it is not a token of the actor.
    """
    row = db.session.scalar(select(ApiToken).where(
        ApiToken.token_hash == token_hash(token), ApiToken.user_id == actor.id)
        .with_for_update())
    if row is None:
        raise NotFound(_("This API token was not found among yours."), code="not_found")
    return _revoke(actor=actor, token=row, via="api", ip=ip)
