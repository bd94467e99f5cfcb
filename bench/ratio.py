"""The portal against the bare reference (issue 17), in one process, in under a minute.

    .venv/bin/python -m bench.ratio                    # SQLite files in a temporary folder
    .venv/bin/python -m bench.ratio --db postgresql    # a throw-away PostgreSQL server, or
                                                       # new databases next to DATABASE_URL's
    # options: --rounds 3 --requests 40 --json (also one RATIO-JSON line with every figure)

No gunicorn and no wrk: both apps answer Flask's test client in this process, so what is
compared is the whole request — hooks, SQL, template, commit — and nothing of the network.
It makes two fresh databases: the portal's, migrated and filled by bench/load_generate.py
(a few hundred groups, the measured 2-patient × 4-caregiver family, the large 4 × 10 family
and an accept pool), and the reference's (bench/ref_app.py: an admin and 10 members). It
builds the portal with the server's settings (bench/load_app.py) and the reference, signs
in on both, warms every case up, counts the SQL statements of one request, then runs
--rounds interleaved rounds: in each round every case sends --requests requests from one
side and then from the other (the side that goes first alternates from round to round).

Per case it prints each side's median time per request (the median of the rounds'
medians), its SQL statements, the HTML bytes of a page, and the ratio of the second side's
time to the first's (the median of the rounds' ratios; against the reference, 1.0 means
as fast as the bare stack). Then the issue's targets as PASS/MISS and the check that every
request answered as expected.

Exit status: 0 every check passed and every target met; 3 the checks passed but a target
was missed; 1 a request answered an unexpected status; 2 it could not run.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import itertools
import json
import platform
import secrets
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from flask import Flask

from bench import load_app, load_bench, ref_app
from bench.load_generate import Fixture, GenerateError, generate

WARMUP = 5  # requests per side before the rounds, not timed
COUNTED = 2  # requests per side whose SQL statements are counted (a toggle's OFF and ON)
BASE_URL = "http://127.0.0.1:8000"  # the portal's PUBLIC_BASE_URL; the test client needs none
# The answers each side may give; anything else fails the run (exit 1).
EXPECTED: dict[str, frozenset[int]] = {
    "healthz": frozenset({200}), "ping": frozenset({200}),
    "group": frozenset({200}), "large": frozenset({200}), "reference page": frozenset({200}),
    "toggle": frozenset({200}), "reference toggle": frozenset({200}),
    "accept": frozenset({303, 409}),  # 409 no_slot: the pool's lowered plans (Fixture.overflow)
}


@dataclass(frozen=True)
class Targets:
    """The issue's targets: ratios are the reference's time over the portal's (at least)."""

    group: float = 0.8
    toggle: float = 0.8
    accept: float = 0.5  # against the reference's toggle
    large_times: float = 3.0  # the 4×10 family's page over the 2×4's (at most)
    html_bytes: int = 25_000  # the 2×4 family's page (at most)


@dataclass
class Side:
    """One side of a case: what it sends, what it may answer, what it measured."""

    key: str  # its EXPECTED entry
    label: str
    request: Callable[[], Callable]  # makes the next request (untimed); calling it sends it
    app: Flask  # whose statements are counted, by its Flask-SQLAlchemy `database`
    database: object = None  # None: the portal's
    page: bool = False  # an HTML page: its bytes are reported
    times: list[list[float]] = field(default_factory=list)  # seconds, one list per round
    statuses: Counter = field(default_factory=Counter)
    statements: list[int] = field(default_factory=list)
    html_bytes: int | None = None

    def send(self) -> float:
        call = self.request()
        began = time.perf_counter()
        answer = call()
        took = time.perf_counter() - began
        self.statuses[answer.status_code] += 1
        if self.page and self.html_bytes is None and answer.status_code == 200:
            self.html_bytes = len(answer.get_data())
        return took

    @property
    def round_ms(self) -> list[float]:
        return [statistics.median(times) * 1000 for times in self.times]

    @property
    def ms(self) -> float:
        return statistics.median(self.round_ms)

    def figures(self) -> dict:
        return {"label": self.label, "ms": round(self.ms, 3),
                "rounds_ms": [round(x, 3) for x in self.round_ms],
                "statements": self.statements, "html_bytes": self.html_bytes,
                "statuses": {str(k): v for k, v in sorted(self.statuses.items())}}


