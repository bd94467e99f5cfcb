"""bench/staff_generate.py and bench/staff_bench.py stay runnable: a small generation on the
test PostgreSQL server, then the benchmark's steps on it (no timing is asserted: the
figures are the benchmark's, run by hand — bench/README.md)."""

from __future__ import annotations

import phonenumbers
import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models.accounts import User
from app.models.connections import Connection, ConnectionPermission
from app.models.groups import FamilyGroup, FamilyGroupMember
from app.models.invites import ConnectionInvite
from app.staff.queries import GROUP_PAGE
from bench import staff_bench
from bench.staff_generate import GenerateError, generate, main, phone_of
from tests.conftest import BACKEND, migrated_app

pytestmark = pytest.mark.skipif(
    BACKEND != "postgresql",
    reason="the generator writes with PostgreSQL's COPY: run with TEST_DATABASE=postgresql")

USERS, GROUPS = 200, 40


@pytest.fixture
def bench_db(fresh_database_url):
    """An empty database at the schema's head revision, as `flask db upgrade` leaves it."""
    url = fresh_database_url()
    return url, migrated_app(url)


def counts(app) -> dict[str, int]:
    with app.app_context():
        return {model.__tablename__: db.session.scalar(select(func.count()).select_from(model))
                for model in (User, FamilyGroup, FamilyGroupMember, ConnectionInvite,
                              Connection, ConnectionPermission)}


def test_generate_a_small_world(bench_db):
    url, app = bench_db
    said: list[str] = []
    written = generate(url, users=USERS, groups=GROUPS, log=said.append)
    assert written["users"] == USERS
    assert written["family_groups"] == GROUPS
    assert said[-1].startswith(f"generated {USERS} users and {GROUPS} groups in ")
    found = counts(app)
    assert found["users"] == USERS
    assert found["family_groups"] == GROUPS
    assert found["family_group_members"] > GROUPS
    assert found["connection_permissions"] == 6 * found["user_emergency_contacts"] > 0
    with app.app_context():
        phones = list(db.session.scalars(select(User.phone)))
        assert len(set(phones)) == USERS
        assert all(phonenumbers.is_valid_number(phonenumbers.parse(p)) for p in phones)
        assert all(p.startswith(("+849", "+843")) for p in phones)
        assert {s for s in db.session.scalars(select(FamilyGroup.status))} <= {
            "active", "inactive", "dissolved"}
        assert db.session.scalar(select(func.count()).select_from(FamilyGroupMember).join(
            FamilyGroup, FamilyGroup.id == FamilyGroupMember.group_id).where(
            FamilyGroup.status == "dissolved")) == 0
        # newest id = newest group, as the staff list reads them
        created = list(db.session.scalars(select(FamilyGroup.created_at)
                                          .order_by(FamilyGroup.id)))
        assert created == sorted(created)
        # the sequences continue after the generated ids: the app can add rows
        user = User(phone=phone_of(USERS + 5), name="Mới", password_hash="x", locale="vi")
        db.session.add(user)
        db.session.flush()
        assert user.id == USERS + 1
        db.session.rollback()


def test_generate_refuses_a_database_with_data_unless_reset(bench_db):
    url, app = bench_db
    generate(url, users=USERS, groups=GROUPS, log=lambda _line: None)
    before = counts(app)
    with pytest.raises(GenerateError, match="already has 200 users"):
        generate(url, users=USERS, groups=GROUPS, log=lambda _line: None)
    assert counts(app) == before
    generate(url, users=USERS, groups=GROUPS, reset=True, log=lambda _line: None)
    assert counts(app) == before  # the same seed makes the same world


def test_generate_refuses_a_database_without_the_schema(fresh_database_url, monkeypatch,
                                                        capsys):
    monkeypatch.setenv("DATABASE_URL", fresh_database_url())
    assert main(["--users", "10", "--groups", "2"]) == 2
    assert "flask --app wsgi db upgrade" in capsys.readouterr().err


def test_generate_needs_an_admin_per_group(bench_db):
    url, app = bench_db
    with pytest.raises(GenerateError, match="at least as many users as groups"):
        generate(url, users=5, groups=10, log=lambda _line: None)
    assert counts(app)["users"] == 0


def test_the_bench_steps_run_on_the_small_world(bench_db):
    url, _app = bench_db
    generate(url, users=USERS, groups=GROUPS, log=lambda _line: None)
    app = staff_bench.build_app(url)
    try:
        client = staff_bench.staff_client(app)
        picks = staff_bench.choose(app, page=2)
        assert (picks.users, picks.groups, picks.page) == (USERS + 1, GROUPS, 2)
        assert picks.cursor is not None
        assert len(picks.phone) == 12  # 0912 345 678
        assert picks.phone[:2] in ("09", "03")
        ok, detail = staff_bench.walk_check(app, client, pages=2)
        assert ok, detail
        ids, _next = staff_bench.page_ids(client, "/staff/groups")
        assert len(ids) == GROUP_PAGE
        # The extra cases measure the file and the family, not their reason step (issue 21).
        assert 'id="audit"' not in client.get(f"/staff/users/{picks.user_id}").get_data(
            as_text=True)
        staff_bench.open_with_reason(client, picks)
        for path in (f"/staff/users/{picks.user_id}", f"/staff/groups/{picks.group_id}"):
            assert 'id="audit"' in client.get(path).get_data(as_text=True)
        timings = [staff_bench.measure(client, name, path, runs=2, warmup=1, gated=gated)
                   for name, path, gated in staff_bench.cases(picks, extra=True)]
        assert [t.status for t in timings] == [200] * len(timings)
        assert all(len(t.runs) == 2 and t.median > 0 for t in timings)
        counting, items = staff_bench.queue_count(app, runs=2)
        assert counting > 0
        assert items >= 0
        names = [name for name, _path, gated in staff_bench.cases(picks) if gated]
        assert "GET /staff/queue" in names  # a gated case (issue 21): under 100 ms
        explained = staff_bench.explains(app, client, picks)
        assert len(explained) == 5
        assert all(e.execution >= 0 for e in explained)
        assert all(e.plan.startswith("Limit") for e in explained)
    finally:
        with app.app_context():
            db.engine.dispose()


def test_the_bench_prints_its_table_and_verdict(bench_db):
    url, _app = bench_db
    generate(url, users=USERS, groups=GROUPS, log=lambda _line: None)
    lines: list[str] = []
    fine = staff_bench.run(url, runs=2, warmup=1, page=2, out=lines.append)
    printed = "\n".join(lines)
    assert "cursor check: page 2 by following 1 next links == page 2" in printed
    for case in ("GET /staff/groups (page 1)", "GET /staff/groups (page 2, cursor)",
                 "GET /staff/groups?status=inactive (page 1)", "GET /api/v1/staff/users?q=",
                 "EXPLAIN (ANALYZE)", "user search by phone", "GET /staff/queue",
                 "GET /api/v1/staff/queue", "review queue count (flask staff-queue-count"):
        assert case in printed
    assert isinstance(fine, bool)
