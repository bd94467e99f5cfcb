"""The authorization matrix's world and its requests (issue 7, item 3).

A seeded world — family A with its admin, two patients, two caregivers, their
connections (one permission off, one connection silently disconnected with a private
reason), a pending invite to a registered user, five expired invites (so staff's queue
flags the family), a report, outbox rows (one failed) and an imported member's claim
link; family B with its own admin, caregiver and patient; a staff member — lives in a
database of its own, so the suite's per-test `_clean` (which empties the session app's
database) never touches it and one seeding serves a whole module. A request that changed
something (a positive control, or a cell that found a hole) is followed by World.reset,
which puts every row back as seeded — same ids, so the logged-in sessions stay valid.

Every family-A string that a page could reveal carries a "Zq" marker, so a leak is a
plain substring search.
"""

from __future__ import annotations

import html
import io
import json
import re
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlsplit

from sqlalchemy import event, select, update

from app.accounts.claims import claim_rows
from app.accounts.services import api_token_create
from app.connections.control import connection_revoke, permissions_set
from app.db import utcnow
from app.extensions import db
from app.invites.services import invite_create
from app.models.accounts import AccountClaim, ApiToken
from app.models.audit import AuditEvent
from app.models.notifications import InviteNotification
from app.models.reports import PatientReport
from app.phone import display_phone
from app.tokens import unseal
from tests.conftest import log_in, migrated_app
from tests.factories import authenticator_code, make_email_link, make_user, national, next_phone
from tests.pages import csrf_from
from tests.service_helpers import admin_group, connection_between, join

API = "/api/v1/"
REASON = "lý do riêng Zq-lydo-7731"  # the admin's private reason for a disconnect
REPORT = "Huyết áp Zq-baocao 141/93, đường huyết ổn định"
GATEWAY_ERROR = "gateway said Zq-loi-4410"
FORGED_TOKEN = "Zz" + "x" * 41  # the shape of a real token, matching no row
# Written on reads by design: a bearer token's last use (at most once a minute).
IGNORED_COLUMNS = {("api_tokens", "last_used_at")}
# Family A's people (the invitee's phone is on A's pending invite).
FAMILY_A = ("admin_a", "patient_a", "patient_a2", "caregiver_a", "caregiver_a2",
            "suspended_a", "invitee_a")
LOOKUP_TABLES = {"relationships", "relationship_inverse_mapping",
                 "connection_permission_types", "alembic_version"}


@dataclass
class Person:
    key: str
    id: int
    phone: str
    name: str
    email: str | None
    token: str  # a personal API token

    def revealing(self) -> list[str]:
        """How this person could show up in a page or an answer."""
        found = [self.name, self.phone, national(self.phone), display_phone(self.phone)]
        return found + ([self.email] if self.email else [])


