"""The secrets the portal mints (issue 7, item 3, SPEC §4 and §7): invite links, account
claim links and personal API tokens carry at least 128 random bits and are stored only as
their SHA-256; until an SMS has gone out the outbox keeps the link sealed (Fernet, a key
derived from SECRET_KEY), never in clear. Activation codes (typed by people) and the
session's CSRF token are checked for their own sizes.

The proof of "stored only as hashes" reads the whole database — every column of every row
of every table — after the tokens were minted through the pages, the API and the services.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
from collections import Counter

import pytest
from sqlalchemy import select

from app.accounts.claims import claim_rows
from app.accounts.services import api_token_create
from app.billing.services import CODE_ALPHABET, codes_issue
from app.db import utcnow
from app.extensions import db
from app.tokens import new_token, seal, unseal
from tests.factories import PASSWORD, make_user, next_phone
from tests.pages import csrf_from, csrf_of
from tests.security.conftest import as_who

URLSAFE = re.compile(r"[A-Za-z0-9_-]+")
MINTED = 2000


def random_bytes_of(token: str) -> int:
    """How many bytes a token_urlsafe token encodes (and that it is one)."""
    assert URLSAFE.fullmatch(token), token
    return len(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))


def sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def test_link_tokens_carry_256_random_bits_and_never_repeat(app_ctx):
    tokens = [new_token() for _ in range(MINTED)]
    assert len(set(tokens)) == MINTED
    assert {random_bytes_of(t) for t in tokens} == {32}  # 256 bits ≥ 128
    # Every position uses the whole 64-symbol alphabet: no fixed or narrowed characters.
    for position in range(42):  # the 43rd character carries only 4 of the 256 bits
        assert len({t[position] for t in tokens}) == 64, position
    counts = Counter("".join(t[:42] for t in tokens))
    assert max(counts.values()) < 2 * min(counts.values())  # roughly uniform


def test_api_and_claim_tokens_carry_256_random_bits(app_ctx):
    user = make_user()
    api = [api_token_create(user=user, name="t") for _ in range(200)]
    claims = [claim_rows(user_id=user.id, phone=user.phone, name="x", now=utcnow())
              for _ in range(200)]
    claim_tokens = [unseal(message["payload"]["sealed_token"]) for _claim, message in claims]
    for tokens in (api, claim_tokens):
        assert len(set(tokens)) == len(tokens)
        assert {random_bytes_of(t) for t in tokens} == {32}
    assert [claim["token_hash"] for claim, _m in claims] == [sha256(t) for t in claim_tokens]


def test_activation_codes_are_80_random_bits_stored_hashed(app_ctx):
    """Typed by people, so shorter than links: 16 characters of 32 symbols; 2^80 guesses
    stay out of reach of an online attacker."""
    staff = make_user(is_staff=True)
    codes = codes_issue(actor=staff, plan="family", days=30, count=500)
    assert len(set(codes)) == 500
    bits = 16 * math.log2(len(set(CODE_ALPHABET)))
    assert bits == 80
    for code in codes:
        assert re.fullmatch(rf"([{CODE_ALPHABET}]{{4}}-){{3}}[{CODE_ALPHABET}]{{4}}", code)
    dump = database_text()
    assert [c for c in codes if c in dump or c.replace("-", "") in dump] == []


def test_the_session_csrf_token_is_random_per_session(app):
    """Flask-WTF's raw token: 160 bits (SHA-1 of 64 random bytes), one per session; what
    the page shows is that token signed with SECRET_KEY."""
    raws = set()
    for _ in range(50):
        client = app.test_client()
        csrf_of(client)
        with client.session_transaction() as session:
            raw = session["csrf_token"]
        assert re.fullmatch(r"[0-9a-f]{40}", raw)
        raws.add(raw)
    assert len(raws) == 50


def database_text() -> str:
    """Every value of every row of every table, as text (JSON and bytes included)."""
    parts = []
    for table in db.metadata.sorted_tables:
        for row in db.session.execute(select(table)):
            for value in row:
                if isinstance(value, bytes | bytearray | memoryview):
                    value = bytes(value).decode("latin-1")
                parts.append(str(value))
    return "\n".join(parts)


@pytest.fixture
def minted(app, world):
    """Tokens minted every way there is, in clear as their makers answered them: the
    world's (invites, a claim link, API tokens), an invite and a resend through the page,
    an invite and a resend through the API, a token through POST /auth/token."""
    tokens = {"invite": world.invite_token, "other invite": world.other_invite_token,
              "claim": world.claim_token}
    tokens.update({f"api {who}": token for who, token in world.api_tokens.items()})
    admin = as_who(app, world, "admin")
    page = admin.post(f"/family/{world.group_id}/invites", data={
        "phone": "0" + next_phone()[3:], "role": "patient", "csrf_token": csrf_of(admin)})
    assert page.status_code == 201
    tokens["page invite"] = re.search(r"/i/([A-Za-z0-9_-]+)", page.get_data(as_text=True))[1]
    resent = admin.post(f"/invites/{world.other_invite_id}/resend",
                        data={"csrf_token": csrf_of(admin)})
    assert resent.status_code in (200, 201)
    tokens["page resend"] = re.search(r"/i/([A-Za-z0-9_-]+)", resent.get_data(as_text=True))[1]
    bearer = {"Authorization": f"Bearer {world.api_tokens['admin']}"}
    api = app.test_client()
    made = api.post(f"/api/v1/families/{world.group_id}/invites", headers=bearer,
                    json={"phone": next_phone(), "role": "caregiver"})
    assert made.status_code == 201, made.get_json()
    tokens["api invite"] = made.get_json()["acceptUrl"].rsplit("/", 1)[1]
    again = api.post(f"/api/v1/invites/{world.invite_id}/resend", headers=bearer)
    assert again.status_code == 200, again.get_json()
    tokens["api resend"] = again.get_json()["acceptUrl"].rsplit("/", 1)[1]
    login = api.post("/api/v1/auth/token", json={"login": world.phones["patient"],
                                                 "password": PASSWORD})
    assert login.status_code == 201
    tokens["api login"] = login.get_json()["token"]
    assert all(random_bytes_of(t) == 32 for t in tokens.values()), tokens
    return tokens


def test_no_clear_token_anywhere_in_the_database(app, minted):
    with app.app_context():
        dump = database_text()
    leaked = {name for name, token in minted.items() if token in dump}
    assert leaked == set()
    # ... while each live one is findable by its hash (the resent invites' old tokens died).
    live = {name: token for name, token in minted.items()
            if name not in ("invite", "other invite")}
    missing = {name for name, token in live.items() if sha256(token) not in dump}
    assert missing == set()


def test_the_outbox_keeps_links_sealed_under_the_secret_key(app, minted, monkeypatch):
    from app.models.notifications import InviteNotification

    with app.app_context():
        sealed = [row.payload["sealed_token"] for row in db.session.scalars(
            select(InviteNotification)) if row.payload and "sealed_token" in row.payload]
        opened = {unseal(value) for value in sealed}
        assert minted["page invite"] in opened
        assert minted["api invite"] in opened
        assert minted["claim"] in opened
        # The sealed form reveals nothing of the token, and another key cannot open it.
        assert not any(token in value for value in sealed for token in minted.values())
        assert seal("same") != seal("same")  # a fresh IV each time
    monkeypatch.setitem(app.config, "SECRET_KEY", "another-" + "k" * 40)
    with app.app_context():
        assert {unseal(value) for value in sealed} == {None}


def test_a_link_token_is_looked_up_by_hash_only(app, world):
    """The page answers the same "not found" for any token but the real one, including its
    hash, a prefix of it, or the token with one character changed."""
    client = app.test_client()
    token = world.invite_token
    assert client.get(f"/i/{token}").status_code == 200
    for wrong in (sha256(token), token[:-1], token[:-1] + ("A" if token[-1] != "A" else "B"),
                  token.upper() if token.upper() != token else token.lower()):
        assert client.get(f"/i/{wrong}").status_code == 404
    claim = world.claim_token
    page = client.get(f"/claim/{claim}")
    assert page.status_code == 200
    csrf_from(page.get_data(as_text=True))
    assert client.get(f"/claim/{sha256(claim)}").status_code == 404
