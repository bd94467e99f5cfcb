"""What the property tests (test_properties_forms.py, test_properties_api.py) throw at the
app, and the world they throw it at.

Values: arbitrary unicode (no lone surrogates: nothing can send one as UTF-8), with the
characters that break naive code — NUL and other controls, right-to-left marks, combining
marks, zero-width joiners, astral characters —, empty and whitespace-only strings,
values of 100 kB and more, and numbers at and past every limit (BIGINT, 32-bit, floats
that JSON cannot hold). Shapes: a field missing, repeated, or joined by unknown ones;
JSON that is not an object, nested deep, of the wrong types, or not JSON at all.

Hypothesis runs deterministically (derandomize, no example database); HYPOTHESIS_EXAMPLES
raises the examples per form and per operation for a deeper run by hand (README,
"Property-based tests").
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import quote, quote_from_bytes

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from sqlalchemy import select, text, update

from app.accounts.services import account_suspend, api_token_create
from app.connections.control import caregiver_revoke
from app.db import utcnow
from app.extensions import db
from app.invites.services import invite_create
from app.models.accounts import AccountClaim, ApiToken, User
from app.models.notifications import InviteNotification
from app.models.reports import PatientReport
from app.models_base import MAX_ID
from app.tokens import new_token, token_hash
from tests.factories import (
    make_connection,
    make_email_link,
    make_group,
    make_member,
    make_subscription,
    make_user,
    next_phone,
)

# --- Hypothesis settings -----------------------------------------------------------------


def examples(default: int) -> int:
    """Examples per form or operation: `default` in CI, HYPOTHESIS_EXAMPLES by hand."""
    raw = os.environ.get("HYPOTHESIS_EXAMPLES", "")
    return int(raw) if raw.isdigit() and int(raw) > 0 else default


def property_settings(default: int) -> settings:
    """Deterministic (the same examples on every run, no .hypothesis database), no
    deadline (a request on PostgreSQL on a busy 2-core machine varies), and no complaint
    about big inputs: they are the point."""
    return settings(max_examples=examples(default), derandomize=True, database=None,
                    deadline=None, print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.large_base_example,
                                           HealthCheck.filter_too_much])


# What no answer may show: a traceback, the database's own words.
LEAKS = ("Traceback (most recent call last)", "sqlalchemy.", "psycopg", "sqlite3.",
         "IntegrityError", "DataError", 'File "/')


class ErrorLog(logging.Handler):
    """The tracebacks that app/errors.py logs for a 500: shown when a property fails."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record):
        self.records.append(self.format(record))


@contextmanager
def errors_logged() -> Iterator[ErrorLog]:
    handler = ErrorLog()
    logger = logging.getLogger("app.errors")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


# --- text ----------------------------------------------------------------------------------

HUGE = 100_001  # characters: past every length limit and any sane single field
NASTY = (
    "", " ", "   ", "\t\n\r ", "\u00a0\u2003\u3000",  # empty and whitespace only
    "\x00", "a\x00b", "\x01\x02\x1b[31m\x7f", "\r\nSet-Cookie: x=1", "line\nbreak",
    "\u202eevil\u202c", "\u200f\u05e9\u05dc\u05d5\u05dd", "مرحبا بالعالم",  # RTL
    "e\u0301\u0302\u0303\u0304" * 20, "Z\u0336\u0337\u0338" * 10,  # combining marks
    "\u200b\u200c\u200d\ufeff", "\u2060", "\ufffd", "\uffff",  # zero-width, specials
    "𝕳𝖊𝖑𝖑𝖔 😀👨‍👩‍👧‍👦", "\U0010ffff", "🏳️‍🌈" * 5,  # astral
    "Nguyễn Văn Ánh", "ĐẶNG THỊ Ữ", "Ǆ ǅ ǆ ß ẞ İ ı",  # case folding traps
    "<script>alert(1)</script>", "{{ 7*7 }}", "%(name)s %s %d", "' OR 1=1 --", "\\",
    "../../etc/passwd", "//evil.example", "/\\evil.example", "javascript:alert(1)",
    "0", "-1", "00", "+84", "1e309", "NaN", "-0", "0x10", "１２３", "٣",
)
BOUNDARY_INTS = (0, 1, -1, 2**31 - 1, 2**31, -(2**31) - 1, MAX_ID, MAX_ID + 1, 2**64,
                 -(2**63) - 1, 10**30, 10**100)
