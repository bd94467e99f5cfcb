"""Bench data for the load benchmark (bench/load_bench.py): 10,000 family groups, on
PostgreSQL (COPY) or SQLite (executemany in one transaction).

    .venv/bin/python -m bench.load_generate --groups 10000     # DATABASE_URL, migrated, empty

What it writes into the migrated schema, every index, foreign key and check in place:

- per group, a subscription (family_basic 15%, family 70%, family_plus 15%) and the group
  (88% active, 8% inactive, 4% dissolved), its admin and members of varied sizes — one to
  four patients, one to eight caregivers, within the plan — the accepted invite behind each
  member, every patient–caregiver connection with its six permissions (2% silently
  disconnected), reports for the patients, in-app notifications and audit events;
- pending invites (SMS sent or failed) in a tenth of the active groups, a few expired;
- the measured family: a `family` plan with 2 patients and 4 caregivers, every permission
  ON, a year of monthly reports for its patients;
- with `large=True` (bench/ratio.py), the large family too: 4 patients and 10 caregivers
  (40 connections), its `family_plus` subscription's slots raised to 4 and 10 (as PLANS
  can change), every permission ON, a year of reports — the same page at five times the
  size;
- the accept pool: `accepts` pending caregiver invites with link tokens the benchmark
  knows, each to its own new account, in active groups with free places; in one pool group
  of ten the plan was lowered afterwards (PLANS changed), so its last invite finds no place
  (the accept answers 409 no_slot, SEC-005) — `Fixture.overflow` counts them.

The same --seed makes the same rows (timestamps are relative to now).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import JSON, create_engine, event, text

from bench.staff_generate import (
    FAMILY_NAMES_KEYS,
    FAMILY_NAMES_WEIGHTS,
    GIVEN,
    MIDDLE,
    PASSWORD,
    bare_phone,
    phone_of,
    psycopg_dsn,
)

DEFAULT_GROUPS = 10_000
PLANS = {"family_basic": (1, 2), "family": (2, 4), "family_plus": (4, 8)}  # DEFAULT_PLANS
PLAN_WEIGHTS = (15, 70, 15)
LARGE = ("family_plus", 4, 10)  # the large family: its plan, patients and caregivers
PATIENTS = ((1, 2, 3, 4), (55, 33, 8, 4))
CAREGIVERS = ((1, 2, 3, 4, 5, 6, 7, 8), (25, 30, 20, 12, 5, 4, 2, 2))
CAREGIVER_RELATIONSHIP = "chau"  # what a pool invitee says they are to the patients
ORDER = ("users", "subscriptions", "family_groups", "family_group_members",
         "connection_invites", "user_emergency_contacts", "patient_reports",
         "caregiver_report_views", "invite_notifications", "audit_events")
DAY = 86400.0


class GenerateError(Exception):
    """The database is not ready (no schema, data already there) or the request is odd."""


@dataclass
class PoolInvite:
    invite_id: int
    user_id: int
    phone: str
    token: str
    group_id: int


@dataclass
class Fixture:
    """What the benchmark needs to know of the generated data."""

    group_id: int  # the measured family: 2 patients, 4 caregivers
    admin_id: int
    admin_phone: str
    caregiver_id: int
    caregiver_phone: str
    patient_id: int  # a patient the caregiver follows
    connections: list[int]  # the measured family's connections
    pool: list[PoolInvite]  # for the load tool, in the order it should take them
    probes: list[PoolInvite]  # two more, for counting an accept's SQL statements in-process
    overflow: int  # pool invites that find no place (lowered plans): 409 expected
    written: dict[str, int] = field(default_factory=dict)
    large: Family | None = None  # the large family (4 patients, 10 caregivers), if asked for


@dataclass
class Family:
    """Another family with every permission ON, measured beside the first."""

    group_id: int
    admin_id: int
    admin_phone: str
    connections: list[int]


def _ts(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


class World:
    """Builds every row in memory (deterministic for a seed), in the tables' column order."""

    def __init__(self, *, groups: int, accepts: int, seed: int, now: float,
                 inverse: dict[tuple[str, int], str], relationships: list[str],
                 large: bool = False):
        if groups < 20:
            raise GenerateError("Ask for at least 20 groups.")
        self.rng = random.Random(seed)  # noqa: S311 - bench data, not secrets
        self.now, self.n_groups, self.accepts = now, groups, accepts
        self.inverse, self.relationships = inverse, relationships
        self.rows: dict[str, list[dict]] = {t: [] for t in ORDER}
        self.ids = dict.fromkeys(ORDER, 0)
        self.measured = groups // 2 + 1
        # the large family comes after the others, so that asking for it changes no id
        self.large = groups + 1 if large else None
        self.shown = {self.measured, self.large} - {None}  # every permission ON, kept whole
        self.connections_of: dict[int, list[int]] = {g: [] for g in self.shown}
        self.free: dict[int, int] = {}  # active group → free caregiver places
        self.admin_of: dict[int, int] = {}
        self.caregivers: dict[int, int] = {}  # active group → its caregivers
        self.loose: list[int] = []  # accounts in no family (some are invited)
        self.bare = 0

    def add(self, table: str, **row) -> int:
        self.ids[table] += 1
        self.rows[table].append({"id": self.ids[table], **row})
        return self.ids[table]

    def user(self, before: float) -> int:
        rng = self.rng
        gender = rng.getrandbits(1)
        name = (f"{rng.choices(FAMILY_NAMES_KEYS, FAMILY_NAMES_WEIGHTS)[0]} "
                f"{rng.choice(MIDDLE[gender])} {rng.choice(GIVEN[gender])}")
        created = _ts(before - rng.uniform(3600, 60 * DAY))
        user_id = self.ids["users"] + 1
        return self.add("users", phone=phone_of(user_id - 1), email=None, name=name,
                        gender=gender, password_hash=self.password_hash,
                        locale="vi" if rng.random() < 0.93 else "en", is_staff=False,
                        is_active=True, session_epoch=0, last_login_at=None,
                        phone_verified_at=created, created_at=created, updated_at=created)

    def audit(self, at: float, actor: int | None, action: str, subject: tuple[str, int] | None,
              group: int | None, details: dict | None) -> None:
        self.add("audit_events", created_at=_ts(at), actor_id=actor, action=action,
                 subject_type=subject[0] if subject else None,
                 subject_id=subject[1] if subject else None, family_group_id=group,
                 details=details, ip=None)

    def name_of(self, user_id: int) -> str:
        return self.rows["users"][user_id - 1]["name"]

    # --- groups ---------------------------------------------------------------------------

    def build(self, password_hash: str) -> None:
        self.password_hash = password_hash
        start, step = self.now - 730 * DAY, 730 * DAY / self.n_groups
        for g in range(1, self.n_groups + 1):
            created = start + (g - 1) * step + self.rng.uniform(0, step)
            if g == self.measured:
                self.group(g, created, "active", "family", patients=2, caregivers=4)
                continue
            status = self.rng.choices(("active", "inactive", "dissolved"), (88, 8, 4))[0]
            plan = self.rng.choices(tuple(PLANS), PLAN_WEIGHTS)[0]
            slots = PLANS[plan]
            self.group(g, created, status, plan,
                       patients=min(slots[0], self.rng.choices(*PATIENTS)[0]),
                       caregivers=min(slots[1], self.rng.choices(*CAREGIVERS)[0]))
        if self.large is not None:
            plan, patients, caregivers = LARGE
            self.group(self.large, self.now - 60 * DAY, "active", plan, patients=patients,
                       caregivers=caregivers, slots=(patients, caregivers))
        self.loose = [self.user(self.now - DAY) for _ in range(self.n_groups // 10)]
        for g in list(self.free):
            if g not in self.shown and self.rng.random() < 0.10 and self.free[g] > 0:
                self.pending_invite(g)
            if self.rng.random() < 0.05:
                self.stale_invite(g)

    def group(self, g: int, created: float, status: str, plan: str, *, patients: int,
              caregivers: int, slots: tuple[int, int] | None = None) -> None:
        rng, (p_slots, c_slots) = self.rng, slots or PLANS[plan]
        admin = self.user(created)
        self.admin_of[g] = admin
        expires = (self.now + rng.uniform(30, 365) * DAY if status == "active"
                   else created + (self.now - created) * rng.uniform(0.3, 0.95))
        self.add("subscriptions", owner_user_id=admin, plan=plan, patient_slots=p_slots,
                 caregiver_slots=c_slots,
                 status={"active": "active", "inactive": "expired"}.get(status, "cancelled"),
                 starts_at=_ts(created), expires_at=_ts(expires), created_at=_ts(created),
                 updated_at=_ts(created))
        name = f"Gia đình {self.name_of(admin)}"
        dissolved = created + (self.now - created) * 0.9 if status == "dissolved" else None
        self.add("family_groups", admin_user_id=admin, subscription_id=g, name=name,
                 status=status, dissolved_at=_ts(dissolved) if dissolved else None,
                 legacy_id=None, created_at=_ts(created), updated_at=_ts(dissolved or created))
        self.audit(created, admin, "group.created", ("family_groups", g), g,
                   {"name": name, "plan": plan, "subscription_id": g})
        if dissolved is not None:
            self.audit(dissolved, admin, "group.dissolved", ("family_groups", g), g,
                       {"members": [], "revoked": 0, "invites_cancelled": 0})
            return
        horizon = min(30 * DAY, self.now - created)
        admin_cares = g not in self.shown and rng.random() < 0.15
        people = [("patient", self.user(created)) for _ in range(patients)]
        people += [("caregiver", admin if admin_cares and i == 0 else self.user(created))
                   for i in range(caregivers)]
        joined: dict[tuple[str, int], tuple[float, int | None]] = {}
        for role, user in people:
            at = created + rng.uniform(0, horizon)
            member = self.add("family_group_members", group_id=g, user_id=user, role=role,
                              joined_at=_ts(at))
            invite = None if user == admin else self.accepted(g, admin, user, role, at,
                                                              member)
            joined[role, user] = (at, invite)
        for (role, patient), (p_at, p_inv) in joined.items():
            if role != "patient":
                continue
            for (other, caregiver), (c_at, c_inv) in joined.items():
                if other == "caregiver" and caregiver != patient:
                    self.connection(g, admin, patient, caregiver, max(p_at, c_at),
                                    c_inv or p_inv)
            self.reports(patient, caregivers=[u for r, u in joined if r == "caregiver"],
                         months=12 if g in self.shown else rng.randint(0, 6))
        if status == "active":
            self.free[g] = c_slots - caregivers
            self.caregivers[g] = caregivers

    def accepted(self, g: int, admin: int, user: int, role: str, at: float,
                 member: int) -> int:
        invited = at - self.rng.uniform(300, 2 * DAY)
        invite = self.add("connection_invites", sender_id=admin, family_group_id=g,
                          receiver_phone=phone_of(user - 1), receiver_id=user,
                          invite_type=f"add_{role}", relationship_code=None,
                          initial_permissions=None, status="accepted", token_hash=None,
                          expires_at=_ts(invited + 7 * DAY), created_at=_ts(invited),
                          updated_at=_ts(at))
        self.audit(at, user, "invite.accepted", ("connection_invites", invite), g,
                   {"role": role, "relationship": None})
        self.audit(at, user, "group.member_joined", ("family_group_members", member), g,
                   {"user_id": user, "role": role, "invite_id": invite})
        read = self.rng.random() < 0.7
        self.add("invite_notifications", invite_id=invite, recipient=str(admin),
                 notification_type="INVITE_ACCEPTED", channel="in_app",
                 status="delivered" if read else "sent", retry_count=0, sent_at=_ts(at),
                 delivered_at=_ts(at + 3600) if read else None, error=None,
                 external_message_id=None, created_at=_ts(at), updated_at=_ts(at),
                 recipient_user_id=admin, family_group_id=g, next_attempt_at=None,
                 payload={"group_id": g, "group_name": f"Gia đình {self.name_of(admin)}",
                          "member_name": self.name_of(user), "role": role})
        return invite

    def connection(self, g: int, admin: int, patient: int, caregiver: int, at: float,
                   invite: int | None) -> None:
        rng = self.rng
        relationship = inverse = None
        if rng.random() < 0.6:
            relationship = rng.choice(self.relationships)
            gender = self.rows["users"][patient - 1]["gender"]
            inverse = self.inverse.get((relationship, gender), "khac")
        revoked = g not in self.shown and rng.random() < 0.02
        cid = self.add("user_emergency_contacts", user_id=patient, linked_user_id=caregiver,
                       contact_name=None, contact_phone=None, contact_type="caregiver",
                       relationship_code=relationship, inverse_relationship_code=inverse,
                       invite_id=invite, permission_revoked=revoked, family_group_id=g,
                       created_at=_ts(at), updated_at=_ts(at))
        if g in self.shown:
            self.connections_of[g].append(cid)
        if revoked:
            self.audit(at + rng.uniform(0, max(self.now - at, 1)), admin,
                       "connection.disconnected", ("user_emergency_contacts", cid), g,
                       {"as": "admin", "scope": "connection", "patient_id": patient,
                        "caregiver_id": caregiver})

    def reports(self, patient: int, *, caregivers: list[int], months: int) -> None:
        for back in range(months, 0, -1):
            at = self.now - back * 30 * DAY
            report = self.add("patient_reports", patient_id=patient,
                              period=_ts(at).strftime("%Y-%m"),
                              summary=f"Huyết áp trung bình {self.rng.randint(115, 150)}/"
                                      f"{self.rng.randint(70, 95)}, uống thuốc đều "
                                      f"{self.rng.randint(20, 30)}/30 ngày.",
                              created_at=_ts(at))
            for caregiver in caregivers:
                if self.rng.random() < 0.5:
                    self.add("caregiver_report_views", caregiver_id=caregiver,
                             report_id=report, viewed_at=_ts(at + DAY))

    # --- invites --------------------------------------------------------------------------

    def token(self) -> str:
        return base64.urlsafe_b64encode(self.rng.randbytes(32)).rstrip(b"=").decode()

    def invite(self, g: int, phone: str, receiver: int | None, status: str, invited: float,
               token: str) -> int:
        admin = self.admin_of[g]
        invite = self.add("connection_invites", sender_id=admin, family_group_id=g,
                          receiver_phone=phone, receiver_id=receiver,
                          invite_type="add_caregiver", relationship_code=None,
                          initial_permissions=None, status=status,
                          token_hash=hashlib.sha256(token.encode()).hexdigest(),
                          expires_at=_ts(invited + 7 * DAY), created_at=_ts(invited),
                          updated_at=_ts(invited))
        self.audit(invited, admin, "invite.created", ("connection_invites", invite), g,
                   {"phone": phone, "role": "caregiver",
                    "expires_at": _ts(invited + 7 * DAY).isoformat()})
        return invite

    def sms(self, g: int, invite: int, phone: str, receiver: int | None, at: float) -> None:
        failed = self.rng.random() < 0.15
        self.add("invite_notifications", invite_id=invite, recipient=phone,
                 notification_type="INVITE_CREATED", channel="sms",
                 status="failed" if failed else "sent", retry_count=3 if failed else 1,
                 sent_at=None if failed else _ts(at + 5), delivered_at=None,
                 error="SMS gateway timed out" if failed else None, external_message_id=None,
                 created_at=_ts(at), updated_at=_ts(at + 60), recipient_user_id=receiver,
                 family_group_id=g, next_attempt_at=None,
                 payload={"group_id": g, "sender_name": self.name_of(self.admin_of[g]),
                          "role": "caregiver"})

    def invitee(self) -> tuple[str, int | None]:
        if self.rng.random() < 0.5:
            user = self.rng.choice(self.loose)
            return phone_of(user - 1), user
        self.bare += 1
        return bare_phone(self.bare), None

    def pending_invite(self, g: int) -> None:
        phone, receiver = self.invitee()
        invited = self.now - self.rng.uniform(60, 6 * DAY)
        self.sms(g, self.invite(g, phone, receiver, "pending", invited, self.token()), phone,
                 receiver, invited)
        self.free[g] -= 1

    def stale_invite(self, g: int) -> None:
        phone, receiver = self.invitee()
        invited = self.now - self.rng.uniform(8 * DAY, 60 * DAY)
        self.invite(g, phone, receiver, self.rng.choice(("expired", "cancelled", "rejected")),
                    invited, self.token())

    def pool(self) -> tuple[list[PoolInvite], list[PoolInvite], int]:
        """The accept pool: pending invites to new accounts, spread over the free places."""
        rng, wanted = self.rng, self.accepts + 2
        groups = [g for g, free in self.free.items() if free > 0 and g not in self.shown]
        rng.shuffle(groups)
        blocks: list[list[PoolInvite]] = []
        for g in groups:
            if wanted <= 0:
                break
            take = min(self.free[g], wanted)
            wanted -= take
            invited = self.now - rng.uniform(60, DAY)
            block = []
            for _ in range(take):
                user = self.user(invited)
                token = self.token()
                phone = phone_of(user - 1)
                invite = self.invite(g, phone, user, "pending", invited, token)
                self.sms(g, invite, phone, user, invited)
                block.append(PoolInvite(invite, user, phone, token, g))
            blocks.append(block)
        if wanted > 0:
            raise GenerateError(f"{self.n_groups} groups have room for "
                                f"{self.accepts + 2 - wanted} pool invites, not "
                                f"{self.accepts + 2}: ask for more groups or fewer accepts.")
        probes = [blocks[0].pop(), blocks[-1].pop()]
        overflow, spread, together = 0, [], []
        for i, block in enumerate(blocks):
            if 0 < i < len(blocks) - 1 and i % 10 == 9 and len(block) >= 2:
                # The plan was lowered after the invites went out: one place fewer than
                # invites (an accept needs a member place; pending invites do not count).
                g = block[0].group_id
                self.rows["subscriptions"][g - 1]["caregiver_slots"] = (
                    self.caregivers[g] + len(block) - 1)
                overflow += 1
                together.append(block)  # next to each other: both workers race for them
            else:
                spread.extend(block)
        rng.shuffle(spread)
        # Evenly spaced, the first near the start, so that a short run meets one too.
        step = len(spread) // max(len(together), 1)
        for n in reversed(range(len(together))):
            at = min(10 + n * step, len(spread))
            spread[at:at] = together[n]
        return spread, probes, overflow


# --- the database ---------------------------------------------------------------------------


def check_ready(conn) -> None:
    try:
        users = conn.execute(text("SELECT count(*) FROM users")).scalar()
    except Exception as exc:  # noqa: BLE001 - no schema: say how to make it
        raise GenerateError("The database has no schema: run `flask --app wsgi db upgrade` "
                            "with the same DATABASE_URL first.") from exc
    if users:
        raise GenerateError(f"The database already has {users:,} users; the load benchmark "
                            "fills an empty one.")


PERMISSIONS_SQL = """
INSERT INTO connection_permissions (contact_id, permission_code, is_enabled, updated_at)
SELECT c.id, t.code,
       NOT c.permission_revoked AND (c.family_group_id IN (:measured, :large) OR NOT (
           (t.code = 'proxy_execution' AND c.id % 10 < 3) OR (t.code = 'task_config'
                                                              AND c.id % 7 = 0))),
       c.created_at
FROM user_emergency_contacts c CROSS JOIN connection_permission_types t
"""


def _write_postgresql(conn, table: str, rows: list[dict]) -> None:
    from psycopg import sql

    from app.extensions import db

    columns = list(rows[0])
    json_columns = {c.name for c in db.metadata.tables[table].columns
                    if isinstance(c.type, JSON)}
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(sql.Identifier(c) for c in columns))
    raw = conn.connection.dbapi_connection
    with raw.cursor() as cur, cur.copy(statement) as copy:
        for row in rows:
            copy.write_row([json.dumps(row[c], ensure_ascii=False)
                            if c in json_columns and row[c] is not None else row[c]
                            for c in columns])


def _write_sqlite(conn, table: str, rows: list[dict]) -> None:
    from app.extensions import db

    insert = db.metadata.tables[table].insert()
    for at in range(0, len(rows), 20_000):
        conn.execute(insert, rows[at:at + 20_000])


def generate(database_url: str, *, groups: int = DEFAULT_GROUPS, accepts: int = 2_000,
             seed: int = 2026, large: bool = False,
             log: Callable[[str], None] = print) -> Fixture:
    """Fill the empty migrated database; returns what the benchmark needs to know.
    `large`: the large family too (4 patients, 10 caregivers), after the others."""
    from app import models  # noqa: F401 - every table in the metadata
    from app.accounts.passwords import hash_password

    began = time.perf_counter()
    url = database_url
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + psycopg_dsn(url).removeprefix("postgresql://")
    engine = create_engine(url)
    sqlite = engine.dialect.name == "sqlite"
    if sqlite:
        event.listen(engine, "connect",
                     lambda dbapi, _rec: dbapi.execute("PRAGMA foreign_keys=ON"))
    try:
        with engine.begin() as conn:
            check_ready(conn)
            inverse = {(r[0], r[1]): r[2] for r in conn.execute(text(
                "SELECT relationship_code, target_gender, inverse_code "
                "FROM relationship_inverse_mapping"))}
            relationships = list(conn.execute(text(
                "SELECT code FROM relationships WHERE is_active ORDER BY display_order"))
                .scalars())
            world = World(groups=groups, accepts=accepts, seed=seed,
                          now=datetime.now(UTC).timestamp(), inverse=inverse,
                          relationships=relationships, large=large)
            world.build(hash_password(PASSWORD))
            pool, probes, overflow = world.pool()
            log(f"built the rows in memory in {time.perf_counter() - began:.1f} s")
            write = _write_sqlite if sqlite else _write_postgresql
            written = {}
            for table in ORDER:
                write(conn, table, world.rows[table])
                written[table] = len(world.rows[table])
            written["connection_permissions"] = conn.execute(
                text(PERMISSIONS_SQL),
                {"measured": world.measured, "large": world.large or world.measured}).rowcount
            if not sqlite:
                for table in (*ORDER, "connection_permissions"):
                    conn.execute(text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608 - our table names
                        f"coalesce((SELECT max(id) FROM {table}), 0) + 1, false)"))
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
    finally:
        engine.dispose()
    measured = world.measured
    members = [r for r in world.rows["family_group_members"] if r["group_id"] == measured]
    caregiver = next(r["user_id"] for r in members if r["role"] == "caregiver")
    patient = next(r["user_id"] for r in members if r["role"] == "patient")
    admin = world.admin_of[measured]
    big = None
    if world.large is not None:
        big_admin = world.admin_of[world.large]
        big = Family(group_id=world.large, admin_id=big_admin,
                     admin_phone=phone_of(big_admin - 1),
                     connections=world.connections_of[world.large])
    log(f"generated {groups + (big is not None):,} groups ({written['users']:,} users, "
        f"{written['user_emergency_contacts']:,} connections, "
        f"{written['connection_invites']:,} invites, {written['audit_events']:,} audit events) "
        f"in {time.perf_counter() - began:.1f} s")
    return Fixture(group_id=measured, admin_id=admin, admin_phone=phone_of(admin - 1),
                   caregiver_id=caregiver, caregiver_phone=phone_of(caregiver - 1),
                   patient_id=patient, connections=world.connections_of[measured], pool=pool,
                   probes=probes, overflow=overflow, written=written, large=big)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--groups", type=int, default=DEFAULT_GROUPS)
    parser.add_argument("--accepts", type=int, default=2_000,
                        help="pending invites of the accept pool (default 2,000)")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    url = os.environ.get("DATABASE_URL")
    if not url:
        print("Set DATABASE_URL to an empty migrated database.", file=sys.stderr)
        return 2
    try:
        generate(url, groups=args.groups, accepts=args.accepts, seed=args.seed)
    except GenerateError as exc:
        print(exc, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
