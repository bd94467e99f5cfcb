"""The review queue's count (issue 21, item 5): the queue reads the latest count made with
today's settings, says how old it is, and never hides a review; a newer pattern shows at
the next count, which `flask staff-queue-count` and the outbox worker make. The evidence
pages read live rows. The rules of flagging themselves are test_signals.py's."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select, update

from app.config import ConfigError, load_config
from app.db import utcnow
from app.extensions import db
from app.models.invites import ConnectionInvite
from app.models.staff import SignalCount, SignalCountItem
from app.outbox.cli import recount_queue_if_due
from app.staff import signals
from app.staff.queue_count import recount_due, review_queue_count
from app.staff.services import review_mark
from app.transaction import committed
from tests.factories import make_group, make_user, next_phone
from tests.notifications.worker_loop import run_worker_until

DAY = timedelta(days=1)


@pytest.fixture
def rctx(app):
    """A request context (the flags carry links built with url_for), in English."""
    with app.test_request_context(), force_locale("en"):
        yield
        db.session.rollback()
        db.session.remove()


def invited_into(phone: str, families: int) -> None:
    """`phone` invited into that many new families, now (the phone_many_groups signal)."""
    for _ in range(families):
        group = make_group()
        db.session.add(ConnectionInvite(
            sender_id=group.admin_user_id, family_group_id=group.id, receiver_phone=phone,
            invite_type="add_caregiver", status="pending", expires_at=utcnow() + 7 * DAY))
    db.session.flush()


def count_now() -> SimpleNamespace:
    """A count, committed: its id, time and duration."""
    with committed():
        count = review_queue_count()
        made = SimpleNamespace(id=count.id, counted_at=count.counted_at, took_ms=count.took_ms)
    return made


def open_levels(queue: signals.Queue) -> dict[str, int]:
    return {flag.key: flag.level for section in queue.sections
            if section.signal.name == "phone_many_groups" for flag in section.open}


def test_the_queue_reads_the_count_without_counting_again(rctx, count_queries):
    phone = next_phone()
    invited_into(phone, 3)
    live = signals.queue()
    assert live.counted_at is None  # no count yet: counted for this answer

    count = count_now()
    with count_queries() as statements:
        read = signals.queue()

    assert read.counted_at == count.counted_at
    assert open_levels(read) == open_levels(live) == {phone: 3}
    assert [flag.title for s in read.sections for flag in s.open] == [
        flag.title for s in live.sections for flag in s.open]
    assert not [s for s in statements if "connection_invites" in s or "audit_events" in s]
    assert len(statements) <= 11


def test_a_pattern_newer_than_the_count_shows_at_the_next_count(rctx):
    count_now()
    phone = next_phone()
    invited_into(phone, 3)
    db.session.commit()

    assert phone not in open_levels(signals.queue())
    assert signals.evidence("phone_many_groups", phone).flagged  # the evidence is live

    count_now()
    assert open_levels(signals.queue()) == {phone: 3}


def test_a_review_after_the_count_takes_the_item_off_at_once_until_it_grows(rctx):
    staff = make_user(name="Nhân Viên", is_staff=True)
    phone = next_phone()
    invited_into(phone, 3)
    count_now()
    assert phone in open_levels(signals.queue())

    with committed():
        review_mark(actor=staff, signal="phone_many_groups", key=phone, note="đã gọi")
    assert phone not in open_levels(signals.queue())

    invited_into(phone, 1)  # a fourth family
    db.session.commit()
    assert phone not in open_levels(signals.queue())  # not counted yet
    count_now()
    assert open_levels(signals.queue()) == {phone: 4}


def test_a_review_newer_than_the_count_holds_even_at_a_lower_level_than_counted(rctx):
    staff = make_user(name="Nhân Viên", is_staff=True)
    phone = next_phone()
    invited_into(phone, 4)
    count_now()
    # one family's invite leaves the window after the count: the live level is 3
    db.session.execute(update(ConnectionInvite).where(
        ConnectionInvite.receiver_phone == phone,
        ConnectionInvite.id == select(func.min(ConnectionInvite.id)).where(
            ConnectionInvite.receiver_phone == phone).scalar_subquery())
        .values(created_at=utcnow() - 40 * DAY))
    with committed():
        review = review_mark(actor=staff, signal="phone_many_groups", key=phone, note="ổn")
    assert review.level == 3

    queue = signals.queue()
    assert phone not in open_levels(queue)  # the count says 4, but the review is newer
    [reviewed] = queue.reviewed
    assert (reviewed.key, reviewed.level, reviewed.level_now) == (phone, 3, 4)


def test_a_review_older_than_the_count_holds_only_up_to_its_level(rctx):
    staff = make_user(name="Nhân Viên", is_staff=True)
    held, grown = next_phone(), next_phone()
    invited_into(held, 3)
    invited_into(grown, 3)
    with committed():
        for phone in (held, grown):
            review_mark(actor=staff, signal="phone_many_groups", key=phone, note="ổn")
    invited_into(grown, 1)
    db.session.commit()

    count_now()
    assert open_levels(signals.queue()) == {grown: 4}


def test_a_count_made_with_other_settings_is_not_used(rctx, configure):
    phone = next_phone()
    invited_into(phone, 2)
    count_now()
    assert signals.queue().counted_at is not None

    configure(RISK_THRESHOLDS={"phone_many_groups": 2})
    queue = signals.queue()
    assert queue.counted_at is None
    assert open_levels(queue) == {phone: 2}

    configure(RISK_THRESHOLDS={"phone_many_groups": 3}, RISK_WINDOW_DAYS=60)
    assert signals.queue().counted_at is None


def test_a_count_replaces_the_older_ones(rctx):
    first, second = next_phone(), next_phone()
    invited_into(first, 3)
    old = count_now()
    invited_into(second, 3)
    new = count_now()

    assert db.session.scalars(select(SignalCount.id)).all() == [new.id]
    kept = db.session.execute(select(SignalCountItem.count_id, SignalCountItem.subject_key)
                              .order_by(SignalCountItem.subject_key)).all()
    assert kept == sorted([(new.id, first), (new.id, second)], key=lambda row: row[1])
    assert old.id < new.id
    assert new.took_ms >= 0


def test_the_count_keeps_each_signals_order_and_cap(rctx, configure):
    configure(RISK_THRESHOLDS={"phone_many_groups": 1})
    strong = next_phone()
    invited_into(strong, 3)
    for _ in range(signals.FLAG_CAP + 2):
        invited_into(next_phone(), 1)
    live = [(f.key, f.level) for f in signals.flags("phone_many_groups")]
    count_now()

    [section] = [s for s in signals.queue().sections if s.signal.name == "phone_many_groups"]
    assert [(f.key, f.level) for f in section.open] == live
    assert section.flagged == signals.FLAG_CAP
    assert live[0] == (strong, 3)


def test_a_recount_is_due_when_the_latest_count_is_older_than_the_interval(rctx):
    assert recount_due(300)  # none yet
    assert not recount_due(0)  # 0: the worker never counts
    count = count_now()
    assert not recount_due(300)
    assert recount_due(300, now=count.counted_at + timedelta(seconds=301))
    assert not recount_due(0, now=count.counted_at + timedelta(days=1))


def test_the_worker_counts_when_due_and_not_again_before(app, configure):
    configure(RISK_RECOUNT_SECONDS=300)
    with app.app_context():
        phone = next_phone()
        invited_into(phone, 3)
        db.session.commit()
        assert recount_queue_if_due() is True
        assert recount_queue_if_due() is False
        assert db.session.scalar(select(func.count()).select_from(SignalCount)) == 1
        assert db.session.scalar(select(SignalCountItem.subject_key)) == phone
        configure(RISK_RECOUNT_SECONDS=0)
        db.session.execute(update(SignalCount).values(counted_at=utcnow() - DAY))
        db.session.commit()
        assert recount_queue_if_due() is False


def test_the_worker_loop_counts_the_queue(app, configure):
    configure(RISK_RECOUNT_SECONDS=60)

    def counted() -> int:
        with app.app_context():
            return db.session.scalar(select(func.count()).select_from(SignalCount))

    assert run_worker_until(app, counted, poll=0.05) == 1


def test_the_count_command(app):
    with app.app_context():
        phone = next_phone()
        invited_into(phone, 3)
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["staff-queue-count"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Review queue counted: 1 flagged items in ")
    with app.app_context():
        assert db.session.scalar(select(SignalCountItem.subject_key)) == phone
    assert "RISK_RECOUNT_SECONDS" in app.test_cli_runner().invoke(
        args=["staff-queue-count", "--help"]).output


@pytest.mark.parametrize("value", ["-1", "five minutes"])
def test_a_bad_recount_interval_is_a_config_error(monkeypatch, tmp_path, value):
    monkeypatch.setenv("RISK_RECOUNT_SECONDS", value)
    with pytest.raises(ConfigError, match="RISK_RECOUNT_SECONDS"):
        load_config(str(tmp_path), {"APP_ENV": "test"})


def test_the_recount_interval_comes_from_the_environment(monkeypatch, tmp_path):
    assert load_config(str(tmp_path), {"APP_ENV": "test"})["RISK_RECOUNT_SECONDS"] == 300
    monkeypatch.setenv("RISK_RECOUNT_SECONDS", "0")
    assert load_config(str(tmp_path), {"APP_ENV": "test"})["RISK_RECOUNT_SECONDS"] == 0


# --- the page and the API say how old the count is ------------------------------------


@pytest.fixture
def counted(app):
    """A flagged phone, counted now; yields the phone."""
    with app.app_context():
        phone = next_phone()
        invited_into(phone, 3)
        db.session.commit()
        count_now()
    return phone


def age(app, minutes: int) -> None:
    with app.app_context():
        db.session.execute(update(SignalCount).values(
            counted_at=utcnow() - timedelta(minutes=minutes, seconds=5)))
        db.session.commit()


def test_the_queue_page_says_when_it_was_counted(app, as_staff, counted, configure):
    configure(RISK_RECOUNT_SECONDS=300)
    age(app, 3)
    page = as_staff.get("/staff/queue").get_data(as_text=True)
    assert ", 3 min ago." in page
    assert "Counted again every 5 min; a review takes its item off at once." in page
    assert "The count is late" not in page
    assert "was invited into 3 families" in page

    age(app, 11)
    page = as_staff.get("/staff/queue").get_data(as_text=True)
    assert ", 11 min ago." in page
    assert "The count is late: is the outbox worker running?" in page


def test_the_queue_page_without_a_count_says_it_counted_just_now(app, as_staff):
    page = as_staff.get("/staff/queue").get_data(as_text=True)
    assert "Counted just now." in page


def test_the_queue_page_in_vietnamese(app, login, person, counted):
    staff = person(is_staff=True, name="Nhân Viên", locale="vi")
    page = login(staff).get("/staff/queue").get_data(as_text=True)
    assert "phút trước" in page
