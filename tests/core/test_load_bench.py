"""bench/load_bench.py stays runnable: the whole benchmark — database, data, gunicorn, wrk,
the reference app served beside the portal, report, checks — on a small database with one
second per case, against the backend under test. No speed is asserted (the figures are the
benchmark's, run by hand on a quiet machine: bench/README.md); what is asserted is that it
runs and that its checks check."""

from __future__ import annotations

import shutil

import pytest
from sqlalchemy import text

from app.extensions import db
from app.tokens import token_hash
from bench import load_app, load_bench, load_generate, load_wrk
from tests.conftest import BACKEND, migrated_app

GROUPS = 500  # room for about 800 pool invites


def family_shape(group_id: int) -> tuple[dict[str, int], tuple[int, int]]:
    """In an app context: a family's members by role, and (permission rows, those ON)."""
    roles = dict(db.session.execute(text(
        "SELECT role, count(*) FROM family_group_members WHERE group_id = :g "
        "GROUP BY role"), {"g": group_id}).all())
    permissions = db.session.execute(text(
        "SELECT count(*), sum(CASE WHEN is_enabled THEN 1 ELSE 0 END) "
        "FROM connection_permissions p JOIN user_emergency_contacts c "
        "ON c.id = p.contact_id WHERE c.family_group_id = :g"), {"g": group_id}).one()
    return roles, tuple(permissions)


@pytest.fixture
def wrk() -> None:
    """The run needs wrk: a missing one fails the test (scripts/test installs it), it is
    not skipped into a pass."""
    if shutil.which("wrk") is None:
        pytest.fail("wrk is not installed: scripts/test installs it (apt-get install wrk)")


@pytest.fixture
def generated(fresh_database_url):
    """A migrated database filled by the generator: (app, fixture)."""
    url = fresh_database_url()
    app = migrated_app(url)
    fixture = load_generate.generate(url, groups=40, accepts=20, log=lambda _line: None)
    return app, fixture


@pytest.mark.usefixtures("wrk")
def test_the_whole_benchmark_runs_and_its_checks_pass(fresh_database_url, monkeypatch):
    if BACKEND == "postgresql":  # a database next to the test server's, not a new server
        monkeypatch.setenv("DATABASE_URL", fresh_database_url())
    lines: list[str] = []
    status = load_bench.run(db=BACKEND, groups=GROUPS, duration=1, warmup=0, accepts=700,
                            seed=7, threads=2, connections=16, workers=2, keep=False,
                            out=lines.append, rounds=2, metrics=True)
    printed = "\n".join(lines)
    assert status in (0, 3), printed  # 3: a speed target missed, reported
    for needle in ("date: ", "machine: ", "load average before the run", "LOGIN_RATE_LIMIT",
                   "/healthz (baseline", "GET /family/", "GET /following/",
                   "GET /api/v1/families/", "permissions/<code>", "POST /i/accept",
                   "target group page: ≥ ", "target permission toggle: ≥ ",
                   "target ≤ 5 SQL statements per page: ",
                   "(r1) GET /ping (reference)", "(r2) GET /groups/",
                   "(r3) POST …/permissions/<code> (reference)",
                   "target group page ≥ 0.8× the reference page's req/s (median of 2 rounds): ",
                   "target permission toggle ≥ 0.8× the reference toggle's req/s",
                   "target invite accept ≥ 0.5× the reference toggle's req/s",
                   "target p99 ≤ 150 ms at 16 connections: ",
                   "target metrics cost < 5% on the group page (",
                   "check every request answered as expected, no socket error: ok",
                   "check no slot exceeded ("):
        assert needle in printed, needle
    slots = next(line for line in lines if line.startswith("check no slot exceeded ("))
    assert slots.endswith("): ok"), printed
    assert lines[-1].startswith("load average after the run")
    table = [line for line in lines if line.startswith("(")]
    # six cases of the portal, the group page on the metered portal, three of the
    # reference, the note
    assert len(table) == 11
    assert "200:" in table[0]  # the baseline answered
    for row in table[:6]:  # the portal's cases: a ratio to the reference, and each round's
        ratio, *by_round = _ratios(row)
        assert ratio > 0, row
        assert len(by_round) == 2, row
    others = table[6:10]  # the reference's cases and the metered group page answered
    assert sum(row.startswith("(r") for row in others) == 3
    assert sum(row.startswith("(b') GET /family/") for row in others) == 1
    for row in others:
        assert row.split()[-1].startswith("200:"), row
    assert sum("round 2/2 (r" in line for line in lines) == 3  # each served in each round
    # The metered portal really counted: more requests than the wrk runs' first second.
    (seen,) = [line for line in lines if line.startswith("metrics on: ")]
    assert int(seen.split("counted ")[1].split()[0].replace(",", "")) > 10, seen


