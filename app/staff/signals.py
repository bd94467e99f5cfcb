"""The review queue's risk signals (issue 5, point 3): six patterns worth a staff member's
look, each counted by one aggregate statement over a recent window and flagged when its
count reaches a threshold (RISK_WINDOW_DAYS, RISK_THRESHOLDS: docs/configuration.md).

An item is (signal, key): the key names its subject as text — a phone number, a user id,
a connection id, a group id or a notification recipient. review_mark (services) records
a review at the item's level; the item leaves the queue until its level grows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select, tuple_

from app.errors import NotFound
from app.extensions import db
from app.models.accounts import User
from app.models.staff import StaffReview
from app.staff.queue_count import latest_count
from app.staff.signal_kinds import (  # noqa: F401 - EVIDENCE_ROWS, FLAG_CAP: the pages' caps
    EVIDENCE_ROWS,
    FLAG_CAP,
    SIGNALS,
    EvidenceRow,
    Settings,
    Signal,
    flagged_rows,
    settings,
)

RECENT_REVIEWS = 20
PAST_REVIEWS = 50
_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]+")

# --- what the pages get ---------------------------------------------------------------


@dataclass
class Flag:
    """A flagged item: its signal, key, level (the count), a one-line title and links to
    the staff pages of its subjects."""

    signal: str
    key: str
    level: int
    title: str
    links: list[tuple[str, str]] = field(default_factory=list)

    @property
    def anchor(self) -> str:
        """A stable HTML id: flag-<signal>-<key with anything but letters and digits as ->."""
        return f"flag-{self.signal}-{_NOT_ALNUM.sub('-', self.key)}"


@dataclass
class PastReview:
    review: StaffReview
    reviewer: str | None


@dataclass
class Evidence:
    signal: Signal
    key: str
    title: str
    meaning: str
    level: int
    threshold: int
    flagged: bool
    links: list[tuple[str, str]]
    caption: str
    headings: list[str]
    rows: list[EvidenceRow]
    group_id: int | None
    reviews: list[PastReview]

    @property
    def resend(self) -> bool:
        return any(row.resend_id is not None for row in self.rows)


@dataclass
class Section:
    signal: Signal
    meaning: str
    open: list[Flag]
    flagged: int


@dataclass
class Reviewed:
    signal: Signal
    key: str
    title: str
    level: int
    level_now: int | None
    note: str
    reviewer: str | None
    at: datetime


@dataclass
class Queue:
    """counted_at: when the flagged items were counted (None: counted for this answer);
    recount_seconds: how often the worker counts again (0: it does not)."""

    sections: list[Section]
    reviewed: list[Reviewed]
    counted_at: datetime | None = None
    now: datetime | None = None
    recount_seconds: int = 0

    @property
    def age_minutes(self) -> int:
        """Whole minutes since the count (0 when counted for this answer)."""
        if self.counted_at is None or self.now is None:
            return 0
        return max(0, int((self.now - self.counted_at).total_seconds() // 60))

    @property
    def late(self) -> bool:
        """The count is older than twice the worker's interval: is the worker running?"""
        return (self.counted_at is not None and self.recount_seconds > 0
                and self.age_minutes * 60 > 2 * self.recount_seconds)

    @property
    def open_count(self) -> int:
        return sum(len(section.open) for section in self.sections)


# --- reading them ---------------------------------------------------------------------


def _signal(name: str) -> Signal:
    signal = SIGNALS.get(name)
    if signal is None:
        raise NotFound(_("There is no such risk signal."), code="unknown_signal")
    return signal


def _flags(signal: Signal, s: Settings,
           found: list[tuple[Any, int]] | None = None) -> list[Flag]:
    """Flags of (key, level) rows: `found`, or the signal's live count."""
    if found is None:
        found = flagged_rows(signal, s)
    subjects = signal.subjects([key for key, _level in found]) if found else {}
    return [Flag(signal=signal.name, key=str(key), level=level,
                 title=signal.title(key, level, subjects.get(key), s),
                 links=signal.links(key, subjects.get(key))) for key, level in found]


def _level(signal: Signal, key: Any, s: Settings) -> int:
    """The item's count in the window now, flagged or not (0 when it has none)."""
    query, key_column, _level_column = signal.counted(s)
    row = db.session.execute(query.where(key_column == key)).first()
    return int(row.level) if row else 0


def flags(signal: str | None = None) -> list[Flag]:
    """Items flagged now (level at or above the threshold), up to FLAG_CAP per signal,
    strongest first: of one signal, or of all in SIGNALS order. Two statements per signal
    (the counts, then the subjects' names). Raises NotFound(unknown_signal)."""
    s = settings()
    signals = [_signal(signal)] if signal is not None else list(SIGNALS.values())
    return [flag for one in signals for flag in _flags(one, s)]


