"""Issue 18: the patient's notice of what the admin turned ON for a caregiver is one notice
per net change (app/connections/notices.py), not one per toggle. While the patient has not
read it (and it is recent), each change updates it to the net state; toggling back leaves
nothing. The audit trail keeps every toggle. Called directly on a real database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app.connections.control import connection_restore, connection_revoke, permissions_set
from app.connections.notices import NOTICE_WINDOW, net_turned_on
from app.db import utcnow
from app.extensions import db
from app.models.audit import AuditEvent
from app.models.notifications import InviteNotification
from app.notifications.queries import unread_count
from app.notifications.services import notifications_mark_read
from tests.service_helpers import (
    ALL_ON,
    admin_group,
    audit_since,
    connection_between,
    join,
    last_id,
)

N = InviteNotification


@pytest.fixture
def family(ctx):
    admin, _sub, group = admin_group(patients=2, caregivers=4)
    father = join(group, role="patient", gender=0, name="Bố Bình")
    mother = join(group, role="patient", gender=1, name="Mẹ Hoa")
    daughter = join(group, role="caregiver", gender=1, name="Con Cúc")
    son = join(group, role="caregiver", gender=0, name="Con Dũng")
    db.session.commit()
    # The patient narrowed what their daughter may do: the admin turning these back on
    # is news to them.
    c = connection_between(father, daughter)
    permissions_set(actor=father, connection_id=c.id,
                    changes={"task_config": False, "proxy_execution": False,
                             "encouragement": False})
    db.session.commit()
    return {"admin": admin, "group": group, "father": father, "mother": mother,
            "daughter": daughter, "son": son, "c": c, "mark": last_id(N),
            "audit": last_id(AuditEvent)}


def admin_sets(family, changes, connection=None):
    permissions_set(actor=family["admin"], connection_id=(connection or family["c"]).id,
                    changes=changes)
    db.session.commit()


def notices(family, *, status: str = "sent") -> list[InviteNotification]:
    """The father's in-app permission notices written since the fixture, oldest first."""
    return list(db.session.scalars(select(N).where(
        N.id > family["mark"], N.recipient_user_id == family["father"].id,
        N.notification_type == "PERMISSION_ENABLED", N.status == status)
        .order_by(N.id).execution_options(populate_existing=True)))


def told(family) -> list[list[str]]:
    return [n.payload["permissions"] for n in notices(family)]


def test_each_toggle_on_updates_the_one_unread_notice(family):
    admin_sets(family, {"task_config": True})
    [first] = notices(family)
    admin_sets(family, {"encouragement": True})
    assert told(family) == [["task_config", "encouragement"]]
    [second] = notices(family)
    # A new row in place of the old one: a page that showed the old one and is marked
    # read up to it leaves the update unread.
    assert second.id > first.id
    assert db.session.get(N, first.id) is None
    notifications_mark_read(actor=family["father"], up_to=first.id)
    assert [n.id for n in notices(family)] == [second.id]  # still unread
    assert set(second.payload["permission_names"]) == {"task_config", "encouragement"}
    assert second.payload["caregiver_name"] == "Con Cúc"


def test_toggling_back_and_forth_leaves_no_notice(family):
    unread = unread_count(family["father"].id)  # the family's join messages
    for _ in range(3):
        admin_sets(family, {"task_config": True})
        admin_sets(family, {"task_config": False})
    assert notices(family) == []
    assert unread_count(family["father"].id) == unread
    # The audit trail keeps every toggle.
    toggles = audit_since(action="connection.permission_changed")
    assert [(e.details["to"], e.details["as"]) for e in toggles][-6:] == [
        (True, "admin"), (False, "admin")] * 3


def test_toggling_one_back_leaves_the_others_in_the_notice(family):
    admin_sets(family, {"task_config": True, "proxy_execution": True})
    admin_sets(family, {"task_config": False})
    assert told(family) == [["proxy_execution"]]
    admin_sets(family, {"task_config": True})
    assert told(family) == [["task_config", "proxy_execution"]]


