"""Times the staff pages on the database bench/staff_generate.py filled (bench/README.md).

    DATABASE_URL=postgresql://… .venv/bin/python -m bench.staff_bench [--runs 30] [--extra]

The app runs in this process with the production settings (HTTPS redirects and Secure
cookies off: the requests come from Flask's test client) and a staff member signed in
through the login page (created with the bench password if missing). Each case is
requested a few times to warm up, then --runs times; the table gives the median, the
95th percentile and the maximum in milliseconds, from the request to the whole answer,
rendering and the audit event of a search included. Then the SQL statement behind the
group list and behind the phone search is run under EXPLAIN (ANALYZE).

The review queue (issue 21) is counted first, as the outbox worker counts it every
RISK_RECOUNT_SECONDS (`flask staff-queue-count`: its time is printed), and the queue's
page and API answer are timed reading that count.

It exits with 1 when any median of the gated cases reaches 100 ms (or a case does not
answer 200), 2 when the database is not ready. --extra adds cases that are not gated (a
user's file, a group's page).
"""

from __future__ import annotations

import argparse
import html
import math
import os
import platform
import re
import secrets
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, text

from bench.staff_generate import PASSWORD, postgres_url

STAFF_PHONE = "+84888000001"  # outside the generated prefixes
GATE_MS = 100.0
RUNS, WARMUP = 30, 5
PAGE = 5000
WALK_PAGES = 20
EXPLAIN_RUNS = 5
_ROW = re.compile(r'<tr id="group-(\d+)"')
_NEXT = re.compile(r'<a href="([^"]+)" id="next-page"')
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


class BenchError(Exception):
    """The database or the app is not ready for the benchmark."""


@dataclass
class Timing:
    name: str
    url: str
    runs: list[float]
    status: int
    gated: bool = True

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    @property
    def p95(self) -> float:
        ordered = sorted(self.runs)
        return ordered[max(math.ceil(0.95 * len(ordered)) - 1, 0)]

    @property
    def worst(self) -> float:
        return max(self.runs)

    @property
    def ok(self) -> bool:
        return self.status == 200 and (not self.gated or self.median < GATE_MS)


@dataclass
class Picks:
    """What the cases ask for, chosen from the data by SQL."""

    groups: int
    users: int
    page: int  # the deep page measured: PAGE, or the last page of a smaller database
    cursor: str | None  # the keyset cursor of that page (None for page 1)
    phone: str  # a group admin's number, as people type it: 0912 345 678
    user_id: int
    group_id: int


def build_app(database_url: str) -> Flask:
    from app import create_app

    return create_app({
        "APP_ENV": "production", "DATABASE_URL": database_url,
        "SECRET_KEY": secrets.token_urlsafe(48), "FORCE_HTTPS": False,
        "SESSION_COOKIE_SECURE": False, "LOG_LEVEL": "WARNING",
        "WEB_CONCURRENCY": 1,  # this one process: its rate limits count in its memory
        # the test client's host: production answers only its public address's host
        "PUBLIC_BASE_URL": "http://localhost"})


_SECRET = re.compile(r'id="totp-secret">([A-Z2-7 ]+)<')


def staff_client(app: Flask) -> FlaskClient:
    """A test client signed in as the bench staff member (made on first use), past the
    second step (issue 21): its authenticator is set up anew on every run, through the
    enrolment page, with the code computed from the secret the page shows."""
    import pyotp

    from app.accounts.mfa import mfa_reset
    from app.accounts.services import staff_create
    from app.extensions import db

    with app.app_context():
        from app.models.accounts import User

        staff = db.session.scalar(db.select(User).where(User.phone == STAFF_PHONE))
        if staff is None or not staff.staff_role:
            staff_create(phone=STAFF_PHONE, name="Nhân viên đo hiệu năng", password=PASSWORD)
        else:
            mfa_reset(phone=STAFF_PHONE, reason="staff benchmark: a new authenticator")
        db.session.commit()
    client = app.test_client()
    found = _CSRF.search(client.get("/account/login").get_data(as_text=True))
    if found is None:
        raise BenchError("the login page has no CSRF token")
    token = found.group(1)
    answer = client.post("/account/login", data={"login": STAFF_PHONE, "password": PASSWORD,
                                                 "csrf_token": token})
    if answer.status_code != 303:
        raise BenchError(f"the staff member could not sign in ({answer.status_code})")
    page = client.get("/staff/factor/enrol").get_data(as_text=True)
    secret, token = _SECRET.search(page), _CSRF.search(page)
    if secret is None or token is None:
        raise BenchError("the enrolment page shows no secret")
    code = pyotp.TOTP(secret.group(1).replace(" ", "")).now()
    answer = client.post("/staff/factor/enrol", data={"code": code,
                                                      "csrf_token": token.group(1)})
    if answer.status_code != 200:
        raise BenchError(f"the staff member could not set up the authenticator "
                         f"({answer.status_code})")
    return client