def current_level(signal: str, key: str) -> int | None:
    """The item's level if it is flagged now, else None (unknown signal or key too)."""
    one = SIGNALS.get(signal)
    parsed = one.key_of(key) if one is not None else None
    if parsed is None:
        return None
    s = settings()
    level = _level(one, parsed, s)
    return level if level >= max(s.threshold(one.name), 1) else None


def reviews_of(signal: str, key: str) -> list[PastReview]:
    """The item's reviews, newest first, with the reviewers' names."""
    return [PastReview(review=review, reviewer=name) for review, name in db.session.execute(
        select(StaffReview, User.name).outerjoin(User, User.id == StaffReview.reviewed_by)
        .where(StaffReview.signal == signal, StaffReview.subject_key == key)
        .order_by(StaffReview.created_at.desc(), StaffReview.id.desc())
        .limit(PAST_REVIEWS)).tuples()]


def queue() -> Queue:
    """Open items per signal (never reviewed, or grown beyond their latest review's
    level) and the recently reviewed items (the latest review of each, in the window).

    The flagged items are the latest count's (app/staff/queue_count.py) when it was made
    with today's settings, else counted now. A review made after that count takes its
    item off at once; one made before it, only if the count found no more than the
    reviewed level. At most 11 statements from a count, 16 counting now, whatever the
    number of items."""
    s = settings()
    counted = latest_count(s)
    found = {name: _flags(signal, s, counted.items[name] if counted else None)
             for name, signal in SIGNALS.items()}
    every = {(flag.signal, flag.key): flag for items in found.values() for flag in items}
    latest: dict[tuple[str, str], StaffReview] = {}
    if every:
        newest = (select(func.max(StaffReview.id))
                  .where(tuple_(StaffReview.signal, StaffReview.subject_key).in_(list(every)))
                  .group_by(StaffReview.signal, StaffReview.subject_key))
        latest = {(r.signal, r.subject_key): r for r in db.session.scalars(
            select(StaffReview).where(StaffReview.id.in_(newest)))}
    sections = []
    for name, signal in SIGNALS.items():
        open_items = [flag for flag in found[name]
                      if (review := latest.get((name, flag.key))) is None
                      or (flag.level > review.level
                          and (counted is None or review.created_at < counted.counted_at))]
        sections.append(Section(signal=signal, meaning=signal.meaning(s), open=open_items,
                                flagged=len(found[name])))
    recent = (select(func.max(StaffReview.id)).where(StaffReview.created_at >= s.since)
              .group_by(StaffReview.signal, StaffReview.subject_key))
    reviewed = []
    for review, reviewer in db.session.execute(
            select(StaffReview, User.name).outerjoin(User, User.id == StaffReview.reviewed_by)
            .where(StaffReview.id.in_(recent))
            .order_by(StaffReview.created_at.desc(), StaffReview.id.desc())
            .limit(RECENT_REVIEWS)).tuples():
        signal = SIGNALS.get(review.signal)
        if signal is None:
            continue  # a signal retired since
        now = every.get((review.signal, review.subject_key))
        reviewed.append(Reviewed(
            signal=signal, key=review.subject_key, level=review.level,
            level_now=now.level if now else None,
            title=now.title if now else signal.key_label(review.subject_key),
            note=review.note, reviewer=reviewer, at=review.created_at))
    return Queue(sections=sections, reviewed=reviewed,
                 counted_at=counted.counted_at if counted else None, now=s.now,
                 recount_seconds=int(current_app.config.get("RISK_RECOUNT_SECONDS", 0)))


def item_check(signal: str, key: str) -> tuple[Signal, Any]:
    """The signal and the key as the database holds it. Raises NotFound(unknown_signal),
    NotFound(not_found) for a key that cannot name an item of this signal."""
    one = _signal(signal)
    parsed = one.key_of(key)
    if parsed is None:
        raise NotFound(_("There is no such item in the review queue."), code="not_found")
    return one, parsed


def evidence(signal: str, key: str) -> Evidence:
    """The rows behind an item, its subjects' links and its past reviews. An item that is
    not flagged (any more) still shows what there is.

    Raises NotFound(unknown_signal), NotFound(not_found) for a key that cannot name an
    item of this signal.
    """
    one, parsed = item_check(signal, key)
    s = settings()
    level = _level(one, parsed, s)
    subject = one.subjects([parsed]).get(parsed)
    headings, rows = one.rows(parsed, subject, s)
    threshold = s.threshold(one.name)
    return Evidence(signal=one, key=str(parsed), title=one.title(parsed, level, subject, s),
                    meaning=one.meaning(s), level=level, threshold=threshold,
                    flagged=level >= max(threshold, 1), links=one.links(parsed, subject),
                    caption=str(one.caption), headings=headings, rows=rows,
                    group_id=one.group_of(parsed, subject), reviews=reviews_of(one.name, key))
