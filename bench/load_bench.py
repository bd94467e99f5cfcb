"""The load benchmark (issues 7 and 17): the app under gunicorn on 127.0.0.1, driven by wrk,
beside the bare reference app of issue 17 (bench/ref_app.py) served the same way.

    .venv/bin/python -m bench.load_bench --db postgresql   # a throw-away PostgreSQL server, or
                                                           # new databases next to DATABASE_URL's
    .venv/bin/python -m bench.load_bench --db sqlite       # SQLite files in a temporary folder

It makes two fresh databases: the portal's, migrated (`flask db upgrade`) and filled by
bench/load_generate.py (10,000 family groups), and the reference's (an admin, 10 members).
It serves each with gunicorn on its own port (2 sync workers; the portal with
APP_ENV=production on plain-HTTP loopback, LOGIN_RATE_LIMIT raised out of the way, the rate
limits counted in a throw-away Redis on 127.0.0.1 as production's workers share one), logs
in over HTTP, and drives each case with wrk (2 threads, 16 connections) for a warm-up and
then --duration seconds: on the portal a trivial baseline (/healthz), the group page, the
caregiver's patient page, the API's family, a permission toggle and the invite accept; on
the reference /ping, its group page and its toggle. That is one round; there are --rounds
of them (3), the portal's cases and the reference's interleaved, the order reversed every
other round. It prints per case the medians of the rounds — requests/s, p50/p99 — the
failures, the ratio to the baseline and to the reference (the page-like GETs against the
reference page, the toggle and the accept against the reference toggle, /healthz against
/ping: the portal's requests/s over the reference's in the same round, the median of the
rounds), the SQL statements of one request per case (counted in-process), the targets as
PASS/MISS, and the checks: no request failed and no slot was exceeded.

Exit status: 0 every check passed and every target met; 3 the checks passed but a target
(speed, ratio or statements) was missed; 1 a check failed (a failed request, a socket error,
a slot exceeded); 2 it could not run (wrk missing, the server did not start…).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import math
import os
import platform
import secrets
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench import load_app, load_wrk, ref_app
from bench.load_generate import DEFAULT_GROUPS, GenerateError, generate

ROOT = Path(__file__).resolve().parent.parent
ACCEPTS_PER_SECOND = 250  # the accept pool is sized for this rate (and a margin)
TARGETS = {  # case: (req/s on SQLite, req/s on PostgreSQL, p99 ms) — issue 7
    "group": (300, 220, 150), "toggle": (500, 300, 100)}
STATEMENTS_TARGET = 5  # per page, whatever the family's size
PAGES = ("group", "patient", "api")
# Issue 17: the portal's requests/s over the reference's, at least (the accept against the
# reference's toggle), and the p99 of the group page and the toggle.
RATIO_TARGETS = {"group": 0.8, "toggle": 0.8, "accept": 0.5}
P99_TARGET = 150  # ms, at 16 connections
REFERENCE_OF = {"baseline": "ref_ping", "group": "ref_page", "patient": "ref_page",
                "api": "ref_page", "toggle": "ref_toggle", "accept": "ref_toggle"}
ROUNDS = 3


@dataclass
class Case:
    key: str
    label: str
    script: str
    path: str
    expected: frozenset[int]
    env: dict[str, str]
    server: str = "portal"  # or "reference"


@dataclass
class Outcome:
    case: Case
    warmup: load_wrk.Result | None
    result: load_wrk.Result


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ensure_wrk(out: Callable[[str], None]) -> None:
    """wrk from Debian's package, installed with apt-get when missing (as root or sudo)."""
    if shutil.which("wrk"):
        return
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    out("wrk is not installed; installing it with apt-get.")
    for args in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "wrk"]):
        subprocess.run([*sudo, *args], check=False, capture_output=True,  # noqa: S603
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    load_wrk.wrk_binary()  # raises WrkError with how to install it


def machine() -> str:
    """The CPU, its cores, the memory and the system, for the report's head."""
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "?")
    memory = next((int(line.split()[1]) // 1024 for line in
                   Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal")), 0)
    return f"{cpu}, {os.cpu_count()} cores, {memory:,} MB memory, {platform.platform()}"


def load_average() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def machine_info(db: str, db_version: str) -> list[str]:
    import gunicorn

    return [f"date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M:%S} UTC",
            f"machine: {machine()}",
            f"Python {platform.python_version()}, gunicorn {gunicorn.__version__}, "
            f"{load_wrk.version()}",
            f"database: {db} {db_version}",
            f"load average before the run (1, 5, 15 min): {load_average()}"]


@contextlib.contextmanager
def databases(kind: str, folder: Path, keep: bool,
              names: tuple[str, ...]) -> Iterator[tuple[list[str], str]]:
    """New empty databases, one per name: (URLs, server version). SQLite: files in
    `folder`. PostgreSQL: fc_<name>_<pid> next to DATABASE_URL's when set (dropped at the
    end unless keep), else on a throw-away bench/pg_server.py."""
    if kind == "sqlite":
        yield ([f"sqlite:///{folder / f'{name}.sqlite3'}" for name in names],
               f"(sqlite3 {sqlite3.sqlite_version})")
        return
    import psycopg

    given = os.environ.get("DATABASE_URL", "")
    server = None
    if given:
        if not given.startswith(("postgresql", "postgres://")):
            raise load_app.BenchError("DATABASE_URL must name a PostgreSQL database for "
                                      "--db postgresql.")
        base = "postgresql://" + given.split("://", 1)[1]
        host = base.rpartition("/")[0]
    else:
        from bench.pg_server import BenchServer

        server = BenchServer().start()
        host = server.dsn("postgres").rpartition("/")[0]
    made = [f"fc_{name}_{os.getpid()}" for name in names]
    with psycopg.connect(f"{host}/postgres", autocommit=True) as conn:
        for name in made:
            conn.execute(f"DROP DATABASE IF EXISTS {name}")
            conn.execute(f"CREATE DATABASE {name}")
        version = conn.execute("SHOW server_version").fetchone()[0]
    try:
        yield [f"{host}/{name}" for name in made], f"PostgreSQL {version}" + (
            " (bench/pg_server.py: fsync on, shared_buffers 1GB)" if server else "")
    finally:
        if server is not None:
            server.stop()
        elif not keep:
            with psycopg.connect(f"{host}/postgres", autocommit=True) as conn:
                for name in made:
                    conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextlib.contextmanager
def redis_store() -> Iterator[str]:
    """A throw-away Redis on 127.0.0.1 (tests/redisserver.py) for the workers' rate limits:
    production refuses several workers counting each in its own memory."""
    from tests.redisserver import RedisServer

    try:
        server = RedisServer().start()
    except RuntimeError as exc:
        raise load_app.BenchError(str(exc)) from None
    try:
        yield server.url(0)
    finally:
        server.stop()


def redis_version() -> str:
    found = shutil.which("redis-server")
    if found is None:
        return "?"
    answer = subprocess.run([found, "--version"], capture_output=True, text=True,  # noqa: S603
                            check=False).stdout.split()
    return next((word.removeprefix("v=") for word in answer if word.startswith("v=")), "?")


def migrate(app) -> None:
    """`flask db upgrade`, in this process: the schema exactly as in production."""
    from flask_migrate import upgrade

    from app.extensions import db

    with app.app_context():
        upgrade()
        db.session.remove()


@contextlib.contextmanager
def serving(command: list[str], *, env: dict[str, str], port: int, log: Path,
            ready: str = "/healthz", cwd: Path = ROOT) -> Iterator[subprocess.Popen]:
    """`command` (a gunicorn) run from `cwd` (the checkout) until `ready` answers 200 on
    127.0.0.1:port, its output in `log`; stopped (SIGTERM, then kill) on leaving. Raises
    BenchError with the log's end when it does not start. tests/core/test_shared_limits.py
    and tests/ops serve through it too."""
    base = f"http://127.0.0.1:{port}"
    with log.open("w") as sink, httpx.Client(timeout=2) as probe:
        child = subprocess.Popen(command, cwd=cwd, env=env, stdout=sink,  # noqa: S603
                                 stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 60
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if probe.get(f"{base}{ready}").status_code == 200:
                        break
                if child.poll() is not None or time.monotonic() > deadline:
                    raise load_app.BenchError("gunicorn did not start:\n" + log.read_text()[-3000:])
                time.sleep(0.2)
            yield child
        finally:
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


@contextlib.contextmanager
def gunicorn(env: dict[str, str], port: int, workers: int, log: Path, *,
             app: str = "wsgi:app", ready: str = "/healthz") -> Iterator[str]:
    """gunicorn serving `app` with `workers` sync workers on 127.0.0.1:port until `ready`
    answers."""
    command = [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--worker-class",
               "sync", "--bind", f"127.0.0.1:{port}", "--timeout", "60", "--log-level",
               "warning", app]
    with serving(command, env=env, port=port, log=log, ready=ready):
        yield f"http://127.0.0.1:{port}"


def http_signed_in(base: str, phone: str, page: str,
                   form: load_app.LoginForm) -> tuple[str, str]:
    """Log in through `form` over HTTP; (session cookie, CSRF token) after `page`."""
    with httpx.Client(base_url=base, headers={"User-Agent": load_app.USER_AGENT}) as client:
        token = load_app.csrf_of(client.get(form.path).text)
        answer = client.post(form.path, data=form.body(phone, token))
        if answer.status_code != 303:
            raise load_app.BenchError(f"{phone} could not log in to {form.who} over HTTP "
                                      f"({answer.status_code})")
        shown = client.get(page)
        if shown.status_code != 200:
            raise load_app.BenchError(f"{form.who}'s {page} answered {shown.status_code} "
                                      "after logging in")
        return client.cookies[form.cookie], load_app.csrf_of(shown.text)


def http_login(base: str, phone: str, page: str) -> tuple[str, str]:
    """Log in to the portal over HTTP; (session cookie, CSRF token) after `page`."""
    return http_signed_in(base, phone, page, load_app.PORTAL_LOGIN)


def http_login_reference(base: str, phone: str, page: str) -> tuple[str, str]:
    """Log in to the reference over HTTP; (session cookie, CSRF token) after `page`."""
    return http_signed_in(base, phone, page, load_app.reference_login())


def cases(fixture, *, admin: str, caregiver: str, csrf: str, token: str, files: Path,
          cookie_name: str) -> list[Case]:
    ua = f"User-Agent: {load_app.USER_AGENT}"
    ok = frozenset({200})
    g = fixture.group_id

    def headers(*lines: str) -> dict[str, str]:
        return {"BENCH_HEADERS": "\n".join((ua, *lines))}

    return [
        Case("baseline", "(a) GET /healthz (baseline: liveness, no SQL)", "get.lua", "/healthz", ok,
             headers(f"Cookie: {cookie_name}={admin}")),
        Case("group", f"(b) GET /family/{g} (admin, 2+4)", "get.lua", f"/family/{g}", ok,
             headers(f"Cookie: {cookie_name}={admin}")),
        Case("patient", f"(d) GET /following/{fixture.patient_id}", "get.lua",
             f"/following/{fixture.patient_id}", ok,
             headers(f"Cookie: {cookie_name}={caregiver}")),
        Case("api", f"(f) GET /api/v1/families/{g}", "get.lua", f"/api/v1/families/{g}", ok,
             headers(f"Authorization: Bearer {token}")),
        Case("toggle", "(c) POST …/permissions/<code> (htmx)", "toggle.lua", "/", ok,
             {**headers(f"Cookie: {cookie_name}={admin}", "HX-Request: true"),
              "BENCH_FILE": str(files / "toggles.txt"), "BENCH_CSRF": csrf}),
        Case("accept", "(e) POST /i/accept (each a new invite)", "accept.lua", "/i/accept",
             frozenset({303, 409}),
             {**headers(), "BENCH_FILE": str(files / "accepts.txt"),
              "BENCH_COOKIE_NAME": cookie_name}),
    ]


def reference_cases(fixture: ref_app.RefFixture, *, cookie: str, csrf: str,
                    files: Path) -> list[Case]:
    """The reference's cases: /ping, its group page, its toggle (every target alternating
    OFF and ON, as the portal's). Its session cookie goes with each, as the portal's."""
    ok = frozenset({200})
    cookie_line = f"Cookie: session={cookie}"
    headers = {"BENCH_HEADERS": f"User-Agent: {load_app.USER_AGENT}\n{cookie_line}"}
    page = f"/groups/{fixture.group_id}"
    return [
        Case("ref_ping", "(r1) GET /ping (reference)", "get.lua", "/ping", ok, headers,
             "reference"),
        Case("ref_page", f"(r2) GET {page} (reference, 10 × 6)", "get.lua", page, ok,
             headers, "reference"),
        Case("ref_toggle", "(r3) POST …/permissions/<code> (reference)", "toggle.lua", "/", ok,
             {"BENCH_HEADERS": headers["BENCH_HEADERS"] + "\nHX-Request: true",
              "BENCH_FILE": str(files / "ref_toggles.txt"), "BENCH_CSRF": csrf}, "reference"),
    ]


def interleaved(portal: list[Case], reference: list[Case]) -> list[Case]:
    """One round's order: each reference case beside the portal's cases measured against it
    (the baseline and /ping, the pages and the reference page, the toggle, the reference
    toggle and the accept)."""
    by = {c.key: c for c in [*portal, *reference]}
    order = ["baseline", "ref_ping", "group", "ref_page", "patient", "api", "toggle",
             "ref_toggle", "accept"]
    return [by[key] for key in order]


METERED = "group_metrics"
# Issue 20: the metrics may cost at most this share of the group page's requests/s.
METRICS_COST_TARGET = 0.05


def with_metrics(order: list[Case]) -> list[Case]:
    """The round's order with the group page on the portal whose metrics are on, right
    after the same page on the portal without them (same database, same session)."""
    group = next(c for c in order if c.key == "group")
    metered = Case(METERED, group.label.replace("(b)", "(b')") + " metrics on", group.script,
                   group.path, group.expected, group.env, "metered")
    at = order.index(group) + 1
    return [*order[:at], metered, *order[at:]]


def metrics_seen(base: str, token: str) -> str:
    """What the metered portal's /metrics counted: proof that the metrics were on."""
    answer = httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {token}"},
                       timeout=30)
    if answer.status_code != 200:
        raise load_app.BenchError(f"/metrics of the metered portal answered "
                                  f"{answer.status_code}")
    counted = sum(float(line.rsplit(" ", 1)[1]) for line in answer.text.splitlines()
                  if line.startswith("familyconnect_http_requests_total{"))
    return f"metrics on: the metered portal's /metrics counted {counted:,.0f} requests"


def drain(base: str, workers: int, path: str = "/healthz") -> None:
    """Wait for the requests wrk left behind: a sync worker finishes a request whose client
    has gone, so the next run would start behind them. One trivial request per worker, in
    turn."""
    with httpx.Client(timeout=60) as client:
        for _ in range(workers + 1):
            with contextlib.suppress(httpx.HTTPError):
                client.get(f"{base}{path}")


def drive(base: str, case: Case, *, duration: float, warmup: float, threads: int,
          connections: int, workers: int, offset: int = 0) -> tuple[Outcome, int]:
    """A warm-up and a measured run of `case`; (outcome, the next offset). The accept sends
    each invite once: its lines start at `offset`, after the ones earlier runs sent."""
    env = dict(case.env)
    settle = "/ping" if case.server == "reference" else "/healthz"
    before = None
    if warmup > 0:
        env["BENCH_OFFSET"] = str(offset)
        before = load_wrk.run(base + case.path, case.script, seconds=warmup, threads=threads,
                              connections=connections, env=env)
        drain(base, workers, settle)
        offset += before.issued_per_thread * threads
    env["BENCH_OFFSET"] = str(offset)
    result = load_wrk.run(base + case.path, case.script, seconds=duration, threads=threads,
                          connections=connections, env=env)
    drain(base, workers, settle)
    return Outcome(case, before, result), offset + result.issued_per_thread * threads


def _median(values) -> float:
    return statistics.median(list(values))


def report(rounds: list[list[Outcome]], counts: dict, *, db: str, fixture,
           slot_problems: list[str], accepted: int, connections: int = 16,
           out: Callable[[str], None]) -> int:
    """The table (the medians of the rounds), the targets and the checks; the exit status.
    `rounds`: each round's outcomes, every case once."""
    per_round = [{o.case.key: o.result for o in outcomes} for outcomes in rounds]
    keys = list(per_round[0])

    def rates(key: str, versus: str) -> list[float]:
        """The case's requests/s over `versus`'s, round by round."""
        return [r[key].rate / r[versus].rate if r[versus].rate else 0.0 for r in per_round]

    def median_of(key: str, attribute: str) -> float:
        return _median(getattr(r[key], attribute) for r in per_round)

    out("")
    out(f"{'case':<48} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx/3xx':>12} "
        f"{'sock err':>9} {'×base':>6} {'×ref':>6} {'×ref by round':>16} {'SQL':>4}  statuses")
    labels = {o.case.key: o.case.label for o in rounds[0]}
    for key in [k for k in keys if k in REFERENCE_OF] + [k for k in keys if k not in REFERENCE_OF]:
        results = [r[key] for r in per_round]
        statuses: dict[int, int] = {}
        for result in results:
            for status, n in result.statuses.items():
                statuses[status] = statuses.get(status, 0) + n
        base = ratio = by_round = "-"
        if key in REFERENCE_OF:
            ratios = rates(key, REFERENCE_OF[key])
            base = f"{_median(rates(key, 'baseline')):.2f}"
            ratio, by_round = f"{_median(ratios):.2f}", " ".join(f"{x:.2f}" for x in ratios)
        out(f"{labels[key]:<48} {median_of(key, 'rate'):8.1f} {median_of(key, 'p50_ms'):8.1f} "
            f"{median_of(key, 'p99_ms'):8.1f} {sum(r.non_2xx_3xx for r in results):12d} "
            f"{sum(r.socket_error_count for r in results):9d} {base:>6} {ratio:>6} "
            f"{by_round:>16} {counts[key].statements:4d}  "
            + " ".join(f"{k}:{v}" for k, v in sorted(statuses.items())))
    out(f"(medians of {len(rounds)} rounds; ×base: requests/s over /healthz's, ×ref: over "
        f"the reference's — the pages over its page, the toggle and the accept over its "
        f"toggle, /healthz over /ping — in the same round; SQL: statements of one request, "
        f"counted in-process after a warm-up request, transaction control not counted; "
        f"toggle OFF {counts['toggle_off'].statements}, ON {counts['toggle_on'].statements})")
    out("")
    missed = False
    column = 0 if db == "sqlite" else 1
    for key, name in (("group", "group page"), ("toggle", "permission toggle")):
        floor, p99 = TARGETS[key][column], TARGETS[key][2]
        rate, p99_ms = median_of(key, "rate"), median_of(key, "p99_ms")
        met = rate >= floor and p99_ms <= p99
        missed |= not met
        out(f"target {name}: ≥ {floor} req/s with p99 ≤ {p99} ms on {db}: "
            f"{'PASS' if met else 'MISS'} ({rate:.0f} req/s, p99 {p99_ms:.0f} ms)")
    pages = {key: counts[key].statements for key in PAGES}
    met = max(pages.values()) <= STATEMENTS_TARGET
    missed |= not met
    out(f"target ≤ {STATEMENTS_TARGET} SQL statements per page: {'PASS' if met else 'MISS'} ("
        + ", ".join(f"{k} {v}" for k, v in pages.items()) + ")")
    for key, name, versus in (("group", "group page", "the reference page"),
                              ("toggle", "permission toggle", "the reference toggle"),
                              ("accept", "invite accept", "the reference toggle")):
        floor, ratios = RATIO_TARGETS[key], rates(key, REFERENCE_OF[key])
        met = _median(ratios) >= floor
        missed |= not met
        out(f"target {name} ≥ {floor:g}× {versus}'s req/s (median of {len(rounds)} rounds): "
            f"{'PASS' if met else 'MISS'} ({_median(ratios):.2f}×; rounds "
            + " ".join(f"{x:.2f}" for x in ratios) + ")")
    p99s = {name: median_of(key, "p99_ms") for key, name in (("group", "group page"),
                                                             ("toggle", "toggle"))}
    met = max(p99s.values()) <= P99_TARGET
    missed |= not met
    if METERED in keys:
        ratios = rates(METERED, "group")
        cost = 1 - _median(ratios)
        met = cost < METRICS_COST_TARGET
        missed |= not met
        out(f"target metrics cost < {METRICS_COST_TARGET:.0%} on the group page (1 − its "
            f"req/s with metrics over without, median of {len(rounds)} rounds): "
            f"{'PASS' if met else 'MISS'} ({cost:+.1%}; ratio by round "
            + " ".join(f"{x:.3f}" for x in ratios) + ")")
    out(f"target p99 ≤ {P99_TARGET} ms at {connections} connections"
        + ("" if connections == 16 else " (the target is at 16)") + ": "
        + ("PASS" if met else "MISS") + " ("
        + ", ".join(f"{name} {v:.0f} ms" for name, v in p99s.items()) + ")")
    out("")
    failed = []
    for n, outcomes in enumerate(rounds, 1):
        for o in outcomes:
            for label, r in (("warm-up", o.warmup), ("run", o.result)):
                if r is None:
                    continue
                unexpected = {k: v for k, v in r.statuses.items() if k not in o.case.expected}
                if unexpected or r.socket_error_count:
                    failed.append(f"{o.case.key} round {n} {label}: unexpected {unexpected}, "
                                  f"socket errors {r.socket_errors}")
    accept = [r for outcomes in rounds for o in outcomes if o.case.key == "accept"
              for r in (o.warmup, o.result) if r]
    refused = sum(r.statuses.get(409, 0) for r in accept)
    exhausted = sum(r.exhausted for r in accept)
    if refused > fixture.overflow:
        failed.append(f"accept: {refused} answers 409 for {fixture.overflow} invites without "
                      "a place")
    if exhausted:
        failed.append(f"accept: the pool of {len(fixture.pool)} invites ran out ({exhausted} "
                      "requests reused one): raise --accepts")
    out("check every request answered as expected, no socket error: "
        + ("ok" if not failed else "FAILED\n  " + "\n  ".join(failed)))
    out(f"check no slot exceeded ({accepted} pool invites accepted, {refused} accepts answered "
        f"409, {fixture.overflow} invites had no place): "
        + ("ok" if not slot_problems else "FAILED\n  " + "\n  ".join(slot_problems[:20])))
    if failed or slot_problems:
        return 1
    return 3 if missed else 0


def run(*, db: str, groups: int, duration: float, warmup: float, accepts: int | None,
        seed: int, threads: int, connections: int, workers: int, keep: bool,
        out: Callable[[str], None] = print, command: list[str] | None = None,
        profile: bool = False, rounds: int = ROUNDS, metrics: bool = False) -> int:
    ensure_wrk(out)
    accepts = accepts or math.ceil(ACCEPTS_PER_SECOND * (duration + warmup) * rounds) + 200
    with tempfile.TemporaryDirectory(prefix="fc_load_bench_") as tmp, \
            databases(db, Path(tmp), keep, ("load", "load_ref")) as ((url, ref_url), version), \
            contextlib.ExitStack() as stack:
        folder = Path(tmp)
        out("command: " + " ".join(["python -m bench.load_bench", *(command or [])]))
        for line in machine_info(db, version):
            out(line)
        port, ref_port = free_port(), free_port()
        base = f"http://127.0.0.1:{port}"
        secret, ref_secret = secrets.token_urlsafe(48), secrets.token_hex(32)
        limits = stack.enter_context(redis_store())
        env = {**os.environ, **load_app.settings(url, secret, base, limits),
               "INSTANCE_PATH": str(folder / "instance")}
        env = {name: value for name, value in env.items()
               if name not in ("METRICS_TOKEN", "PROMETHEUS_MULTIPROC_DIR")}
        metered_env = None
        if metrics:  # a second portal, metrics on as production runs them: every worker
            (folder / "prometheus").mkdir()  # counting into one folder
            metered_env = {**env, "METRICS_TOKEN": secrets.token_urlsafe(32),
                           "PROMETHEUS_MULTIPROC_DIR": str(folder / "prometheus")}
        ref_env = {**os.environ, "DATABASE_URL": ref_url, "REF_SECRET_KEY": ref_secret}
        out(f"settings: APP_ENV=production FORCE_HTTPS=0 SESSION_COOKIE_SECURE=0 "
            f"LOGIN_RATE_LIMIT='{load_app.HIGH_LIMIT}' (rate limits on, out of the way, "
            f"counted in Redis {redis_version()}); "
            f"gunicorn {workers} sync workers (the portal's and the reference's, each on its "
            f"own port); wrk -t{threads} -c{connections}, {warmup:g} s warm-up + "
            f"{duration:g} s per case, {rounds} rounds"
            + ("; the group page also on a second portal with its metrics on "
               "(METRICS_TOKEN, PROMETHEUS_MULTIPROC_DIR), same database" if metrics else ""))
        started = time.monotonic()
        app = load_app.build_app(url, secret, base)
        migrate(app)
        fixture = generate(url, groups=groups, accepts=accepts, seed=seed,
                           log=lambda line: out("  " + line))
        reference = ref_app.create_ref_app(ref_url, ref_secret)
        ref_fixture = ref_app.seed(reference)
        token = load_app.api_token(app, fixture.admin_id)
        counts = load_app.statement_counts(app, fixture, token)
        counts.update(load_app.reference_counts(reference, ref_fixture))
        with reference.app_context():
            ref_app.db.engine.dispose()
        if profile:
            for key, stats in load_app.profiles(app, fixture, token).items():
                out(f"profile of {key} (30 requests in-process):\n{stats}")
        sessions = load_app.invitee_sessions(app, fixture.pool)
        (folder / "accepts.txt").write_text("".join(f"{c}\t{b}\n" for c, b in sessions))
        (folder / "toggles.txt").write_text("".join(
            f"/connections/{c}/permissions/{code}\n"
            for c in fixture.connections for code in load_app.TOGGLE_CODES))
        (folder / "ref_toggles.txt").write_text("".join(
            f"/connections/{c}/permissions/{code}\n"
            for c in ref_fixture.connections for code in ref_app.CODES))
        cookie_name = app.config["SESSION_COOKIE_NAME"]
        out(f"prepared in {time.monotonic() - started:.0f} s: measured family {fixture.group_id}"
            f" (2 patients, 4 caregivers), {len(fixture.pool):,} invites in the accept pool; "
            f"reference group {ref_fixture.group_id} (10 members × 6 switches)")
        measured: list[list[Outcome]] = []
        with gunicorn(env, port, workers, folder / "gunicorn.log") as served, \
                gunicorn(ref_env, ref_port, workers, folder / "gunicorn_ref.log",
                         app="bench.ref_app:app", ready="/ping") as ref_served, \
                contextlib.ExitStack() as servers:
            metered = metered_env and servers.enter_context(gunicorn(
                metered_env, free_port(), workers, folder / "gunicorn_metered.log"))
            admin, csrf = http_login(served, fixture.admin_phone, f"/family/{fixture.group_id}")
            caregiver, _ = http_login(served, fixture.caregiver_phone,
                                      f"/following/{fixture.patient_id}")
            probe = httpx.get(f"{served}/invites", headers={
                "User-Agent": load_app.USER_AGENT,
                "Cookie": f"{cookie_name}={sessions[0][0]}"})
            if probe.status_code != 200:
                raise load_app.BenchError(
                    f"an invitee's session does not work ({probe.status_code})")
            owner, ref_csrf = http_login_reference(ref_served, ref_fixture.admin_phone,
                                                   f"/groups/{ref_fixture.group_id}")
            order = interleaved(
                cases(fixture, admin=admin, caregiver=caregiver, csrf=csrf, token=token,
                      files=folder, cookie_name=cookie_name),
                reference_cases(ref_fixture, cookie=owner, csrf=ref_csrf, files=folder))
            if metered:
                order = with_metrics(order)
                counts[METERED] = counts["group"]
            bases = {"portal": served, "reference": ref_served, "metered": metered}
            offsets: dict[str, int] = {}
            for n in range(rounds):
                outcomes = []
                for case in order if n % 2 == 0 else order[::-1]:
                    outcome, offsets[case.key] = drive(
                        bases[case.server], case, duration=duration, warmup=warmup,
                        threads=threads, connections=connections, workers=workers,
                        offset=offsets.get(case.key, 0))
                    outcomes.append(outcome)
                    out(f"  round {n + 1}/{rounds} {case.label}: "
                        f"{outcome.result.rate:.1f} req/s")
                measured.append([o for c in order for o in outcomes if o.case is c])
            if metered:
                out(metrics_seen(metered, metered_env["METRICS_TOKEN"]))
        slot_problems, accepted = load_app.slot_check(app, fixture)
        from app.extensions import db as sa

        with app.app_context():
            sa.engine.dispose()
        status = report(measured, counts, db=db, fixture=fixture, slot_problems=slot_problems,
                        accepted=accepted, connections=connections, out=out)
        out(f"load average after the run (1, 5, 15 min): {load_average()}")
        if status == 1:
            for log in ("gunicorn.log", "gunicorn_ref.log"):
                out(f"{log} (last lines):\n"
                    + "\n".join((folder / log).read_text().splitlines()[-30:]))
        return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--db", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--groups", type=int, default=DEFAULT_GROUPS,
                        help=f"family groups to generate (default {DEFAULT_GROUPS:,})")
    parser.add_argument("--duration", type=float, default=12,
                        help="seconds of load per case and round (default 12)")
    parser.add_argument("--warmup", type=float, default=3,
                        help="seconds of warm-up load before each case and round (default 3; "
                             "0: none)")
    parser.add_argument("--rounds", type=int, default=ROUNDS,
                        help=f"rounds, every case once in each (default {ROUNDS})")
    parser.add_argument("--accepts", type=int, default=None,
                        help=f"invites in the accept pool (default {ACCEPTS_PER_SECOND}/s of "
                             "warm-up and duration in every round, + 200)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument("--profile", action="store_true",
                        help="also print a cProfile of 30 in-process requests per page case")
    parser.add_argument("--metrics", action="store_true",
                        help="also serve a second portal with its Prometheus metrics on "
                             "(METRICS_TOKEN, PROMETHEUS_MULTIPROC_DIR) and measure the group "
                             "page on both in every round: their cost (issue 20, < 5%%)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the PostgreSQL databases made next to DATABASE_URL's")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    try:
        return run(db=args.db, groups=args.groups, duration=args.duration, warmup=args.warmup,
                   accepts=args.accepts, seed=args.seed, threads=args.threads,
                   connections=args.connections, workers=args.workers, keep=args.keep,
                   command=sys.argv[1:] if argv is None else argv, profile=args.profile,
                   rounds=args.rounds, metrics=args.metrics)
    except (load_wrk.WrkError, GenerateError, load_app.BenchError) as exc:
        print(exc, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