def queue_count(app: Flask, runs: int = EXPLAIN_RUNS) -> tuple[float, int]:
    """Count the review queue `runs` times, as `flask staff-queue-count` and the outbox
    worker do, each committed: (the median milliseconds, the items the last one kept).
    The queue cases then read the last count."""
    from sqlalchemy import func, select

    from app.extensions import db
    from app.models.staff import SignalCountItem
    from app.staff.queue_count import review_queue_count
    from app.transaction import committed

    taken = []
    items = 0
    with app.test_request_context():
        for _i in range(runs):
            start = time.perf_counter()
            with committed():
                count = review_queue_count()
            taken.append((time.perf_counter() - start) * 1000)
        items = db.session.scalar(select(func.count()).select_from(SignalCountItem)
                                  .where(SignalCountItem.count_id == count.id))
    return statistics.median(taken), items


def typed(e164: str) -> str:
    """+84912345678 → 0912 345 678."""
    national = "0" + e164[3:]
    return f"{national[:4]} {national[4:7]} {national[7:]}"


def cursor_for(app: Flask, page: int) -> str | None:
    """The cursor that opens page `page` of the unfiltered list: the id of the last group
    of the page before, by OFFSET (the one time an OFFSET is fine: it is not timed)."""
    from app.cursors import encode_cursor
    from app.extensions import db
    from app.staff.queries import GROUP_PAGE

    if page <= 1:
        return None
    with app.app_context():
        last = db.session.execute(
            text("SELECT id FROM family_groups ORDER BY id DESC OFFSET :n LIMIT 1"),
            {"n": (page - 1) * GROUP_PAGE - 1}).scalar()
    if last is None:
        raise BenchError(f"there is no page {page}")
    return encode_cursor(last)