_any_char = st.characters(exclude_categories=("Cs",))  # every code point a UTF-8 body holds


def huge_text() -> st.SearchStrategy[str]:
    """100 kB and more: one unit (ASCII, Vietnamese, astral, NUL…) repeated."""
    units = st.sampled_from(["a", "9", " ", "ễ", "😀", "\u0301", "\x00", "ab\u202e"])
    return st.builds(lambda unit, extra: (unit * (HUGE + extra))[:HUGE + extra], units,
                     st.integers(0, 20_000))


def number_text() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from([str(n) for n in BOUNDARY_INTS]),
                     st.integers().map(str),
                     st.floats(allow_nan=True, allow_infinity=True).map(repr))


def path_text() -> st.SearchStrategy[str]:
    """What a `next` or `back` field expects (a path here) spoiled: controls, backslashes,
    another host."""
    return st.tuples(st.sampled_from(["/", "//", "/\\", "https://evil.example", "/staff/"]),
                     st.one_of(st.sampled_from(NASTY), st.text(_any_char, max_size=8))
                     ).map("".join)


def texts() -> st.SearchStrategy[str]:
    """Any text a client can send in a field."""
    return st.one_of(st.sampled_from(NASTY), st.text(_any_char, max_size=40), number_text(),
                     huge_text(), path_text(),
                     st.lists(st.sampled_from(NASTY[5:]), min_size=2, max_size=4).map("".join))


# --- HTML forms -------------------------------------------------------------------------


@dataclass(frozen=True)
class FormPost:
    """One example: the fields in order (repeated names allowed), an optional raw tail of
    bytes that are not UTF-8, and whether htmx sends it."""

    pairs: tuple[tuple[str, str], ...]
    raw_tail: bytes = b""
    htmx: bool = False

    def body(self, csrf_token: str) -> bytes:
        pairs = (("csrf_token", csrf_token), *self.pairs)
        encoded = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)
        if self.raw_tail:
            name = self.pairs[0][0] if self.pairs else "x"
            encoded += f"&{quote(name, safe='')}={quote_from_bytes(self.raw_tail)}"
        return encoded.encode()

    def summary(self) -> str:
        shown = [(k, v if len(v) < 80 else f"{v[:20]!r}…({len(v)} chars)") for k, v in self.pairs]
        return f"htmx={self.htmx} fields={shown} tail={self.raw_tail[:20]!r}"


def _field(name: str, valid: str | None) -> st.SearchStrategy[list[tuple[str, str]]]:
    """A field: missing, its valid value, any text, or repeated."""
    value = texts() if valid is None else st.one_of(st.just(valid), texts())
    return st.one_of(
        st.just([]),
        value.map(lambda v: [(name, v)]),
        st.lists(value, min_size=2, max_size=3).map(lambda vs: [(name, v) for v in vs]))


def form_posts(fields: dict[str, str | None]) -> st.SearchStrategy[FormPost]:
    """Posts of a form whose fields (name → a valid value, or None) are known."""
    unknown = st.lists(st.tuples(st.one_of(st.sampled_from(["id", "user_id", "is_staff",
                                                            "admin", "x" * 300]),
                                           st.text(_any_char, min_size=1, max_size=12)),
                                 texts()), max_size=2)
    return st.builds(
        lambda chosen, extra, tail, htmx: FormPost(
            tuple(pair for pairs in chosen for pair in pairs) + tuple(extra), tail, htmx),
        st.tuples(*(_field(name, valid) for name, valid in fields.items())),
        unknown,
        st.one_of(st.just(b""), st.binary(min_size=1, max_size=8).filter(_not_utf8)),
        st.booleans())


def _not_utf8(raw: bytes) -> bool:
    try:
        raw.decode()
    except UnicodeDecodeError:
        return True
    return False


# --- JSON -------------------------------------------------------------------------------


def json_scalars() -> st.SearchStrategy:
    return st.one_of(st.none(), st.booleans(), st.sampled_from(BOUNDARY_INTS), st.integers(),
                     st.floats(allow_nan=False, allow_infinity=False), texts())


