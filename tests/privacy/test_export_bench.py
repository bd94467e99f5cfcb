"""The export of a person with 10,000 history rows is complete and valid (every row in
its CSV and in data.json), and bench/export_bench.py keeps running (small). Memory is
measured by the bench, not asserted; time is not asserted."""

from __future__ import annotations

import csv
import io
import json
import zipfile

from sqlalchemy import func, select

from app.extensions import db
from app.models.audit import AuditEvent
from app.models.notifications import InviteNotification
from bench import export_bench
from tests.factories import PASSWORD
from tests.pages import csrf_of

ROWS = 10_000


def rows_of(archive: zipfile.ZipFile, name: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(archive.read(name).decode("utf-8-sig"))))


def test_the_export_of_ten_thousand_rows_is_complete(app, client):
    with app.app_context():
        user_id = export_bench.person(ROWS)
        from app.models.accounts import User

        phone = db.session.get(User, user_id).phone
    from tests.conftest import sign_in

    assert sign_in(client, phone).status_code == 303
    response = client.post("/me/data/export", data={"csrf_token": csrf_of(client),
                                                    "password": PASSWORD})
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(response.get_data()))
    assert archive.testzip() is None
    with app.app_context():
        events = db.session.scalar(select(func.count()).select_from(AuditEvent).where(
            (AuditEvent.actor_id == user_id)
            | ((AuditEvent.subject_type == "users") & (AuditEvent.subject_id == user_id))))
        notes = db.session.scalar(select(func.count()).select_from(InviteNotification).where(
            InviteNotification.recipient_user_id == user_id,
            InviteNotification.channel == "in_app"))
    assert events >= ROWS
    assert notes == ROWS
    audit_rows = rows_of(archive, "audit_events.csv")
    assert len(audit_rows) == events
    assert len({r["id"] for r in audit_rows}) == events  # each once
    assert len(rows_of(archive, "notifications.csv")) == ROWS
    data = json.loads(archive.read("data.json"))
    assert len(data["auditEvents"]) == events
    assert len(data["notifications"]) == ROWS
    assert [c["other"]["name"] for c in data["connections"]] == ["Con bench"]
    assert rows_of(archive, "connections.csv")[0]["otherName"] == "Con bench"


def test_the_bench_runs_small(app, capsys):
    results = export_bench.run(app, 200)
    assert [m.rows for m in results] == [20, 200]
    assert all(m.bytes > 0 and m.peak > 0 for m in results)
    assert export_bench.main(["--rows", "30"]) == 0
    out = capsys.readouterr().out
    assert "peak memory" in out
    assert "KiB" in out
