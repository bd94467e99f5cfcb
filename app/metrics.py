"""Prometheus metrics (issue 20): what the operations team watches, counted here.

- requests by Flask endpoint (never the path: paths carry invite tokens and ids) and
  status, with a latency histogram; 429 answers by endpoint;
- login failures by reason (app/accounts/services.py, account_authenticate);
- outbox deliveries by channel and outcome (app/outbox/delivery.py), and the backlog by
  channel, read from the database at each scrape;
- served at GET /metrics only to `Authorization: Bearer <METRICS_TOKEN>`; without a token
  configured /metrics is a 404 and requests are not timed at all.

Several processes (gunicorn's workers, outbox workers) add up when PROMETHEUS_MULTIPROC_DIR
is set in their environment before they start: prometheus_client then keeps every value in
a file of that directory per process, and a scrape sums them (MultiProcessCollector).
app/gunicorn_conf.py marks a dead worker's files (child_exit) and clears dead processes' files
when the server starts (on_starting). Static files and the scrape itself are not counted:
the reverse proxy serves static files in production, and a scrape is Prometheus's own.
"""

from __future__ import annotations

import glob
import hmac
import logging
import os
import re
from time import perf_counter

from flask import Flask, Response, abort, current_app, request
from flask_babel import gettext as _
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily

from app.db import utcnow
from app.extensions import csrf, db, limiter, talisman_view
from app.notifications.queries import outbox_backlog

log = logging.getLogger("app.metrics")

PREFIX = "familyconnect"
# 1 ms to 5 s: a page answers in tens of milliseconds, a slow export in seconds.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# No route matched (404 or 405 from routing): one label, whatever the path was.
UNMATCHED = "unmatched"
NOT_COUNTED = frozenset({"static", "metrics"})
_STARTED = "fc.metrics.started"

REQUESTS = Counter(f"{PREFIX}_http_requests", "HTTP requests answered, by Flask endpoint "
                   "and status.", ["endpoint", "status"])
LATENCY = Histogram(f"{PREFIX}_http_request_duration_seconds", "Time to answer a request "
                    "(Flask's hooks to the response), by Flask endpoint.", ["endpoint"],
                    buckets=LATENCY_BUCKETS)
RATE_LIMITED = Counter(f"{PREFIX}_http_rate_limited", "Requests answered 429 (a rate "
                       "limit), by Flask endpoint.", ["endpoint"])
LOGIN_FAILURES = Counter(f"{PREFIX}_login_failures", "Refused logins (page, invite link "
                         "and API), by reason: unknown_account, bad_password, suspended.",
                         ["reason"])
DELIVERIES = Counter(f"{PREFIX}_outbox_deliveries", "Outbox delivery attempts, by channel "
                     "and outcome: sent; retrying (failed, tried again later); failed (for "
                     "good); skipped (the row changed while it was out).",
                     ["channel", "outcome"])


def login_failed(reason: str) -> None:
    """Count a refused login: unknown_account, bad_password or suspended."""
    LOGIN_FAILURES.labels(reason).inc()


def delivery_recorded(channel: str, outcome: str) -> None:
    """Count one delivery attempt's outcome: sent, retrying, failed or skipped."""
    DELIVERIES.labels(channel, outcome).inc()


# --- the backlog, read at scrape time ---------------------------------------------------


class OutboxBacklog:
    """A collector asked at each scrape, inside the scrape's request (its app context)."""

    def collect(self):
        waiting = GaugeMetricFamily(f"{PREFIX}_outbox_backlog", "Outbox messages waiting "
                                    "to be delivered (pending or failed, to be tried again), "
                                    "by channel.", labels=["channel"])
        due = GaugeMetricFamily(f"{PREFIX}_outbox_due", "Outbox messages due now (their "
                                "next attempt has come), by channel.", labels=["channel"])
        failed = GaugeMetricFamily(f"{PREFIX}_outbox_failed", "Outbox messages that failed "
                                   "for good (staff may resend them), by channel.",
                                   labels=["channel"])
        try:
            backlog = outbox_backlog(utcnow())
        except Exception:  # noqa: BLE001 - a scrape without the database still has the rest
            log.exception("the outbox backlog could not be read")
            db.session.rollback()
            return
        for channel in backlog:
            waiting.add_metric([channel.channel], channel.due + channel.later)
            due.add_metric([channel.channel], channel.due)
            failed.add_metric([channel.channel], channel.failed)
        yield waiting
        yield due
        yield failed


