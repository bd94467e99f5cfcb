"""Measures the My data export (issue 19): peak memory while the ZIP is streamed, and its
size, for a person with a long history.

    .venv/bin/python -m bench.export_bench [--rows 10000] [--database-url URL]

It builds (in a fresh SQLite file unless --database-url names an empty migrated
database) a person in a family with a connection, `--rows` audit events about them and
`--rows` in-app notifications, then streams their export through app/privacy/export.py
with tracemalloc on, throwing the bytes away as they come (as a server hands them to the
socket). It prints the rows, the archive's size, the peak memory of the stream and the
same for a tenth of the rows: the export reads in batches, so the peak should not grow
with the history. Nothing is asserted on time; tests/privacy/test_export_bench.py runs it
small so it keeps working.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import tracemalloc
from dataclasses import dataclass

from flask_babel import force_locale
from sqlalchemy import insert

from app.db import utcnow
from app.extensions import db
from app.models.audit import AuditEvent
from app.models.notifications import InviteNotification


@dataclass
class Measured:
    rows: int
    bytes: int
    peak: int  # bytes, tracemalloc's peak while streaming


def fill(user_id: int, rows: int) -> None:
    """`rows` audit events about the person and `rows` in-app notifications, in batches."""
    now = utcnow()
    for start in range(0, rows, 2000):
        n = min(2000, rows - start)
        db.session.execute(insert(AuditEvent), [
            {"actor_id": user_id, "action": "account.login", "subject_type": "users",
             "subject_id": user_id, "details": None, "ip": "127.0.0.1", "created_at": now,
             "family_group_id": None} for _ in range(n)])
        db.session.execute(insert(InviteNotification), [
            {"recipient": str(user_id), "recipient_user_id": user_id, "channel": "in_app",
             "notification_type": "PERMISSION_ENABLED", "status": "sent",
             "payload": {"group_name": f"Gia đình {start + i}"}, "created_at": now,
             "updated_at": now} for i in range(n)])
    db.session.commit()


def person(rows: int) -> int:
    """A patient followed by a caregiver, with `rows` events and notifications; their id."""
    from tests.factories import (
        make_connection,
        make_group,
        make_member,
        make_subscription,
        make_user,
    )

    admin = make_user(name="Quản trị bench")
    group = make_group(admin, subscription=make_subscription(admin))
    patient = make_user(name="Bà bench")
    caregiver = make_user(name="Con bench")
    make_member(group, patient, role="patient")
    make_member(group, caregiver, role="caregiver")
    make_connection(patient, caregiver, group=group)
    db.session.commit()
    fill(patient.id, rows)
    return patient.id


def measure(app, user_id: int, rows: int, *, locale: str = "vi") -> Measured:
    """Stream the person's export with tracemalloc on; the bytes are counted, not kept."""
    from app.models.accounts import User
    from app.privacy.export import zip_chunks

    size = 0
    with app.app_context(), force_locale(locale):
        db.session.expunge_all()
        user = db.session.get(User, user_id)
        tracemalloc.start()
        try:
            for chunk in zip_chunks(user, locale=locale):
                size += len(chunk)
            _now, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        db.session.rollback()
    return Measured(rows=rows, bytes=size, peak=peak)


def run(app, rows: int) -> list[Measured]:
    """The export of a person with rows // 10 and one with `rows` of each history."""
    results = []
    for n in (max(1, rows // 10), rows):
        with app.app_context():
            user_id = person(n)
        results.append(measure(app, user_id, n))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_EXPORT_DATABASE_URL"))
    args = parser.parse_args(argv)
    from flask_migrate import upgrade

    from app import create_app

    url = args.database_url or "sqlite:///" + os.path.join(tempfile.mkdtemp(), "export.db")
    app = create_app({"APP_ENV": "test", "DATABASE_URL": url, "SECRET_KEY": "bench-" + "k" * 40,
                      "PUBLIC_BASE_URL": "http://bench.test"})
    with app.app_context():
        upgrade()
    print(f"{'rows':>8} {'zip bytes':>12} {'peak memory':>14}")
    for m in run(app, args.rows):
        print(f"{m.rows:>8} {m.bytes:>12,} {m.peak / 1024:>11,.0f} KiB")
    with app.app_context():
        db.engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