def test_off_then_on_again_is_no_change_in_net(family):
    unread = unread_count(family["father"].id)
    admin_sets(family, {"health_overview": False})  # turning off tells nobody
    assert notices(family) == []
    admin_sets(family, {"health_overview": True})
    assert notices(family) == []
    assert unread_count(family["father"].id) == unread


def test_once_read_a_new_change_is_a_new_notice_with_only_what_is_new(family):
    admin_sets(family, {"task_config": True})
    notifications_mark_read(actor=family["father"])
    db.session.commit()
    admin_sets(family, {"task_config": False})
    admin_sets(family, {"task_config": True})
    assert notices(family) == []  # back where it was when the patient read it
    admin_sets(family, {"encouragement": True})
    assert told(family) == [["encouragement"]]
    assert [n.payload["permissions"] for n in notices(family, status="delivered")] == [
        ["task_config"]]


def test_the_patients_own_change_is_theirs_to_know(family):
    admin_sets(family, {"task_config": True})
    permissions_set(actor=family["father"], connection_id=family["c"].id,
                    changes={"task_config": False})
    db.session.commit()
    assert told(family) == [["task_config"]]  # their own change touches no notice
    admin_sets(family, {"encouragement": True})
    assert told(family) == [["encouragement"]]  # task_config is off: nothing to tell
    admin_sets(family, {"task_config": True})  # the admin overrides the patient: news
    assert told(family) == [["task_config", "encouragement"]]


def test_a_notice_older_than_the_window_stays_and_a_new_one_starts(family):
    admin_sets(family, {"task_config": True})
    [old] = notices(family)
    # A day and more ago: the notice, and the change it told.
    past = utcnow() - NOTICE_WINDOW - timedelta(minutes=5)
    db.session.execute(update(N).where(N.id == old.id).values(
        created_at=past, payload={**old.payload, "opened": past.isoformat(),
                                  "since": (past - timedelta(hours=1)).isoformat()}))
    [change] = audit_since(family["audit"], action="connection.permission_changed")
    change.created_at = past
    db.session.commit()
    admin_sets(family, {"encouragement": True})
    assert told(family) == [["task_config"], ["encouragement"]]


def test_each_connection_has_its_own_notice(family):
    son = connection_between(family["father"], family["son"])
    admin_sets(family, {"task_config": True})
    admin_sets(family, {"encouragement": False}, connection=son)
    admin_sets(family, {"encouragement": True}, connection=son)
    admin_sets(family, {"encouragement": True})
    assert told(family) == [["task_config", "encouragement"]]


def test_disconnect_and_restore_leave_the_notice_alone(family):
    admin_sets(family, {"task_config": True})
    connection_revoke(actor=family["admin"], connection_id=family["c"].id)
    connection_restore(actor=family["admin"], connection_id=family["c"].id)
    db.session.commit()
    assert told(family) == [["task_config"]]
    admin_sets(family, {"proxy_execution": True})
    assert told(family) == [["task_config", "proxy_execution"]]


def test_the_net_is_counted_from_the_first_change_after_the_patients_own():
    def change(code, to, who="admin"):
        return {"permission": code, "from": not to, "to": to, "as": who}

    now = {**ALL_ON, "task_config": False}
    assert net_turned_on([change("encouragement", True)], ALL_ON) == ["encouragement"]
    assert net_turned_on([change("encouragement", False), change("encouragement", True)],
                         ALL_ON) == []
    assert net_turned_on([change("task_config", True), change("task_config", False)],
                         now) == []
    assert net_turned_on([change("encouragement", False, "patient"),
                          change("encouragement", True)], ALL_ON) == ["encouragement"]
    assert net_turned_on([change("encouragement", True), change("encouragement", False,
                                                                "patient")], now) == []
    # In display order, whatever the order of the changes.
    assert net_turned_on([change("encouragement", True), change("health_overview", True)],
                         ALL_ON) == ["health_overview", "encouragement"]
