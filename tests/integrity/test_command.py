"""flask integrity-check as a command: a clean database says nothing is wrong (exit 0),
the check's statements do not grow with the number of families, and the real `flask`
executable reports, repairs and exits as the contract says (0 clean, 1 violations)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from flask_migrate import upgrade
from sqlalchemy import delete, update

from app.connections.control import connection_revoke, permissions_set
from app.extensions import db
from app.integrity.cli import CHECKS
from app.membership.services import group_dissolve, group_self_add, member_leave, member_remove
from app.models.accounts import User
from app.models.connections import Connection, ConnectionPermission
from tests.conftest import make_app
from tests.factories import make_connection, make_member, make_user
from tests.integrity import check, repair_events, violations
from tests.service_helpers import admin_group, connection_between, invite, join

ROOT = Path(__file__).resolve().parents[2]


def realistic_family() -> dict:
    """Two families lived through the services: joins with relationships, a permission
    turned off, a silent disconnect, a removal, a leave, a pending invite, a dual-role
    admin — and a third family dissolved."""
    admin, _sub, group = admin_group(patients=3, caregivers=4, gender=0)
    group_self_add(actor=admin, group=group, role="caregiver", relationship="con_trai")
    mother = join(group, role="patient", name="Nguyễn Thị Mẹ", gender=1)
    join(group, role="patient", name="Nguyễn Văn Bố", gender=0)
    daughter = join(group, role="caregiver", relationship="con_gai", gender=1)
    nephew = join(group, role="caregiver", relationship="chau", gender=0)
    group_self_add(actor=admin, group=group, role="patient")
    permissions_set(actor=admin, connection_id=connection_between(mother, daughter).id,
                    changes={"proxy_execution": False})
    connection_revoke(actor=mother, connection_id=connection_between(mother, nephew).id)
    member_remove(actor=admin, group=group, user_id=nephew.id, role="caregiver")
    member_leave(actor=daughter, group=group, role="caregiver")
    invite(group, role="caregiver")
    _admin2, _sub, other = admin_group(patients=2, caregivers=2)
    join(other, role="patient", gender=1)
    join(other, daughter, role="caregiver", relationship="con_gai")
    admin3, _sub, gone = admin_group()
    join(gone, role="patient")
    join(gone, role="caregiver", relationship="em_trai", gender=0)
    invite(gone, role="caregiver")
    group_dissolve(actor=admin3, group=gone)
    return {"groups": [group.id, other.id, gone.id]}


def test_a_lived_in_database_has_no_violations(app, run):
    run(realistic_family)
    result = check(app)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"No violations: {len(CHECKS)} invariants checked."
    repair = check(app, "--repair")
    assert repair.exit_code == 0, repair.output
    assert repair.output.strip() == \
        f"Nothing to repair: no violations, {len(CHECKS)} invariants checked."


def test_demo_data_has_no_violations(fresh_database_url):
    fresh = make_app(fresh_database_url())
    runner = fresh.test_cli_runner()
    with fresh.app_context():  # demo-data runs in the app context `flask` gives it
        upgrade()
        assert runner.invoke(args=["demo-data"]).exit_code == 0
        db.session.remove()
    result = runner.invoke(args=["integrity-check"])
    assert result.exit_code == 0, result.output


def many_families(n: int) -> None:
    for _ in range(n):
        _admin, _sub, group = admin_group(patients=2, caregivers=4)
        patients = [make_member(group, make_user()) for _ in range(2)]
        caregivers = [make_member(group, make_user(gender=1), role="caregiver")
                      for _ in range(3)]
        for p in patients:
            for c in caregivers:
                make_connection(db.session.get(User, p.user_id),
                                db.session.get(User, c.user_id), group=group)
        invite(group, role="caregiver")


def test_the_check_runs_the_same_statements_for_1_or_25_families(app, run, count_queries):
    counts = {}
    for n, more in ((1, 1), (25, 24)):
        run(many_families, more)
        with count_queries() as statements:
            result = check(app)
        assert result.exit_code == 0, result.output
        counts[n] = len(statements)
    print(f"\nintegrity-check statements: {counts}")
    assert counts[1] == counts[25], counts
    assert counts[1] <= len(CHECKS) + 2, counts


def test_repairs_run_a_statement_count_bounded_by_batches_not_families(app, run,
                                                                       count_queries):
    """25 families, every connection of each revoked with a permission still ON: the
    repair fixes them in one batch (the audit rows go in one flush)."""
    run(many_families, 25)
    run(lambda: db.session.execute(update(Connection).values(permission_revoked=True)))
    with count_queries() as statements:
        result = check(app, "--repair")
    assert result.exit_code == 0, result.output
    assert "[connection.revoked_permission_on] repaired 150 violations." in result.output
    assert len(repair_events(app, "connection.revoked_permission_on")) == 150
    print(f"\nrepair of 150 connections: {len(statements)} statements")
    assert len(statements) < 150, len(statements)


def flask(app, tmp_path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "APP_ENV": "test",
           "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
           "SECRET_KEY": app.config["SECRET_KEY"], "INSTANCE_PATH": str(tmp_path),
           "SMS_GATEWAY_URL": "", "SMTP_HOST": "", "PAYMENT_PROVIDER": "local"}
    env.pop("FLASK_APP", None)
    return subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "integrity-check",
                           *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def test_the_flask_executable_reports_repairs_and_exits_by_the_contract(app, run, tmp_path):
    def make():
        _admin, _sub, group = admin_group()
        patient = make_member(group, make_user())
        caregiver = make_member(group, make_user(gender=1), role="caregiver")
        connection = make_connection(db.session.get(User, patient.user_id),
                                     db.session.get(User, caregiver.user_id), group=group)
        db.session.execute(update(ConnectionPermission).where(
            ConnectionPermission.contact_id == connection.id).values(is_enabled=False))
        return connection.id

    cid = run(make)
    found = flask(app, tmp_path)
    assert found.returncode == 1, found.stderr
    assert violations(found.stdout) == {"connection.live_without_permission":
                                        [(f"connection {cid}", True)]}
    assert "1 violation found: 1 repairable, 0 not repairable." in found.stdout
    fixed = flask(app, tmp_path, "--repair")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "1 violation found, 1 repaired, 0 remaining." in fixed.stdout
    clean = flask(app, tmp_path)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "No violations" in clean.stdout
    [event] = repair_events(app, "connection.live_without_permission")
    assert event["rows"] == {"connection": cid}


def test_help_says_what_it_does(app):
    result = app.test_cli_runner().invoke(args=["integrity-check", "--help"])
    assert result.exit_code == 0
    assert "--repair" in result.output
    assert "Exit status 0" in result.output


def test_repairs_page_through_batches(app, run, monkeypatch):
    """Batches smaller than a family's violations: each round reads on from the last,
    and every violation is repaired once."""
    monkeypatch.setattr("app.integrity.checks.BATCH", 3)
    run(many_families, 4)
    run(lambda: db.session.execute(delete(Connection)))  # 4 families × 2 patients × 3
    result = check(app, "--repair")
    assert result.exit_code == 0, result.output
    assert "[connection.missing] repaired 24 violations." in result.output
    events = repair_events(app, "connection.missing")
    assert len({(e["rows"]["patient"], e["rows"]["caregiver"]) for e in events}) == 24


def test_a_database_without_the_schema_is_a_clear_error_not_a_traceback(fresh_database_url):
    empty = make_app(fresh_database_url())  # never migrated
    result = empty.test_cli_runner().invoke(args=["integrity-check"])
    assert result.exit_code == 2, result.output
    assert "Error: the database could not be checked:" in result.output
    assert "Traceback" not in result.output