def json_values() -> st.SearchStrategy:
    """Any JSON value, nested a few levels."""
    return st.recursive(json_scalars(), lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(_any_char, max_size=10), inner, max_size=4)), max_leaves=12)


def json_objects(schema: dict) -> st.SearchStrategy[dict]:
    """Objects with the documented keys (each present or not, of any type), maybe more."""
    keys = list(schema.get("properties", {}))
    chosen = st.fixed_dictionaries({}, optional={k: json_values() for k in keys})
    extra = st.dictionaries(st.text(_any_char, max_size=12), json_values(), max_size=2)
    return st.builds(lambda a, b: {**b, **a}, chosen, extra)


def typed_values(schema: dict) -> st.SearchStrategy:
    """Values of a property's documented JSON type that break everything else: any text
    for a string (one of its enum too), numbers past the limits for an integer, objects
    whose keys are the documented names or any text."""
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else list(types)
    choices = []
    if "string" in types:
        choices.append(texts())
    if "integer" in types:
        choices.append(st.one_of(st.sampled_from(BOUNDARY_INTS), st.integers()))
    if "boolean" in types:
        choices.append(st.booleans())
    if "object" in types:
        names = schema.get("propertyNames", {}).get("enum", [])
        keys = st.one_of(st.sampled_from(names), texts()) if names else texts()
        choices.append(st.dictionaries(keys, st.one_of(st.booleans(), json_scalars()),
                                       max_size=4))
    if "null" in types:
        choices.append(st.none())
    if schema.get("enum"):
        choices.append(st.sampled_from(schema["enum"]))
    return st.one_of(choices) if choices else json_values()


def typed_objects(schema: dict) -> st.SearchStrategy[dict]:
    """Objects of the documented shape — required keys present, optional ones maybe —
    whose values are of the right type and anything but sensible."""
    properties = schema.get("properties", {})
    required = set(schema.get("required", []))
    return st.fixed_dictionaries(
        {k: typed_values(v) for k, v in properties.items() if k in required},
        optional={k: typed_values(v) for k, v in properties.items() if k not in required})


@dataclass(frozen=True)
class RawBody:
    """A body as bytes and the Content-Type it claims (None: no header)."""

    data: bytes
    content_type: str | None

    def summary(self) -> str:
        return f"{self.content_type} {self.data[:200]!r}… ({len(self.data)} bytes)"


def _dumps(value) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


def deep(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def raw_bodies(schema: dict | None) -> st.SearchStrategy[RawBody]:
    """Bodies for an operation (schema: its requestBody schema, or None for none)."""
    typed, objects = typed_objects(schema or {}), json_objects(schema or {})
    as_json = st.one_of(typed, typed, typed, objects, json_values()).map(_dumps)
    garbage = st.one_of(
        st.binary(max_size=64), st.sampled_from([
            b"", b"{", b"{\"a\":", b"null", b"[]", b"\"text\"", b"NaN", b"{\"a\": Infinity}",
            b"\xff\xfe{\x00}", b"{\"name\": \"\\ud800\"}", b"\xef\xbb\xbf{}",
            b"{\"a\":1,\"a\":2}", deep(100_000), b"{\"a\":" * 50_000,
            b"1" * HUGE, b"{\"name\": \"" + b"x" * 1_000_000 + b"\"}"]),
        st.builds(lambda n: deep(n), st.integers(500, 5_000)))
    types = st.sampled_from(["application/json"] * 6 + [
        "text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin-1",
        "application/vnd.api+json", None])
    return st.builds(RawBody, st.one_of(as_json, as_json, garbage), types)


def query_values() -> st.SearchStrategy[list[str]]:
    """A query argument: absent, once, or repeated, with any text."""
    return st.one_of(st.just([]), st.lists(texts(), min_size=1, max_size=2))


# --- the world the examples are thrown at ---------------------------------------------------


@dataclass
class World:
    """Everyone and everything a form or an operation needs, by name; ids and phones only
    (the rows' session is gone once the seed commits)."""

    ids: dict[str, int] = field(default_factory=dict)
    phones: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)  # invite, claim, email link tokens
    api: dict[str, str] = field(default_factory=dict)  # bearer tokens by person
    epochs: dict[str, int] = field(default_factory=dict)


