"""`flask codes issue`: activation codes for the local payment provider."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from app.errors import DomainError
from app.transaction import committed

codes = AppGroup("codes", help="Activation codes of the local payment provider.")


@codes.command("issue")
@click.option("--plan", required=True, help="A plan name from PLANS, e.g. family.")
@click.option("--days", type=int, required=True, help="How long the plan lasts once redeemed.")
@click.option("--count", type=int, default=1, show_default=True, help="How many codes.")
def issue(plan: str, days: int, count: int) -> None:
    """Print COUNT new codes for PLAN; only their hashes are stored, so copy them now."""
    from app.billing.services import codes_issue

    try:
        with committed():
            issued = codes_issue(actor=None, plan=plan, days=days, count=count)
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    for code in issued:
        click.echo(code)
