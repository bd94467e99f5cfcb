"""bench/ratio.py stays runnable: the portal against the bare reference (bench/ref_app.py) in
one process, a few requests per case, on the backend under test. No speed is asserted (the
figures are bench/README.md's, measured by hand); what is asserted is that every case is
measured and reported with sane numbers, and that its targets and checks can fail."""

from __future__ import annotations

import re

import pytest

from bench import load_app, ratio, ref_app
from tests.conftest import BACKEND

CASES = {"healthz", "group", "large", "toggle", "accept"}
TARGETS = {"group", "toggle", "accept", "large_times", "large_statements", "html_bytes"}


def _run(fresh_database_url, **kwargs) -> tuple[int, list[str]]:
    lines: list[str] = []
    with pytest.MonkeyPatch.context() as patch:
        if BACKEND == "postgresql":  # databases next to the test server's, not a new server
            patch.setenv("DATABASE_URL", fresh_database_url())
        status = ratio.run(db=BACKEND, as_json=True, out=lines.append, **kwargs)
    return status, lines


@pytest.fixture(scope="module")
def ran(fresh_database_url):
    """One tiny run: two rounds of three requests per side and case."""
    return _run(fresh_database_url, rounds=2, requests=3)


def test_every_case_is_measured_and_reported(ran):
    status, lines = ran
    printed = "\n".join(lines)
    assert status in (0, 3), printed  # 3: a target missed, reported
    figures = ratio.read_json(lines)
    assert figures["db"] == BACKEND
    assert (figures["rounds"], figures["requests"]) == (2, 3)
    assert set(figures["cases"]) == CASES
    for key, case in figures["cases"].items():
        for side in (case["first"], case["second"]):
            assert side["ms"] > 0, key
            assert len(side["rounds_ms"]) == 2, key
            assert len(side["statements"]) == ratio.COUNTED, key
            # the warm-up, the counted requests and the rounds, every answer expected
            answered = sum(side["statuses"].values())
            assert answered >= ratio.WARMUP + ratio.COUNTED + 2 * 3, key
            assert set(side["statuses"]) <= {"200", "303", "409"}, key
        assert case["ratio"] > 0, key
        assert len(case["round_ratios"]) == 2, key
        assert f"ratio {case['ratio_name']}" in printed
    for key, statuses in (("group", {"200"}), ("toggle", {"200"}), ("accept", {"303", "409"})):
        assert set(figures["cases"][key]["first"]["statuses"]) <= statuses
    # the statements: none for /ping, the reference's page from 3 queries and the user's load,
    # its toggle a read, an update and the user's load; the portal's pages some
    cases = figures["cases"]
    assert cases["healthz"]["second"]["statements"] == [0, 0]
    assert cases["group"]["second"]["statements"] == [4, 4]
    assert cases["toggle"]["second"]["statements"] == [3, 3]
    assert min(cases["group"]["first"]["statements"]) >= 1
    # the pages' HTML: the reference's about 15 kB, the 4×10 family's more than the 2×4's
    assert 12_000 < cases["group"]["second"]["html_bytes"] < 18_000
    assert cases["large"]["second"]["html_bytes"] > cases["large"]["first"]["html_bytes"] > 0
    assert figures["failures"] == []
    assert {t["key"] for t in figures["targets"]} == TARGETS
    assert status == (0 if all(t["met"] for t in figures["targets"]) else 3)
    for target in figures["targets"]:
        assert f"target {target['text']}: {'PASS' if target['met'] else 'MISS'}" in lines
    assert "check every request answered as expected: ok" in lines
    assert lines[0] == "command: python -m bench.ratio"
    assert any(line.startswith("load average before the run") for line in lines)


def test_the_targets_are_judged_on_the_figures(ran):
    _status, lines = ran
    figures = ratio.read_json(lines)
    impossible = ratio.Targets(group=1e6, toggle=1e6, accept=1e6, large_times=0, html_bytes=0)
    missed = {v.key for v in ratio.evaluate(figures, impossible) if not v.met}
    assert missed >= TARGETS - {"large_statements"}
    lenient = ratio.Targets(group=0, toggle=0, accept=0, large_times=1e6, html_bytes=10**9)
    met = {v.key for v in ratio.evaluate(figures, lenient) if v.met}
    assert met >= TARGETS - {"large_statements"}
    # the same statements for both families' pages, or a MISS
    figures["cases"]["large"]["second"]["statements"] = [99, 99]
    verdict = next(v for v in ratio.evaluate(figures, lenient) if v.key == "large_statements")
    assert not verdict.met
    assert verdict.line().endswith(": 99 and " + str(
        max(figures["cases"]["large"]["first"]["statements"])) + ": MISS")


def test_an_unexpected_answer_fails_the_run(fresh_database_url, monkeypatch):
    monkeypatch.setitem(ratio.EXPECTED, "ping", frozenset({404}))  # a broken expectation
    status, lines = _run(fresh_database_url, rounds=1, requests=1)
    printed = "\n".join(lines)
    assert status == 1, printed
    assert "check every request answered as expected: FAILED" in printed
    assert "reference GET /ping: unexpected answers {200: " in printed
    assert ratio.read_json(lines)["status"] == 1


def test_the_reference_checks_login_csrf_and_ownership(tmp_path):
    app = ref_app.create_ref_app(f"sqlite:///{tmp_path / 'ref.sqlite3'}", "k" * 64)
    fixture = ref_app.seed(app)
    path = f"/connections/{fixture.connections[0]}/permissions/emergency_alert"
    page = f"/groups/{fixture.group_id}"
    anonymous = app.test_client()
    assert anonymous.get(page).status_code == 302  # to the login page
    assert anonymous.get("/ping").get_data(as_text=True) == "ok"
    owner = load_app.reference_client(app, fixture.admin_phone)
    shown = owner.get(page)
    assert shown.status_code == 200
    assert shown.get_data(as_text=True).count('hx-post="/connections/') == 60  # 10 × 6
    csrf = load_app.csrf_of(shown.get_data(as_text=True))
    assert owner.post(path, data={"enabled": "off"}).status_code == 400  # no CSRF token
    answer = owner.post(path, data={"enabled": "off", "csrf_token": csrf})
    assert answer.status_code == 200
    assert re.search(r'aria-pressed="false"[^>]*hx-vals=\'\{"enabled": "on"\}\'',
                     answer.get_data(as_text=True))
    member = load_app.reference_client(app, fixture.member_phones[0])
    member_csrf = load_app.csrf_of(member.get("/login").get_data(as_text=True))
    assert member.get(page).status_code == 403
    assert member.post(path, data={"enabled": "on", "csrf_token": member_csrf}).status_code \
        == 403
    with app.app_context():
        assert not ref_app.db.session.scalar(ref_app.db.select(ref_app.Permission.is_enabled)
                                             .where(ref_app.Permission.connection_id
                                                    == fixture.connections[0],
                                                    ref_app.Permission.code
                                                    == "emergency_alert"))
        ref_app.db.engine.dispose()