# Asked only when scraped (no describe(), no auto_describe: registering reads nothing).
_BACKLOG = CollectorRegistry()
_BACKLOG.register(OutboxBacklog())


def multiprocess_dir() -> str | None:
    """The directory prometheus_client writes each process's values to, if any (it reads
    the environment itself, when first imported)."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def exposition() -> bytes:
    """Every metric in the Prometheus text format: this machine's processes summed (in
    multiprocess mode) or this process's, then the backlog from the database."""
    folder = multiprocess_dir()
    if folder:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=folder)
    else:
        registry = REGISTRY
    return generate_latest(registry) + generate_latest(_BACKLOG)


# --- the scrape route -------------------------------------------------------------------


@limiter.exempt  # Prometheus scrapes every few seconds; a wrong token answers at once
@csrf.exempt
@talisman_view(force_https=False)  # scraped over plain HTTP inside the network
def metrics():
    """GET /metrics: the exposition, to the holder of METRICS_TOKEN only (404 when none is
    configured: the portal shows no metrics to the public)."""
    token = current_app.config["METRICS_TOKEN"]
    if not token:
        abort(404)
    given = request.headers.get("Authorization", "")
    scheme, _sep, credentials = given.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return _refused(401, _("The metrics need a token: send Authorization: Bearer and "
                               "the METRICS_TOKEN of the portal's settings."))
    if not hmac.compare_digest(credentials.strip().encode(), token.encode()):
        return _refused(403, _("This metrics token is not right."))
    return Response(exposition(), content_type=CONTENT_TYPE_LATEST,
                    headers={"Cache-Control": "no-store"})


def _refused(status: int, message: str) -> Response:
    response = Response(message + "\n", status, content_type="text/plain; charset=utf-8")
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response


# --- counting requests ------------------------------------------------------------------


# (endpoint, status) → the label children it counts in, made once and kept.
_CHILDREN: dict[tuple[str, int], tuple] = {}


def _started() -> None:
    request.environ[_STARTED] = perf_counter()


def _counted(response):
    endpoint = request.endpoint or UNMATCHED
    if endpoint in NOT_COUNTED:
        return response
    started = request.environ.get(_STARTED)
    status = response.status_code
    key = (endpoint, status)
    children = _CHILDREN.get(key)
    if children is None:
        children = _CHILDREN[key] = (REQUESTS.labels(endpoint, str(status)),
                                     LATENCY.labels(endpoint),
                                     RATE_LIMITED.labels(endpoint) if status == 429 else None)
    children[0].inc()
    if started is not None:
        children[1].observe(perf_counter() - started)
    if children[2] is not None:
        children[2].inc()
    return response


def install_metrics(app: Flask) -> None:
    """Register GET /metrics, and, when METRICS_TOKEN is set, time and count every request:
    the clock starts before any other before_request hook (a rate limit's 429 or a redirect
    to HTTPS are timed too) and stops after every other after_request hook (Flask runs
    them last registered first)."""
    app.add_url_rule("/metrics", "metrics", metrics, methods=["GET"])
    if not app.config["METRICS_TOKEN"]:
        return
    app.before_request_funcs.setdefault(None, []).insert(0, _started)
    app.after_request_funcs.setdefault(None, []).insert(0, _counted)


# --- several processes (app/gunicorn_conf.py) ------------------------------------------

_PROCESS_FILE = re.compile(r"_(\d+)\.db$")


def worker_exited(pid: int) -> None:
    """gunicorn's child_exit: a dead worker's live gauges go; its counters stay in the sums."""
    if multiprocess_dir():
        multiprocess.mark_process_dead(pid)


def clear_dead_processes() -> list[str]:
    """gunicorn's on_starting: remove the files of processes no longer running, so that a
    restarted server starts its counts afresh; a running outbox worker keeps its file (it
    writes to it still). The files removed."""
    folder = multiprocess_dir()
    if not folder:
        return []
    removed = []
    for path in glob.glob(os.path.join(folder, "*.db")):
        found = _PROCESS_FILE.search(path)
        if found and not _running(int(found[1])):
            os.remove(path)
            removed.append(path)
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: running
    return True
