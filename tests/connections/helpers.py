"""The connection view tests' helpers (test_views.py and test_followers.py): a family built
through invites, toggles posted from the test client, and reads of the database between
requests, each in an app context of its own."""

from __future__ import annotations

import re
from types import SimpleNamespace

from app.connections.control import connection_revoke, permissions_set
from app.extensions import db
from app.models.accounts import User
from app.models.connections import Connection
from app.models.groups import FamilyGroup
from tests.conftest import new_person, person_of
from tests.pages import HX, post
from tests.service_helpers import admin_group, connection_between, join, permission_map


def build_family(app, *, patients: int = 2, caregivers: int = 2,
                 relationship: str | None = "con_gai") -> SimpleNamespace:
    """An admin and members who joined through invites, English readers: every caregiver
    follows every patient with all six permissions ON. fam.cid[(p, c)] is the connection
    id of patient p and caregiver c (indexes)."""
    with app.app_context():
        admin, _sub, group = admin_group(patients=4, caregivers=8, locale="en")
        group.name = "Gia đình Nguyễn"
        made_patients = [join(group, role="patient", locale="en", name=f"Patient {i + 1}")
                         for i in range(patients)]
        made_caregivers = [join(group, role="caregiver", relationship=relationship,
                                locale="en", name=f"Caregiver {i + 1}", gender=1)
                           for i in range(caregivers)]
        cid = {(p, c): connection_between(patient, caregiver).id
               for p, patient in enumerate(made_patients)
               for c, caregiver in enumerate(made_caregivers)}
        db.session.commit()
        return SimpleNamespace(id=group.id, admin=person_of(admin), cid=cid,
                               patients=[person_of(u) for u in made_patients],
                               caregivers=[person_of(u) for u in made_caregivers])


def stranger(app, **fields) -> SimpleNamespace:
    return new_person(app, name="Stranger", **fields)


def toggle(c, cid: int, code: str, enabled: str, *, confirmed: bool = False,
           back: str = "group", htmx: bool = True):
    data = {"enabled": enabled, "back": back}
    if confirmed:
        data["confirmed"] = "1"
    return post(c, f"/connections/{cid}/permissions/{code}", data, HX if htmx else None)


def permissions(app, cid: int) -> dict[str, bool]:
    with app.app_context():
        return permission_map(db.session.get(Connection, cid))


def is_revoked(app, cid: int) -> bool:
    with app.app_context():
        return db.session.get(Connection, cid).permission_revoked


def set_permissions(app, cid: int, changes: dict[str, bool], *, by: int | None = None) -> None:
    """Through the service, as the connection's group admin (or the user `by`)."""
    with app.app_context():
        connection = db.session.get(Connection, cid)
        actor_id = by or db.session.get(FamilyGroup, connection.family_group_id).admin_user_id
        permissions_set(actor=db.session.get(User, actor_id), connection_id=cid,
                        changes=changes)
        db.session.commit()


def revoke(app, cid: int, *, by: int | None = None, reason: str | None = None) -> None:
    with app.app_context():
        connection = db.session.get(Connection, cid)
        actor_id = by or db.session.get(FamilyGroup, connection.family_group_id).admin_user_id
        connection_revoke(actor=db.session.get(User, actor_id), connection_id=cid,
                          reason=reason)
        db.session.commit()


def switch(body: str, cid: int, code: str) -> str:
    """The switch button of one connection's permission (a page or a toggle's answer)."""
    match = re.search(rf'<button [^>]*name="set" value="{cid} {code} (?:on|off)"[^>]*>.*?</button>',
                      body, re.S)
    assert match, f"no switch for connection {cid}, {code}"
    return match.group(0)


def accessible_name(body: str, button: str) -> str:
    """A switch's accessible name as a browser computes it from aria-labelledby: the text
    of each referenced element (hidden ones too), joined by spaces."""
    refs = re.search(r'aria-labelledby="([^"]+)"', button)
    assert refs, f"no aria-labelledby on {button}"
    parts = []
    for ref in refs.group(1).split():
        found = re.search(rf'<(\w+)[^>]* id="{ref}"[^>]*>(.*?)</\1>', body, re.S)
        assert found, f"aria-labelledby names #{ref}, which is not on the page"
        parts.append(re.sub(r"<[^>]+>", "", found.group(2)).strip())
    return " ".join(parts)