def _ratios(row: str) -> list[float]:
    """×ref and its rounds, from a row of the table (after the 48-character label: req/s,
    p50, p99, non-2xx/3xx, socket errors, ×base, ×ref, the rounds', SQL, statuses)."""
    numbers = [x for x in row[48:].split() if ":" not in x]
    return [float(x) for x in numbers[6:-1]]


def test_the_generator_makes_the_measured_family_and_the_pool(generated):
    app, fixture = generated
    with app.app_context():
        roles, permissions = family_shape(fixture.group_id)
        assert roles == {"patient": 2, "caregiver": 4}
        assert len(fixture.connections) == 8
        assert permissions == (48, 48)  # six each, all ON
        assert db.session.scalar(text("SELECT count(*) FROM patient_reports "
                                      "WHERE patient_id = :p"), {"p": fixture.patient_id}) == 12
        invites = [*fixture.pool, *fixture.probes]
        assert len(invites) == 22
        for invite in invites:  # the link tokens hash as the app's do; each to its own user
            row = db.session.execute(text(
                "SELECT status, token_hash, receiver_phone FROM connection_invites "
                "WHERE id = :i"), {"i": invite.invite_id}).one()
            assert row.status == "pending"
            assert row.token_hash == token_hash(invite.token)
            assert row.receiver_phone == invite.phone
        assert len({i.user_id for i in invites}) == 22
        db.session.rollback()
    # nobody is over a plan's slots at the start
    assert load_app.slot_check(app, fixture) == ([], 0)


def test_the_generator_adds_the_large_family_when_asked(generated, fresh_database_url):
    _app, fixture = generated
    assert fixture.large is None
    url = fresh_database_url()
    app = migrated_app(url)
    with_large = load_generate.generate(url, groups=40, accepts=20, large=True,
                                        log=lambda _line: None)
    assert with_large.group_id == fixture.group_id  # the other groups keep their ids
    large = with_large.large
    assert large.group_id == 41
    with app.app_context():
        roles, permissions = family_shape(large.group_id)
        assert roles == {"patient": 4, "caregiver": 10}
        assert len(large.connections) == 40
        assert permissions == (240, 240)  # six each, all ON
        slots = db.session.execute(text(
            "SELECT s.plan, s.patient_slots, s.caregiver_slots, g.admin_user_id FROM "
            "family_groups g JOIN subscriptions s ON s.id = g.subscription_id "
            "WHERE g.id = :g"), {"g": large.group_id}).one()
        assert tuple(slots) == ("family_plus", 4, 10, large.admin_id)
        db.session.rollback()
    assert load_app.slot_check(app, with_large) == ([], 0)


def test_the_same_seed_makes_the_same_data(generated, fresh_database_url):
    app, fixture = generated
    url = fresh_database_url()
    again_app = migrated_app(url)
    again = load_generate.generate(url, groups=40, accepts=20, log=lambda _line: None)
    assert again.pool == fixture.pool
    assert again.written == fixture.written

    def rows(application):
        with application.app_context():
            return (db.session.execute(text(
                        "SELECT phone, name, gender FROM users ORDER BY id")).all(),
                    db.session.execute(text(
                        "SELECT receiver_phone, status, token_hash FROM connection_invites "
                        "ORDER BY id")).all())

    assert rows(app) == rows(again_app)


