"""Password hashing (argon2id) and the strength rule (ID-003, OWASP ASVS v5 §6.2).

The rule: at least 8 characters and at most 128 (long passphrases welcome), any characters,
no composition rules; refused when an estimator finds it common or easy to guess, or when
it is made of the user's own phone number or name. The estimator is zxcvbn (Dropbox's,
the Python port): it knows the 30,000 most common passwords of the big breaches, English
words, first names and surnames, keyboard walks, repeats, sequences and dates, and scores
how many guesses a password would take. A password must need at least 10^8 guesses
(score 3): past what an attacker gets through the portal's rate limits and argon2id.
"""

from __future__ import annotations

import re
import unicodedata

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from zxcvbn import zxcvbn

_hasher = PasswordHasher()
# Verified against when the login names no account, so both paths cost the same.
_DUMMY_HASH = _hasher.hash("no such account, constant work")

MIN_LENGTH = 8
MAX_LENGTH = 128
MIN_SCORE = 3
# zxcvbn's cost grows fast with the length; it judges the first 72 characters (its own
# limit), which decide whether a longer passphrase is weak (a repeat, a common phrase).
_ESTIMATED_LENGTH = 72
# Words of this product a user might build a password from.
_PRODUCT_WORDS = ("familyconnect", "ketnoinguoithan", "ketnoi")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def fold(text: str) -> str:
    """Lower case without diacritics (Nguyễn → nguyen, Đ → d): how people type a name
    into a password."""
    decomposed = unicodedata.normalize("NFKD", text.casefold().replace("đ", "d"))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _name_words(name: str) -> list[str]:
    return [w for w in re.split(r"[^a-z0-9]+", fold(name)) if w]


def _made_of(letters: str, words: list[str]) -> bool:
    """Whether `letters` is a run of `words` (each any number of times, in any order)."""
    reachable = [True] + [False] * len(letters)
    for end in range(1, len(letters) + 1):
        reachable[end] = any(reachable[end - len(w)] and letters.endswith(w, 0, end)
                             for w in words if len(w) <= end)
    return reachable[-1]


def password_problem(password: str, *, phone_digits: str = "", name: str = "") -> str | None:
    """Why a password is refused (a key for a message), or None when it is fine.

    phone_digits: the account's number, digits only (84912345678); name: its name.
    """
    if len(password) < MIN_LENGTH:
        return "too_short"
    if len(password) > MAX_LENGTH:
        return "too_long"
    national = phone_digits[-9:]
    if national and national in re.sub(r"\D", "", password):
        return "contains_phone"
    words = _name_words(name)
    letters = re.sub(r"[^a-z]", "", fold(password))
    if words and letters and _made_of(letters, [w for w in words if not w.isdigit()]):
        return "contains_name"
    inputs = [*words, *_PRODUCT_WORDS]
    if national:
        inputs += ["0" + national, "84" + national, national]
    if zxcvbn(password[:_ESTIMATED_LENGTH], user_inputs=inputs)["score"] < MIN_SCORE:
        return "too_guessable"
    return None
