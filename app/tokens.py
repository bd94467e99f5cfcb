"""Secret tokens in links and bearer headers (SPEC §4): random, stored only as SHA-256,
sealed while they wait in the outbox or the session.

An invite or claim token exists in three places only: the answer to the admin who made or
resent it, the link sent to the person, and — until that message is sent — the outbox
row, encrypted with a key derived from SECRET_KEY (Fernet), so a copy of the database
alone never yields a working link.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from flask import current_app


def new_token() -> str:
    """256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _fernet() -> Fernet:
    return _fernet_for(current_app.config["SECRET_KEY"])


@lru_cache(maxsize=4)
def _fernet_for(secret_key: str) -> Fernet:
    # Derived once per SECRET_KEY, not per token: the import seals 500,000 of them.
    key = hashlib.sha256(b"invite-outbox:" + secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def seal(token: str) -> str:
    return _fernet().encrypt(token.encode()).decode()


def unseal(sealed: str) -> str | None:
    """The token, or None when it was sealed under another SECRET_KEY."""
    try:
        return _fernet().decrypt(sealed.encode()).decode()
    except InvalidToken:
        return None
