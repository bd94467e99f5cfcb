"""A throw-away PostgreSQL server for the benchmark, on 127.0.0.1 (tests/pgserver.py's code),
but durable like a production server: fsync and synchronous commit stay on.

    .venv/bin/python -m bench.pg_server            # prints DATABASE_URL; Ctrl-C stops it
    .venv/bin/python -m bench.pg_server --detach   # leaves it running, prints how to stop it

Settings beyond PostgreSQL's defaults are the usual ones for a machine with a few GB of
memory (shared_buffers 1GB, effective_cache_size 4GB); bench/README.md records them.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time

import psycopg

from tests.pgserver import PostgresServer

DATABASE = "fc_bench"
SETTINGS = ("-c shared_buffers=1GB -c effective_cache_size=4GB -c maintenance_work_mem=256MB "
            "-c max_wal_size=4GB -c max_connections=50")


class BenchServer(PostgresServer):
    def start(self) -> BenchServer:
        if self.as_root:
            import shutil

            shutil.chown(self.root, user=self.user)
        os.chmod(self.root, 0o700)
        self._run("initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--no-locale")
        options = f"-h 127.0.0.1 -p {self.port} -k {self.root} {SETTINGS}"
        self._run("pg_ctl", "-D", self.data, "-l", self.log, "-o", options, "-w", "-t", "60",
                  "start")
        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(self.dsn("postgres"), connect_timeout=2):
                    return self
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--detach", action="store_true",
                        help="leave the server running and print how to stop it")
    args = parser.parse_args(argv)
    server = BenchServer().start()
    url = server.create_database(DATABASE)
    print(f"export DATABASE_URL={url}", flush=True)
    if args.detach:
        stop = f"pg_ctl -D {server.data} -m fast stop && rm -rf {server.root}"
        if server.as_root:
            stop = f"runuser -u {server.user} -- {server.bin}/{stop}"
        print(f"# stop it with: {stop}", flush=True)
        return 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        while True:
            time.sleep(3600)
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
