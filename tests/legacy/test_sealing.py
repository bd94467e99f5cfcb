"""The claim tokens the import seals (app/tokens.py, issue 17): AES-256-GCM under a key
derived from SECRET_KEY, while the Fernet values sealed before it still open."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.fernet import Fernet

from app.tokens import new_token, seal, unseal


def fernet_seal(secret_key: str, token: str) -> str:
    """How seal() sealed until issue 17."""
    key = hashlib.sha256(b"invite-outbox:" + secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key)).encrypt(token.encode()).decode()


def test_a_sealed_token_opens_and_shows_nothing_of_itself(app_ctx):
    tokens = [new_token() for _ in range(50)]
    sealed = [seal(token) for token in tokens]
    assert [unseal(value) for value in sealed] == tokens
    assert all(value.startswith("v2.") for value in sealed)
    assert not any(token in value for token, value in zip(tokens, sealed, strict=True))
    assert len({seal("same") for _ in range(20)}) == 20  # a fresh nonce each time


def test_a_value_sealed_before_issue_17_still_opens(app, app_ctx):
    token = new_token()
    assert unseal(fernet_seal(app.config["SECRET_KEY"], token)) == token
    assert unseal(fernet_seal("another-" + "k" * 40, token)) is None


def test_another_key_or_a_changed_value_opens_to_none(app, app_ctx, monkeypatch):
    sealed = seal("a-token")
    raw = bytearray(base64.urlsafe_b64decode(sealed[3:]))
    raw[-1] ^= 1
    assert unseal("v2." + base64.urlsafe_b64encode(bytes(raw)).decode()) is None
    monkeypatch.setitem(app.config, "SECRET_KEY", "another-" + "k" * 40)
    assert unseal(sealed) is None


@pytest.mark.parametrize("value", ["", "v2.", "v2.!!!", "v2.AAAA", "v2.é", "gAAAAAB", "x" * 200])
def test_what_is_not_a_sealed_value_opens_to_none(app_ctx, value):
    assert unseal(value) is None
