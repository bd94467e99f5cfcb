"""The outbox worker's loop (`flask notifications deliver` without --once) run in a thread
for a test, until a condition holds or 10 s pass."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from app.outbox.cli import run_worker


def run_worker_until(app, done: Callable[[], object], *, poll: float = 0.02):
    """Run the worker loop (10 messages a claim, 50 ms between claims) while done() is
    falsy; stop it and return done()'s last value. Fails when the worker raised or would
    not stop."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def loop() -> None:
        try:
            with app.app_context():
                run_worker(limit=10, interval=0.05, stop=stop, worker_id="loop")
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    worker = threading.Thread(target=loop)
    worker.start()
    result = None
    try:
        deadline = time.monotonic() + 10
        while not result and time.monotonic() < deadline:
            time.sleep(poll)
            result = done()
    finally:
        stop.set()
        worker.join(timeout=10)
    assert not worker.is_alive()
    assert not errors, errors
    return result
