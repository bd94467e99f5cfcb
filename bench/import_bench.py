"""Time `flask import-legacy` on a generated file, into a fresh database, twice.

    .venv/bin/python -m bench.import_bench --records 100000                  # PostgreSQL
    .venv/bin/python -m bench.import_bench --records 100000 --sqlite

PostgreSQL: DATABASE_URL names a database on a server we may create databases on (the
throw-away `bench/pg_server.py` prints one); each run creates a new database next to it
(fc_import_<pid>), migrates it with `flask db upgrade`, and drops it at the end unless
--keep. SQLite: a new file in a temporary folder.

The import runs as its own process, exactly as an operator runs it; its wall time and peak
resident memory (ru_maxrss from wait4, that process alone) are printed with the records per
second, for the first run and for the second, idempotent one (which must create nothing).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench import import_generate

ROOT = Path(__file__).resolve().parents[1]
FLASK = [sys.executable, "-m", "flask", "--app", "wsgi"]


@dataclass
class Run:
    label: str
    seconds: float
    peak_mb: float
    summary: dict[str, int]
    status: int

    @property
    def per_second(self) -> float:
        return self.summary.get("records read", 0) / self.seconds if self.seconds else 0.0

    def line(self) -> str:
        s = self.summary
        return (f"{self.label:<22} {self.seconds:8.1f} s {self.per_second:9.0f} records/s "
                f"peak RSS {self.peak_mb:7.1f} MB | groups created {s.get('groups created', 0)}"
                f", matched {s.get('groups matched (already imported)', 0)}; users created "
                f"{s.get('users created', 0)}, matched {s.get('users matched', 0)}; "
                f"memberships {s.get('memberships', 0)}; connections {s.get('connections', 0)}; "
                f"claim links "
                f"{s.get('claim links', 0)}; bad {s.get('bad records', 0)}; conflicts "
                f"{s.get('conflicts', 0)}; exit {self.status}")


def _env(url: str) -> dict[str, str]:
    env = dict(os.environ, DATABASE_URL=url, PAYMENT_PROVIDER="local")
    env.setdefault("APP_ENV", "development")
    env.setdefault("INSTANCE_PATH", tempfile.gettempdir() + "/fc_import_bench_instance")
    return env


def summary_of(text: str) -> dict[str, int]:
    found = {}
    for line in text.splitlines():
        match = re.fullmatch(r"([a-z ()]+): (\d+)", line)
        if match:
            found[match.group(1)] = int(match.group(2))
    return found


def timed_import(url: str, path: Path, label: str, *, batch_size: int | None = None,
                 report: Path | None = None) -> Run:
    """Run the command as a child process; its own wall time and peak memory."""
    args = [*FLASK, "import-legacy", str(path)]
    if batch_size:
        args += ["--batch-size", str(batch_size)]
    out_path = report or Path(tempfile.mkstemp(suffix=".txt")[1])
    with out_path.open("w") as out:
        started = time.monotonic()
        child = subprocess.Popen(args, cwd=ROOT, env=_env(url), stdout=out,  # noqa: S603 - our own command
                                 stderr=subprocess.STDOUT)
        _pid, status, usage = os.wait4(child.pid, 0)
        seconds = time.monotonic() - started
        child.returncode = os.waitstatus_to_exitcode(status)
    text = out_path.read_text()
    if report is None:
        out_path.unlink()
    return Run(label, seconds, usage.ru_maxrss / 1024, summary_of(text), child.returncode)


def fresh_database(url: str | None, sqlite: bool, folder: Path) -> tuple[str, object]:
    """A new empty database: (its URL, a function that removes it)."""
    if sqlite:
        return f"sqlite:///{folder / 'import_bench.sqlite3'}", lambda: None
    if not url or not url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        raise SystemExit("Set DATABASE_URL to a PostgreSQL database (bench/pg_server.py prints "
                         "one), or pass --sqlite.")
    import psycopg

    base = url.replace("postgresql+psycopg://", "postgresql://")
    server, _slash, _db = base.rpartition("/")
    name = f"fc_import_{os.getpid()}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")

    def drop() -> None:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    return f"{server}/{name}", drop


def migrate(url: str) -> None:
    subprocess.run([*FLASK, "db", "upgrade"], cwd=ROOT, env=_env(url), check=True,  # noqa: S603
                   capture_output=True)


def run(*, records: int, sqlite: bool, url: str | None, array: bool = False,
        batch_size: int | None = None, keep: bool = False, out=print) -> list[Run]:
    with tempfile.TemporaryDirectory(prefix="fc_import_bench_") as tmp:
        folder = Path(tmp)
        path = folder / ("legacy.json" if array else "legacy.jsonl")
        started = time.monotonic()
        import_generate.write(path, records, array=array)
        out(f"generated {records} records ({path.stat().st_size / 2**20:.1f} MB) in "
            f"{time.monotonic() - started:.1f} s")
        db_url, drop = fresh_database(url, sqlite, folder)
        try:
            migrate(db_url)
            out(f"database: {'SQLite' if sqlite else 'PostgreSQL'}, migrated; importing…")
            first = timed_import(db_url, path, "first run", batch_size=batch_size)
            out(first.line())
            second = timed_import(db_url, path, "second run (again)", batch_size=batch_size)
            out(second.line())
        finally:
            if not keep:
                drop()
    return [first, second]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--sqlite", action="store_true", help="SQLite instead of PostgreSQL")
    parser.add_argument("--array", action="store_true", help="a JSON array, not JSON Lines")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL database")
    args = parser.parse_args(argv)
    first, second = run(records=args.records, sqlite=args.sqlite,
                        url=os.environ.get("DATABASE_URL"), array=args.array,
                        batch_size=args.batch_size, keep=args.keep)
    ok = (first.status == second.status == 0
          and second.summary.get("groups created", -1) == 0
          and second.summary.get("users created", -1) == 0)
    print("second run created nothing: " + ("yes" if ok else "NO"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
