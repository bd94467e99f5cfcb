"""Helpers for the integrity-check tests: run the command, read its lines, break the
schema's own guards on purpose (a CHECK or a foreign key) for the invariants they hold.
"""

from __future__ import annotations

import re
from collections import defaultdict
from contextlib import contextmanager

from sqlalchemy import select

from app.extensions import db
from app.models.audit import AuditEvent

LINE = re.compile(r"^(remains: )?\[([a-z_.]+)\] (.*) \((.*); (repairable|not repairable)\)$")


def check(app, *args: str):
    """Run `flask integrity-check` through the CLI runner (outside any app context)."""
    return app.test_cli_runner().invoke(args=["integrity-check", *args])


def violations(output: str, *, remaining: bool = False) -> dict[str, list[tuple[str, bool]]]:
    """code → [(the rows as printed, repairable)] of the violation lines (or of the
    "remains:" lines printed after a repair)."""
    found: dict[str, list[tuple[str, bool]]] = defaultdict(list)
    for line in output.splitlines():
        match = LINE.match(line)
        if match and bool(match.group(1)) == remaining:
            found[match.group(2)].append((match.group(4), match.group(5) == "repairable"))
    return dict(found)


def reported(app, expected: dict[str, list[str]], *, repairable: bool = True) -> str:
    """Run the check: exit 1 and exactly these violations (code → rows as printed)."""
    result = check(app)
    assert result.exit_code == 1, result.output
    found = violations(result.output)
    assert {code: sorted(w for w, _r in rows) for code, rows in found.items()} == \
        {code: sorted(rows) for code, rows in expected.items()}, result.output
    assert all(r == repairable for rows in found.values() for _w, r in rows), result.output
    return result.output


def repaired(app, *, remaining: int = 0) -> str:
    """Run --repair, then a plain check: exit 0 when nothing remains."""
    result = check(app, "--repair")
    assert result.exit_code == (1 if remaining else 0), result.output
    assert f"{remaining} remaining." in result.output, result.output
    after = check(app)
    assert after.exit_code == (1 if remaining else 0), after.output
    if not remaining:
        assert "No violations" in after.output
    return result.output


def repair_events(app, invariant: str) -> list[dict]:
    """The details of the integrity.repaired audit events of one invariant, in order."""
    with app.app_context():
        return [e.details for e in db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "integrity.repaired")
            .order_by(AuditEvent.id)) if e.details["invariant"] == invariant]


def where(**rows) -> str:
    return ", ".join(f"{name} {value}" for name, value in rows.items())


def _sqlite_checks(cursor, *, on: bool) -> None:
    """Turn SQLite's foreign-key and CHECK enforcement on or off for this connection."""
    cursor.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")
    cursor.execute(f"PRAGMA ignore_check_constraints={'OFF' if on else 'ON'}")


@contextmanager
def unguarded(app):
    """A raw DBAPI connection on which the CHECK constraint chk_no_self_connection and the
    foreign keys do not hold, to write rows the schema forbids (what an old import or a
    manual fix might have left). Commits on exit. The caller's teardown restores the
    constraint with `guard_again`."""
    with app.app_context():
        engine = db.engine
        raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        if engine.dialect.name == "sqlite":
            # Outside a transaction (the pool's connections are in autocommit mode).
            _sqlite_checks(cursor, on=False)
        else:
            cursor.execute("SET session_replication_role = replica")  # no FK triggers
            cursor.execute("ALTER TABLE user_emergency_contacts "
                           "DROP CONSTRAINT IF EXISTS chk_no_self_connection")
        yield cursor
        raw.commit()
    except BaseException:
        raw.rollback()
        raise
    finally:
        cursor = raw.cursor()
        if engine.dialect.name == "sqlite":
            _sqlite_checks(cursor, on=True)
        else:
            cursor.execute("SET session_replication_role = origin")
            raw.commit()
        raw.close()


def guard_again(app) -> None:
    """Delete the self-connections and put chk_no_self_connection back (PostgreSQL)."""
    with app.app_context(), db.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM user_emergency_contacts "
                             "WHERE linked_user_id = user_id")
        if conn.dialect.name != "sqlite":
            conn.exec_driver_sql(
                "ALTER TABLE user_emergency_contacts DROP CONSTRAINT IF EXISTS "
                "chk_no_self_connection")
            conn.exec_driver_sql(
                "ALTER TABLE user_emergency_contacts ADD CONSTRAINT chk_no_self_connection "
                "CHECK (linked_user_id IS NULL OR linked_user_id <> user_id)")
