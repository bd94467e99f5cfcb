"""Set-based reads and multi-row inserts for the legacy import, on SQLite and PostgreSQL.

Rows are plain tuples in the order of the columns named; values the same for every row of
a call (a batch's timestamp, a status) are given once as `constants`. Ids are handed out
before the insert (`new_ids`), so a batch's rows can all be built before the first one is
written and no id has to be matched back to its row.

Both paths go below SQLAlchemy's per-row parameter processing, which cost more than the
database's own work (docs/decisions.md, "Issue 17: import speed"); the values are still
converted by the columns' own SQLAlchemy types, once per distinct value.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from itertools import repeat
from operator import itemgetter
from typing import Any

import psycopg
from psycopg.types.json import Json
from sqlalchemy import ARRAY, JSON, Table, any_, bindparam, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.expression import Tuple

from app.extensions import db

IN_CHUNK = 5000  # binds per IN list: far under SQLite's limit of 32,766


def chunks(values: Iterable[Any]) -> Iterator[list[Any]]:
    """Lists of at most IN_CHUNK values, padded (repeating the last) to a multiple of 250:
    a few IN-list lengths, so a few statements in sqlite3's cache of 128 prepared
    statements (each new length would be one more, some megabytes each: memory that grows
    with the file until the cache is full)."""
    values = list(values)
    for start in range(0, len(values), IN_CHUNK):
        chunk = values[start:start + IN_CHUNK]
        yield chunk + chunk[-1:] * (-len(chunk) % 250)


def _among(column, values: list[Any]):
    """column IN values. On PostgreSQL one array parameter, = ANY(…): an IN list is a
    placeholder per value, which psycopg parses in Python for every statement."""
    if db.session.get_bind().dialect.name == "postgresql" and not isinstance(column, Tuple):
        return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
    return column.in_(values)


def chunked_rows(query, column, values: Iterable[Any]):
    for chunk in chunks(values):
        yield from db.session.execute(query.where(_among(column, chunk)))


def chunked_scalars(query, column, values: Iterable[Any]):
    for chunk in chunks(values):
        yield from db.session.scalars(query.where(_among(column, chunk)))


def new_ids(model, count: int) -> list[int]:
    """`count` ids for new rows of `model`, in increasing order, for an insert that follows
    in the same transaction.

    PostgreSQL: from the table's sequence, as the column's default would take them.
    SQLite: the ones it would give itself, max(id) + 1 onwards (INTEGER PRIMARY KEY without
    AUTOINCREMENT). The import's transaction holds SQLite's write lock from its first
    statement (BEGIN IMMEDIATE), so nobody else can take them meanwhile.
    """
    if count <= 0:
        return []
    table: Table = model.__table__
    if db.session.get_bind().dialect.name == "postgresql":
        # The sequence by its oid: nextval(pg_get_serial_sequence(…)) looked its name up
        # again for every id (40 ms of server time a batch).
        sequence = db.session.scalar(
            text("SELECT pg_get_serial_sequence(:t, 'id')::regclass::oid"), {"t": table.name})
        return list(db.session.scalars(
            text("SELECT nextval(CAST(:s AS oid)::regclass) FROM generate_series(1, :n)"),
            {"s": sequence, "n": count}))
    start = (db.session.scalar(select(func.max(table.c.id))) or 0) + 1
    return list(range(start, start + count))


def insert(model, columns: Sequence[str], rows: Sequence[tuple], *,
           constants: dict[str, Any] | None = None,
           each: tuple[str, Sequence[Any]] | None = None) -> None:
    """INSERT `rows` (tuples, in the order of `columns`) into `model`'s table, each with the
    `constants` and the scalar Python defaults of the columns not named (what
    SQLAlchemy's insert() would add; they equal the server defaults). With `each`
    (a column, its values), every row goes in once per value, in that order. Raises
    sqlalchemy.exc.IntegrityError as a session's insert would."""
    if not rows or (each is not None and not each[1]):
        return
    table: Table = model.__table__
    named = tuple(columns) + ((each[0],) if each else ())
    constants = {**_defaults(table, named, tuple(constants or ())), **(constants or {})}
    connection = db.session.connection()
    raw = connection.connection.driver_connection
    try:
        if connection.dialect.name == "postgresql":
            varying, constants = _fold(columns, rows, constants)
            _insert_postgresql(connection.dialect, raw, table, varying, len(rows), constants,
                               each)
        else:
            if each is not None:
                columns = named
                rows = [row + (value,) for row in rows for value in each[1]]
            varying, constants = _fold(columns, rows, constants)
            _insert_sqlite(connection.dialect, raw, table, varying, len(rows), constants)
    except (psycopg.IntegrityError, sqlite3.IntegrityError) as exc:
        raise IntegrityError(f"INSERT INTO {table.name}", None, exc) from exc


@lru_cache(maxsize=64)
def _defaults_of(table: Table, named: frozenset[str]) -> tuple[tuple[str, Any], ...]:
    found = []
    for column in table.columns:
        if column.name in named or column.primary_key:
            continue
        if column.default is not None:
            if not column.default.is_scalar:
                raise ValueError(f"{table.name}.{column.name}: give it (its default is "
                                 "computed per row)")
            found.append((column.name, column.default.arg))
    return tuple(found)


def _defaults(table: Table, columns: tuple[str, ...], constants: tuple[str, ...]
              ) -> dict[str, Any]:
    return dict(_defaults_of(table, frozenset(columns + constants)))


def _fold(columns: Sequence[str], rows: Sequence[tuple], constants: dict[str, Any]
          ) -> tuple[dict[str, tuple], dict[str, Any]]:
    """The columns whose value differs between rows (name → values), and the constants,
    to which a column with the same value in every row is added: it is converted and sent
    once."""
    varying = {}
    for name, values in zip(columns, zip(*rows, strict=True), strict=True):
        if values.count(values[0]) == len(values):
            constants = {name: values[0], **constants}
        else:
            varying[name] = values
    return varying, constants


def _insert_postgresql(dialect, raw, table: Table, varying: dict[str, tuple], count: int,
                       constants: dict[str, Any],
                       each: tuple[str, Sequence[Any]] | None) -> None:
    """One INSERT … SELECT FROM unnest(arrays) with binary parameters: psycopg would
    otherwise send a row per statement (executemany) or parse, in Python, a statement with
    tens of thousands of placeholders. Constants are sent once, not as arrays (psycopg
    dumps each array item in Python)."""
    def sql_type(name: str) -> str:
        return table.c[name].type.compile(dialect=dialect)

    def json(name: str) -> bool:
        return isinstance(table.c[name].type, JSON)

    params: dict[str, Any] = {}
    names, selected, arrays = [], [], []
    for index, (name, values) in enumerate(varying.items()):
        params[f"p{index}"] = ([None if v is None else Json(v) for v in values] if json(name)
                               else list(values))
        arrays.append(f"%(p{index})b::{sql_type(name)}[]")
        names.append(name)
        selected.append(f"u.p{index}")
    if arrays:
        aliases = ", ".join(f"p{index}" for index in range(len(arrays)))
        source = f"unnest({', '.join(arrays)}) WITH ORDINALITY AS u({aliases}, n)"
    else:  # every column the same in every row
        params["rows"] = count
        source = "generate_series(1, %(rows)s::integer) WITH ORDINALITY AS u(g, n)"
    order = ""
    if each is not None:
        name, values = each
        params["each"] = [Json(v) for v in values] if json(name) else list(values)
        source += f" CROSS JOIN unnest(%(each)b::{sql_type(name)}[]) WITH ORDINALITY AS e(v, m)"
        order = " ORDER BY u.n, e.m"  # rows in the order given, then each value's
        names.append(name)
        selected.append("e.v")
    for index, (name, value) in enumerate(constants.items()):
        params[f"k{index}"] = Json(value) if json(name) and value is not None else value
        names.append(name)
        selected.append(f"%(k{index})b::{sql_type(name)}")
    quote = dialect.identifier_preparer.quote
    # Names and types come from our own table metadata; every value is a bound parameter.
    sql = (f"INSERT INTO {quote(table.name)} ({', '.join(quote(n) for n in names)}) "  # noqa: S608
           f"SELECT {', '.join(selected)} FROM {source}{order}")
    raw.execute(sql, params)  # in a pipeline, sent without waiting (pipelined())


def _insert_sqlite(dialect, raw, table: Table, varying: dict[str, tuple], count: int,
                   constants: dict[str, Any]) -> None:
    """executemany of a one-row INSERT: one prepared statement per table, whatever the
    number of rows (sqlite3 keeps 128; see chunks()). Values go through the columns'
    SQLAlchemy types as they would in session.execute(insert(…)), once per distinct value."""
    columns = []
    for name, values in varying.items():
        processor = table.c[name].type._cached_bind_processor(dialect)
        columns.append(_processed(processor, values) if processor else values)
    columns += [repeat(_process(table.c[name], dialect, value), count)
                for name, value in constants.items()]
    names = [*varying, *constants]
    quote = dialect.identifier_preparer.quote
    sql = (f"INSERT INTO {quote(table.name)} ({', '.join(quote(n) for n in names)}) "  # noqa: S608
           f"VALUES ({', '.join('?' * len(names))})")
    raw.executemany(sql, zip(*columns, strict=True))


def _process(column, dialect, value: Any) -> Any:
    processor = column.type._cached_bind_processor(dialect)
    return processor(value) if processor else value


def _processed(processor, values: Sequence[Any]) -> Sequence[Any]:
    """The column type's conversion of each value, once per distinct value (a batch's rows
    share their timestamps); values that cannot be hashed (JSON) one by one."""
    try:
        memo = {value: processor(value) for value in set(values)}
    except TypeError:
        return [processor(value) for value in values]
    return [memo[value] for value in values]


def insert_dicts(model, rows: Sequence[dict[str, Any]]) -> None:
    """insert() of rows given as dicts with the same keys (the first row's order)."""
    if rows:
        columns = tuple(rows[0])
        get = itemgetter(*columns)
        insert(model, columns, [get(row) for row in rows] if len(columns) > 1
               else [(get(row),) for row in rows])


@contextmanager
def pipelined() -> Iterator[None]:
    """On PostgreSQL, the inserts inside are sent without waiting for each to finish
    (psycopg's pipeline mode), so the next one's rows are built while the server still
    works on the last; the first error comes at the end of the block (an IntegrityError
    as from insert()). Reads inside would wait for everything sent before them."""
    connection = db.session.connection()
    if connection.dialect.name != "postgresql":
        yield
        return
    try:
        with connection.connection.driver_connection.pipeline():
            yield
    except psycopg.IntegrityError as exc:
        raise IntegrityError("INSERT (pipelined)", None, exc) from exc
