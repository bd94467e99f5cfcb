"""gunicorn's settings and hooks for the portal, inside the package so that an installed
wheel carries them: `gunicorn -c python:app.gunicorn_conf 'app:create_app()'`. A checkout's
./gunicorn.conf.py re-exports this module, so `gunicorn wsgi:app` run there reads it too.

Command-line options still win. This module sets gunicorn's own logs to the portal's format
(LOG_FORMAT: JSON lines in production), the access line carrying the request id and with
link tokens and personal query values redacted (app/observability.py); it does not turn the
access log on (`--access-logfile -` does). In production, several workers counting rate
limits each in their own memory (RATELIMIT_STORAGE_URI=memory://, the default) would let
that many times the allowed login attempts through, so gunicorn refuses to start them and
says what to set (docs/deployment.md). Every setting and server hook of the portal belongs
in this one module (gunicorn reads any module-level name that is one of its settings).
"""

import os
import sys

from app.config import log_format
from app.observability import GUNICORN_ACCESS_FORMAT, gunicorn_logconfig_dict

logconfig_dict = gunicorn_logconfig_dict(log_format(os.environ.get("APP_ENV") == "production"))
access_log_format = GUNICORN_ACCESS_FORMAT


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
