"""Building legacy files and running `flask import-legacy` on them, for the tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import select

from app.extensions import db

LEFT_OUT = {"alembic_version"}


def person(phone: str, name: str = "Nguyễn Văn Bình", gender: str | None = "male",
           relationship: str | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"name": name, "phone": phone}
    if gender is not None:
        found["gender"] = gender
    if relationship is not None:
        found["relationship"] = relationship
    return found


def record(legacy_id: str, admin: str, *, patients=(), caregivers=(), plan: str = "family",
           family: str = "Gia đình Nguyễn", admin_name: str = "Nguyễn Văn An",
           **extra) -> dict[str, Any]:
    """A legacy record; patients and caregivers are phones, or dicts from person()."""
    def as_person(value, relationship=None):
        if isinstance(value, dict):
            return value
        return person(value, relationship=relationship)

    found = {"legacyId": legacy_id, "familyName": family,
             "admin": {"name": admin_name, "phone": admin}, "plan": plan,
             "patients": [as_person(p) for p in patients],
             "caregivers": [as_person(c, "con_gai") for c in caregivers]}
    found.update(extra)
    return found


def write(tmp_path: Path, records: list[Any], *, lines: bool = True, name: str = "legacy") -> Path:
    """A JSON Lines file (lines=True) or a JSON array file of `records`; a str record is
    written as it is (for lines that are not JSON)."""
    path = tmp_path / (name + (".jsonl" if lines else ".json"))
    if lines:
        path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)
                                  for r in records) + "\n", encoding="utf-8")
    else:
        path.write_text(json.dumps(records, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def run_import(app, path: Path, *args: str):
    """`flask import-legacy PATH ARGS` through the real command; the click result."""
    return app.test_cli_runner().invoke(args=["import-legacy", str(path), *args])


def report(result) -> list[str]:
    """The report lines of a run, without the dry-run banner."""
    return [line for line in result.output.splitlines()
            if not line.startswith(("Dry run:", "Nothing changed", "took "))]


def summary(result) -> dict[str, int]:
    found = {}
    for line in result.output.splitlines():
        key, sep, value = line.rpartition(": ")
        if sep and value.isdigit() and not key.startswith("record "):
            found[key] = int(value)
    return found


def snapshot(app) -> dict[str, list[str]]:
    """Every row of every table (all columns), but alembic_version."""
    with app.app_context():
        tables = {}
        for table in db.metadata.sorted_tables:
            if table.name in LEFT_OUT:
                continue
            rows = db.session.execute(select(table)).all()
            tables[table.name] = sorted(repr(tuple(row)) for row in rows)
        db.session.rollback()
        return tables
