"""The security suite's seeded world and its helpers (tests/security/).

`world` builds, through the real services, one family with everyone around it — so that
every id of every URL rule can be filled with a row that exists and a request reaches the
view instead of a 404 — and hands back plain ids and tokens (no ORM objects: each request
then runs in its own app context). `as_who(app, world, who)` is a client for one of them,
`fill(rule, world)` the path of a URL rule with the world's ids, and `db_snapshot(app)`
every row of every table, to prove that a refused request wrote nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from sqlalchemy import insert, select, update

from app.accounts.claims import claim_rows
from app.accounts.services import api_token_create
from app.db import utcnow
from app.extensions import db
from app.invites.services import invite_create
from app.models.accounts import AccountClaim, ApiToken
from app.models.connections import PERMISSION_CODES
from app.models.notifications import InviteNotification
from app.models.reports import PatientReport
from app.tokens import unseal
from tests.conftest import log_in, sign_in
from tests.factories import (
    make_connection,
    make_email_link,
    make_group,
    make_member,
    make_user,
    next_phone,
)

# Who a request is made as: one of PEOPLE, logged in; "anon", a fresh client; "link", a fresh
# client that opened the invite link of `invitee` (the token is then in its session);
# "signup", one that opened the other invite's link, to a number with no account yet.
# "unproved": an account whose number its phone never proved (ID-001). "staff_pending" and
# "newstaff": staff logged in with the password only (the second step not passed; newstaff
# has not set up the authenticator).
PEOPLE = ("admin", "patient", "caregiver", "invitee", "staff", "unproved")


@dataclass
class World:
    """Ids and clear tokens of the seeded world (see build_world)."""

    group_id: int
    connection_id: int
    report_id: int
    invite_id: int
    invite_token: str
    other_invite_id: int
    other_invite_token: str
    notification_id: int
    claim_token: str
    claimer_id: int
    users: dict[str, int] = field(default_factory=dict)
    phones: dict[str, str] = field(default_factory=dict)
    api_tokens: dict[str, str] = field(default_factory=dict)
    api_token_ids: dict[str, int] = field(default_factory=dict)
    email_token: str = ""  # a link that proves the invitee's address (issue 21)

    @property
    def signal(self) -> tuple[str, str]:
        """A review-queue item that exists: the invitee's phone, invited into a family."""
        return "phone_many_groups", self.phones["invitee"]


def build_world() -> World:
    """One active family (its admin, a patient, a caregiver connected to the patient), a
    report of the patient, a pending invite to a registered user and one to a new number
    (their SMS failed, for staff to resend), a staff member, an imported account with its
    claim link, and an API token for each person (api_tokens, their ids in api_token_ids).
    Inside an app context; commits."""
    admin = make_user(name="Quản trị An")
    patient = make_user(name="Bệnh nhân Bình", gender=1)
    caregiver = make_user(name="Người chăm Chi")
    invitee = make_user(name="Khách Dũng")
    staff = make_user(name="Nhân viên Em", is_staff=True)
    newstaff = make_user(name="Nhân viên Mới", is_staff=True, enrolled=False)
    unproved = make_user(name="Chưa xác minh Hà", phone_verified_at=None)
    group = make_group(admin, name="Gia đình An")
    make_member(group, patient, role="patient")
    make_member(group, caregiver, role="caregiver")
    connection = make_connection(patient, caregiver, group=group)
    report = PatientReport(patient_id=patient.id, period="2026-10", summary="Huyết áp ổn định.")
    db.session.add(report)
    issued = invite_create(actor=admin, group=group, phone=invitee.phone, role="caregiver")
    other = invite_create(actor=admin, group=group, phone=next_phone(), role="caregiver")
    db.session.flush()
    db.session.execute(update(InviteNotification).where(InviteNotification.channel == "sms")
                       .values(status="failed", retry_count=3, error="gateway down"))
    notification_id = db.session.scalar(
        select(InviteNotification.id).where(InviteNotification.invite_id == issued.invite.id,
                                            InviteNotification.channel == "sms"))
    claimer = make_user(name="Người cũ Giang", password_hash=None)
    claim, message = claim_rows(user_id=claimer.id, phone=claimer.phone, name=claimer.name,
                                now=utcnow())
    claim_token = unseal(message["payload"]["sealed_token"])
    db.session.execute(insert(AccountClaim).values(claim))
    db.session.execute(insert(InviteNotification).values(message))
    email_token = make_email_link(invitee, "dung@example.com")
    people = {"admin": admin, "patient": patient, "caregiver": caregiver, "invitee": invitee,
              "staff": staff, "unproved": unproved}
    world = World(
        group_id=group.id, connection_id=connection.id, report_id=report.id,
        invite_id=issued.invite.id, invite_token=issued.token, other_invite_id=other.invite.id,
        other_invite_token=other.token,
        notification_id=notification_id, claim_token=claim_token, claimer_id=claimer.id,
        users={name: user.id for name, user in people.items()},
        phones={name: user.phone for name, user in people.items()},
        api_tokens={name: api_token_create(user=user, name="security", mfa=user.staff_role)
                    for name, user in people.items()},
        email_token=email_token)
    world.phones["newstaff"] = newstaff.phone
    world.api_token_ids = {name: db.session.scalar(select(ApiToken.id).where(
        ApiToken.user_id == user.id)) for name, user in people.items()}
    db.session.commit()
    return world


