"""flask integrity-check [--repair]."""

from __future__ import annotations

import click


@click.command("integrity-check")
@click.option("--repair", is_flag=True, help="Repair the violations that can be repaired.")
def integrity_check(repair: bool) -> None:
    """Verify the invariants between families, members, connections and plans."""
    raise click.ClickException("not built yet")
