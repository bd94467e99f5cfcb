"""The review queue's count (issue 21, item 5): the six risk signals counted once, their
flagged items kept, and the queue page reading the latest count instead of aggregating
the window on every load (about 150 ms of SQL at 1,000,000 users: docs/decisions.md,
"Issue 21: the review queue at 1M users").

`flask staff-queue-count` counts; the outbox worker runs it every RISK_RECOUNT_SECONDS.
A count made with another window or other thresholds than today's is not used: the queue
then counts live, as it did before. The evidence pages always read live rows.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select

from app.db import utcnow
from app.extensions import db
from app.models.staff import SignalCount, SignalCountItem
from app.staff.signal_kinds import SIGNALS, Settings, flagged_rows, settings


@dataclass
class Counted:
    """The latest count usable with today's settings: when, and (key, level) per signal,
    keys as the database holds them, strongest first."""

    counted_at: datetime
    items: dict[str, list[tuple[Any, int]]]


def fingerprint(s: Settings) -> str:
    """The settings a count depends on, as one comparable text."""
    return json.dumps({"days": s.days, "thresholds": s.thresholds}, sort_keys=True)


def review_queue_count() -> SignalCount:
    """Count every risk signal now and keep the flagged items (FLAG_CAP per signal) as the
    latest count; older counts are removed. Flushes; the caller commits (a command inside
    committed()). Raises nothing of its own."""
    started = time.perf_counter()
    s = settings()
    found = {name: flagged_rows(signal, s) for name, signal in SIGNALS.items()}
    count = SignalCount(counted_at=s.now, settings=fingerprint(s),
                        took_ms=round((time.perf_counter() - started) * 1000))
    db.session.add(count)
    db.session.flush()
    db.session.add_all([
        SignalCountItem(count_id=count.id, signal=name, subject_key=str(key), level=level,
                        position=position)
        for name, rows in found.items() for position, (key, level) in enumerate(rows)])
    older = select(SignalCount.id).where(SignalCount.id < count.id).scalar_subquery()
    db.session.execute(delete(SignalCountItem).where(SignalCountItem.count_id.in_(older)))
    db.session.execute(delete(SignalCount).where(SignalCount.id < count.id))
    db.session.flush()
    return count


def latest_count(s: Settings) -> Counted | None:
    """The newest count, if it was made with these settings; None otherwise (none yet, or
    the window or a threshold changed since). Two statements."""
    count = db.session.scalars(select(SignalCount).order_by(SignalCount.id.desc())
                               .limit(1)).first()
    if count is None or count.settings != fingerprint(s):
        return None
    items: dict[str, list[tuple[Any, int]]] = {name: [] for name in SIGNALS}
    for signal, raw, level in db.session.execute(
            select(SignalCountItem.signal, SignalCountItem.subject_key, SignalCountItem.level)
            .where(SignalCountItem.count_id == count.id)
            .order_by(SignalCountItem.signal, SignalCountItem.position)):
        one = SIGNALS.get(signal)
        key = one.key_of(raw) if one is not None else None
        if key is not None:
            items[signal].append((key, level))
    return Counted(counted_at=count.counted_at, items=items)


def last_counted_at() -> datetime | None:
    return db.session.scalar(select(SignalCount.counted_at).order_by(SignalCount.id.desc())
                             .limit(1))


def recount_due(seconds: int, now: datetime | None = None) -> bool:
    """Whether the worker should count again: RISK_RECOUNT_SECONDS (`seconds`) is not 0
    and the latest count, by any worker, is older than that (or there is none)."""
    if seconds <= 0:
        return False
    last = last_counted_at()
    now = now or utcnow()
    return last is None or last <= now - timedelta(seconds=seconds)
