"""What the metrics add to each request (issue 20): the two hooks of app/metrics.py, a
perf_counter pair, a counter and a histogram, timed in-process over many calls. wrk's
requests/s on a shared 2-core machine move by more than the 5% the issue allows, so this
gives the cost as microseconds to set beside a page's milliseconds.

    .venv/bin/python -m bench.metrics_cost          # one process's registry
    PROMETHEUS_MULTIPROC_DIR=$(mktemp -d) .venv/bin/python -m bench.metrics_cost
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

from flask import Response, request

from app import create_app
from app.metrics import _counted, _started

CALLS = 200_000


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({"APP_ENV": "test", "DATABASE_URL": f"sqlite:///{tmp}/x.sqlite3",
                          "SECRET_KEY": "k" * 48, "METRICS_TOKEN": "t" * 32})
        response = Response("x")
        with app.test_request_context("/healthz"):
            request.endpoint  # noqa: B018 - matched once, as Flask does before the hooks
            started = time.perf_counter()
            for _ in range(CALLS):
                _started()
                _counted(response)
            per = (time.perf_counter() - started) / CALLS
    mode = "multiprocess" if os.environ.get("PROMETHEUS_MULTIPROC_DIR") else "one process"
    print(f"metrics hooks per request ({mode}): {per * 1e6:.2f} µs ({CALLS:,} calls)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