@dataclass
class Case:
    key: str
    title: str
    first: Side
    second: Side
    ratio_name: str  # what the ratio is: the second side's time over the first's

    @property
    def round_ratios(self) -> list[float]:
        return [b / a for a, b in zip(self.first.round_ms, self.second.round_ms, strict=True)]

    @property
    def ratio(self) -> float:
        return statistics.median(self.round_ratios)

    def figures(self) -> dict:
        return {"title": self.title, "first": self.first.figures(),
                "second": self.second.figures(), "ratio_name": self.ratio_name,
                "ratio": round(self.ratio, 4),
                "round_ratios": [round(x, 4) for x in self.round_ratios]}


def _get(client, path: str) -> Callable[[], Callable]:
    return lambda: lambda: client.get(path)


def _toggles(client, paths: list[str], csrf: str) -> Callable[[], Callable]:
    """Each request changes a switch: the targets in turn, each alternating OFF (confirmed,
    as after the portal's confirmation step) and ON — bench/wrk/toggle.lua's sequence.
    Every target starts ON."""
    on: dict[str, bool] = dict.fromkeys(paths, True)
    turn = itertools.cycle(paths)
    headers = {"HX-Request": "true"}

    def request():
        path = next(turn)
        on[path] = not on[path]
        data = ({"csrf_token": csrf, "enabled": "on", "back": "group"} if on[path] else
                {"csrf_token": csrf, "enabled": "off", "confirmed": "1", "back": "group"})
        return lambda: client.post(path, data=data, headers=headers)

    return request


def _accepts(app: Flask, sessions: list[tuple[str, str]]) -> Callable[[], Callable]:
    """Each request its own pool invite, as its own invitee (load_app's sessions)."""
    left = iter(sessions)
    name = app.config["SESSION_COOKIE_NAME"]
    headers = {"Content-Type": "application/x-www-form-urlencoded",
               "User-Agent": load_app.USER_AGENT}

    def request():
        try:
            cookie, body = next(left)
        except StopIteration:
            raise load_app.BenchError("the accept pool ran out") from None
        client = app.test_client()
        client.set_cookie(name, cookie)
        return lambda: client.post("/i/accept", data=body, headers=headers)

    return request


def make_cases(portal: Flask, fixture: Fixture, reference: Flask,
               ref: ref_app.RefFixture, sessions: list[tuple[str, str]]) -> list[Case]:
    admin = load_app.logged_in(portal, fixture.admin_phone)
    big = load_app.logged_in(portal, fixture.large.admin_phone)
    small_page, large_page = f"/family/{fixture.group_id}", f"/family/{fixture.large.group_id}"
    csrf = load_app.csrf_of(admin.get(small_page).get_data(as_text=True))
    owner = load_app.reference_client(reference, ref.admin_phone)
    ref_page = f"/groups/{ref.group_id}"
    ref_csrf = load_app.csrf_of(owner.get(ref_page).get_data(as_text=True))
    toggles = [f"/connections/{c}/permissions/{code}" for c in fixture.connections
               for code in load_app.TOGGLE_CODES]
    ref_toggles = [f"/connections/{c}/permissions/{code}" for c in ref.connections
                   for code in ref_app.CODES]
    ref_toggle = _toggles(owner, ref_toggles, ref_csrf)  # one sequence for both its uses

    def ours(key: str, label: str, request, **kwargs) -> Side:
        return Side(key, label, request, portal, **kwargs)

    def theirs(key: str, label: str, request, **kwargs) -> Side:
        return Side(key, "reference " + label, request, reference, ref_app.db, **kwargs)

    def reference_toggle() -> Side:
        return theirs("reference toggle", "POST …/permissions/<code>", ref_toggle)

    return [
        Case("healthz", "/healthz vs /ping (report only)",
             ours("healthz", "GET /healthz", _get(admin, "/healthz")),
             theirs("ping", "GET /ping", _get(owner, "/ping")), "reference ÷ portal"),
        Case("group", "group page (2×4 family, its admin)",
             ours("group", f"GET {small_page}", _get(admin, small_page), page=True),
             theirs("reference page", f"GET {ref_page} (10 × 6)", _get(owner, ref_page),
                    page=True), "reference ÷ portal"),
        Case("large", "the 4×10 family's page vs the 2×4's",
             ours("group", f"GET {small_page} (2×4)", _get(admin, small_page), page=True),
             ours("large", f"GET {large_page} (4×10)", _get(big, large_page), page=True),
             "4×10 ÷ 2×4"),
        Case("toggle", "permission toggle (htmx)",
             ours("toggle", "POST …/permissions/<code>", _toggles(admin, toggles, csrf)),
             reference_toggle(), "reference ÷ portal"),
        Case("accept", "invite accept vs the reference toggle",
             ours("accept", "POST /i/accept (each a new invite)", _accepts(portal, sessions)),
             reference_toggle(), "reference ÷ portal"),
    ]


