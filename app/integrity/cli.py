"""flask integrity-check [--repair] (SPEC §8).

Prints each violation on its own line — the invariant, what is wrong, the rows by id,
and whether it can be repaired — then a summary. Exit status 0 when nothing is left to
report, 1 when violations remain (with --repair: those that could not be repaired), 2
when the database could not be checked. The strings are English, as in the other
operator commands.
"""

from __future__ import annotations

import click
from flask.cli import with_appcontext
from sqlalchemy.exc import SQLAlchemyError

from app.extensions import db
from app.integrity.checks import Check, RepairableCheck
from app.integrity.connection_checks import (
    InverseRelationship,
    LiveWithoutPermission,
    MissingConnection,
    OutsideFamily,
    PermissionRows,
    RevokedPermissionOn,
    SelfConnection,
)
from app.integrity.group_checks import (
    AdminActiveFamilies,
    DissolvedMembership,
    FamilySubscription,
    InviteOfInactiveFamily,
    InvitesOverPlan,
    MembersOverPlan,
)
from app.integrity.tombstone_checks import (
    TombstoneAdmin,
    TombstoneConnection,
    TombstoneErased,
    TombstoneInvite,
    TombstoneMembership,
)
from app.transaction import committed

# The order repairs run in: a repair never breaks an invariant checked before it.
# Orphans go first (their connections are released), live connections outside their
# family are revoked before the missing ones are made (a pair's row is reused), and the
# six rows are completed OFF before "a live connection keeps one ON" is checked.
CHECKS: tuple[type[Check], ...] = (
    # A deleted account's leftovers go first: its memberships, then its connections (so
    # the family checks after them see it as any former member), its invites, its fields.
    TombstoneMembership,
    TombstoneConnection,
    TombstoneInvite,
    TombstoneErased,
    TombstoneAdmin,
    SelfConnection,
    DissolvedMembership,
    InviteOfInactiveFamily,
    OutsideFamily,
    PermissionRows,
    RevokedPermissionOn,
    LiveWithoutPermission,
    MissingConnection,
    InverseRelationship,
    InvitesOverPlan,
    MembersOverPlan,
    FamilySubscription,
    AdminActiveFamilies,
)


class CheckFailed(click.ClickException):
    """The database could not be read or written: neither clean nor violations."""

    exit_code = 2


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _scan(checks: list[Check], prefix: str = "") -> tuple[int, int]:
    """Print every violation; (found, of which repairable)."""
    found = repairable = 0
    for check in checks:
        for violation in check.find():
            click.echo(prefix + violation.line())
            found += 1
            repairable += violation.repairable
    return found, repairable


@click.command("integrity-check")
@click.option("--repair", is_flag=True,
              help="Repair the violations that can be repaired (each repair is written to "
                   "the audit trail as integrity.repaired), then check again.")
@with_appcontext
def integrity_check(repair: bool) -> None:
    """Verify the invariants between families, members, connections and plans.

    Both directions: every patient/caregiver pair of a family has exactly one connection
    with its six permission rows, and no live connection lives outside its family; no
    plan is exceeded; no orphans. Exit status 0 when nothing is left to report, 1 when
    violations remain, 2 when the database could not be checked (the repairs of the
    invariant in hand are rolled back; those of earlier ones are committed).
    """
    checks = []
    for cls in CHECKS:
        check = cls()
        skipped = check.applies()
        if skipped:
            click.echo(f"[{check.code}] skipped: {skipped}")
        else:
            checks.append(check)
    try:
        if repair:
            remaining = _repair(checks)
        else:
            found, repairable = _scan(checks)
            remaining = found
            if found:
                click.echo(f"{_plural(found, 'violation')} found: {repairable} repairable, "
                           f"{found - repairable} not repairable. Run with --repair to "
                           "repair the repairable ones.")
            else:
                click.echo(f"No violations: {len(checks)} invariants checked.")
    except SQLAlchemyError as exc:
        db.session.rollback()
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise CheckFailed(f"the database could not be checked: {reason}") from None
    finally:
        db.session.rollback()
    click.get_current_context().exit(1 if remaining else 0)


def _repair(checks: list[Check]) -> int:
    """Check and repair invariant by invariant, committing each one's repairs with their
    audit events; then check everything again. Returns how many violations remain."""
    found_total = repaired_total = 0
    for check in checks:
        found, repairable = _scan([check])
        found_total += found
        if repairable and isinstance(check, RepairableCheck):
            with committed():
                done = check.repair_all()
            repaired_total += done
            click.echo(f"[{check.code}] repaired {_plural(done, 'violation')}.")
    if not found_total:
        click.echo(f"Nothing to repair: no violations, {len(checks)} invariants checked.")
        return 0
    click.echo("Checking again after the repairs:")
    remaining, _ = _scan(checks, prefix="remains: ")
    click.echo(f"{_plural(found_total, 'violation')} found, {repaired_total} repaired, "
               f"{remaining} remaining.")
    return remaining
