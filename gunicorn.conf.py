"""gunicorn's settings for the portal, read from the working directory by default
(`gunicorn wsgi:app` run from the checkout; elsewhere, `gunicorn -c /path/to/gunicorn.conf.py`).

Command-line options still win: this file sets nothing, it only checks. In production,
several workers counting rate limits each in their own memory (RATELIMIT_STORAGE_URI=
memory://, the default) would let that many times the allowed login attempts through,
so gunicorn refuses to start them and says what to set (docs/deployment.md).
"""

import os
import sys


def on_starting(server):
    """Before any worker: refuse workers > 1 on memory:// in production. Otherwise tell
    the app how many workers there are (WEB_CONCURRENCY, gunicorn's own variable), so
    that one worker needs no declaration and the app checks against the real count."""
    from app.config import per_process_limits, shared_limits_advice

    workers = server.cfg.workers
    if (os.environ.get("APP_ENV") == "production" and per_process_limits()
            and workers > 1):
        print(f"\nError: {shared_limits_advice(workers)}\n", file=sys.stderr, flush=True)
        sys.exit(1)
    os.environ["WEB_CONCURRENCY"] = str(workers)
    from app.metrics import clear_dead_processes

    clear_dead_processes()  # PROMETHEUS_MULTIPROC_DIR: a restarted server counts afresh


def child_exit(server, worker):
    """A worker ended: prometheus_client's multiprocess bookkeeping (app/metrics.py)."""
    from app.metrics import worker_exited

    worker_exited(worker.pid)
