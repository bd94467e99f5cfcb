"""The load benchmark (issue 7): the app under gunicorn on 127.0.0.1, driven by wrk.

    .venv/bin/python -m bench.load_bench --db postgresql   # a throw-away PostgreSQL server, or
                                                           # a new database next to DATABASE_URL's
    .venv/bin/python -m bench.load_bench --db sqlite       # a SQLite file in a temporary folder

It makes a fresh database, migrates it (`flask db upgrade`), fills it with
bench/load_generate.py (10,000 family groups), serves it with gunicorn (2 sync workers,
APP_ENV=production on plain-HTTP loopback, LOGIN_RATE_LIMIT raised out of the way, the
rate limits counted in a throw-away Redis on 127.0.0.1 as production's workers share one), logs
in over HTTP, and drives each case with wrk (2 threads, 16 connections) for a warm-up and
then --duration seconds: a trivial baseline (/healthz), the group page, the caregiver's
patient page, the API's family, a permission toggle and the invite accept. It prints
requests/s, p50/p99, failures and each case's ratio to the baseline, the SQL statements of
one request per case (counted in-process), the targets as PASS/MISS, and the checks: no
request failed and no slot was exceeded.

Exit status: 0 every check passed and every target met; 3 the checks passed but a target
(speed or statements) was missed; 1 a check failed (a failed request, a socket error, a
slot exceeded); 2 it could not run (wrk missing, the server did not start…).
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
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench import load_app, load_wrk
from bench.load_generate import DEFAULT_GROUPS, GenerateError, generate

ROOT = Path(__file__).resolve().parent.parent
ACCEPTS_PER_SECOND = 250  # the accept pool is sized for this rate (and a margin)
TARGETS = {  # case: (req/s on SQLite, req/s on PostgreSQL, p99 ms) — issue 7
    "group": (300, 220, 150), "toggle": (500, 300, 100)}
STATEMENTS_TARGET = 5  # per page, whatever the family's size
PAGES = ("group", "patient", "api")


@dataclass
class Case:
    key: str
    label: str
    script: str
    path: str
    expected: frozenset[int]
    env: dict[str, str]


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


def machine_info(db: str, db_version: str) -> list[str]:
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "?")
    memory = next((int(line.split()[1]) // 1024 for line in
                   Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal")), 0)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    import gunicorn

    return [f"date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M:%S} UTC",
            f"machine: {cpu}, {os.cpu_count()} cores, {memory:,} MB memory, "
            f"{platform.platform()}",
            f"Python {platform.python_version()}, gunicorn {gunicorn.__version__}, "
            f"{load_wrk.version()}",
            f"database: {db} {db_version}",
            f"load average before the run (1, 5, 15 min): {load}"]


@contextlib.contextmanager
def database(kind: str, folder: Path, keep: bool) -> Iterator[tuple[str, str]]:
    """A new empty database: (URL, server version). PostgreSQL: next to DATABASE_URL's
    when set (dropped at the end unless keep), else a throw-away bench/pg_server.py."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'load_bench.sqlite3'}", f"(sqlite3 {sqlite3.sqlite_version})"
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
    name = f"fc_load_{os.getpid()}"
    with psycopg.connect(f"{host}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
        version = conn.execute("SHOW server_version").fetchone()[0]
    try:
        yield f"{host}/{name}", f"PostgreSQL {version}" + (
            " (bench/pg_server.py: fsync on, shared_buffers 1GB)" if server else "")
    finally:
        if server is not None:
            server.stop()
        elif not keep:
            with psycopg.connect(f"{host}/postgres", autocommit=True) as conn:
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
def serving(command: list[str], *, env: dict[str, str], port: int,
            log: Path) -> Iterator[subprocess.Popen]:
    """`command` (a gunicorn) run from the checkout until /healthz answers on
    127.0.0.1:port, its output in `log`; stopped (SIGTERM, then kill) on leaving. Raises
    BenchError with the log's end when it does not start. tests/core/test_shared_limits.py
    serves through it too."""
    base = f"http://127.0.0.1:{port}"
    with log.open("w") as sink, httpx.Client(timeout=2) as probe:
        child = subprocess.Popen(command, cwd=ROOT, env=env, stdout=sink,  # noqa: S603
                                 stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 60
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if probe.get(f"{base}/healthz").status_code == 200:
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
def gunicorn(env: dict[str, str], port: int, workers: int, log: Path) -> Iterator[str]:
    """gunicorn with `workers` sync workers on 127.0.0.1:port until /healthz answers."""
    command = [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--worker-class",
               "sync", "--bind", f"127.0.0.1:{port}", "--timeout", "60", "--log-level",
               "warning", "wsgi:app"]
    with serving(command, env=env, port=port, log=log):
        yield f"http://127.0.0.1:{port}"


def http_login(base: str, phone: str, page: str) -> tuple[str, str]:
    """Log in through the login page over HTTP; (session cookie, CSRF token) after `page`."""
    with httpx.Client(base_url=base, headers={"User-Agent": load_app.USER_AGENT}) as client:
        token = load_app.csrf_of(client.get("/account/login").text)
        answer = client.post("/account/login", data={
            "login": phone, "password": load_app.PASSWORD, "csrf_token": token})
        if answer.status_code != 303:
            raise load_app.BenchError(f"{phone} could not log in over HTTP ({answer.status_code})")
        shown = client.get(page)
        if shown.status_code != 200:
            raise load_app.BenchError(f"{page} answered {shown.status_code} after logging in")
        return client.cookies["fc_session"], load_app.csrf_of(shown.text)


def cases(fixture, *, admin: str, caregiver: str, csrf: str, token: str, files: Path,
          cookie_name: str) -> list[Case]:
    ua = f"User-Agent: {load_app.USER_AGENT}"
    ok = frozenset({200})
    g = fixture.group_id

    def headers(*lines: str) -> dict[str, str]:
        return {"BENCH_HEADERS": "\n".join((ua, *lines))}

    return [
        Case("baseline", "(a) GET /healthz (baseline: SELECT 1)", "get.lua", "/healthz", ok,
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


def drain(base: str, workers: int) -> None:
    """Wait for the requests wrk left behind: a sync worker finishes a request whose client
    has gone, so the next run would start behind them. One /healthz per worker, in turn."""
    with httpx.Client(timeout=60) as client:
        for _ in range(workers + 1):
            with contextlib.suppress(httpx.HTTPError):
                client.get(f"{base}/healthz")


def drive(base: str, case: Case, *, duration: float, warmup: float, threads: int,
          connections: int, workers: int) -> Outcome:
    env = dict(case.env)
    before = None
    if warmup > 0:
        before = load_wrk.run(base + case.path, case.script, seconds=warmup, threads=threads,
                              connections=connections, env=env)
        drain(base, workers)
        # the accept continues after the invites the warm-up sent (each works once)
        env["BENCH_OFFSET"] = str(before.issued_per_thread * threads)
    result = load_wrk.run(base + case.path, case.script, seconds=duration, threads=threads,
                          connections=connections, env=env)
    drain(base, workers)
    return Outcome(case, before, result)


def report(outcomes: list[Outcome], counts: dict, *, db: str, fixture, slot_problems: list[str],
           accepted: int, out: Callable[[str], None]) -> int:
    baseline = outcomes[0].result.rate or 1.0
    out("")
    out(f"{'case':<44} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx/3xx':>12} "
        f"{'sock err':>9} {'×base':>6} {'SQL':>4}  statuses")
    for o in outcomes:
        r = o.result
        statuses = " ".join(f"{k}:{v}" for k, v in sorted(r.statuses.items()))
        out(f"{o.case.label:<44} {r.rate:8.1f} {r.p50_ms:8.1f} {r.p99_ms:8.1f} "
            f"{r.non_2xx_3xx:12d} {r.socket_error_count:9d} {r.rate / baseline:6.2f} "
            f"{counts[o.case.key].statements:4d}  {statuses}")
    out(f"(SQL: statements of one request, counted in-process after a warm-up request, "
        f"transaction control not counted; toggle OFF {counts['toggle_off'].statements}, "
        f"ON {counts['toggle_on'].statements})")
    out("")
    missed = False
    by = {o.case.key: o.result for o in outcomes}
    column = 0 if db == "sqlite" else 1
    for key, name in (("group", "group page"), ("toggle", "permission toggle")):
        floor, p99 = TARGETS[key][column], TARGETS[key][2]
        r = by[key]
        met = r.rate >= floor and r.p99_ms <= p99
        missed |= not met
        out(f"target {name}: ≥ {floor} req/s with p99 ≤ {p99} ms on {db}: "
            f"{'PASS' if met else 'MISS'} ({r.rate:.0f} req/s, p99 {r.p99_ms:.0f} ms)")
    pages = {key: counts[key].statements for key in PAGES}
    met = max(pages.values()) <= STATEMENTS_TARGET
    missed |= not met
    out(f"target ≤ {STATEMENTS_TARGET} SQL statements per page: {'PASS' if met else 'MISS'} ("
        + ", ".join(f"{k} {v}" for k, v in pages.items()) + ")")
    out("")
    failed = []
    for o in outcomes:
        for label, r in (("warm-up", o.warmup), ("run", o.result)):
            if r is None:
                continue
            unexpected = {k: v for k, v in r.statuses.items() if k not in o.case.expected}
            if unexpected or r.socket_error_count:
                failed.append(f"{o.case.key} {label}: unexpected {unexpected}, socket errors "
                              f"{r.socket_errors}")
    accept = [r for o in outcomes if o.case.key == "accept" for r in (o.warmup, o.result) if r]
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
        profile: bool = False) -> int:
    ensure_wrk(out)
    accepts = accepts or math.ceil(ACCEPTS_PER_SECOND * (duration + warmup)) + 200
    with tempfile.TemporaryDirectory(prefix="fc_load_bench_") as tmp, \
            database(db, Path(tmp), keep) as (url, version), contextlib.ExitStack() as stack:
        folder = Path(tmp)
        out("command: " + " ".join(["python -m bench.load_bench", *(command or [])]))
        for line in machine_info(db, version):
            out(line)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        secret = secrets.token_urlsafe(48)
        limits = stack.enter_context(redis_store())
        env = {**os.environ, **load_app.settings(url, secret, base, limits),
               "INSTANCE_PATH": str(folder / "instance")}
        out(f"settings: APP_ENV=production FORCE_HTTPS=0 SESSION_COOKIE_SECURE=0 "
            f"LOGIN_RATE_LIMIT='{load_app.HIGH_LIMIT}' (rate limits on, out of the way, "
            f"counted in Redis {redis_version()}); "
            f"gunicorn {workers} sync workers; wrk -t{threads} -c{connections}, "
            f"{warmup:g} s warm-up + {duration:g} s per case")
        started = time.monotonic()
        app = load_app.build_app(url, secret, base)
        migrate(app)
        fixture = generate(url, groups=groups, accepts=accepts, seed=seed,
                           log=lambda line: out("  " + line))
        token = load_app.api_token(app, fixture.admin_id)
        counts = load_app.statement_counts(app, fixture, token)
        if profile:
            for key, stats in load_app.profiles(app, fixture, token).items():
                out(f"profile of {key} (30 requests in-process):\n{stats}")
        sessions = load_app.invitee_sessions(app, fixture.pool)
        (folder / "accepts.txt").write_text("".join(f"{c}\t{b}\n" for c, b in sessions))
        (folder / "toggles.txt").write_text("".join(
            f"/connections/{c}/permissions/{code}\n"
            for c in fixture.connections for code in load_app.TOGGLE_CODES))
        cookie_name = app.config["SESSION_COOKIE_NAME"]
        out(f"prepared in {time.monotonic() - started:.0f} s: measured family {fixture.group_id}"
            f" (2 patients, 4 caregivers), {len(fixture.pool):,} invites in the accept pool")
        outcomes = []
        with gunicorn(env, port, workers, folder / "gunicorn.log") as served:
            admin, csrf = http_login(served, fixture.admin_phone, f"/family/{fixture.group_id}")
            caregiver, _ = http_login(served, fixture.caregiver_phone,
                                      f"/following/{fixture.patient_id}")
            probe = httpx.get(f"{served}/invites", headers={
                "User-Agent": load_app.USER_AGENT,
                "Cookie": f"{cookie_name}={sessions[0][0]}"})
            if probe.status_code != 200:
                raise load_app.BenchError(
                    f"an invitee's session does not work ({probe.status_code})")
            for case in cases(fixture, admin=admin, caregiver=caregiver, csrf=csrf, token=token,
                              files=folder, cookie_name=cookie_name):
                outcomes.append(drive(served, case, duration=duration, warmup=warmup,
                                      threads=threads, connections=connections,
                                      workers=workers))
                r = outcomes[-1].result
                out(f"  {case.label}: {r.rate:.1f} req/s")
        slot_problems, accepted = load_app.slot_check(app, fixture)
        from app.extensions import db as sa

        with app.app_context():
            sa.engine.dispose()
        status = report(outcomes, counts, db=db, fixture=fixture,
                        slot_problems=slot_problems, accepted=accepted, out=out)
        out("load average after the run (1, 5, 15 min): "
            + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
        if status == 1:
            out("gunicorn's log (last lines):\n"
                + "\n".join((folder / "gunicorn.log").read_text().splitlines()[-30:]))
        return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--db", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--groups", type=int, default=DEFAULT_GROUPS,
                        help=f"family groups to generate (default {DEFAULT_GROUPS:,})")
    parser.add_argument("--duration", type=float, default=20,
                        help="seconds of load per case (default 20)")
    parser.add_argument("--warmup", type=float, default=5,
                        help="seconds of warm-up load before each case (default 5; 0: none)")
    parser.add_argument("--accepts", type=int, default=None,
                        help=f"invites in the accept pool (default {ACCEPTS_PER_SECOND}/s of "
                             "warm-up and duration, + 200)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument("--profile", action="store_true",
                        help="also print a cProfile of 30 in-process requests per page case")
    parser.add_argument("--keep", action="store_true",
                        help="keep the PostgreSQL database made next to DATABASE_URL's")
    args = parser.parse_args(argv)
    try:
        return run(db=args.db, groups=args.groups, duration=args.duration, warmup=args.warmup,
                   accepts=args.accepts, seed=args.seed, threads=args.threads,
                   connections=args.connections, workers=args.workers, keep=args.keep,
                   command=sys.argv[1:] if argv is None else argv, profile=args.profile)
    except (load_wrk.WrkError, GenerateError, load_app.BenchError) as exc:
        print(exc, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
