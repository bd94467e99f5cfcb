"""`flask notifications deliver`: the outbox worker as a command (SPEC §5, §9, §10), which
also counts the staff review queue every RISK_RECOUNT_SECONDS (issue 21);
`flask notifications status`: what waits in the outbox."""

from __future__ import annotations

import json
import logging
import signal
import threading
from types import FrameType

import click
from flask import current_app
from flask.cli import AppGroup

from app.db import utcnow
from app.extensions import db
from app.notifications.queries import outbox_backlog
from app.outbox.delivery import default_worker_id, deliver_due
from app.staff.queue_count import recount_due, review_queue_count
from app.transaction import committed

log = logging.getLogger("app.notifications")

notifications_cli = AppGroup("notifications", help="The notification outbox.")


def _summary(counts: dict[str, int]) -> str:
    return " ".join(f"{key}={value}" for key, value in counts.items())


def recount_queue_if_due() -> bool:
    """Count the staff review queue again when its latest count is older than
    RISK_RECOUNT_SECONDS (app/staff/queue_count.py); True when it did. A failure is logged
    and tried again on the next round: it must not stop the deliveries."""
    seconds = int(current_app.config.get("RISK_RECOUNT_SECONDS", 0))
    if seconds <= 0:
        return False
    try:
        with committed():
            if not recount_due(seconds):
                return False
            count = review_queue_count()
    except Exception:  # noqa: BLE001 - a database hiccup must not end the worker
        log.exception("counting the review queue failed; trying again on the next round")
        db.session.rollback()
        return False
    log.info("review queue counted in %s ms", count.took_ms)
    return True


def run_worker(*, limit: int, interval: float, stop: threading.Event,
               worker_id: str | None = None) -> None:
    """Deliver until `stop` is set; a full batch is followed at once by the next one. Each
    round also counts the staff review queue again when that is due."""
    worker_id = worker_id or default_worker_id()
    while not stop.is_set():
        recount_queue_if_due()
        try:
            counts = deliver_due(limit=limit, worker_id=worker_id, should_stop=stop.is_set)
        except Exception:  # noqa: BLE001 - a database hiccup must not end the worker
            log.exception("[%s] delivery round failed; trying again in %ss", worker_id, interval)
            db.session.rollback()
            counts = None
        if counts and counts["claimed"]:
            click.echo(_summary(counts))
        if counts and counts["claimed"] >= limit:
            continue  # more may be due
        stop.wait(interval)


@notifications_cli.command("deliver")
@click.option("--once", is_flag=True,
              help="Deliver what is due now, print the counts and exit.")
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True,
              help="Messages claimed per round (per batch with --once).")
@click.option("--interval", type=click.FloatRange(min=0.05), default=5.0, show_default=True,
              help="Seconds to wait when nothing is due.")
def deliver(once: bool, limit: int, interval: float) -> None:
    """Send due email, SMS and payment-sync messages from the outbox.

    Failures are retried with backoff (NOTIFY_MAX_ATTEMPTS, NOTIFY_BACKOFF_SECONDS); an
    email that fails for good is sent by SMS instead. Any number of workers may run side by
    side: each message goes out once. Without --once it runs until SIGTERM or Ctrl+C and
    finishes the message in hand before exiting.
    """
    if once:
        click.echo(_summary(deliver_due(limit=limit)))
        return
    stop = threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s: stopping after the message in hand", signum)
        stop.set()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        click.echo(f"Outbox worker started (every {interval:g}s, {limit} per round); "
                   "stop with Ctrl+C or SIGTERM.")
        run_worker(limit=limit, interval=interval, stop=stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    click.echo("Outbox worker stopped.")


def _age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m"


@notifications_cli.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def status(as_json: bool) -> None:
    """Print the outbox's backlog per channel: due now, to be tried later (after a failure,
    or in a worker's hands), failed for good, and how long the oldest due message has
    waited. A growing "due" with workers running means they cannot keep up or cannot send.
    """
    now = utcnow()
    backlog = outbox_backlog(now)
    if as_json:
        click.echo(json.dumps({b.channel: {
            "due": b.due, "later": b.later, "failed": b.failed,
            "oldest_due_seconds": (round((now - b.oldest_due).total_seconds())
                                   if b.oldest_due else None)} for b in backlog}))
        return
    click.echo(f"{'channel':<8} {'due':>7} {'later':>7} {'failed':>7}  oldest due")
    for b in backlog:
        oldest = _age((now - b.oldest_due).total_seconds()) if b.oldest_due else "-"
        click.echo(f"{b.channel:<8} {b.due:>7} {b.later:>7} {b.failed:>7}  {oldest}")
    click.echo(f"{'total':<8} {sum(b.due for b in backlog):>7} "
               f"{sum(b.later for b in backlog):>7} {sum(b.failed for b in backlog):>7}")
