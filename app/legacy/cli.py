"""flask import-legacy FILE [--dry-run]."""

from __future__ import annotations

import click


@click.command("import-legacy")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Change nothing; print the same report.")
def import_legacy(file: str, dry_run: bool) -> None:
    """Import legacy family records (a JSON array or JSON Lines) from FILE."""
    raise click.ClickException("not built yet")
