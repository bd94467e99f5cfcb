"""Why a staff member reads a family or a person through the API (issue 21): the reason's
query parameters, the same on /staff/users/{id}, /families/{id}… and /users/{id}, and the
one rule that records it before a staff look is answered. The API keeps no state between
calls, so each staff read names its reason."""

from __future__ import annotations

from flask import request

from app.api.contract import TextArg
from app.audit.access import REASONS
from app.audit.services import REASON_MAX
from app.models.accounts import User
from app.models.groups import FamilyGroup
from app.staff.services import staff_access_reason

ACCESS_ARGS = (
    TextArg("reason", 40, description="Staff: why you open this, one of: "
            + ", ".join(REASONS) + ". Required of staff (422 reason_required without it); "
            "ignored for the family's own people."),
    TextArg("reasonText", REASON_MAX * 4, description="Staff, in your words: required for "
            "reason=other, optional otherwise, at most 500 characters once spaces are "
            "collapsed; kept in the audit trail, shown to staff only."),
)
ACCESS_REFUSALS = ("reason_required", "reason_too_long")


def staff_reason(viewer: User, args: dict, *, group: FamilyGroup | None = None,
                 person: User | None = None) -> dict:
    """Record why `viewer`, staff, opens the family or the person (staff.access_reason)
    and return what its look carries (reason_code and the event's id as grant). Raises
    Invalid(reason_required | reason_too_long) on the query parameters. The caller decides
    that this read is a staff look."""
    event = staff_access_reason(
        actor=viewer, scope="file" if person is not None else "family", group=group,
        user=person, reason=args.get("reason"), text=args.get("reasonText"),
        ip=request.remote_addr, fields=("reason", "reasonText"))
    return {"reason_code": event.details["reason_code"], "grant": event.id}