def warm_and_count(cases: list[Case]) -> None:
    """WARMUP untimed requests per side, then COUNTED requests whose SQL is counted."""
    for case in cases:
        for side in (case.first, case.second):
            for _ in range(WARMUP):
                side.send()
            for _ in range(COUNTED):
                with load_app.counting(side.app, side.database) as statements:
                    side.send()
                side.statements.append(len(statements))


def measure(cases: list[Case], *, rounds: int, requests: int,
            log: Callable[[str], None]) -> None:
    """`rounds` rounds; in each, every case sends `requests` requests from one side, then
    from the other (which goes first alternates from round to round)."""
    for side in {id(s): s for c in cases for s in (c.first, c.second)}.values():
        side.times = [[] for _ in range(rounds)]
    for r in range(rounds):
        began = time.monotonic()
        for case in cases:
            sides = (case.first, case.second) if r % 2 == 0 else (case.second, case.first)
            for side in sides:
                side.times[r].extend(side.send() for _ in range(requests))
        log(f"  round {r + 1}/{rounds}: {time.monotonic() - began:.1f} s")


@dataclass
class Verdict:
    key: str
    text: str
    met: bool

    def line(self) -> str:
        return f"target {self.text}: {'PASS' if self.met else 'MISS'}"


def evaluate(figures: dict, targets: Targets) -> list[Verdict]:
    """The targets, judged on the figures (run()'s JSON: what is printed is what is judged)."""
    cases = figures["cases"]

    def side(case: str, which: str) -> dict:
        return cases[case][which]

    verdicts = []
    for key, name, versus in (("group", "group page", "the reference page"),
                              ("toggle", "toggle", "the reference toggle"),
                              ("accept", "invite accept", "the reference toggle")):
        floor, ratio = getattr(targets, key), cases[key]["ratio"]
        verdicts.append(Verdict(key, f"{name} ≥ {floor:g}× {versus}: {ratio:.2f}× (portal "
                                f"{side(key, 'first')['ms']:.2f} ms, reference "
                                f"{side(key, 'second')['ms']:.2f} ms)", ratio >= floor))
    times = cases["large"]["ratio"]
    verdicts.append(Verdict("large_times", f"the 4×10 family's page ≤ {targets.large_times:g}× "
                            f"the 2×4's time: {times:.2f}×", times <= targets.large_times))
    small, large = side("large", "first")["statements"], side("large", "second")["statements"]
    verdicts.append(Verdict("large_statements", f"the 4×10 family's page sends the 2×4's SQL "
                            f"statements: {max(large)} and {max(small)}",
                            max(large) == max(small)))
    html = side("group", "first")["html_bytes"] or 0
    verdicts.append(Verdict("html_bytes", f"the 2×4 family's page ≤ {targets.html_bytes / 1000:g}"
                            f" kB of HTML: {html / 1000:.1f} kB", html <= targets.html_bytes))
    return verdicts


def failures(cases: list[Case], overflow: int) -> list[str]:
    """Unexpected answers (warm-up and counted requests included)."""
    found = []
    for side in {id(s): s for c in cases for s in (c.first, c.second)}.values():
        unexpected = {k: v for k, v in side.statuses.items() if k not in EXPECTED[side.key]}
        if unexpected:
            found.append(f"{side.label}: unexpected answers {unexpected}")
        if side.key == "accept" and side.statuses.get(409, 0) > overflow:
            found.append(f"{side.label}: {side.statuses[409]} answers 409 for {overflow} "
                         "pool invites without a place")
    return found


def table(cases: list[Case]) -> list[str]:
    lines = [f"{'case':<40} {'side':<44} {'ms':>8} {'SQL':>5} {'HTML B':>8}  statuses"]
    for case in cases:
        for n, side in enumerate((case.first, case.second)):
            statements = "/".join(str(x) for x in sorted(set(side.statements)))
            html = f"{side.html_bytes:,}" if side.html_bytes is not None else "-"
            statuses = " ".join(f"{k}:{v}" for k, v in sorted(side.statuses.items()))
            lines.append(f"{case.title if n == 0 else '':<40} {side.label:<44} "
                         f"{side.ms:8.2f} {statements:>5} {html:>8}  {statuses}")
        rounds = " ".join(f"{x:.2f}" for x in case.round_ratios)
        lines.append(f"{'':<40} {'ratio ' + case.ratio_name:<44} {case.ratio:8.2f}  "
                     f"(rounds: {rounds})")
    return lines


