"""The staff pages' access grants (issue 21): after a staff member gives a reason to open a
family or a person's file, that object stays open to them for GRANT_MINUTES, and every
look at it names the reason. A grant lives in the signed session cookie, so it is kept
small: object key → (the staff.access_reason event's id, the reason's code, expiry), at
most MAX_GRANTS, the oldest dropped first. It belongs to the staff member who gave the
reason: another account signed in on the same browser finds none.

The audit trail holds the reason; the cookie holds only a pointer to it. Services never
read this: the routes pass the grant's details to them. The reason step's page is here too,
shared by the pages that ask (app/staff/views.py) and the routes that record the answer
(app/staff/access_views.py)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from flask import render_template, session
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.models.groups import FamilyGroup

SESSION_KEY = "staff_grants"
GRANT_MINUTES = 30
MAX_GRANTS = 20


@dataclass(frozen=True)
class Grant:
    event_id: int
    code: str

    def details(self) -> dict:
        """What each look at the object records: the reason's code and the grant's event."""
        return {"reason_code": self.code, "grant": self.event_id}


def _key(kind: str, object_id: int) -> str:
    return f"{kind}:{object_id}"


def _held(user_id: int) -> dict[str, list]:
    stored = session.get(SESSION_KEY)
    if not isinstance(stored, dict) or stored.get("u") != user_id:
        return {}
    grants = stored.get("g")
    return grants if isinstance(grants, dict) else {}


def grant_of(user_id: int, kind: str, object_id: int) -> Grant | None:
    """The live grant of this staff member on a family (kind "family") or a person's file
    ("file"), or None: the page asks for a reason first."""
    found = _held(user_id).get(_key(kind, object_id))
    if not isinstance(found, list) or len(found) != 3:
        return None
    event_id, code, expires = found
    if not isinstance(expires, int | float) or expires <= time.time():
        return None
    return Grant(event_id=int(event_id), code=str(code))


def grant_keep(user_id: int, kind: str, object_id: int, *, event_id: int, code: str) -> Grant:
    """Open the object to this staff member for GRANT_MINUTES; expired grants and, past
    MAX_GRANTS, the oldest are dropped."""
    now = time.time()
    grants = {k: v for k, v in _held(user_id).items()
              if isinstance(v, list) and len(v) == 3 and v[2] > now}
    grants.pop(_key(kind, object_id), None)
    grants[_key(kind, object_id)] = [event_id, code, int(now + GRANT_MINUTES * 60)]
    while len(grants) > MAX_GRANTS:
        grants.pop(min(grants, key=lambda k: grants[k][2]))
    session[SESSION_KEY] = {"u": user_id, "g": grants}
    return Grant(event_id=event_id, code=code)


# --- the reason step's page -----------------------------------------------------------------

# What each step asks, and what its button says.
ASKS = {
    "family": (_l("Why do you need to open this family?"), _l("Open the family")),
    "file": (_l("Why do you need to open this person's file?"), _l("Open the file")),
    "export": (_l("Why do you need to download this family's audit trail?"),
               _l("Download the audit trail (CSV)")),
}


def family_name(family: FamilyGroup) -> str:
    return family.name or _("Family %(id)s", id=family.id)


def reason_page(scope: str, form, *, subject: str, action: str, status: int = 200,
                status_tag: str | None = None):
    """The reason step (scope family | file | export): the question, what is being opened
    (its name, and a family's status, as the lists show them) and the form; nothing else
    of the object."""
    question, button = ASKS[scope]
    return render_template(
        "staff/reason.html", form=form, scope=scope, question=question, button=button,
        subject=subject, action=action, status_tag=status_tag, grant_minutes=GRANT_MINUTES,
        staff_section="groups" if scope != "file" else "search"), status
