"""The import's phone shortcut (app/legacy/records.py, _phone) gives normalize_phone's answer.

Validity of a nine-digit Vietnamese number depends on its first three or four digits in
phonenumbers' metadata, so every four-digit prefix is tried, with two suffixes, in the
three ways people type a number.
"""

from __future__ import annotations

import random

import pytest

from app.legacy.records import _phone
from app.phone import InvalidPhone, normalize_phone

shortcut = _phone.__wrapped__  # without its cache


def answer(function, raw: str) -> str | None:
    try:
        return function(raw)
    except InvalidPhone:
        return None


def typings(nsn: str) -> list[str]:
    return ["0" + nsn, f"0{nsn[:3]} {nsn[3:6]} {nsn[6:]}", "+84" + nsn]


def test_every_four_digit_prefix_gets_normalize_phones_answer():
    rng = random.Random(17)
    valid = 0
    for prefix in range(1000, 10000):
        for suffix in ("99999", f"{rng.randrange(100000):05d}"):
            for raw in typings(f"{prefix}{suffix}"):
                expected = answer(normalize_phone, raw)
                assert answer(shortcut, raw) == expected, raw
                valid += expected is not None
    assert valid > 10000  # the test saw valid numbers, not only refusals


@pytest.mark.parametrize("raw", [
    "0912345678", "0912.345.678", "0912-345-678", "(0912) 345 678", "+84 912 345 678",
    "0012345678", "0029025123", "+840912345678", "+8491234567", "091234567", "09123456789",
    "0812345678", "0123456789", "0 9 1 2 3 4 5 6 7 8", "\u0660\u0669\u0661\u0662345678",
    "09\u0661\u0662345678", "+84\u0669\u0661\u0662345678", "\uff10912345678", "0912345678 ",
    "", " ", "abc", "+1 650 253 0000", "84912345678", "0912345678x", "0912\u00a0345\u00a0678",
])
def test_odd_shapes_get_normalize_phones_answer(raw):
    assert answer(shortcut, raw) == answer(normalize_phone, raw)