def choose(app: Flask, page: int = PAGE) -> Picks:
    from app.extensions import db
    from app.staff.queries import GROUP_PAGE

    with app.app_context():
        groups = db.session.execute(text("SELECT count(*) FROM family_groups")).scalar()
        users = db.session.execute(text("SELECT count(*) FROM users")).scalar()
        if not groups:
            raise BenchError("no family groups: run bench/staff_generate.py first")
        middle = db.session.execute(text(
            "SELECT g.id, u.id, u.phone FROM family_groups g "
            "JOIN users u ON u.id = g.admin_user_id WHERE g.status = 'active' "
            "ORDER BY g.id OFFSET :n LIMIT 1"), {"n": groups // 2}).one_or_none()
        if middle is None:
            middle = db.session.execute(text(
                "SELECT g.id, u.id, u.phone FROM family_groups g "
                "JOIN users u ON u.id = g.admin_user_id ORDER BY g.id LIMIT 1")).one()
    page = min(page, math.ceil(groups / GROUP_PAGE))
    return Picks(groups=groups, users=users, page=page, cursor=cursor_for(app, page),
                 phone=typed(middle[2]), user_id=middle[1], group_id=middle[0])


def cases(picks: Picks, *, extra: bool = False) -> list[tuple[str, str, bool]]:
    """(name, url, gated)."""
    deep = f"/staff/groups?{urlencode({'cursor': picks.cursor})}" if picks.cursor else (
        "/staff/groups")
    found = [
        ("GET /staff/groups (page 1)", "/staff/groups", True),
        (f"GET /staff/groups (page {picks.page:,}, cursor)", deep, True),
        ("GET /staff/groups?status=inactive (page 1)", "/staff/groups?status=inactive", True),
        (f"GET /staff/?q={picks.phone}", "/staff/?" + urlencode({"q": picks.phone}), True),
        (f"GET /api/v1/staff/users?q={picks.phone}",
         "/api/v1/staff/users?" + urlencode({"q": picks.phone}), True),
        (f"GET /staff/groups?q={picks.phone} (admin phone)",
         "/staff/groups?" + urlencode({"q": picks.phone}), True),
        # issue 21: read from the latest count (queue_count() makes one first)
        ("GET /staff/queue", "/staff/queue", True),
        ("GET /api/v1/staff/queue", "/api/v1/staff/queue", True),
    ]
    if extra:
        found += [
            ("GET /staff/users/<admin> (extra)", f"/staff/users/{picks.user_id}", False),
            ("GET /staff/groups/<group> (extra)", f"/staff/groups/{picks.group_id}", False),
        ]
    return found


def measure(client: FlaskClient, name: str, url: str, *, runs: int = RUNS,
            warmup: int = WARMUP, gated: bool = True) -> Timing:
    status = 200
    for _i in range(warmup):
        status = client.get(url).status_code
    taken = []
    for _i in range(runs):
        start = time.perf_counter()
        answer = client.get(url)
        answer.get_data()
        taken.append((time.perf_counter() - start) * 1000)
        if answer.status_code != 200:
            status = answer.status_code
    return Timing(name=name, url=url, runs=taken, status=status, gated=gated)


def page_ids(client: FlaskClient, url: str) -> tuple[list[int], str | None]:
    """The group ids a list page shows and its next page's URL."""
    answer = client.get(url)
    if answer.status_code != 200:
        raise BenchError(f"{url} answered {answer.status_code}")
    body = answer.get_data(as_text=True)
    found = _NEXT.search(body)
    return [int(i) for i in _ROW.findall(body)], html.unescape(found.group(1)) if found else None


def walk_check(app: Flask, client: FlaskClient, pages: int = WALK_PAGES) -> tuple[bool, str]:
    """Following the pages' own next links from page 1 reaches the same page `pages` as the
    cursor made by SQL (so the deep page measured is the real one)."""
    url: str | None = "/staff/groups"
    ids: list[int] = []
    reached = 0
    while url is not None and reached < pages:
        ids, url = page_ids(client, url)
        reached += 1
    cursor = cursor_for(app, reached)
    direct, _next = page_ids(client, "/staff/groups" + (
        f"?{urlencode({'cursor': cursor})}" if cursor else ""))
    same = bool(ids) and ids == direct
    return same, (f"page {reached} by following {reached - 1} next links "
                  f"{'==' if same else '!='} page {reached} by the SQL cursor "
                  f"(ids {ids[:1]}…{ids[-1:]})")


@dataclass
class Explained:
    name: str
    planning: float
    execution: float
    plan: str


def _plan_line(node: dict) -> str:
    parts = []
    while node:
        label = node["Node Type"]
        if node.get("Scan Direction") == "Backward":
            label += " Backward"
        if node.get("Index Name"):
            label += f" {node['Index Name']}"
        elif node.get("Relation Name"):
            label += f" {node['Relation Name']}"
        parts.append(label)
        children = node.get("Plans") or []
        node = children[0] if children else None
    return " → ".join(parts)


def explain(app: Flask, client: FlaskClient, name: str, url: str,
            wanted: Callable[[str], bool], runs: int = EXPLAIN_RUNS) -> Explained:
    """EXPLAIN (ANALYZE) of the first statement a request runs that `wanted` picks."""
    from app.extensions import db

    with app.app_context():
        engine = db.engine
    seen: list[tuple[str, object]] = []

    def record(_conn, _cursor, statement, parameters, *_args):
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        client.get(url)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    picked = next(((s, p) for s, p in seen if wanted(s)), None)
    if picked is None:
        raise BenchError(f"{url} ran no statement the EXPLAIN of {name!r} looks for")
    statement, parameters = picked
    plans = []
    with engine.connect() as conn:
        for _i in range(runs):
            plans.append(conn.exec_driver_sql(
                "EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters).scalar()[0])
    return Explained(name=name, planning=statistics.median(p["Planning Time"] for p in plans),
                     execution=statistics.median(p["Execution Time"] for p in plans),
                     plan=_plan_line(plans[-1]["Plan"]))


def _group_list(statement: str) -> bool:
    return "FROM family_groups" in statement and "ORDER BY family_groups.id DESC" in statement


def _user_by_phone(statement: str) -> bool:
    return "FROM users" in statement and "users.phone =" in statement


def explains(app: Flask, client: FlaskClient, picks: Picks) -> list[Explained]:
    listed = cases(picks)
    return [
        explain(app, client, "group list, page 1", listed[0][1], _group_list),
        explain(app, client, f"group list, page {picks.page:,}", listed[1][1], _group_list),
        explain(app, client, "group list, inactive, page 1", listed[2][1], _group_list),
        explain(app, client, "user search by phone", listed[4][1], _user_by_phone),
        explain(app, client, "groups by admin phone", listed[5][1], _group_list),
    ]


def machine() -> str:
    memory = ""
    try:
        with open("/proc/meminfo") as info:
            total_kb = int(info.readline().split()[1])
        memory = f", {total_kb // 1024:,} MB memory"
    except (OSError, ValueError, IndexError):
        pass
    return f"{os.cpu_count()} cores{memory}, {platform.platform()}"


def open_with_reason(client: FlaskClient, picks: Picks) -> None:
    """The extra cases' file and family open after the reason step (issue 21): say why once,
    as a staff member does, so that the runs measure the pages, not the question."""
    for path in (f"/staff/users/{picks.user_id}", f"/staff/groups/{picks.group_id}"):
        token = _CSRF.search(client.get(path).get_data(as_text=True))
        if token is None:
            raise BenchError(f"{path} asks no reason")
        answer = client.post(f"{path}/reason", data={
            "reason": "technical", "reason_text": "staff benchmark",
            "csrf_token": token.group(1)})
        if answer.status_code != 303:
            raise BenchError(f"{path}: the reason was refused ({answer.status_code})")


def run(database_url: str, *, runs: int = RUNS, warmup: int = WARMUP, extra: bool = False,
        page: int = PAGE, out: Callable[[str], None] = print) -> bool:
    """Measure and print; True when every gated median is under GATE_MS."""
    from app.extensions import db

    app = build_app(database_url)
    try:
        client = staff_client(app)
        picks = choose(app, page)
        with app.app_context():
            version = db.session.execute(text("SHOW server_version")).scalar()
        out(f"{picks.users:,} users, {picks.groups:,} groups; PostgreSQL {version}; "
            f"{machine()}")
        same, detail = walk_check(app, client, min(WALK_PAGES, picks.page))
        out(f"cursor check: {detail}")
        if extra:
            open_with_reason(client, picks)
        counting, items = queue_count(app)
        out(f"review queue count (flask staff-queue-count, not timed below): {counting:.1f} ms "
            f"median of {EXPLAIN_RUNS}, {items} flagged items kept")
        timings = [measure(client, name, url, runs=runs, warmup=warmup, gated=gated)
                   for name, url, gated in cases(picks, extra=extra)]
        width = max(len(t.name) for t in timings)
        out(f"\n{'case':<{width}}  {'median':>8}  {'p95':>8}  {'max':>8}  status   "
            f"(ms, {runs} runs after {warmup} warm-up)")
        for t in timings:
            verdict = "" if t.ok else ("  ✗ " + ("not 200" if t.status != 200 else
                                                   f"≥ {GATE_MS:.0f} ms"))
            out(f"{t.name:<{width}}  {t.median:8.1f}  {t.p95:8.1f}  {t.worst:8.1f}  "
                f"{t.status}{verdict}")
        found = explains(app, client, picks)
        width = max(len(e.name) for e in found)
        out(f"\n{'EXPLAIN (ANALYZE)':<{width}}  {'plan ms':>8}  {'exec ms':>8}  plan")
        for e in found:
            out(f"{e.name:<{width}}  {e.planning:8.2f}  {e.execution:8.2f}  {e.plan}")
        return same and all(t.ok for t in timings)
    finally:
        with app.app_context():
            db.engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=RUNS,
                        help=f"timed requests per case (default {RUNS})")
    parser.add_argument("--warmup", type=int, default=WARMUP,
                        help=f"untimed requests first (default {WARMUP})")
    parser.add_argument("--page", type=int, default=PAGE,
                        help=f"the deep page to time (default {PAGE:,})")
    parser.add_argument("--extra", action="store_true",
                        help="also time a user's file and a group's page")
    args = parser.parse_args(argv)
    url = postgres_url()
    if url is None:
        return 2
    try:
        fine = run(url, runs=args.runs, warmup=args.warmup, extra=args.extra, page=args.page)
    except BenchError as exc:
        print(exc, file=sys.stderr)
        return 2
    return 0 if fine else 1


if __name__ == "__main__":
    sys.exit(main())
