"""Operator commands (flask --help lists them; each has its own --help)."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import with_appcontext
from sqlalchemy import func, select

from app.errors import DomainError
from app.extensions import db
from app.models.staff import SignalCountItem
from app.outbox.cli import notifications_cli
from app.transaction import committed


def register_cli(app: Flask) -> None:
    from app.billing.cli import codes
    from app.integrity.cli import integrity_check
    from app.legacy.cli import import_legacy

    app.cli.add_command(create_staff)
    app.cli.add_command(staff_mfa_reset)
    app.cli.add_command(demo_data)
    app.cli.add_command(codes)
    app.cli.add_command(notifications_cli)
    app.cli.add_command(import_legacy)
    app.cli.add_command(integrity_check)
    app.cli.add_command(staff_queue_count)


@click.command("create-staff")
@click.argument("phone")
@click.option("--name", default="Staff", show_default=True, help="Name for a new account.")
@click.option("--password", default=None,
              help="Password for a new account (asked when PHONE has no account yet; an "
                   "existing account keeps its own and is not asked for one).")
def create_staff(phone: str, name: str, password: str | None) -> None:
    """Create a staff account for PHONE, or make that existing account staff."""
    from app.accounts.services import staff_create

    while True:
        try:
            with committed():
                user = staff_create(phone=phone, name=name, password=password)
        except DomainError as exc:
            if exc.code == "password_required" and password is None:
                password = click.prompt("Password for the new account", hide_input=True,
                                        confirmation_prompt=True)
                continue
            raise click.ClickException(exc.message) from None
        break
    click.echo(f"Staff account ready: user {user.id}, phone {user.phone}.")


@click.command("staff-mfa-reset")
@click.argument("phone")
@click.option("--reason", default=None,
              help="Why (a lost phone, a ticket number): kept in the audit trail. Asked when "
                   "not given.")
def staff_mfa_reset(phone: str, reason: str | None) -> None:
    """Remove the second factor of the staff account of PHONE (a lost device): its sessions
    and API tokens end, and it sets up a new authenticator at its next sign-in."""
    from app.accounts.mfa import mfa_reset

    if reason is None:
        reason = click.prompt("Reason (kept in the audit trail)")
    try:
        with committed():
            user = mfa_reset(phone=phone, reason=reason)
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"Second factor removed for user {user.id}, phone {user.phone}: sessions and "
               "API tokens ended; a new authenticator is set up at the next sign-in.")


@click.command("staff-queue-count")
@with_appcontext
def staff_queue_count() -> None:
    """Count the staff review queue's risk signals now and keep the flagged items: the
    queue page shows this count and its age. The outbox worker runs it every
    RISK_RECOUNT_SECONDS; run it from a timer instead when that is 0."""
    from app.staff.queue_count import review_queue_count

    with committed():
        count = review_queue_count()
        items = db.session.scalar(select(func.count()).select_from(SignalCountItem)
                                  .where(SignalCountItem.count_id == count.id))
    click.echo(f"Review queue counted: {items} flagged items in {count.took_ms} ms.")


@click.command("demo-data")
def demo_data() -> None:
    """Fill an empty database with a believable family and print how to log in."""
    from app.demo import DemoError, load_demo_data

    try:
        with committed():
            lines = load_demo_data()
    except DemoError as exc:
        raise click.ClickException(str(exc)) from None
    for line in lines:
        click.echo(line)
