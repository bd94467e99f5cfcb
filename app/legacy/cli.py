"""flask import-legacy FILE [--dry-run]."""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from contextlib import contextmanager

import click
from flask import current_app
from flask.cli import with_appcontext

from app.legacy.importer import DEFAULT_BATCH, LegacyImport
from app.legacy.records import BrokenFile


@contextmanager
def _few_collections() -> Iterator[None]:
    """Python's cyclic garbage collector, tuned for the run. A batch is some 100,000 small
    tuples and dicts, none in a cycle (refcounting frees them), yet with the default
    threshold every 700 of them set off a collection that also walked the app's and its
    libraries' objects: 12% of the import's time. What exists before the run is frozen
    (never garbage) and a collection waits for 50,000 new objects; both are put back
    after. Memory stays flat (bench/README.md: the same peak at 10,000 and 100,000
    records)."""
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(max(threshold[0], 50_000), *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


@click.command("import-legacy")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Change nothing; print the same report.")
@click.option("--batch-size", type=click.IntRange(1, 10000), default=DEFAULT_BATCH,
              show_default=True, help="Records per transaction.")
@with_appcontext
def import_legacy(file: str, dry_run: bool, batch_size: int) -> None:
    """Import legacy family records (a JSON array or JSON Lines) from FILE.

    Users are found by phone or created (with a one-time claim link sent by SMS); each
    record becomes a family group with a local subscription for its plan, its members and
    their connections (six permissions ON). Records already imported (same legacyId) are
    matched and left alone, so running it again changes nothing. Bad records and conflicts
    are reported with their position and skipped; the rest go in.
    """
    if current_app.config["PAYMENT_PROVIDER"] != "local":
        raise click.ClickException(
            "The import creates local subscriptions, but PAYMENT_PROVIDER is "
            f"{current_app.config['PAYMENT_PROVIDER']!r}. Run it with PAYMENT_PROVIDER=local "
            "(the plans of imported families then live in this database).")
    try:
        stream = open(file, "rb")  # noqa: SIM115 - closed below, after the last batch
    except OSError as exc:
        raise click.ClickException(f"Cannot read {file}: {exc.strerror}.") from None
    started = time.monotonic()
    run = LegacyImport(out=click.echo, batch_size=batch_size, dry_run=dry_run)
    try:
        with stream, _few_collections():
            counts = run.run(stream)
    except BrokenFile as exc:
        for line in run.counts.summary():
            click.echo(line)
        raise click.ClickException(
            f"{file}: {exc}. The records before the break were "
            + ("checked (dry run: nothing was changed)." if dry_run else "imported.")) from None
    except OSError as exc:
        raise click.ClickException(f"Cannot read {file}: {exc.strerror or exc}.") from None
    for line in counts.summary():
        click.echo(line)
    if not dry_run and counts.groups_created == 0:
        click.echo("Nothing changed: no record was new (already imported, bad or in conflict).")
    click.echo(f"took {time.monotonic() - started:.1f} s", err=True)
    if dry_run:
        click.echo("Dry run: everything was rolled back, nothing changed.")