def seed_world() -> World:
    """A family with its admin, a patient, caregivers (one disconnected), two pending
    invites (one to an existing account), staff, a newcomer with a plan and no family, an
    imported account with a claim link, a suspended account, a failed SMS. Commits."""
    w = World()
    admin = make_user(name="Admin Một")
    patient = make_user(name="Bệnh nhân Hai", gender=1)
    caregiver = make_user(name="Người chăm Ba")
    gone = make_user(name="Người chăm Bốn")  # disconnected by the admin
    invitee = make_user(name="Khách Năm")
    staff = make_user(name="Nhân viên Sáu", is_staff=True)
    # Staff who has not set up the authenticator yet (issue 21): the enrolment form.
    newstaff = make_user(name="Nhân viên Mười Hai", is_staff=True, enrolled=False)
    newcomer = make_user(name="Người mới Bảy")
    victim = make_user(name="Tài khoản Tám")
    suspended = make_user(name="Tài khoản Chín")
    imported = make_user(name="Nhập Mười", password_hash=None, phone_verified_at=None)
    unproved = make_user(name="Chưa xác minh Mười Một", phone_verified_at=None)
    family = make_group(admin, subscription=make_subscription(admin, patients=2, caregivers=4))
    make_subscription(newcomer)
    make_member(family, patient, role="patient")
    make_member(family, caregiver, role="caregiver")
    make_member(family, gone, role="caregiver")
    connection = make_connection(patient, caregiver, group=family)
    revoked = make_connection(patient, gone, group=family)
    report = PatientReport(patient_id=patient.id, period="2026-10", summary="Ổn định.")
    db.session.add(report)
    db.session.flush()
    caregiver_revoke(actor=admin, group=family, caregiver_id=gone.id, reason="seed")
    to_member = invite_create(actor=admin, group=family, phone=invitee.phone, role="caregiver")
    to_stranger = invite_create(actor=admin, group=family, phone=next_phone(), role="patient")
    account_suspend(actor=staff, user=suspended, reason="seed")
    claim = new_token()
    db.session.add(AccountClaim(user_id=imported.id, token_hash=token_hash(claim),
                                expires_at=utcnow() + timedelta(days=30)))
    db.session.flush()
    failed = db.session.scalar(select(InviteNotification.id).where(
        InviteNotification.channel == "sms").order_by(InviteNotification.id).limit(1))
    db.session.execute(update(InviteNotification).where(InviteNotification.id == failed)
                       .values(status="failed", retry_count=3, error="gateway down"))
    people = {"admin": admin, "patient": patient, "caregiver": caregiver, "gone": gone,
              "invitee": invitee, "staff": staff, "newcomer": newcomer, "victim": victim,
              "suspended": suspended, "imported": imported, "unproved": unproved,
              "newstaff": newstaff}
    w.ids = {name: user.id for name, user in people.items()}
    w.phones = {name: user.phone for name, user in people.items()}
    w.phones["stranger"] = to_stranger.invite.receiver_phone
    w.ids.update(family=family.id, connection=connection.id, revoked=revoked.id,
                 invite=to_member.invite.id, stranger_invite=to_stranger.invite.id,
                 notification=failed, report=report.id)
    w.tokens = {"invite": to_member.token, "stranger_invite": to_stranger.token,
                "claim": claim, "email": make_email_link(invitee, "nam@example.com")}
    w.api = {name: api_token_create(user=people[name], name="properties",
                                    mfa=people[name].staff_role)
             for name in ("admin", "patient", "caregiver", "invitee", "staff", "newcomer",
                          "unproved")}
    w.ids["api_token"] = db.session.scalar(select(ApiToken.id).where(
        ApiToken.user_id == admin.id))
    db.session.commit()
    return w


def session_id(user_id: int) -> str:
    """Flask-Login's id of the user's current session (User.get_id: id and epoch)."""
    epoch = db.session.scalar(select(User.session_epoch).where(User.id == user_id))
    return f"{user_id}:{epoch}"


def row_counts() -> dict[str, int]:
    """Rows per table, in one statement: what a refusal must leave as it was."""
    tables = [t.name for t in db.metadata.sorted_tables if t.name != "alembic_version"]
    row = db.session.execute(text("SELECT " + ", ".join(
        f"(SELECT count(*) FROM {name}) AS {name}" for name in tables))).one()
    db.session.rollback()
    return dict(zip(tables, row, strict=True))

