"""Vietnamese phone numbers: entered as 10 digits starting with 0, stored as E.164."""

from __future__ import annotations

import re

import phonenumbers

_SEPARATORS = re.compile(r"[\s.\-()]")


class InvalidPhone(ValueError):
    pass


def normalize_phone(raw: str | None) -> str:
    """Return +84… for a valid Vietnamese number; raise InvalidPhone otherwise.

    Accepted: 10 digits starting with 0 (0912345678, spaces, dots and dashes allowed),
    or the same number written +84912345678.
    """
    digits = _SEPARATORS.sub("", raw or "")
    if re.fullmatch(r"0\d{9}", digits):
        national = digits
    elif re.fullmatch(r"\+84\d{9}", digits):
        national = "0" + digits[3:]
    else:
        raise InvalidPhone(raw)
    try:
        number = phonenumbers.parse(national, "VN")
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(raw) from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone(raw)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def display_phone(e164: str | None) -> str:
    """0912 345 678, as Vietnamese users write their numbers."""
    if not e164:
        return ""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)


def normalize_login(raw: str | None) -> str:
    """What a login names: the E.164 phone for a phone number, else the lower-cased text
    (an email). The login lookup and the per-login rate limit both key on this."""
    login = (raw or "").strip().lower()
    if "@" in login:
        return login
    try:
        return normalize_phone(login)
    except InvalidPhone:
        return login