@dataclass
class World:
    app: object
    people: dict[str, Person] = field(default_factory=dict)
    ids: dict[str, object] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)  # family A's markers
    _clients: dict = field(default_factory=dict)
    _saved: list = field(default_factory=list)
    _snapshot_queries: list = field(default_factory=list)
    _state: dict | None = None  # the snapshot the next watch compares with

    # --- the world -------------------------------------------------------------------

    def seed(self) -> None:
        """Seed the world and keep its rows, for reset."""
        with self.app.app_context():
            self.people, self.ids = seed_world()
            db.session.commit()
            tables = [t for t in db.metadata.sorted_tables if t.name not in LOOKUP_TABLES]
            with db.engine.connect() as conn:
                self._saved = [(t, [dict(r) for r in conn.execute(select(t)).mappings()])
                               for t in tables]
            self._snapshot_queries = [
                (t.name, select(*[c for c in t.columns if (t.name, c.name)
                                  not in IGNORED_COLUMNS]).order_by(*t.primary_key.columns))
                for t in tables]
            db.session.remove()
        self.secrets = [s for key in FAMILY_A for s in self.people[key].revealing()] + [
            self.ids["group_name"], REASON, REPORT, GATEWAY_ERROR]

    def reset(self) -> None:
        """Put every row back as seeded (same ids, so the logged-in sessions stay valid):
        after a positive control, or a cell that changed something."""
        with self.app.app_context():
            db.session.remove()
            with db.engine.begin() as conn:
                for table, _rows in reversed(self._saved):
                    conn.execute(table.delete())
                for table, rows in self._saved:
                    if rows:
                        conn.execute(table.insert(), rows)
        self._clients.pop("anonymous", None)  # a claim link logs its holder in
        self._state = None

    @contextmanager
    def watch(self, *, staff: bool = False):
        """Yields a Watched that, after the block, holds what the block changed in the
        database: nothing when it ran no INSERT, UPDATE or DELETE (the common case, with
        no snapshot taken), else the difference from the state before (see changes) —
        none either when its writes were rolled back (a dry run, a refused service).
        staff: the audit rows of staff's looks are listed apart, not as changes."""
        if self._state is None:
            self._state = self.snapshot()
        writes: list[str] = []

        def before(_conn, _cursor, statement, *_args):
            if statement.lstrip()[:6].upper() in ("INSERT", "UPDATE", "DELETE"):
                writes.append(statement)

        with self.app.app_context():
            engine = db.engine
        found = Watched()
        event.listen(engine, "before_cursor_execute", before)
        try:
            yield found
        finally:
            event.remove(engine, "before_cursor_execute", before)
        if writes:
            after = self.snapshot()
            found.changed, found.looks = changes(self._state, after, staff=staff)
            if not found.changed:
                self._state = after  # staff's looks stay, and so does the new baseline

    # --- who asks --------------------------------------------------------------------

    def client(self, role: str):
        """(test client, CSRF token) of `role`: logged in through the login form, or a
        visitor who only opened the login page. One per role for the module (a reset
        keeps the sessions valid), the visitor's aside."""
        if role not in self._clients:
            if role == "anonymous":
                c = self.app.test_client()
                token = csrf_from(c.get("/account/login").get_data(as_text=True))
            else:
                c = log_in(self.app, self.people[role])
                token = csrf_from(c.get("/").get_data(as_text=True))
                if role == "staff":  # staff open family A and patient A's file with a reason
                    for path in (f"/staff/groups/{self.ids['group']}",
                                 f"/staff/users/{self.people['patient_a'].id}"):
                        assert c.post(f"{path}/reason", data={
                            "reason": "support", "csrf_token": token}).status_code == 303
                self._state = None  # the login wrote its audit row
            self._clients[role] = (c, token)
        return self._clients[role]

    def snapshot(self) -> dict[str, list]:
        """Every row of every table but the lookups, to show that a request wrote, changed
        or deleted nothing. Staff's audited looks are kept apart (see changes)."""
        with self.app.app_context(), db.engine.connect() as conn:
            return {name: [tuple(_hashable(v) for v in row) for row in conn.execute(query)]
                    for name, query in self._snapshot_queries}


def _hashable(value):
    return json.dumps(value, sort_keys=True, default=str) if isinstance(value, dict | list) \
        else value


@dataclass
class Watched:
    changed: dict[str, list] = field(default_factory=dict)  # table: rows added or removed
    looks: list[str] = field(default_factory=list)  # the actions of staff's looks recorded


def changes(before: dict[str, list], after: dict[str, list], *,
            staff: bool = False) -> tuple[dict[str, list], list[str]]:
    """Rows added or removed per table; staff: the new audit rows of staff's looks (SPEC
    §1: every staff look at a group is itself audited) apart, as their actions."""
    found, looks = {}, []
    action = next(i for i, c in enumerate(AuditEvent.__table__.columns) if c.name == "action")
    for name, rows in after.items():
        old, new = set(before.get(name, [])), set(rows)
        added, removed = new - old, old - new
        if staff and name == AuditEvent.__tablename__:
            looks = sorted(str(r[action]) for r in added if _is_look(str(r[action])))
            added = {r for r in added if not _is_look(str(r[action]))}
        if added or removed:
            found[name] = sorted(map(str, added | removed))
    return found, looks


def _is_look(action: str) -> bool:
    return action.startswith("staff.") and action.endswith(("_viewed", "_exported"))