def test_the_generator_refuses_a_database_with_data(generated):
    app, _fixture = generated
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    with pytest.raises(load_generate.GenerateError, match="already has"):
        load_generate.generate(url, groups=40, accepts=20, log=lambda _line: None)


def test_the_slot_check_finds_a_group_over_its_plan(generated):
    app, fixture = generated
    with app.app_context():
        db.session.execute(text("UPDATE subscriptions SET caregiver_slots = 3 WHERE id = "
                                "(SELECT subscription_id FROM family_groups WHERE id = :g)"),
                           {"g": fixture.group_id})
        db.session.commit()
    problems, _accepted = load_app.slot_check(app, fixture)
    assert problems == [f"group {fixture.group_id}: 4 caregivers for 2/3 slots"]


def test_wrk_summaries_are_read_whatever_surrounds_them():
    line = ('BENCH-JSON {"requests": 500, "duration_us": 2000000, "bytes": 1, "errors": '
            '{"connect": 0, "read": 1, "write": 0, "status": 3, "timeout": 0}, "latency_us": '
            '{"p50": 1500, "p90": 2500, "p99": 9000, "mean": 1700.5, "max": 12000}, '
            '"statuses": {"200": 497, "500": 3}, "issued_per_thread": 251, "exhausted": 0}')
    result = load_wrk.parse(f"Running 2s test\n  2 threads\n{line}\nRequests/sec: 250\n")
    assert (result.rate, result.p50_ms, result.p99_ms) == (250.0, 1.5, 9.0)
    assert result.statuses == {200: 497, 500: 3}
    assert (result.non_2xx_3xx, result.socket_error_count) == (3, 1)
    with pytest.raises(load_wrk.WrkError, match="no summary"):
        load_wrk.parse("Running 2s test\nunable to connect to 127.0.0.1:1\n")
    with pytest.raises(load_wrk.WrkError, match="could not be read"):
        load_wrk.parse('BENCH-JSON {"requests": 1}')


def _outcome(key: str, statuses: dict[int, int], *, rate: float = 1000.0,
             expected=frozenset({200}), read_errors: int = 0,
             p99_ms: float = 20) -> load_bench.Outcome:
    total = sum(statuses.values())
    result = load_wrk.Result(requests=total, seconds=total / rate, p50_ms=5, p90_ms=8,
                             p99_ms=p99_ms, max_ms=30, non_2xx_3xx=0,
                             socket_errors={"connect": 0, "read": read_errors, "write": 0,
                                            "timeout": 0},
                             statuses=statuses)
    return load_bench.Outcome(load_bench.Case(key, key, "get.lua", "/", expected, {}), None,
                              result)


def _report(*rounds, overflow: int = 1, problems=()):
    counts = {key: load_app.Count(200, 3) for key in
              ("baseline", "group", "patient", "api", "toggle", "toggle_off", "toggle_on",
               "accept", "ref_ping", "ref_page", "ref_toggle")}
    fixture = load_generate.Fixture(group_id=1, admin_id=1, admin_phone="", caregiver_id=2,
                                    caregiver_phone="", patient_id=3, connections=[], pool=[],
                                    probes=[], overflow=overflow)
    lines: list[str] = []
    status = load_bench.report(list(rounds), counts, db="sqlite", fixture=fixture,
                               slot_problems=list(problems), accepted=5, out=lines.append)
    return status, "\n".join(lines)


def _fine(**accept) -> list[load_bench.Outcome]:
    """One round: the portal's six cases, then the reference's three, all as fast."""
    return [_outcome(key, {200: 100}) for key in ("baseline", "group", "patient", "api",
                                                   "toggle")] + [
        _outcome("accept", accept.get("statuses", {303: 100, 409: 1}),
                 expected=frozenset({303, 409}))] + [
        _outcome(key, {200: 100}) for key in ("ref_ping", "ref_page", "ref_toggle")]


