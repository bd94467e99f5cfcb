"""Secret tokens in links and bearer headers (SPEC §4): random, stored only as SHA-256,
sealed while they wait in the outbox or the session.

An invite or claim token exists in three places only: the answer to the admin who made or
resent it, the link sent to the person, and — until that message is sent — the outbox
row, encrypted with a key derived from SECRET_KEY, so a copy of the database alone never
yields a working link.

Sealing is AES-256-GCM (authenticated: a value changed, or sealed under another key, opens
to None): "v2." then the URL-safe base64 of a random 96-bit nonce and the ciphertext with
its tag. Until issue 17 values were sealed with Fernet (AES-128-CBC and HMAC-SHA256, its
key derived from the same SECRET_KEY); unseal() still opens those, so messages already
waiting in the outbox and links held in a session keep working. The change is for speed
(1 µs a seal instead of 12; the legacy import seals 500,000), not strength: both are
authenticated encryption under a 256-bit secret.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import current_app

_SEALED = "v2."  # never the start of a Fernet token (those start with "gAAAAA")
_NONCE = 12


def new_token() -> str:
    """256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@lru_cache(maxsize=4)
def _aead_for(secret_key: str) -> AESGCM:
    # Derived once per SECRET_KEY, not per token; its own label, apart from Fernet's key.
    return AESGCM(hashlib.sha256(b"token-seal-v2:" + secret_key.encode()).digest())


@lru_cache(maxsize=4)
def _fernet_for(secret_key: str) -> Fernet:
    key = hashlib.sha256(b"invite-outbox:" + secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def seal(token: str) -> str:
    nonce = os.urandom(_NONCE)
    box = _aead_for(current_app.config["SECRET_KEY"]).encrypt(nonce, token.encode(), None)
    return _SEALED + base64.urlsafe_b64encode(nonce + box).decode()


def unseal(sealed: str) -> str | None:
    """The token, or None when it was sealed under another SECRET_KEY, changed, or is not
    a sealed value. Opens the Fernet values sealed before issue 17 too."""
    secret_key = current_app.config["SECRET_KEY"]
    if sealed.startswith(_SEALED):
        try:
            raw = base64.urlsafe_b64decode(sealed[len(_SEALED):])
            return _aead_for(secret_key).decrypt(raw[:_NONCE], raw[_NONCE:], None).decode()
        except (ValueError, InvalidTag):  # bad base64 or UTF-8 are ValueErrors
            return None
    try:
        return _fernet_for(secret_key).decrypt(sealed.encode()).decode()
    except InvalidToken:
        return None