def seed_world() -> tuple[dict[str, Person], dict[str, object]]:
    """Family A, family B, a staff member and a registered user with an invite from A."""
    admin_a, _sub, group = admin_group(patients=4, caregivers=10, admin=make_user(
        name="Trần Zq-quantri-alfa", email="zq-quantri@alfa.example.vn"))
    group.name = "Gia đình Zq-nhaalfa"
    patient_a = join(group, make_user(name="Ông Zq-benhnhan-mot", gender=0), role="patient")
    patient_a2 = join(group, make_user(name="Bà Zq-benhnhan-hai", gender=1), role="patient")
    caregiver_a = join(group, make_user(name="Chị Zq-nguoithan-mot", gender=1),
                       role="caregiver")
    caregiver_a2 = join(group, make_user(name="Anh Zq-nguoithan-hai", gender=0),
                        role="caregiver")
    suspended = join(group, make_user(name="Cụ Zq-tamkhoa", gender=0), role="caregiver")
    suspended.is_active = False
    live = connection_between(patient_a, caregiver_a)
    permissions_set(actor=admin_a, connection_id=connection_between(patient_a, caregiver_a2).id,
                    changes={"encouragement": False})
    revoked = connection_between(patient_a2, caregiver_a2)
    connection_revoke(actor=admin_a, connection_id=revoked.id, reason=REASON)
    report = PatientReport(patient_id=patient_a.id, period="2026-10", summary=REPORT)
    db.session.add(report)

    invitee = make_user(name="Cô Zq-duocmoi", gender=1)
    pending = invite_create(actor=admin_a, group=group, phone=national(invitee.phone),
                            role="caregiver")
    db.session.execute(update(InviteNotification).where(
        InviteNotification.invite_id == pending.invite.id,
        InviteNotification.notification_type == "INVITE_CREATED",
    ).values(status="failed", retry_count=5, error=GATEWAY_ERROR))
    failed_id = db.session.scalar(select(InviteNotification.id).where(
        InviteNotification.invite_id == pending.invite.id,
        InviteNotification.status == "failed").order_by(InviteNotification.id))
    # Five invites that expired unanswered: staff's queue flags family A (expired_invites).
    for _n in range(5):
        stale = invite_create(actor=admin_a, group=group, phone=national(next_phone()),
                              role="caregiver").invite
        stale.status, stale.expires_at = "expired", utcnow() - timedelta(days=1)
    # An imported member's one-time sign-in link (SPEC §8).
    patient_a2.password_hash = None
    claim, message = claim_rows(user_id=patient_a2.id, phone=patient_a2.phone,
                                name=patient_a2.name, now=utcnow(), group_id=group.id)
    db.session.add(AccountClaim(**claim))
    db.session.add(InviteNotification(**message))
    claim_token = unseal(message["payload"]["sealed_token"])
    # A link that proves an address for a member of family A (issue 21): its page names them.
    email_token = make_email_link(caregiver_a, "zq-chi@alfa.example.vn")

    admin_b, _sub_b, group_b = admin_group(admin=make_user(name="Lê Zb-quantri"))
    group_b.name = "Nhà Zb-beta"
    patient_b = join(group_b, make_user(name="Bà Zb-benhnhan", gender=1), role="patient")
    caregiver_b = join(group_b, make_user(name="Anh Zb-nguoithan", gender=0),
                       role="caregiver")
    staff = make_user(name="Nhân Viên Zs-staff", is_staff=True)
    free = make_user(name="Chú Zq-tudo", gender=0)  # in no family, for the admin's invites
    db.session.flush()

    people = {}
    for key, user in (("admin_a", admin_a), ("patient_a", patient_a),
                      ("patient_a2", patient_a2), ("caregiver_a", caregiver_a),
                      ("caregiver_a2", caregiver_a2), ("suspended_a", suspended),
                      ("invitee_a", invitee),
                      ("free_a", free), ("admin_b", admin_b), ("patient_b", patient_b),
                      ("caregiver_b", caregiver_b), ("staff", staff)):
        people[key] = Person(key=key, id=user.id, phone=user.phone, name=user.name,
                             email=user.email,
                             token=api_token_create(user=user, name="matrix",
                                                    mfa=user.staff_role))
    ids = {"group": group.id, "group_name": group.name, "connection": live.id,
           "revoked": revoked.id, "report": report.id, "invite": pending.invite.id,
           "invite_token": pending.token, "notification": failed_id,
           "claim_token": claim_token, "email_token": email_token,
           "signal": "expired_invites", "signal_key": str(group.id),
           "group_b": group_b.id,
           "api_token": db.session.scalar(select(ApiToken.id).where(
               ApiToken.user_id == admin_a.id))}
    return people, ids


# --- what a response shows -----------------------------------------------------------