def test_the_report_passes_fails_and_misses():
    status, printed = _report(_fine())
    assert status == 0, printed
    assert "target group page: ≥ 300 req/s with p99 ≤ 150 ms on sqlite: PASS" in printed
    assert "target group page ≥ 0.8× the reference page's req/s (median of 1 rounds): PASS " \
        "(1.00×; rounds 1.00)" in printed
    # a failed request, a socket error, more refusals than invites without a place, a slot
    for outcomes, kwargs, needle in (
            ([*_fine()[:1], _outcome("group", {200: 99, 500: 1}), *_fine()[2:]], {}, "500"),
            ([*_fine()[:2], _outcome("patient", {200: 9}, read_errors=1), *_fine()[3:]], {},
             "'read': 1"),
            (_fine(statuses={303: 10, 409: 2}), {}, "2 answers 409 for 1 invites"),
            (_fine(), {"problems": ["group 9: 5 caregivers for 2/4 slots"]}, "group 9"),
            ([*_fine()[:7], _outcome("ref_page", {200: 50, 404: 50}), *_fine()[8:]], {},
             "ref_page round 1 run: unexpected {404: 50}")):
        status, printed = _report(outcomes, **kwargs)
        assert status == 1, printed
        assert "FAILED" in printed
        assert needle in printed
    slow = [_outcome("baseline", {200: 100}), _outcome("group", {200: 100}, rate=100.0),
            *_fine()[2:]]
    status, printed = _report(slow)
    assert status == 3
    assert "target group page: ≥ 300 req/s with p99 ≤ 150 ms on sqlite: MISS (100 req/s" \
        in printed
    assert "target group page ≥ 0.8× the reference page's req/s (median of 1 rounds): MISS " \
        "(0.10×; rounds 0.10)" in printed


def _round(**rates) -> list[load_bench.Outcome]:
    """A round where the named cases answer `rate` requests/s (the others 1000)."""
    return [_outcome(o.case.key, dict(o.result.statuses), expected=o.case.expected,
                     rate=rates.get(o.case.key, 1000.0)) for o in _fine()]


def test_the_ratios_are_the_median_of_the_rounds_against_the_right_reference():
    # the group page at 0.5×, 0.9×, 0.85× the reference page in turn: one slow round is not
    # the verdict; the accept is judged against the reference's toggle, not its page
    status, printed = _report(_round(group=500, ref_page=1000),
                              _round(group=900, ref_page=1000),
                              _round(group=1700, ref_page=2000, accept=400), overflow=3)
    assert status == 0, printed
    assert "target group page ≥ 0.8× the reference page's req/s (median of 3 rounds): PASS " \
        "(0.85×; rounds 0.50 0.90 0.85)" in printed
    assert "target invite accept ≥ 0.5× the reference toggle's req/s (median of 3 rounds): " \
        "PASS (1.00×; rounds 1.00 1.00 0.40)" in printed
    row = next(line for line in printed.splitlines() if line.startswith("group "))
    assert _ratios(row) == [0.85, 0.5, 0.9, 0.85]
    # the toggle and the accept below their ratios, the patient page's p99 irrelevant, the
    # group page's p99 over 150 ms
    rounds = [_round(toggle=700, accept=400) for _ in range(3)]
    rounds[0][1] = _outcome("group", {200: 100}, p99_ms=200)
    rounds[1][1] = _outcome("group", {200: 100}, p99_ms=180)
    status, printed = _report(*rounds, overflow=3)
    assert status == 3, printed
    for needle in ("target permission toggle ≥ 0.8× the reference toggle's req/s (median of 3 "
                   "rounds): MISS (0.70×",
                   "target invite accept ≥ 0.5× the reference toggle's req/s (median of 3 "
                   "rounds): MISS (0.40×",
                   "target group page ≥ 0.8× the reference page's req/s (median of 3 rounds): "
                   "PASS",
                   "target p99 ≤ 150 ms at 16 connections: MISS (group page 180 ms, toggle "
                   "20 ms)"):
        assert needle in printed, printed
