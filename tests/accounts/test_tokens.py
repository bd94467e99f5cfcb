"""Personal API tokens as their owner sees them (app/accounts/tokens.py), and logging out
revoking them (issue 15), called directly on a real database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.accounts.services import (
    account_change_password,
    account_logout,
    api_token_create,
    api_token_user,
)
from app.accounts.tokens import (
    ENDED_SHOWN_DAYS,
    SHOWN_AT_MOST,
    api_token_revoke,
    api_token_revoke_current,
    api_tokens_of,
)
from app.db import utcnow
from app.errors import NotFound
from app.extensions import db
from app.models.accounts import ApiToken
from app.models.audit import AuditEvent
from app.tokens import token_hash
from tests.factories import PASSWORD, make_user


def row_of(token: str) -> ApiToken:
    return db.session.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash(token)))


def events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)
                                   .order_by(AuditEvent.id)))


def make_token(user, *, name: str = "script", created_days_ago: float = 0,
               revoked_days_ago: float | None = None,
               expires_in_days: float | None = 90) -> ApiToken:
    """A token row with the dates that matter (its clear token is never needed here)."""
    now = utcnow()
    row = ApiToken(user_id=user.id, name=name, token_hash=f"{user.id}-{name}-{now.timestamp()}"
                   .ljust(64, "0")[:64],
                   created_at=now - timedelta(days=created_days_ago),
                   revoked_at=(now - timedelta(days=revoked_days_ago)
                               if revoked_days_ago is not None else None),
                   expires_at=(now + timedelta(days=expires_in_days)
                               if expires_in_days is not None else None))
    db.session.add(row)
    db.session.flush()
    return row


# --- the list ---------------------------------------------------------------------------


def test_the_list_is_the_users_tokens_newest_first_with_their_state(vi_ctx):
    user, other = make_user(), make_user()
    old = make_token(user, name="old", created_days_ago=10)
    revoked = make_token(user, name="revoked", created_days_ago=5, revoked_days_ago=1)
    expired = make_token(user, name="expired", created_days_ago=100, expires_in_days=-3)
    forever = make_token(user, name="forever", created_days_ago=2, expires_in_days=None)
    make_token(other, name="not mine")
    listed = api_tokens_of(user=user)
    assert [(s.token.id, s.state) for s in listed.rows] == [
        (forever.id, "live"), (revoked.id, "revoked"), (old.id, "live"),
        (expired.id, "expired")]
    assert listed.more is False


def test_tokens_that_ended_long_ago_are_not_listed(vi_ctx):
    user = make_user()
    days = ENDED_SHOWN_DAYS
    kept = [make_token(user, name="revoked lately", created_days_ago=days + 50,
                       revoked_days_ago=days - 1),
            make_token(user, name="expired lately", created_days_ago=days + 50,
                       expires_in_days=-(days - 1))]
    make_token(user, name="revoked long ago", created_days_ago=days + 50,
               revoked_days_ago=days + 1)
    make_token(user, name="expired long ago", created_days_ago=days + 50,
               expires_in_days=-(days + 1))
    assert {s.token.id for s in api_tokens_of(user=user).rows} == {t.id for t in kept}


def test_the_list_is_bounded_and_says_so(vi_ctx):
    user = make_user()
    made = [make_token(user, name=f"t{n}", created_days_ago=(SHOWN_AT_MOST + 1 - n) / 100)
            for n in range(SHOWN_AT_MOST + 1)]
    listed = api_tokens_of(user=user)
    assert [s.token.id for s in listed.rows] == [t.id for t in reversed(made)][:SHOWN_AT_MOST]
    assert listed.more is True
    db.session.delete(made[0])
    db.session.flush()
    assert api_tokens_of(user=user).more is False


# --- revoking one from the settings page ------------------------------------------------


def test_revoke_ends_that_token_only_and_is_audited(vi_ctx):
    user = make_user()
    token, kept = (api_token_create(user=user, name=name) for name in ("cron", "phone app"))
    shown = api_token_revoke(actor=user, token_id=row_of(token).id, ip="10.0.0.5")
    assert shown.state == "revoked"
    assert shown.token.revoked_at is not None
    assert api_token_user(token) is None
    assert api_token_user(kept) is user
    [event] = events("account.api_token_revoked")
    assert (event.actor_id, event.subject_type, event.subject_id, event.ip) == (
        user.id, "api_tokens", row_of(token).id, "10.0.0.5")
    assert event.details == {"name": "cron", "via": "settings"}


def test_revoking_another_users_token_is_not_found_and_changes_nothing(vi_ctx):
    owner, intruder = make_user(), make_user(is_staff=True)
    token = api_token_create(user=owner, name="cron")
    with pytest.raises(NotFound) as info:
        api_token_revoke(actor=intruder, token_id=row_of(token).id)
    assert info.value.code == "not_found"
    assert info.value.message == "Không tìm thấy API token này trong các token của bạn."
    assert row_of(token).revoked_at is None
    assert api_token_user(token) is owner
    assert events("account.api_token_revoked") == []


@pytest.mark.parametrize("token_id", [0, 10**12])
def test_revoking_an_unknown_token_is_not_found(vi_ctx, token_id):
    with pytest.raises(NotFound):
        api_token_revoke(actor=make_user(), token_id=token_id)


def test_revoking_twice_changes_nothing_the_second_time(vi_ctx):
    user = make_user()
    token_id = row_of(api_token_create(user=user, name="cron")).id
    first = api_token_revoke(actor=user, token_id=token_id).token.revoked_at
    second = api_token_revoke(actor=user, token_id=token_id)
    assert (second.state, second.token.revoked_at) == ("revoked", first)
    assert len(events("account.api_token_revoked")) == 1


def test_an_expired_token_stays_expired(vi_ctx):
    user = make_user()
    row = make_token(user, expires_in_days=-1)
    shown = api_token_revoke(actor=user, token_id=row.id)
    assert (shown.state, row.revoked_at) == ("expired", None)
    assert events("account.api_token_revoked") == []


# --- revoking the bearer's own token (DELETE /api/v1/auth/token) -----------------------


def test_revoke_current_ends_the_given_token(vi_ctx):
    user = make_user()
    token, kept = (api_token_create(user=user, name=name) for name in ("cron", "other"))
    shown = api_token_revoke_current(actor=user, token=token, ip="10.0.0.6")
    assert shown.state == "revoked"
    assert api_token_user(token) is None
    assert api_token_user(kept) is user
    [event] = events("account.api_token_revoked")
    assert event.details == {"name": "cron", "via": "api"}


def test_revoke_current_of_someone_elses_token_is_not_found(vi_ctx):
    owner, other = make_user(), make_user()
    token = api_token_create(user=owner, name="cron")
    with pytest.raises(NotFound):
        api_token_revoke_current(actor=other, token=token)
    assert api_token_user(token) is owner


# --- logging out, and the other ways every token ends ----------------------------------


def test_logout_revokes_every_live_token_of_the_user_in_one_event(vi_ctx):
    user, other = make_user(), make_user()
    tokens = [api_token_create(user=user, name=f"t{n}") for n in range(3)]
    expired = make_token(user, name="expired", expires_in_days=-1)
    already = make_token(user, name="already", revoked_days_ago=2)
    already_at = already.revoked_at
    theirs = api_token_create(user=other, name="theirs")
    db.session.query(AuditEvent).delete()
    account_logout(actor=user, ip="10.0.0.1")
    db.session.expire_all()
    assert [api_token_user(t) for t in tokens] == [None, None, None]
    assert api_token_user(theirs) is other
    assert (expired.revoked_at, already.revoked_at) == (None, already_at)
    [event] = db.session.scalars(select(AuditEvent)).all()
    assert (event.action, event.details) == ("account.logout", {"api_tokens_revoked": 3})


def test_logout_without_tokens_says_none(vi_ctx):
    user = make_user()
    account_logout(actor=user)
    [event] = events("account.logout")
    assert event.details == {"api_tokens_revoked": 0}


def test_a_new_password_leaves_expired_tokens_expired(vi_ctx):
    user = make_user()
    live = api_token_create(user=user, name="live")
    expired = make_token(user, name="expired", expires_in_days=-1)
    account_change_password(actor=user, current_password=PASSWORD,
                            new_password="moi-matkhau-77")
    db.session.expire_all()
    assert row_of(live).revoked_at is not None
    assert expired.revoked_at is None
    assert sorted(s.state for s in api_tokens_of(user=user).rows) == ["expired", "revoked"]