def shown(response) -> str:
    """A response's body (HTML entities and JSON escapes undone) and its headers."""
    if response.mimetype == "application/zip":  # an export: what its files say
        with zipfile.ZipFile(io.BytesIO(response.get_data())) as archive:
            text = "\n".join(archive.read(name).decode("utf-8-sig")
                              for name in archive.namelist())
        return text + "\n".join(f"{k}: {v}" for k, v in response.headers.items())
    text = html.unescape(response.get_data(as_text=True))
    if response.is_json:
        text += json.dumps(response.get_json(silent=True), ensure_ascii=False)
    return text + "\n".join(f"{k}: {v}" for k, v in response.headers.items())


def location_path(response) -> str:
    return urlsplit(response.headers.get("Location", "")).path


def new_world(fresh_database_url, **overrides) -> World:
    """A migrated database of its own and an app on it; rate limits off (they are the
    rate-limit tests' subject, and the matrix logs in many times)."""
    app = migrated_app(fresh_database_url(), keep=True, RATELIMIT_ENABLED=False, **overrides)
    world = World(app=app)
    world.seed()
    return world


# --- the matrix's cells -----------------------------------------------------------------

LOGIN = "login"  # a page's visitor is sent to the login page; the API answers 401
STAFF_ONLY = 403  # an HTML /staff page or an /api/v1/staff route for a non-staff user
# Staff see a connection (it exists: they review the family) but hold none of its
# controls (app/connections/control.py: 403 no_control).
STAFF_NO_CONTROL = 403


@dataclass(frozen=True)
class Refused:
    """A form post refused by a service: 303 back with an error flash (a plain post), or
    `status` with the message and HX-Redirect (htmx)."""

    status: int


R403, R404 = Refused(403), Refused(404)


@dataclass(frozen=True)
class Route:
    """One (rule, method) of the URL map: how to fill it, who may use it and what the
    outsiders get. `fill` maps URL arguments to a world id ("group", "connection", …), a
    person ("caregiver_a2": their id) or a literal; `other` is what family B's admin,
    caregiver and patient get."""

    method: str
    rule: str
    fill: dict
    rightful: str
    ok: object  # an expectation (see check_status): the rightful user's, or a MIXED cell's
    other: object
    staff: object
    anonymous: object = LOGIN
    body: object = None  # the form or JSON body: a dict, or a function of the world
    query: str = ""
    htmx: bool = False  # sent as htmx (the route answers a fragment to htmx only)
    forged: bool = False  # a capability URL: outsiders hold a forged token (see MATRIX)
    shows: tuple = ()  # ids keys of family-A text an outsider sees by design
    quiet: bool = False  # the answer names nobody (a fragment of counts): no look to audit

    @property
    def api(self) -> bool:
        return self.rule.startswith(API)

    def label(self) -> str:
        return f"{self.method} {self.rule}" + (f" {self.fill.get('action')}"
                                               if "action" in self.fill else "")


# --- asking ----------------------------------------------------------------------------


def _value(world: World, name: str):
    if name in world.ids:
        return world.ids[name]
    if name in world.people:
        return world.people[name].id
    return name  # a literal: a permission code, a role, an action


def url_of(world: World, route, *, forged: bool = False) -> str:
    """The route's URL filled with family A's objects (a forged token when asked)."""
    rule = next(r for r in world.app.url_map.iter_rules()
                if r.rule == route.rule and route.method in r.methods)
    values = {k: FORGED_TOKEN if forged and k == "token" else _value(world, v)
              for k, v in route.fill.items()}
    _domain, path = rule.build(values, append_unknown=False)
    return path + (f"?{route.query}" if route.query else "")


# What staff read of a family or a person with a reason (issue 21): app/api/access.py.
STAFF_READ = re.compile(r"/api/v1/(families/\d+(/(connections|audit|invites))?|users/\d+"
                        r"(/families)?)(\?|$)")
# The staff actions a fresh authenticator code confirms (issue 21).
FRESH_CODE = re.compile(r"/staff/(users/\d+/(suspend|reactivate|export)|notifications/\d+/"
                        r"resend|codes|groups/\d+/audit\.csv)$")


