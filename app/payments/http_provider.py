"""The `http` payment provider: a payment service's JSON API (SPEC §6).

Reads (`subscription_for`) happen inside requests, so they use short timeouts and a
bounded number of retries, and fail closed with PaymentUnavailable: no grant is made
on a guess. Member sync (`sync_member`) runs from the outbox worker, which does the
retrying, so it tries once.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from app.config import ConfigError
from app.payments.types import PaymentUnavailable, SubscriptionInfo

log = logging.getLogger(__name__)

STATUSES = ("active", "cancelled", "expired")
ACTIONS = ("add", "remove")
ROLES = ("patient", "caregiver")
# An answer is a few hundred bytes; a bigger one is a broken or hostile service.
MAX_BODY_BYTES = 64 * 1024
BACKOFF_FIRST = 0.1
BACKOFF_MAX = 1.0


class _Retryable(Exception):
    """An attempt failed in a way another attempt may not (timeout, 5xx, bad answer)."""


class _Unexpected(Exception):
    """What the service answered, kept as the cause of a PaymentUnavailable for the log."""


def backoff_seconds(attempt: int) -> float:
    """The pause after failed attempt number `attempt` (0-based): 0.1 s, 0.2 s, 0.4 s ... 1 s."""
    return min(BACKOFF_FIRST * 2**attempt, BACKOFF_MAX)


def parse_subscription(data: Any, user_id: int) -> SubscriptionInfo:
    """Check an answer against the contract; raise ValueError naming what is wrong.

    The answer decides who may grant access, so anything off contract is refused rather
    than guessed at, including a subscription owned by someone other than the user asked
    about. A timestamp without an offset is read as UTC.
    """
    if not isinstance(data, dict):
        raise ValueError("answer is not a JSON object")

    def integer(value: Any, name: str) -> int:
        # bool is an int in Python, but true is not a subscription id.
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"{name} is not a non-negative integer")
        return value

    slots = data.get("slots")
    if not isinstance(slots, dict):
        raise ValueError("slots is not an object")
    status = data.get("status")
    if status not in STATUSES:
        raise ValueError("status is not one of " + ", ".join(STATUSES))
    plan = data.get("plan")
    if not isinstance(plan, str) or not plan:
        raise ValueError("plan is not a non-empty string")
    expires_raw = data.get("expires_at")
    if not isinstance(expires_raw, str):
        raise ValueError("expires_at is not a string")
    try:
        expires_at = datetime.fromisoformat(expires_raw)
    except ValueError:
        raise ValueError("expires_at is not an ISO 8601 timestamp") from None
    if expires_at.tzinfo is None:
        expires_at = expires_at.replace(tzinfo=UTC)
    owner = integer(data.get("owner_user_id"), "owner_user_id")
    if owner != user_id:
        raise ValueError("owner_user_id is not the user asked about")
    return SubscriptionInfo(
        subscription_id=integer(data.get("subscription_id"), "subscription_id"),
        owner_user_id=owner,
        status=status,
        plan=plan,
        patient_slots=integer(slots.get("patient"), "slots.patient"),
        caregiver_slots=integer(slots.get("caregiver"), "slots.caregiver"),
        expires_at=expires_at.astimezone(UTC),
    )


class HttpProvider:
    """Subscriptions kept by a payment service, asked over its JSON API.

    One provider serves every thread of a process (httpx.Client is thread-safe); a
    process forked after the provider was made (gunicorn --preload) gets its own client,
    so workers never share a pooled connection.

    Time a read can take: every network step of an attempt (connect, send, each read)
    waits at most `timeout` seconds, and an answer whose body is still arriving
    `timeout` seconds after the attempt began is dropped. A service that is down or
    does not answer therefore costs at most (retries + 1) × timeout plus the backoff
    (0.1 s, 0.2 s, 0.4 s ... capped at 1 s): with the defaults (3 s, 2 retries) about
    9.3 s. A pathological service that accepts connections slowly *and* answers slowly
    can stretch one attempt towards 2 × timeout; one that trickles its headers a byte at
    a time is only held by the per-read timeout.
    """

    name = "http"

    def __init__(self, base_url: str, *, token: str = "", timeout: float = 3.0,
                 retries: int = 2):
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError("PAYMENT_SERVICE_URL must start with http:// or https://.")
        if timeout <= 0:
            raise ConfigError("PAYMENT_SERVICE_TIMEOUT must be more than 0 seconds.")
        if retries < 0:
            raise ConfigError("PAYMENT_SERVICE_RETRIES must be 0 or more.")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self._token = token
        self._lock = threading.Lock()
        self._client: httpx.Client | None = None
        self._client_pid = 0

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> HttpProvider:
        """The provider the PAYMENT_SERVICE_* settings describe. Raises ConfigError."""
        url = config.get("PAYMENT_SERVICE_URL") or ""
        if not url:
            raise ConfigError("PAYMENT_PROVIDER=http needs PAYMENT_SERVICE_URL.")
        return cls(url, token=config.get("PAYMENT_SERVICE_TOKEN") or "",
                   timeout=float(config.get("PAYMENT_SERVICE_TIMEOUT", 3.0)),
                   retries=int(config.get("PAYMENT_SERVICE_RETRIES", 2)))

    def __repr__(self) -> str:  # never show the token
        return f"<HttpProvider {self.base_url} timeout={self.timeout} retries={self.retries}>"

    def _http(self) -> httpx.Client:
        pid = os.getpid()
        with self._lock:
            if self._client is None or self._client_pid != pid:
                # A client inherited through fork shares its sockets with the parent:
                # leave it alone (closing it could disturb the parent's connections).
                headers = {"Accept": "application/json"}
                if self._token:
                    headers["Authorization"] = f"Bearer {self._token}"
                self._client = httpx.Client(base_url=self.base_url, headers=headers,
                                            timeout=httpx.Timeout(self.timeout),
                                            follow_redirects=False)
                self._client_pid = pid
            return self._client

    def close(self) -> None:
        """Close the pooled connections (tests; a process exiting need not bother)."""
        with self._lock:
            if self._client is not None and self._client_pid == os.getpid():
                self._client.close()
            self._client = None

    def subscription_for(self, user_id: int) -> SubscriptionInfo | None:
        """The user's subscription as the service tells it, or None (404).

        Timeouts, refused connections, 5xx and answers off contract are retried
        `retries` times with a short backoff; any other status fails at once.
        Raises PaymentUnavailable.
        """
        path = "/v1/subscriptions"
        where = f"GET {path}?user_id={user_id}"
        attempts = self.retries + 1
        for attempt in range(attempts):
            if attempt:
                time.sleep(backoff_seconds(attempt - 1))
            try:
                return self._read_subscription(path, user_id)
            except _Retryable as e:
                log.warning("payment service %s failed (attempt %d of %d): %s",
                            where, attempt + 1, attempts, e)
            except PaymentUnavailable as e:
                log.warning("payment service %s refused: %s", where, e.__cause__)
                raise
        raise PaymentUnavailable()

    def _read_subscription(self, path: str, user_id: int) -> SubscriptionInfo | None:
        deadline = time.monotonic() + self.timeout
        try:
            with self._http().stream("GET", path, params={"user_id": user_id}) as response:
                status = response.status_code
                if status == 404:
                    return None
                if status >= 500:
                    raise _Retryable(f"HTTP {status}")
                if not 200 <= status < 300:
                    raise PaymentUnavailable() from _Unexpected(f"HTTP {status}")
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > MAX_BODY_BYTES:
                        raise _Retryable(f"answer larger than {MAX_BODY_BYTES} bytes")
                    if time.monotonic() > deadline:
                        raise _Retryable(f"answer not complete after {self.timeout} s")
        except httpx.HTTPError as e:  # timeouts, refused connections, broken answers
            raise _Retryable(f"{type(e).__name__}: {e}") from e
        try:
            return parse_subscription(json.loads(body), user_id)
        except ValueError as e:  # json.JSONDecodeError and UnicodeDecodeError included
            raise _Retryable(f"malformed answer: {e}") from e

    def sync_member(self, *, subscription_id: int, action: str, user_id: int,
                    role: str) -> None:
        """Tell the service a member was added or removed; one try.

        The outbox worker retries, so a failure here only raises PaymentUnavailable.
        Raises ValueError for an action or role outside the contract (a bug, not an outage).
        """
        if action not in ACTIONS:
            raise ValueError(f"action must be one of {ACTIONS}, not {action!r}")
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, not {role!r}")
        path = f"/v1/subscriptions/{int(subscription_id)}/members"
        try:
            response = self._http().post(
                path, json={"action": action, "user_id": user_id, "role": role})
        except httpx.HTTPError as e:
            log.warning("payment service POST %s failed: %s: %s", path, type(e).__name__, e)
            raise PaymentUnavailable() from e
        if not response.is_success:
            log.warning("payment service POST %s failed: HTTP %d", path, response.status_code)
            raise PaymentUnavailable() from _Unexpected(f"HTTP {response.status_code}")
