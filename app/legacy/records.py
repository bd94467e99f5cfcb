"""Reading legacy records (SPEC §8): a JSON array or JSON Lines, streamed, and checked.

The file is never loaded whole: a JSON array is walked item by item with ijson, JSON Lines
line by line. Each record is checked on its own; a bad one becomes a BadRecord carrying its
position and reason, and the reader moves on. Only a broken JSON array stops the reading
(nothing after the break can be found again).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import IO, Any

import ijson
import phonenumbers
from phonenumbers import PhoneNumber

from app.groups.slots import places_left
from app.models.accounts import GENDER_FEMALE, GENDER_MALE
from app.phone import _SEPARATORS, InvalidPhone, normalize_phone
from app.text import has_nul

NAME_MAX = 100  # users.name and family_groups.name
LEGACY_ID_MAX = 100  # family_groups.legacy_id
GENDERS = {"male": GENDER_MALE, "female": GENDER_FEMALE}


class BrokenFile(Exception):
    """The file cannot be read on (a broken JSON array): the import stops here."""


@dataclass(frozen=True)
class Person:
    name: str
    phone: str  # E.164
    gender: int | None
    relationship: str | None = None  # caregivers only: what they are to the patients


@dataclass
class Record:
    """A record that passed the shape checks; phones normalised, names tidied."""

    position: int
    legacy_id: str
    family_name: str
    plan: str
    admin: Person
    patients: list[Person]
    caregivers: list[Person]
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class BadRecord:
    position: int
    legacy_id: str | None
    reason: str


# A Vietnamese number as people type it: 0 or +84, then nine ASCII digits not starting with 0.
_USUAL = re.compile(r"(?:0|\+84)([1-9][0-9]{8})")


@lru_cache(maxsize=65536)
def _phone(raw: str) -> str:
    """normalize_phone(raw), in a third of the time for the usual shape.

    For 0 or +84 followed by nine digits (the first not 0), phonenumbers.parse(…, "VN")
    can only give country code 84 and those nine digits (the national prefix 0 is
    stripped, nine digits being a possible length), so that number is built directly
    and only its validity asked of phonenumbers; parsing was 60% of the cost of each of
    the import's 500,000 phones. Everything else (other digits, an 00… number) goes
    through normalize_phone. tests/legacy/test_phone.py holds the two to the same answer
    for every four-digit prefix.
    """
    match = _USUAL.fullmatch(_SEPARATORS.sub("", raw))
    if match is None:
        return normalize_phone(raw)
    nsn = match.group(1)
    if not phonenumbers.is_valid_number(PhoneNumber(country_code=84, national_number=int(nsn))):
        raise InvalidPhone(raw)
    return "+84" + nsn


class _Bad(Exception):
    pass


def _text(value: Any, where: str, *, required: bool = True, limit: int = NAME_MAX) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise _Bad(f"{where} is missing or not a string")
    if has_nul(value):
        raise _Bad(f"{where} contains a NUL character")  # no text column can hold one
    tidy = " ".join(value.split())
    if not tidy:
        if required:
            raise _Bad(f"{where} is empty")
        return None
    if len(tidy) > limit:
        raise _Bad(f"{where} is longer than {limit} characters")
    return tidy


def _person(value: Any, where: str, *, gender_required: bool, relationships: frozenset[str] | None
            ) -> Person:
    if not isinstance(value, dict):
        raise _Bad(f"{where} is missing or not an object")
    name = _text(value.get("name"), f"{where}.name")
    raw_phone = value.get("phone")
    if not isinstance(raw_phone, str):
        raise _Bad(f"{where}.phone is missing or not a string")
    try:
        phone = _phone(raw_phone)
    except InvalidPhone:
        raise _Bad(f"{where}.phone {raw_phone!r} is not a valid Vietnamese mobile number") from None
    raw_gender = value.get("gender")
    if raw_gender is None and not gender_required:
        gender = None
    elif raw_gender not in GENDERS:
        raise _Bad(f"{where}.gender must be \"male\" or \"female\"")
    else:
        gender = GENDERS[raw_gender]
    relationship = None
    if relationships is not None:
        relationship = value.get("relationship")
        if not isinstance(relationship, str):
            raise _Bad(f"{where}.relationship is missing or not a string")
        if relationship not in relationships:
            raise _Bad(f"{where}.relationship {relationship!r} is not a known relationship code")
    return Person(name=name, phone=phone, gender=gender, relationship=relationship)


def _people(value: Any, where: str, *, slots: int, relationships: frozenset[str] | None,
            notes: list[str]) -> list[Person]:
    if not isinstance(value, list):
        raise _Bad(f"{where} is missing or not a list")
    people: list[Person] = []
    seen: set[str] = set()
    for index, item in enumerate(value):
        person = _person(item, f"{where}[{index}]", gender_required=True,
                         relationships=relationships)
        if person.phone in seen:
            # Listed twice in the same role: one membership (the first entry wins).
            notes.append(f"{person.phone} is listed twice in {where}; added once")
            continue
        seen.add(person.phone)
        people.append(person)
    if places_left(slots, len(people), 0) < 0:  # BR-047: each becomes a member
        raise _Bad(f"{where} lists {len(people)} people; the plan has {slots} slots")
    return people


def check_record(raw: Any, position: int, *, plans: dict[str, dict[str, int]],
                 relationships: frozenset[str]) -> Record | BadRecord:
    """A Record, or a BadRecord saying why not. Keys other than the known ones (the old
    app's address, preferredPrograms…) are ignored."""
    legacy_id = None
    try:
        if not isinstance(raw, dict):
            raise _Bad("the record is not a JSON object")
        if isinstance(raw.get("legacyId"), str):
            legacy_id = raw["legacyId"]
        legacy_id = _text(raw.get("legacyId"), "legacyId", limit=LEGACY_ID_MAX)
        family_name = _text(raw.get("familyName"), "familyName")
        plan = raw.get("plan")
        if not isinstance(plan, str):
            raise _Bad("plan is missing or not a string")
        if plan not in plans:
            raise _Bad(f"plan {plan!r} is not a known plan ({', '.join(plans)})")
        admin = _person(raw.get("admin"), "admin", gender_required=False, relationships=None)
        notes: list[str] = []
        patients = _people(raw.get("patients"), "patients", slots=plans[plan]["patient"],
                           relationships=None, notes=notes)
        caregivers = _people(raw.get("caregivers"), "caregivers",
                             slots=plans[plan]["caregiver"], relationships=relationships,
                             notes=notes)
    except _Bad as exc:
        return BadRecord(position, legacy_id, str(exc))
    return Record(position=position, legacy_id=legacy_id, family_name=family_name, plan=plan,
                  admin=admin, patients=patients, caregivers=caregivers, notes=notes)


def read_records(stream: IO[bytes]) -> Iterator[tuple[int, Any] | BadRecord]:
    """(position, parsed JSON) for each record of the file, or a BadRecord for a JSON Lines
    line that is not JSON. Raises BrokenFile when a JSON array breaks."""
    first = _first_significant(stream)
    if first is None:
        return
    if first == b"[":
        yield from _array(stream)
    else:
        yield from _lines(stream)


def _first_significant(stream: IO[bytes]) -> bytes | None:
    """The first non-blank byte, leaving the stream at the start (after a UTF-8 BOM)."""
    start = stream.read(3)
    offset = 3 if start == b"\xef\xbb\xbf" else 0
    stream.seek(offset)
    while True:
        chunk = stream.read(65536)
        if not chunk:
            return None
        stripped = chunk.lstrip()
        if stripped:
            stream.seek(offset)
            return stripped[:1]


def _array(stream: IO[bytes]) -> Iterator[tuple[int, Any]]:
    position = 0
    try:
        for item in ijson.items(stream, "item", use_float=True):
            position += 1
            yield position, item
    except ijson.JSONError as exc:
        raise BrokenFile(f"the JSON array breaks after record {position}: {exc}") from None


def _lines(stream: IO[bytes]) -> Iterator[tuple[int, Any] | BadRecord]:
    position = 0
    for line_number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        position += 1
        try:
            yield position, json.loads(line)
        except (UnicodeDecodeError, ValueError) as exc:
            yield BadRecord(position, None, f"line {line_number} is not JSON ({exc})")