def ask(world: World, route, role: str, *, forged: bool = False):
    """`role` requests the route: a page with its session (and its CSRF token on an unsafe
    method), the API with its bearer token (none for a visitor)."""
    url = url_of(world, route, forged=forged)
    if route.api and route.method == "GET" and STAFF_READ.search(url) and role in world.people:
        # Staff read a family or a person through the API with a reason (issue 21); for
        # anyone else the parameter is ignored.
        url += ("&" if "?" in url else "?") + "reason=support"
    body = route.body(world) if callable(route.body) else route.body
    if FRESH_CODE.search(url) and route.method != "GET" and role in world.people:
        # Staff actions are confirmed by a fresh authenticator code (issue 21): a right one,
        # so what is tested is who may act, not the code.
        with world.app.app_context():
            code = authenticator_code(world.people[role].id)
        body = {**(body or {}), ("totp" if route.api else "code"): code}
    headers = {"HX-Request": "true"} if route.htmx else {}
    if route.api:
        if role != "anonymous":
            headers["Authorization"] = f"Bearer {world.people[role].token}"
        json_body = None if route.method == "GET" else (body if body is not None else {})
        return world.app.test_client().open(url, method=route.method, json=json_body,
                                            headers=headers)
    client, csrf = world.client(role)
    data = None if route.method == "GET" else {**(body or {}), "csrf_token": csrf}
    return client.open(url, method=route.method, data=data, headers=headers)


def flashes(world: World, role: str) -> list[tuple[str, str]]:
    """The flash messages the last page request left in `role`'s session (taken)."""
    client, _csrf = world.client(role)
    with client.session_transaction() as session:
        return list(session.pop("_flashes", []))


# --- checking a cell -------------------------------------------------------------------


def _refusal(expected) -> bool:
    return expected == LOGIN or isinstance(expected, Refused) or (
        isinstance(expected, int) and expected >= 400)


def check_status(route: Route, role: str, expected, response, notes) -> None:
    """The answer is exactly the cell's."""
    where = f"{route.label()} as {role}: {response.status_code} " \
            f"{response.get_data()[:300].decode(errors='replace')!r}"
    if expected == LOGIN:
        if route.api:
            assert response.status_code == 401, where
            assert response.get_json()["error"]["code"] == "unauthorized", where
        else:
            assert response.status_code == 302, where
            assert location_path(response) == "/account/login", where
        return
    if isinstance(expected, str) and expected.startswith("/"):
        assert response.status_code == 303, where
        assert location_path(response) == expected, where
        return
    if isinstance(expected, Refused) and route.htmx:
        assert response.status_code == expected.status, where
        assert response.headers["HX-Redirect"] != "/account/login", where
        return
    if isinstance(expected, Refused):
        assert response.status_code == 303, where
        assert location_path(response) != "/account/login", where
        assert [c for c, _m in notes] == ["error"], (where, notes)
        return
    assert response.status_code == expected, where
    if route.api and expected >= 400:
        error = response.get_json()["error"]
        assert error["code"], where
        assert error["message"], where
    if not route.api and 300 <= expected < 400:
        assert location_path(response) != "/account/login", where
        assert "error" not in [c for c, _m in notes], (where, notes)


def leaked(world, route: Route, response, expected, notes) -> list[str]:
    """Family A's markers in the answer or in its flash messages (a session cookie is
    signed, not encrypted: the client reads it), those the route shows by design aside."""
    allowed = set()
    if expected == 200:
        for key in route.shows:
            allowed |= ({world.ids[key]} if key in world.ids
                        else set(world.people[key].revealing()))
    text = shown(response) + "\n".join(m for _c, m in notes)
    return [s for s in world.secrets if s in text and s not in allowed]


def check_cell(world, route: Route, role: str, expected) -> None:
    """`role` asks; the answer is `expected`, shows none of family A's data and changed
    nothing (a cell where staff is allowed by design checks the status only)."""
    if not route.api:
        world.client(role)  # logged in before the watch
    with world.watch(staff=role == "staff") as watched:
        response = ask(world, route, role, forged=route.forged)
    if watched.changed:
        world.reset()  # the next cell starts from the seeded world
    notes = [] if route.api else flashes(world, role)
    check_status(route, role, expected, response, notes)
    if not _refusal(expected):
        # by design (staff reviewing, an invite link's page); what staff read is recorded
        # (SPEC §1)
        # (a redirect shows nothing: staff sent from a family's page to the staff review)
        if role == "staff" and route.method == "GET" and not route.quiet \
                and expected == 200:
            assert watched.looks, f"{route.label()}: staff's look left no audit row"
        return
    assert not leaked(world, route, response, expected, notes), route.label()
    assert not watched.changed, f"{route.label()} as {role} changed {watched.changed}"
