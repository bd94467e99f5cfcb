"""Password hashing (argon2id) and the strength rule."""

from __future__ import annotations

import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()
# Verified against when the login names no account, so both paths cost the same.
_DUMMY_HASH = _hasher.hash("no such account, constant work")

MIN_LENGTH = 8
MAX_LENGTH = 128
COMMON = frozenset({
    "password", "password1", "password123", "12345678", "123456789", "1234567890",
    "qwerty123", "qwertyuiop", "11111111", "00000000", "abc12345", "iloveyou",
    "matkhau123", "matkhau1", "vietnam123", "admin123", "welcome1", "letmein1",
})


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def password_problem(password: str, *, phone_digits: str = "") -> str | None:
    """Return why a password is too weak (a key for a message), or None when it is fine."""
    if len(password) < MIN_LENGTH:
        return "too_short"
    if len(password) > MAX_LENGTH:
        return "too_long"
    if password.lower() in COMMON:
        return "too_common"
    if not re.search(r"[^\W\d_]", password) or not re.search(r"\d", password):
        return "letters_and_digits"
    digits = re.sub(r"\D", "", password)
    if phone_digits and phone_digits[-9:] in digits:
        return "contains_phone"
    return None
