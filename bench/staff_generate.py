"""Bench data for the staff pages: 1,000,000 users and 200,000 family groups in PostgreSQL.

    export DATABASE_URL=postgresql://user@host:port/fc_bench
    .venv/bin/flask --app wsgi db upgrade            # the schema, as in production
    .venv/bin/python -m bench.staff_generate          # --users N --groups M for a quick run

What it writes, through COPY (psycopg 3) into the migrated schema, indexes and constraints
all in place (nothing is disabled):

- users: realistic Vietnamese names, unique valid mobile numbers (+849x…, +843x…), an
  email for about a third, one constant password hash (bench/README.md names the
  password), a few suspended;
- per group: a subscription of a plan (active, or expired/cancelled for inactive and
  dissolved groups), the group (~85% active, 10% inactive, 5% dissolved: newest id =
  newest group), its admin and its members — one or two patients, one to four caregivers,
  within the plan's slots, one group per user per role (BR-057); a fifth of the admins are
  also a caregiver of their own group and a few patients of one family are a caregiver in
  another; every pair's connection with its six permissions (a few silently
  disconnected, with a private reason), the accepted invites that brought the members in;
- some pending invites (SMS sent, some failed) to people with or without an account, some
  expired ones; audit events for each group, accept, disconnect and dissolution.

It refuses a database that already has users unless --reset (which empties every data
table, lookups kept); it ends with ANALYZE and prints the time it took.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys
import time
import unicodedata
from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from psycopg import sql

from app.accounts.passwords import hash_password
from app.config import DEFAULT_PLANS

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_USERS = 1_000_000
DEFAULT_GROUPS = 200_000
# Every generated user's (and the bench staff member's) password: bench data only.
PASSWORD = "bench-2026"  # noqa: S105 - a documented bench password, not a secret
# Valid Vietnamese mobile prefixes (E.164 without the subscriber number).
USER_PREFIXES = ("+8490", "+8491", "+8493", "+8494", "+8496", "+8497", "+8498", "+8432",
                 "+8433", "+8434", "+8435", "+8436", "+8437", "+8438", "+8439")
BARE_PREFIX = "+8486"  # invited numbers with no account: never a generated user's prefix
LOOKUP_TABLES = ("relationships", "relationship_inverse_mapping",
                 "connection_permission_types", "alembic_version")
WINDOW_DAYS = 730  # groups were created over the last two years
STATUSES = (("active", 85), ("inactive", 10), ("dissolved", 5))
PLAN_WEIGHTS = {"family_basic": 15, "family": 70, "family_plus": 15}
REASONS = ("Con không muốn bố xem nữa", "Người thân đã chuyển đi xa",
           "Tranh chấp trong gia đình", "Bệnh nhân yêu cầu")

FAMILY_NAMES = (("Nguyễn", 380), ("Trần", 110), ("Lê", 95), ("Phạm", 70), ("Hoàng", 40),
                ("Huỳnh", 20), ("Phan", 45), ("Vũ", 30), ("Võ", 20), ("Đặng", 21),
                ("Bùi", 20), ("Đỗ", 14), ("Hồ", 13), ("Ngô", 13), ("Dương", 10), ("Lý", 5),
                ("Đinh", 8), ("Trương", 8), ("Mai", 5), ("Đoàn", 5), ("Lương", 4), ("Cao", 4),
                ("Tạ", 3), ("Lâm", 4), ("Hà", 4))
MIDDLE = (("Văn", "Hữu", "Đức", "Minh", "Quang", "Thành", "Công", "Xuân", "Ngọc", "Gia",
           "Anh", "Trọng"),
          ("Thị", "Ngọc", "Thu", "Thanh", "Kim", "Minh", "Phương", "Bích", "Hồng", "Mai",
           "Khánh", "Diệu"))
GIVEN = (("An", "Bình", "Cường", "Dũng", "Đạt", "Hải", "Hùng", "Huy", "Khoa", "Khang", "Long",
          "Minh", "Nam", "Phong", "Phúc", "Quân", "Sơn", "Tài", "Thắng", "Thành", "Toàn",
          "Trung", "Tuấn", "Việt", "Vinh", "Hiếu", "Lâm", "Bảo", "Duy", "Tâm", "Tùng", "Hòa",
          "Kiên", "Lộc", "Nghĩa"),
         ("Anh", "Chi", "Dung", "Giang", "Hà", "Hạnh", "Hằng", "Hoa", "Hương", "Huyền", "Lan",
          "Liên", "Linh", "Loan", "Mai", "My", "Nga", "Ngân", "Nhung", "Oanh", "Phương",
          "Quỳnh", "Thảo", "Thu", "Thúy", "Trang", "Tuyết", "Vân", "Yến", "Xuân", "Hồng",
          "Ngọc", "Diệp", "Nhàn", "Cúc"))
EMAIL_DOMAINS = ("example.vn", "example.com", "mail.example.vn")


class GenerateError(Exception):
    """The database is not ready for generating (no schema, data already there)."""


def psycopg_dsn(url: str) -> str:
    """A SQLAlchemy or libpq URL as psycopg takes it."""
    for prefix in ("postgresql+psycopg://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix):]
    return url


def phone_of(index: int) -> str:
    """The phone of the index-th user (0-based): unique, valid, spread over the prefixes.
    The subscriber number is k × 7,654,321 + 1,234,567 mod 10⁷, a bijection (the factor is
    prime to 10⁷), so numbers look random and never repeat within a prefix."""
    k, prefix = divmod(index, len(USER_PREFIXES))
    return f"{USER_PREFIXES[prefix]}{(k * 7_654_321 + 1_234_567) % 10_000_000:07d}"


def bare_phone(index: int) -> str:
    return f"{BARE_PREFIX}{(index * 3_141_593 + 271_828) % 10_000_000:07d}"


def ascii_word(text: str) -> str:
    text = text.replace("Đ", "D").replace("đ", "d")
    return "".join(c for c in unicodedata.normalize("NFD", text)
                   if not unicodedata.combining(c)).lower()


def _ts(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@dataclass
class Rows:
    """The rows of each table, in COPY column order, built before any is written."""

    subscriptions: list[tuple] = field(default_factory=list)
    family_groups: list[tuple] = field(default_factory=list)
    family_group_members: list[tuple] = field(default_factory=list)
    connection_invites: list[tuple] = field(default_factory=list)
    user_emergency_contacts: list[tuple] = field(default_factory=list)
    invite_notifications: list[tuple] = field(default_factory=list)
    audit_events: list[tuple] = field(default_factory=list)


COLUMNS = {
    "users": ("id", "phone", "email", "name", "gender", "password_hash", "locale", "is_staff",
              "is_active", "session_epoch", "last_login_at", "phone_verified_at", "created_at",
              "updated_at"),
    "subscriptions": ("id", "owner_user_id", "plan", "patient_slots", "caregiver_slots",
                      "status", "starts_at", "expires_at", "created_at", "updated_at"),
    "family_groups": ("id", "admin_user_id", "subscription_id", "name", "status",
                      "dissolved_at", "created_at", "updated_at"),
    "family_group_members": ("id", "group_id", "user_id", "role", "joined_at"),
    "connection_invites": ("id", "sender_id", "family_group_id", "receiver_phone",
                           "receiver_id", "invite_type", "status", "token_hash", "expires_at",
                           "created_at", "updated_at"),
    "user_emergency_contacts": ("id", "user_id", "linked_user_id", "contact_type",
                                "relationship_code", "inverse_relationship_code", "invite_id",
                                "permission_revoked", "family_group_id", "created_at",
                                "updated_at"),
    "invite_notifications": ("id", "invite_id", "recipient", "notification_type", "channel",
                             "status", "retry_count", "sent_at", "delivered_at", "error",
                             "created_at", "updated_at", "recipient_user_id",
                             "family_group_id", "next_attempt_at", "payload"),
    "audit_events": ("id", "created_at", "actor_id", "action", "subject_type", "subject_id",
                     "family_group_id", "details", "ip"),
}


class World:
    """Builds the rows (deterministic for a seed). Users are written last from what the
    groups made of them: each user's account is older than the first group they entered."""

    def __init__(self, *, users: int, groups: int, seed: int, now: datetime,
                 inverse: dict[tuple[str, int], str], relationships: Sequence[str]):
        if groups < 1 or users < groups:
            raise GenerateError("Ask for at least one group and at least as many users as "
                                "groups (each group has its own admin).")
        self.n_users, self.n_groups = users, groups
        self.rng = random.Random(seed)  # noqa: S311 - test data, not secrets
        self.now = now.timestamp()
        self.inverse, self.relationships = inverse, list(relationships)
        self.rows = Rows()
        self.first_seen = array("d", [self.now]) * (users + 1)
        self.genders = bytearray(self.rng.getrandbits(1) for _ in range(users + 1))
        self.names = [""] + [self._name(self.genders[i]) for i in range(1, users + 1)]
        order = list(range(1, users + 1))
        self.rng.shuffle(order)
        self.admins = order[:groups]
        rest = order[groups:]
        loose = len(rest) // 10  # people with an account and no family: invitees, newcomers
        self.loose, self.pool = rest[:loose], iter(rest[loose:])
        self.ids = {name: 0 for name in COLUMNS}
        self.caregivers: set[int] = set()
        self.recent_patients: list[int] = []
        self.bare = 0

    def _name(self, gender: int) -> str:
        rng = self.rng
        family = rng.choices(FAMILY_NAMES_KEYS, FAMILY_NAMES_WEIGHTS)[0]
        return f"{family} {rng.choice(MIDDLE[gender])} {rng.choice(GIVEN[gender])}"

    def next_id(self, table: str) -> int:
        self.ids[table] += 1
        return self.ids[table]

    def seen(self, user_id: int, at: float) -> None:
        if at < self.first_seen[user_id]:
            self.first_seen[user_id] = at

    def audit(self, at: float, actor: int | None, action: str, subject: tuple[str, int] | None,
              group: int | None, details: dict | None) -> None:
        self.rows.audit_events.append((
            self.next_id("audit_events"), _ts(at), actor, action,
            subject[0] if subject else None, subject[1] if subject else None, group,
            json.dumps(details, ensure_ascii=False) if details is not None else None, None))

    def phone(self, user_id: int) -> str:
        return phone_of(user_id - 1)

    # --- groups --------------------------------------------------------------------------

    def build(self) -> None:
        step = WINDOW_DAYS * 86400 / self.n_groups
        start = self.now - WINDOW_DAYS * 86400
        statuses = [s for s, _w in STATUSES]
        weights = [w for _s, w in STATUSES]
        plans = list(PLAN_WEIGHTS)
        for g in range(1, self.n_groups + 1):
            created = start + (g - 1) * step + self.rng.uniform(0, step)
            status = self.rng.choices(statuses, weights)[0]
            plan = self.rng.choices(plans, [PLAN_WEIGHTS[p] for p in plans])[0]
            self.group(g, created, status, plan)

    def group(self, g: int, created: float, status: str, plan: str) -> None:
        rng, admin = self.rng, self.admins[g - 1]
        slots = DEFAULT_PLANS[plan]
        age = self.now - created
        if status == "active":
            sub_status, expires = "active", self.now + rng.uniform(30, 365) * 86400
        else:
            sub_status = "expired" if status == "inactive" else "cancelled"
            expires = created + age * rng.uniform(0.3, 0.95)
        self.rows.subscriptions.append((
            g, admin, plan, slots["patient"], slots["caregiver"], sub_status, _ts(created),
            _ts(expires), _ts(created), _ts(created)))
        admin_name = self.names[admin]
        name = self.group_name(admin_name)
        dissolved_at = created + age * rng.uniform(0.5, 0.99) if status == "dissolved" else None
        self.rows.family_groups.append((
            g, admin, g, name, status, _ts(dissolved_at) if dissolved_at else None,
            _ts(created), _ts(dissolved_at or created)))
        self.seen(admin, created)
        self.audit(created, admin, "group.created", ("family_groups", g), g,
                   {"name": name, "plan": plan, "subscription_id": g})
        if dissolved_at is not None:
            # Dissolving deleted the memberships: the history is in the audit trail only.
            self.audit(dissolved_at, admin, "group.dissolved", ("family_groups", g), g,
                       {"members": [], "revoked": 0, "invites_cancelled": 0})
            return
        self.members(g, admin, created, slots)
        if status == "active" and rng.random() < 0.10:
            self.pending_invite(g, admin, name)
        if rng.random() < 0.05:
            self.expired_invite(g, admin, created)

    def group_name(self, admin_name: str) -> str:
        family, *_middle, given = admin_name.split()
        form = self.rng.random()
        if form < 0.5:
            return f"Gia đình {admin_name}"
        if form < 0.7:
            return f"Nhà {family} {given}"
        if form < 0.85:
            return f"Họ {family} - {given}"
        return f"Gia đình {given} ({self.rng.choice(('Hà Nội', 'TP.HCM', 'Đà Nẵng', 'Huế'))})"

    def take(self) -> int | None:
        return next(self.pool, None)

    def members(self, g: int, admin: int, created: float, slots: dict[str, int]) -> None:
        rng = self.rng
        n_patients = min(slots["patient"], 1 if rng.random() < 0.6 else 2)
        n_caregivers = min(slots["caregiver"], rng.choices((1, 2, 3, 4), (30, 35, 20, 15))[0])
        patients = [u for u in (self.take() for _ in range(n_patients)) if u is not None]
        caregivers: list[int] = []
        if rng.random() < 0.2:
            caregivers.append(admin)  # BR-049: the admin adds themselves, no invite
        if self.recent_patients and rng.random() < 0.05:
            dual = rng.choice(self.recent_patients)  # a patient elsewhere, caregiver here
            if dual not in self.caregivers and dual not in patients and dual != admin:
                caregivers.append(dual)
        while len(caregivers) < n_caregivers:
            user = self.take()
            if user is None:
                break
            caregivers.append(user)
        self.caregivers.update(caregivers)
        self.recent_patients = (self.recent_patients + patients)[-1000:]
        horizon = min(30 * 86400, self.now - created)
        joined: dict[tuple[int, str], float] = {}
        invites: dict[tuple[int, str], int] = {}
        for role, people in (("patient", patients), ("caregiver", caregivers)):
            for user in people:
                at = created + rng.uniform(0, horizon)
                joined[user, role] = at
                self.seen(user, at)
                self.rows.family_group_members.append(
                    (self.next_id("family_group_members"), g, user, role, _ts(at)))
                if user != admin:
                    invites[user, role] = self.accepted_invite(g, admin, user, role, created,
                                                               at)
        for patient in patients:
            for caregiver in caregivers:
                if patient != caregiver:
                    self.connection(g, admin, patient, caregiver,
                                    max(joined[patient, "patient"],
                                        joined[caregiver, "caregiver"]),
                                    invites.get((caregiver, "caregiver"))
                                    or invites.get((patient, "patient")))

    def accepted_invite(self, g: int, admin: int, user: int, role: str, created: float,
                        at: float) -> int:
        invited = max(created, at - self.rng.uniform(300, 2 * 86400))
        invite_id = self.next_id("connection_invites")
        self.rows.connection_invites.append((
            invite_id, admin, g, self.phone(user), user,
            "add_patient" if role == "patient" else "add_caregiver", "accepted", None,
            _ts(invited + 7 * 86400), _ts(invited), _ts(at)))
        self.audit(at, user, "invite.accepted", ("connection_invites", invite_id), g,
                   {"role": role, "relationship": None})
        return invite_id

    def connection(self, g: int, admin: int, patient: int, caregiver: int, at: float,
                   invite_id: int | None) -> None:
        rng = self.rng
        relationship = inverse = None
        if rng.random() < 0.6:
            relationship = rng.choice(self.relationships)
            inverse = self.inverse.get((relationship, self.genders[patient]), "khac")
        revoked = rng.random() < 0.02
        cid = self.next_id("user_emergency_contacts")
        self.rows.user_emergency_contacts.append((
            cid, patient, caregiver, "caregiver", relationship, inverse, invite_id, revoked, g,
            _ts(at), _ts(at)))
        if revoked:
            when = at + rng.uniform(0, max(self.now - at, 1))
            self.audit(when, admin, "connection.disconnected", ("user_emergency_contacts", cid),
                       g, {"as": "admin", "scope": "connection", "patient_id": patient,
                           "caregiver_id": caregiver, "reason": rng.choice(REASONS)})

    def invite_row(self, g: int, admin: int, phone: str, receiver: int | None, status: str,
                   invited: float, token: bool) -> int:
        invite_id = self.next_id("connection_invites")
        token_hash = (hashlib.sha256(f"bench-invite-{invite_id}".encode()).hexdigest()
                      if token else None)
        self.rows.connection_invites.append((
            invite_id, admin, g, phone, receiver, "add_caregiver", status, token_hash,
            _ts(invited + 7 * 86400), _ts(invited), _ts(invited)))
        self.audit(invited, admin, "invite.created", ("connection_invites", invite_id), g,
                   {"phone": phone, "role": "caregiver",
                    "expires_at": _ts(invited + 7 * 86400).isoformat()})
        return invite_id

    def invitee(self) -> tuple[str, int | None]:
        if self.loose and self.rng.random() < 0.5:
            user = self.rng.choice(self.loose)
            return self.phone(user), user
        self.bare += 1
        return bare_phone(self.bare), None

    def pending_invite(self, g: int, admin: int, group_name: str) -> None:
        rng = self.rng
        phone, receiver = self.invitee()
        invited = self.now - rng.uniform(60, 6 * 86400)
        invite_id = self.invite_row(g, admin, phone, receiver, "pending", invited, token=True)
        failed = rng.random() < 0.15
        payload = {"group_id": g, "group_name": group_name, "sender_name": self.names[admin],
                   "role": "caregiver", "expires_at": _ts(invited + 7 * 86400).isoformat()}
        self.rows.invite_notifications.append((
            self.next_id("invite_notifications"), invite_id, phone, "INVITE_CREATED", "sms",
            "failed" if failed else "sent", 3 if failed else 1,
            None if failed else _ts(invited + 5), None,
            "SMS gateway timed out" if failed else None, _ts(invited), _ts(invited + 60),
            receiver, g, None, json.dumps(payload, ensure_ascii=False)))

    def expired_invite(self, g: int, admin: int, created: float) -> None:
        phone, receiver = self.invitee()
        latest = max(created, self.now - 8 * 86400 - 1)
        invited = self.rng.uniform(created, latest) if latest > created else created
        if invited + 7 * 86400 >= self.now:
            return  # too young a group to have an expired invite
        self.invite_row(g, admin, phone, receiver, "expired", invited, token=True)

    # --- users ---------------------------------------------------------------------------

    def users(self, password_hash: str) -> Iterable[tuple]:
        rng, now = self.rng, self.now
        for user_id in range(1, self.n_users + 1):
            first = self.first_seen[user_id]
            created = first - rng.uniform(3600, 90 * 86400)
            name = self.names[user_id]
            email = None
            if rng.random() < 0.33:
                words = ascii_word(name).split()
                email = f"{words[-1]}.{words[0]}{user_id}@{EMAIL_DOMAINS[user_id % 3]}"
            last_login = (_ts(created + rng.uniform(0, now - created))
                          if rng.random() < 0.7 else None)
            # Most numbers proved by a code at sign-up (ID-001); some accounts never did.
            proved = _ts(created) if rng.random() < 0.95 else None
            yield (user_id, self.phone(user_id), email, name, self.genders[user_id],
                   password_hash, "vi" if rng.random() < 0.93 else "en", False,
                   rng.random() >= 0.003, 0, last_login, proved, _ts(created), _ts(created))


