"""Set-based reads and multi-row inserts for the legacy import, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import psycopg
from psycopg.types.json import Json
from sqlalchemy import JSON, insert
from sqlalchemy.exc import IntegrityError

from app.extensions import db

IN_CHUNK = 5000  # binds per IN list: far under SQLite's limit of 32,766
SQLITE_PAGE = 100  # rows per multi-row INSERT on SQLite


def chunks(values: Iterable[Any]) -> Iterator[list[Any]]:
    """Lists of at most IN_CHUNK values, padded (repeating the last) to a multiple of 250:
    a few IN-list lengths, so a few statements in the driver's cache (see SQLITE_PAGE)."""
    values = list(values)
    for start in range(0, len(values), IN_CHUNK):
        chunk = values[start:start + IN_CHUNK]
        yield chunk + chunk[-1:] * (-len(chunk) % 250)


def chunked_rows(query, column, values: Iterable[Any]):
    for chunk in chunks(values):
        yield from db.session.execute(query.where(column.in_(chunk)))


def chunked_scalars(query, column, values: Iterable[Any]):
    for chunk in chunks(values):
        yield from db.session.scalars(query.where(column.in_(chunk)))


def insert_rows(model, rows: list[dict[str, Any]]) -> None:
    if rows:
        insert_returning(model, (), rows)


def insert_returning(model, key: tuple[str, ...], rows: list[dict[str, Any]]
                      ) -> dict[tuple[Any, ...], int]:
    """Insert many rows in a few statements; their ids by `key`, columns unique among
    `rows` (asking for the ids in the rows' order instead, sort_by_parameter_order, would
    make SQLite insert one row per statement).

    SQLite: SQLAlchemy's multi-row INSERT … VALUES (insertmanyvalues). PostgreSQL: one
    INSERT … SELECT FROM unnest(arrays) per call, a column per array: psycopg would
    otherwise send a row per statement (executemany) or parse, in Python, statements with
    tens of thousands of placeholders, and either costs more than the database's work.
    """
    table = model.__table__
    connection = db.session.connection()
    if connection.dialect.name != "postgresql":
        statement = insert(table)
        if key:
            statement = statement.returning(table.c.id, *(table.c[name] for name in key))
        # Pages of exactly SQLITE_PAGE rows, the rest a row at a time: two statement
        # shapes per table. Every other row count would be one more prepared statement in
        # sqlite3's cache (128 of them, some megabytes each): memory that grows with the
        # file until the cache is full.
        full = len(rows) - len(rows) % SQLITE_PAGE
        ids: dict[tuple[Any, ...], int] = {}
        for part, page in ((rows[:full], SQLITE_PAGE), (rows[full:], 1)):
            if part:
                result = db.session.execute(
                    statement.execution_options(insertmanyvalues_page_size=page), part)
                if key:
                    ids.update((tuple(row[1:]), row[0]) for row in result)
        return ids
    names = list(rows[0])
    quote = connection.dialect.identifier_preparer.quote
    params: dict[str, list[Any]] = {}
    arrays = []
    for index, name in enumerate(names):
        column = table.c[name]
        values = [row[name] for row in rows]
        if isinstance(column.type, JSON):
            values = [None if v is None else Json(v) for v in values]
        params[f"p{index}"] = values
        arrays.append(f"%(p{index})b::{column.type.compile(dialect=connection.dialect)}[]")
    # Names and types come from our own table metadata; every value is a bound array.
    sql = (f"INSERT INTO {quote(table.name)} ({', '.join(quote(n) for n in names)}) "  # noqa: S608
           f"SELECT * FROM unnest({', '.join(arrays)})")
    if key:
        sql += f" RETURNING id, {', '.join(quote(k) for k in key)}"
    # Binary parameters (%(p)b): psycopg dumps a text array with a regular expression per item.
    with connection.connection.driver_connection.cursor() as cursor:
        try:
            cursor.execute(sql, params)
        except psycopg.IntegrityError as exc:
            raise IntegrityError(sql[:60], None, exc) from exc
        return {tuple(row[1:]): row[0] for row in cursor.fetchall()} if key else {}