@pytest.fixture
def world(app) -> World:
    with app.app_context():
        built = build_world()
        db.session.remove()
    return built


@pytest.fixture
def limited(app, monkeypatch):
    """Three invite-link guesses and three logins a minute, for this test only."""
    monkeypatch.setitem(app.config, "LINK_RATE_LIMIT", "3 per minute")
    monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT", "3 per minute")


def as_who(app, world: World, who: str):
    """A test client acting as `who` (see PEOPLE)."""
    if who in PEOPLE:
        return log_in(app, _Person(world.phones[who]))
    client = app.test_client()
    if who in ("staff_pending", "newstaff"):
        # A staff member after the password only: the second step (issue 21) not passed
        # (newstaff: the authenticator not even set up).
        phone = world.phones["staff" if who == "staff_pending" else "newstaff"]
        assert sign_in(client, phone).status_code == 303
        return client
    if who in ("link", "signup"):
        token = world.invite_token if who == "link" else world.other_invite_token
        assert client.get(f"/i/{token}").status_code == 200
    elif who != "anon":
        raise ValueError(f"nobody called {who!r} in the world")
    return client


@dataclass
class _Person:
    phone: str


def db_snapshot(app) -> dict[str, list[tuple]]:
    """Every row of every table, in primary-key order: equal snapshots, nothing written."""
    rows = {}
    with app.app_context():
        for table in db.metadata.sorted_tables:
            order = list(table.primary_key.columns) or list(table.columns)
            rows[table.name] = [tuple(r) for r in db.session.execute(
                select(table).order_by(*order))]
        db.session.remove()
    return rows


def fill(rule, world: World, **given) -> str:
    """The path of a URL rule with the world's ids; `given` overrides a parameter. A
    parameter the world cannot fill fails the test: a new rule must be taught here."""
    defaults = {
        "group_id": world.group_id, "connection_id": world.connection_id,
        "caregiver_id": world.users["caregiver"], "user_id": world.users["caregiver"],
        "patient_id": world.users["patient"], "report_id": world.report_id,
        "invite_id": world.invite_id, "notification_id": world.notification_id,
        "code": PERMISSION_CODES[0], "role": "caregiver", "action": "suspend",
        "signal": world.signal[0], "key": world.signal[1], "filename": "css/app.css",
        "token": world.claim_token if rule.rule.startswith("/claim/") else
        world.email_token if rule.rule.startswith("/email/") else world.invite_token,
        "token_id": world.api_token_ids["admin"],
    }
    values = {}
    for name in rule.arguments:
        if name not in given and name not in defaults:
            raise AssertionError(f"the security walk cannot fill <{name}> of {rule.rule}: "
                                 "teach tests/security/conftest.py fill()")
        values[name] = given.get(name, defaults.get(name))
    return rule.build(values, append_unknown=False)[1]
