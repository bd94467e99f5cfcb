"""Database plumbing shared by models and migrations: UTC timestamps, SQLite pragmas."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, event
from sqlalchemy.engine import Engine
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC timestamp on both databases.

    PostgreSQL stores timestamptz. SQLite has no time zone, so the value is stored
    as naive UTC and handed back aware. Naive datetimes are refused on the way in:
    a naive value is a bug (local time mistaken for UTC).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC timestamp column")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def configure_sqlite(engine: Engine, busy_timeout_ms: int = 5000) -> None:
    """Foreign keys on, WAL, a busy timeout, and write transactions that BEGIN IMMEDIATE
    (a GET's transaction only from its first write, if any).

    pysqlite's own transaction handling is switched off so that every transaction
    SQLAlchemy begins takes the write lock at once: two requests that read then write
    queue up instead of failing with "database is locked" half-way, which is the
    locking story PostgreSQL's row locks give us.
    """
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        if _safe_request():
            # A page that only reads takes no lock: each statement reads what is committed
            # (PostgreSQL's READ COMMITTED), so two workers serve pages side by side instead
            # of one after the other. Should it write after all, BEGIN IMMEDIATE comes just
            # before its first write (below), so its writes stay one transaction.
            connection.info[_LAZY_BEGIN] = True
            return
        connection.info.pop(_LAZY_BEGIN, None)
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    @event.listens_for(engine, "before_cursor_execute")
    def _begin_before_first_write(connection, _cursor, statement, *_args):
        if connection.info.get(_LAZY_BEGIN) and statement.lstrip()[:9].upper().startswith(
                _WRITES):
            del connection.info[_LAZY_BEGIN]
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def _end(connection):
        connection.info.pop(_LAZY_BEGIN, None)


_LAZY_BEGIN = "fc_lazy_begin"
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "SAVEPOINT")


def _safe_request() -> bool:
    """Inside a GET/HEAD/OPTIONS request (pages and API reads)."""
    from flask import has_request_context, request

    return has_request_context() and request.method in ("GET", "HEAD", "OPTIONS")
