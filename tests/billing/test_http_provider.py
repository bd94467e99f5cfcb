"""The http payment provider against a real fake service (tests/payment_server.py)."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

import pytest

from app.config import ConfigError
from app.payments.http_provider import HttpProvider, backoff_seconds
from app.payments.provider import PaymentUnavailable, payment_provider
from tests.conftest import make_app
from tests.payment_server import PaymentServer, down_url, subscription_json

TIMEOUT = 0.3
RETRIES = 2
TOKEN = "tok-" + "s" * 20


@pytest.fixture
def server():
    with PaymentServer() as fake:
        yield fake


@pytest.fixture
def make_provider():
    """Providers whose connections are closed after the test."""
    made: list[HttpProvider] = []

    def make(url: str, **kwargs) -> HttpProvider:
        kwargs = {"timeout": TIMEOUT, "retries": RETRIES} | kwargs
        provider = HttpProvider(url, **kwargs)
        made.append(provider)
        return provider

    yield make
    for provider in made:
        provider.close()


@pytest.fixture
def provider(server, make_provider):
    return make_provider(server.url, token=TOKEN)


def test_an_answer_is_read_into_subscription_info(server, provider):
    server.subscriptions[7] = subscription_json(7, subscription_id=55, plan="family_plus",
                                                patient=4, caregiver=8)
    # An offset other than UTC is converted, not dropped.
    server.subscriptions[7]["expires_at"] = "2999-01-02T07:30:00+07:00"

    info = provider.subscription_for(7)

    assert info is not None
    assert (info.subscription_id, info.owner_user_id, info.plan) == (55, 7, "family_plus")
    assert (info.status, info.slots("patient"), info.slots("caregiver")) == ("active", 4, 8)
    assert info.expires_at == datetime(2999, 1, 2, 0, 30, tzinfo=UTC)
    assert info.expires_at.utcoffset().total_seconds() == 0
    assert info.is_active
    assert server.requests[0][:2] == ("GET", "/v1/subscriptions?user_id=7")


def test_a_zulu_timestamp_is_aware_utc(server, provider):
    server.subscriptions[7] = subscription_json(7)
    server.subscriptions[7]["expires_at"] = "2999-05-06T01:02:03Z"

    assert provider.subscription_for(7).expires_at == datetime(2999, 5, 6, 1, 2, 3, tzinfo=UTC)


@pytest.mark.parametrize(("status", "days", "effective"), [
    ("active", -1, "expired"),
    ("cancelled", 30, "cancelled"),
    ("expired", -5, "expired"),
])
def test_an_expired_or_cancelled_subscription_is_not_active(server, provider, status, days,
                                                            effective):
    server.subscriptions[7] = subscription_json(7, status=status, expires_in_days=days)

    info = provider.subscription_for(7)

    assert not info.is_active
    assert info.effective_status == effective


def test_404_means_no_subscription_and_is_not_retried(server, provider):
    assert provider.subscription_for(8) is None
    assert len(server.requests) == 1


def test_the_bearer_token_is_sent(server, provider):
    server.subscriptions[7] = subscription_json(7)

    provider.subscription_for(7)
    provider.sync_member(subscription_id=1007, action="add", user_id=9, role="patient")

    assert [headers["authorization"] for _m, _p, headers in server.requests] == [
        f"Bearer {TOKEN}"] * 2


def test_no_authorization_header_without_a_token(server, make_provider):
    make_provider(server.url).subscription_for(7)

    assert "authorization" not in server.requests[0][2]


def test_a_slow_service_fails_closed_within_the_bound(server, provider):
    server.subscriptions[7] = subscription_json(7)
    server.delay = 5

    started = time.monotonic()
    with pytest.raises(PaymentUnavailable):
        provider.subscription_for(7)
    elapsed = time.monotonic() - started

    # (retries + 1) × timeout + backoff = 0.9 + 0.3 s; generous for a loaded machine.
    assert elapsed < 3
    assert len(server.requests) == RETRIES + 1


def test_a_body_that_trickles_past_the_timeout_is_dropped(server, provider):
    server.subscriptions[7] = subscription_json(7)
    server.trickle = 0.02  # a ~200-byte body takes ~4 s, each byte well inside the timeout

    started = time.monotonic()
    with pytest.raises(PaymentUnavailable):
        provider.subscription_for(7)

    assert time.monotonic() - started < 4
    assert len(server.requests) == RETRIES + 1


def test_a_503_is_retried_after_a_backoff(server, provider):
    server.subscriptions[7] = subscription_json(7)
    server.fail_next = 1

    info = provider.subscription_for(7)

    assert info.owner_user_id == 7
    assert len(server.requests) == 2


def test_5xx_on_every_try_fails_closed_after_the_retries(server, provider):
    server.fail_next = 10

    with pytest.raises(PaymentUnavailable):
        provider.subscription_for(7)

    assert len(server.requests) == RETRIES + 1


@pytest.mark.parametrize("status", [400, 401, 403, 409, 429, 302])
def test_another_status_fails_closed_at_once(server, provider, status):
    server.subscriptions[7] = subscription_json(7)
    server.status_override = status

    with pytest.raises(PaymentUnavailable):
        provider.subscription_for(7)

    assert len(server.requests) == 1


def test_a_service_that_is_down_fails_closed_quickly(make_provider):
    provider = make_provider(down_url())

    started = time.monotonic()
    with pytest.raises(PaymentUnavailable) as raised:
        provider.subscription_for(7)

    assert time.monotonic() - started < 3
    assert raised.value.status == 503
    assert raised.value.code == "payment_unavailable"


def test_malformed_json_fails_closed_after_the_retries(server, provider):
    server.subscriptions[7] = b'{"subscription_id": 1, '

    with pytest.raises(PaymentUnavailable):
        provider.subscription_for(7)

    assert len(server.requests) == RETRIES + 1


def _without(key: str) -> dict:
    answer = subscription_json(7)
    del answer[key]
    return answer


@pytest.mark.parametrize("answer", [
    [],
    "active",
    _without("slots"),
    _without("expires_at"),
    _without("subscription_id"),
    subscription_json(7) | {"status": "paused"},
    subscription_json(7) | {"slots": {"patient": "2", "caregiver": 4}},
    subscription_json(7) | {"slots": {"patient": 2, "caregiver": -1}},
    subscription_json(7) | {"subscription_id": True},
    subscription_json(7) | {"expires_at": "next tuesday"},
    subscription_json(7) | {"plan": ""},
    # someone else's subscription must never make user 7 an admin
    subscription_json(8),
], ids=lambda answer: str(answer)[:40])
def test_an_answer_off_contract_fails_closed(server, make_provider, answer):
    server.subscriptions[7] = answer

    with pytest.raises(PaymentUnavailable):
        make_provider(server.url, retries=0).subscription_for(7)


def test_failures_are_logged_without_the_token(server, provider, caplog):
    server.fail_next = 10

    with caplog.at_level(logging.WARNING, logger="app.payments.http_provider"), \
            pytest.raises(PaymentUnavailable):
        provider.subscription_for(7)

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == RETRIES + 1
    assert all("/v1/subscriptions?user_id=7" in w and "503" in w for w in warnings)
    assert TOKEN not in caplog.text


def test_threads_share_one_provider(server, provider):
    for user_id in range(1, 9):
        server.subscriptions[user_id] = subscription_json(user_id)
    results: dict[int, int] = {}

    def ask(user_id: int) -> None:
        results[user_id] = provider.subscription_for(user_id).owner_user_id

    threads = [threading.Thread(target=ask, args=(user_id,)) for user_id in range(1, 9)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert results == {user_id: user_id for user_id in range(1, 9)}


def test_a_forked_process_gets_its_own_client(server, provider, monkeypatch):
    server.subscriptions[7] = subscription_json(7)
    provider.subscription_for(7)
    parents = provider._http()

    monkeypatch.setattr("app.payments.http_provider.os.getpid", lambda: -1)
    child = provider._http()
    monkeypatch.undo()

    assert child is not parents
    child.close()
    parents.close()


def test_sync_member_posts_the_change(server, provider):
    provider.sync_member(subscription_id=1007, action="remove", user_id=9, role="caregiver")

    assert server.members_calls == [{"action": "remove", "user_id": 9, "role": "caregiver"}]
    method, path, headers = server.requests[0]
    assert (method, path) == ("POST", "/v1/subscriptions/1007/members")
    assert headers["content-type"] == "application/json"


@pytest.mark.parametrize("status", [500, 503, 404, 409])
def test_sync_member_raises_on_a_failure_without_retrying(server, provider, status):
    server.status_override = status

    with pytest.raises(PaymentUnavailable):
        provider.sync_member(subscription_id=1007, action="add", user_id=9, role="patient")

    assert len(server.requests) == 1  # the outbox worker retries, not the provider


def test_sync_member_raises_when_the_service_is_down(make_provider):
    with pytest.raises(PaymentUnavailable):
        make_provider(down_url()).sync_member(subscription_id=1, action="add", user_id=9,
                                              role="patient")


def test_sync_member_refuses_an_action_outside_the_contract(server, provider):
    with pytest.raises(ValueError, match="action"):
        provider.sync_member(subscription_id=1, action="upgrade", user_id=9, role="patient")

    assert server.requests == []


def test_backoff_is_short_and_capped():
    assert [backoff_seconds(n) for n in range(6)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]


@pytest.mark.parametrize(("config", "match"), [
    ({"PAYMENT_SERVICE_URL": ""}, "PAYMENT_SERVICE_URL"),
    ({"PAYMENT_SERVICE_URL": "payments.internal"}, "http://"),
    ({"PAYMENT_SERVICE_URL": "http://p.test", "PAYMENT_SERVICE_TIMEOUT": 0}, "TIMEOUT"),
    ({"PAYMENT_SERVICE_URL": "http://p.test", "PAYMENT_SERVICE_RETRIES": -1}, "RETRIES"),
])
def test_from_config_refuses_a_bad_setting(config, match):
    with pytest.raises(ConfigError, match=match):
        HttpProvider.from_config(config)


def test_the_app_uses_the_http_provider_when_configured(monkeypatch, tmp_path, server):
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("PAYMENT_PROVIDER", "http")
    monkeypatch.setenv("PAYMENT_SERVICE_URL", server.url + "/")
    monkeypatch.setenv("PAYMENT_SERVICE_TOKEN", TOKEN)
    monkeypatch.setenv("PAYMENT_SERVICE_TIMEOUT", "0.5")
    monkeypatch.setenv("PAYMENT_SERVICE_RETRIES", "1")
    server.subscriptions[7] = subscription_json(7)
    app = make_app("sqlite:///" + str(tmp_path / "pay.sqlite3"))

    with app.app_context():
        provider = payment_provider()
        try:
            assert isinstance(provider, HttpProvider)
            assert payment_provider() is provider  # one per app: its connections are pooled
            assert (provider.base_url, provider.timeout, provider.retries) == (
                server.url, 0.5, 1)
            assert provider.subscription_for(7).owner_user_id == 7
            assert server.requests[0][2]["authorization"] == f"Bearer {TOKEN}"
        finally:
            provider.close()


def test_the_http_provider_without_a_url_is_a_config_error(monkeypatch, tmp_path):
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("PAYMENT_PROVIDER", "http")
    monkeypatch.delenv("PAYMENT_SERVICE_URL", raising=False)

    with pytest.raises(ConfigError, match="PAYMENT_SERVICE_URL"):
        make_app("sqlite:///" + str(tmp_path / "pay.sqlite3"))