FAMILY_NAMES_KEYS = [n for n, _w in FAMILY_NAMES]
FAMILY_NAMES_WEIGHTS = [w for _n, w in FAMILY_NAMES]


# --- the database ------------------------------------------------------------------------


def schema_head() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(ROOT / "migrations"))
    return ScriptDirectory.from_config(config).get_current_head()


def data_tables(conn: psycopg.Connection) -> list[str]:
    return [row[0] for row in conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
        "AND tablename <> ALL(%s) ORDER BY tablename", [list(LOOKUP_TABLES)])]


def check_ready(conn: psycopg.Connection, *, reset: bool) -> None:
    """The schema is at the head revision and there is no data (or reset empties it)."""
    head = schema_head()
    try:
        version = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except psycopg.errors.UndefinedTable:
        conn.rollback()
        version = None
    if version is None or version[0] != head:
        raise GenerateError(
            f"The database is not at the schema's head revision ({head}); run "
            "`flask --app wsgi db upgrade` with the same DATABASE_URL first.")
    users = conn.execute("SELECT count(*) FROM users").fetchone()[0]
    if users and not reset:
        raise GenerateError(
            f"The database already has {users:,} users. Use --reset to empty every data table "
            "(the lookup tables stay) and generate again, or point DATABASE_URL elsewhere.")
    if reset:
        conn.execute(sql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(
            sql.SQL(", ").join(sql.Identifier(t) for t in data_tables(conn))))


