"""The machinery of the integrity check: a violation, a check, and the repair loop.

Each invariant is one Check with `find()` — one set-based SELECT, streamed, so the
check costs one statement per invariant whatever the number of families — and, when
it can be repaired, `repair(batch)`. Repairs re-run `find()` a batch at a time and fix
what it returns in the session's transaction, writing one `integrity.repaired` audit
event per violation; the caller commits.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from sqlalchemy import Select, insert

from app.db import utcnow
from app.extensions import db
from app.models.audit import AuditEvent

BATCH = 500  # violations repaired per round: memory stays flat however many there are
STREAM = 1000  # rows fetched at a time while a find() streams


@dataclass(frozen=True)
class Violation:
    """One broken invariant: `rows` names the rows by id (e.g. {"connection": 12});
    `group_id` is the family it belongs to, for the audit trail; `data` carries what the
    repair needs and the message shows."""

    check: str
    message: str
    rows: dict[str, Any]
    repairable: bool
    group_id: int | None = None
    data: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def key(self) -> tuple:
        return (self.check, tuple(sorted(self.rows.items())))

    def line(self) -> str:
        where = ", ".join(f"{name} {value}" for name, value in self.rows.items())
        how = "repairable" if self.repairable else "not repairable"
        return f"[{self.check}] {self.message} ({where}; {how})"


class Check(ABC):
    """An invariant. Subclasses set `code` and `title` and write `query()` (a Select whose
    rows `violation()` turns into Violations). One that can be repaired is a
    RepairableCheck."""

    code: ClassVar[str]
    title: ClassVar[str]
    repairable: ClassVar[bool] = False

    def applies(self) -> str | None:
        """None when the check can run here, else why it is skipped."""
        return None

    @abstractmethod
    def query(self) -> Select: ...

    @abstractmethod
    def violation(self, row: Any) -> Violation: ...

    def select(self, after: Any = None) -> Select:
        """The query `find()` runs; a repairable check narrows it to a page."""
        return self.query()

    def find(self, limit: int | None = None, after: Any = None) -> Iterator[Violation]:
        """The violations, streamed in the query's order (by id); with `after` (repairable
        checks), those whose page column is at least that."""
        query = self.select(after)
        if limit is not None:
            query = query.limit(limit)
        result = db.session.execute(query.execution_options(yield_per=STREAM))
        for row in result:
            yield self.violation(row)


class RepairableCheck(Check):
    """An invariant that `repair()` can restore. It is wholly repairable, so that the
    repair loop never meets a violation it must step over. It names the column its query
    is ordered by first (`page_column()`, ascending) and the key of `rows` that holds its
    value (`page_row`), so that each repair round reads on from the last."""

    repairable: ClassVar[bool] = True
    page_row: ClassVar[str]
    _events: list[dict[str, Any]]

    @abstractmethod
    def page_column(self) -> Any: ...

    @abstractmethod
    def repair(self, batch: list[Violation]) -> None: ...

    def select(self, after: Any = None) -> Select:
        query = self.query()
        return query if after is None else query.where(self.page_column() >= after)

    def repaired(self, violation: Violation, *, subject: tuple[str, int] | None = None,
                 **details: Any) -> None:
        """The audit event of one repair (the system acts: no actor, no ip). subject: the
        (table, id) repaired, so that the row's own history shows it. The events of a
        batch are inserted together (one executemany) by repair_all."""
        self._events.append({
            "actor_id": None, "action": "integrity.repaired",
            "subject_type": subject[0] if subject else None,
            "subject_id": subject[1] if subject else None,
            "family_group_id": violation.group_id, "created_at": utcnow(), "ip": None,
            "details": {"invariant": self.code, "rows": violation.rows, **details}})

    def repair_all(self) -> int:
        """Repair every violation, a batch at a time, each round reading on from where the
        last one stopped (one pass over the table in all; memory stays flat). Returns how
        many were repaired. A violation still found after its repair is left alone: the
        check after the repairs reports it as remaining."""
        count, after, seen = 0, None, set()
        while True:
            batch = list(self.find(limit=BATCH, after=after))
            fresh = [v for v in batch if v.key not in seen]
            if not fresh:
                return count
            self._events = []
            self.repair(fresh)
            db.session.flush()
            db.session.execute(insert(AuditEvent), self._events)
            count += len(fresh)
            if len(batch) < BATCH:
                return count
            last = batch[-1].rows[self.page_row]
            # The next round starts at `last` again (>=): skip what this one repaired there.
            seen = {v.key for v in batch if v.rows[self.page_row] == last} \
                | (seen if last == after else set())
            after = last


def ids_of(batch: Iterable[Violation], name: str) -> list[int]:
    return [v.rows[name] for v in batch]
