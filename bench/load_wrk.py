"""Drive one case with wrk (bench/wrk/*.lua) and read its summary (bench/load_bench.py).

The scripts' done() prints one `BENCH-JSON {…}` line: requests, duration, socket errors,
non-2xx/3xx count, latency percentiles, and the answers counted by HTTP status.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

WRK_DIR = Path(__file__).resolve().parent / "wrk"
MARK = "BENCH-JSON "


class WrkError(Exception):
    """wrk is missing, failed, or printed no summary."""


@dataclass
class Result:
    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    non_2xx_3xx: int
    socket_errors: dict[str, int]
    statuses: dict[int, int]
    issued_per_thread: int = 0
    exhausted: int = 0
    output: str = field(default="", repr=False)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def socket_error_count(self) -> int:
        return sum(self.socket_errors.values())


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise WrkError("wrk is not installed: `apt-get install wrk` (Debian's package), or let "
                       "the benchmark install it (it does when it runs as root or with sudo).")
    return found


def version() -> str:
    done = subprocess.run([wrk_binary(), "--version"], capture_output=True, text=True,  # noqa: S603
                          check=False)
    return (done.stdout or done.stderr).splitlines()[0].split(" Copyright")[0].strip()


def parse(output: str) -> Result:
    """The summary line of bench/wrk/report.lua, whatever else wrk printed around it."""
    line = next((ln for ln in output.splitlines() if ln.startswith(MARK)), None)
    if line is None:
        raise WrkError("wrk printed no summary (BENCH-JSON line):\n" + output[-2000:])
    try:
        data = json.loads(line[len(MARK):])
        latency, errors = data["latency_us"], data["errors"]
        return Result(
            requests=int(data["requests"]), seconds=data["duration_us"] / 1e6,
            p50_ms=latency["p50"] / 1000, p90_ms=latency["p90"] / 1000,
            p99_ms=latency["p99"] / 1000, max_ms=latency["max"] / 1000,
            non_2xx_3xx=int(errors["status"]),
            socket_errors={k: int(errors[k]) for k in ("connect", "read", "write", "timeout")},
            statuses={int(k): int(v) for k, v in data["statuses"].items()},
            issued_per_thread=int(data.get("issued_per_thread", 0)),
            exhausted=int(data.get("exhausted", 0)), output=output)
    except (ValueError, KeyError, TypeError) as exc:
        raise WrkError(f"wrk's summary line could not be read ({exc}): {line}") from None


def run(url: str, script: str, *, seconds: float, threads: int, connections: int,
        env: dict[str, str], timeout_s: int = 10) -> Result:
    """Run wrk against url with bench/wrk/<script> for `seconds`; env goes to the script."""
    args = [wrk_binary(), f"-t{threads}", f"-c{connections}", f"-d{max(int(seconds), 1)}s",
            f"--timeout={timeout_s}s", "--latency", "-s", script, url]
    done = subprocess.run(args, cwd=WRK_DIR, capture_output=True, text=True, check=False,  # noqa: S603 - our own command line
                          env={**os.environ, "BENCH_THREADS": str(threads), **env},
                          timeout=seconds + timeout_s + 60)
    output = done.stdout + done.stderr
    if done.returncode != 0:
        raise WrkError(f"wrk exited with {done.returncode}:\n{output[-2000:]}")
    return parse(output)
