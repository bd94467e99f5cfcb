"""Backups as docs/deployment.md tells operators to take them, and a restore that is tried:
PostgreSQL with `pg_dump --format=custom` and `pg_restore` into an empty database, SQLite
with the online backup API (issue 20, item 6). The restored database must hold every row
of every table, be at the schema's head, and let the demo's admin log in."""

from __future__ import annotations

import os
import subprocess
import sys

from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import select

from app.demo import PASSWORD, load_demo_data
from app.extensions import db, migrate
from tests.conftest import BACKEND, make_app, migrated_app, sign_in

ADMIN = "0912345678"  # app/demo.py


def table_contents(app) -> dict[str, list[tuple]]:
    """Every row of every table, in primary-key order."""
    with app.app_context():
        contents = {}
        for table in db.metadata.sorted_tables:
            order = list(table.primary_key.columns) or list(table.columns)
            contents[table.name] = [tuple(row) for row in
                                    db.session.execute(select(table).order_by(*order))]
        db.session.remove()
        return contents


def revision_and_head(app) -> tuple[str | None, str]:
    with app.app_context():
        head = ScriptDirectory.from_config(migrate.get_config()).get_current_head()
        with db.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision(), head


def pg_tool(pg_server, name: str) -> str:
    return os.path.join(pg_server.bin, name)


def back_up_and_restore(request, fresh_database_url, source_url: str, tmp_path) -> str:
    """Back the source up with the documented command and restore it into a new database;
    the new database's URL."""
    target_url = fresh_database_url()
    if BACKEND == "postgresql":
        pg_server = request.getfixturevalue("pg_server")
        dump = tmp_path / "fc.dump"
        source = source_url.rsplit("/", 1)[1]
        target = target_url.rsplit("/", 1)[1]
        subprocess.run([pg_tool(pg_server, "pg_dump"), "--format=custom", "--no-owner",
                        "--file", str(dump), pg_server.dsn(source)],
                       check=True, capture_output=True, timeout=120)
        subprocess.run([pg_tool(pg_server, "pg_restore"), "--no-owner", "--exit-on-error",
                        "--dbname", pg_server.dsn(target), str(dump)],
                       check=True, capture_output=True, timeout=120)
    else:
        source = source_url.removeprefix("sqlite:///")
        target = target_url.removeprefix("sqlite:///")
        # The command of docs/deployment.md, word for word but for the paths.
        subprocess.run([sys.executable, "-c",
                        "import sqlite3, sys; "
                        "sqlite3.connect(sys.argv[1]).backup(sqlite3.connect(sys.argv[2]))",
                        source, target], check=True, capture_output=True, timeout=120)
    return target_url


def test_a_backup_restores_every_row_at_the_head_revision(request, fresh_database_url,
                                                          tmp_path):
    source_url = fresh_database_url()
    source = migrated_app(source_url)
    with source.app_context():
        load_demo_data()
        db.session.commit()
    before = table_contents(source)
    assert sum(len(rows) for rows in before.values()) > 50  # a family, not an empty schema

    restored = make_app(back_up_and_restore(request, fresh_database_url, source_url, tmp_path))

    assert table_contents(restored) == before
    revision, head = revision_and_head(restored)
    assert revision == head
    client = restored.test_client()
    assert sign_in(client, ADMIN, PASSWORD).status_code == 303
    family = client.get("/family", follow_redirects=True)
    assert family.status_code == 200
    assert "Gia đình Nguyễn" in family.get_data(as_text=True)