def run(*, db: str, rounds: int = 3, requests: int = 40, keep: bool = False,
        targets: Targets | None = None, out: Callable[[str], None] = print,
        as_json: bool = False, command: list[str] | None = None) -> int:
    accepts = WARMUP + COUNTED + rounds * requests + 10
    groups = max(60, 2 * accepts)  # about 1.4 free caregiver places a group
    with tempfile.TemporaryDirectory(prefix="fc_ratio_") as tmp, \
            load_bench.databases(db, Path(tmp), keep, ("ratio", "ratio_ref")) as (urls, version), \
            contextlib.ExitStack() as stack:
        url, ref_url = urls
        load_before = load_bench.load_average()
        out("command: " + " ".join(["python -m bench.ratio", *(command or [])]))
        out(f"date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M:%S} UTC")
        out(f"machine: {load_bench.machine()}; Python {platform.python_version()}")
        out(f"database: {db} {version}")
        out(f"load average before the run (1, 5, 15 min): {load_before}")
        started = time.monotonic()
        portal = load_app.build_app(url, secrets.token_urlsafe(48), BASE_URL)
        stack.callback(_dispose, portal, None)
        load_bench.migrate(portal)
        fixture = generate(url, groups=groups, accepts=accepts, seed=2026, large=True,
                           log=lambda line: out("  " + line))
        reference = ref_app.create_ref_app(ref_url, secrets.token_hex(32))
        stack.callback(_dispose, reference, ref_app.db)
        ref = ref_app.seed(reference)
        sessions = load_app.invitee_sessions(portal, fixture.pool)
        cases = make_cases(portal, fixture, reference, ref, sessions)
        warm_and_count(cases)
        out(f"prepared in {time.monotonic() - started:.0f} s: measured family "
            f"{fixture.group_id} (2 patients, 4 caregivers), large family "
            f"{fixture.large.group_id} (4 patients, 10 caregivers), reference group "
            f"{ref.group_id} (10 members × 6 switches); {rounds} rounds of {requests} "
            f"requests per side and case, after {WARMUP} warm-up ones")
        measure(cases, rounds=rounds, requests=requests, log=out)
        problems = failures(cases, fixture.overflow)
        figures = {"db": db, "database": version, "rounds": rounds, "requests": requests,
                   "date": f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M:%S} UTC",
                   "load_before": load_before, "cases": {c.key: c.figures() for c in cases}}
        verdicts = evaluate(figures, targets or Targets())
        out("")
        for line in table(cases):
            out(line)
        out("(ms: median time per request, the median of the rounds' medians; ratio: the "
            "median of the rounds' ratios; SQL: statements of one request, BEGIN/COMMIT not "
            "counted, a toggle's OFF/ON; HTML B: bytes of the page)")
        out("")
        for verdict in verdicts:
            out(verdict.line())
        out("check every request answered as expected: "
            + ("ok" if not problems else "FAILED\n  " + "\n  ".join(problems)))
        load_after = load_bench.load_average()
        out(f"load average after the run (1, 5, 15 min): {load_after}")
        status = 1 if problems else 3 if not all(v.met for v in verdicts) else 0
        if as_json:
            figures.update(load_after=load_after, failures=problems, status=status,
                           targets=[{"key": v.key, "text": v.text, "met": v.met}
                                    for v in verdicts])
            out("RATIO-JSON " + json.dumps(figures, ensure_ascii=False))
        return status


def _dispose(app: Flask, database) -> None:
    from app.extensions import db

    with app.app_context():
        (database or db).engine.dispose()


def read_json(lines: Iterator[str] | list[str]) -> dict:
    """The figures of a run's RATIO-JSON line (for tests and scripts)."""
    line = next(ln for ln in lines if ln.startswith("RATIO-JSON "))
    return json.loads(line.removeprefix("RATIO-JSON "))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=40,
                        help="requests per side, case and round (default 40)")
    parser.add_argument("--json", action="store_true",
                        help="also print one RATIO-JSON line with every figure")
    parser.add_argument("--keep", action="store_true",
                        help="keep the PostgreSQL databases made next to DATABASE_URL's")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.requests < 1:
        parser.error("--rounds and --requests must be at least 1")
    try:
        return run(db=args.db, rounds=args.rounds, requests=args.requests, keep=args.keep,
                   as_json=args.json, command=sys.argv[1:] if argv is None else argv)
    except (GenerateError, load_app.BenchError) as exc:
        print(exc, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
