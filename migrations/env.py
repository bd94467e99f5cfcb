"""Alembic environment for Flask-Migrate, on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from logging.config import fileConfig

from alembic import context
from flask import current_app

config = context.config
if config.config_file_name is not None and not logging.getLogger().handlers:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

migrate_ext = current_app.extensions["migrate"]
target_metadata = migrate_ext.db.metadata


def run_migrations_offline() -> None:
    context.configure(url=str(migrate_ext.db.engine.url), target_metadata=target_metadata,
                      literal_binds=True, **migrate_ext.configure_args)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = migrate_ext.db.engine
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # Batch mode rebuilds a table by copy, drop and rename. With foreign keys on,
            # dropping a table that others reference would cascade or fail, so they are
            # off for the run (outside any transaction, where SQLite honours the pragma),
            # checked afterwards, and on again before the connection goes back to the pool.
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
        try:
            # SQLite does roll DDL back; one transaction per run means a failed
            # upgrade leaves the database as it was.
            context.configure(connection=connection, target_metadata=target_metadata,
                              transactional_ddl=True, **migrate_ext.configure_args)
            with context.begin_transaction():
                context.run_migrations()
            if sqlite:
                problems = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                connection.rollback()
                if problems:
                    raise RuntimeError(f"foreign key violations after migration: {problems[:5]}")
        finally:
            if sqlite:
                connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