def copy_rows(conn: psycopg.Connection, table: str, rows: Iterable[tuple]) -> int:
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(sql.Identifier(c) for c in COLUMNS[table]))
    n = 0
    with conn.cursor() as cur, cur.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)
            n += 1
    return n


PERMISSIONS_SQL = """
INSERT INTO connection_permissions (contact_id, permission_code, is_enabled, updated_at)
SELECT c.id, t.code,
       NOT c.permission_revoked AND NOT (t.code = 'proxy_execution' AND c.id % 10 < 3)
                                AND NOT (t.code = 'task_config' AND c.id % 7 = 0),
       c.created_at
FROM user_emergency_contacts c CROSS JOIN connection_permission_types t
"""


def reset_sequences(conn: psycopg.Connection) -> None:
    for table in data_tables(conn):
        has_id = conn.execute(
            "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = %s AND column_name = 'id'", [table]).fetchone()
        if not has_id:  # keyed otherwise (staff_factors: by its user)
            continue
        sequence = conn.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table]).fetchone()
        if sequence and sequence[0]:
            conn.execute(sql.SQL(
                "SELECT setval(%s, coalesce((SELECT max(id) FROM {}), 0) + 1, false)").format(
                sql.Identifier(table)), [sequence[0]])


def generate(database_url: str, *, users: int = DEFAULT_USERS, groups: int = DEFAULT_GROUPS,
             seed: int = 2026, reset: bool = False,
             log: Callable[[str], None] = print) -> dict[str, int]:
    """Fill the database; returns the rows written per table. Raises GenerateError."""
    began = time.perf_counter()
    with psycopg.connect(psycopg_dsn(database_url)) as conn:
        check_ready(conn, reset=reset)
        inverse = {(code, gender): inv for code, gender, inv in conn.execute(
            "SELECT relationship_code, target_gender, inverse_code "
            "FROM relationship_inverse_mapping")}
        relationships = [row[0] for row in conn.execute(
            "SELECT code FROM relationships WHERE is_active ORDER BY display_order")]
        world = World(users=users, groups=groups, seed=seed, now=datetime.now(UTC),
                      inverse=inverse, relationships=relationships)
        world.build()
        log(f"built the rows in memory in {time.perf_counter() - began:.1f} s")
        written: dict[str, int] = {}

        def step(table: str, rows: Iterable[tuple]) -> None:
            at = time.perf_counter()
            written[table] = copy_rows(conn, table, rows)
            log(f"{table:<26} {written[table]:>10,} rows  {time.perf_counter() - at:6.1f} s")

        step("users", world.users(hash_password(PASSWORD)))
        for table in ("subscriptions", "family_groups", "family_group_members",
                      "connection_invites", "user_emergency_contacts", "invite_notifications",
                      "audit_events"):
            step(table, getattr(world.rows, table))
            setattr(world.rows, table, [])  # free the memory as we go
        at = time.perf_counter()
        written["connection_permissions"] = conn.execute(PERMISSIONS_SQL).rowcount
        log(f"{'connection_permissions':<26} {written['connection_permissions']:>10,} rows  "
            f"{time.perf_counter() - at:6.1f} s")
        reset_sequences(conn)
        conn.commit()
        at = time.perf_counter()
        conn.autocommit = True
        conn.execute("ANALYZE")
        log(f"ANALYZE {time.perf_counter() - at:.1f} s")
    log(f"generated {users:,} users and {groups:,} groups in "
        f"{time.perf_counter() - began:.1f} s")
    return written


def postgres_url() -> str | None:
    """DATABASE_URL when it names a PostgreSQL database; else None, having said so."""
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgresql", "postgres://")):
        return url
    print("Set DATABASE_URL to the benchmark's PostgreSQL database (see bench/README.md).",
          file=sys.stderr)
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=DEFAULT_USERS,
                        help=f"users to make (default {DEFAULT_USERS:,})")
    parser.add_argument("--groups", type=int, default=DEFAULT_GROUPS,
                        help=f"family groups to make (default {DEFAULT_GROUPS:,})")
    parser.add_argument("--seed", type=int, default=2026,
                        help="the same seed makes the same data (default 2026)")
    parser.add_argument("--reset", action="store_true",
                        help="empty every data table first (the lookup tables stay)")
    args = parser.parse_args(argv)
    url = postgres_url()
    if url is None:
        return 2
    try:
        generate(url, users=args.users, groups=args.groups, seed=args.seed, reset=args.reset)
    except GenerateError as exc:
        print(exc, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
