"""BR-040 (issue 18): a restore brings back the six permissions as they were just before
the disconnect — not all six ON — silently, whoever restores (the admin, the patient, per
caregiver); the disconnect keeps them in the history (its audit event), and a disconnect
recorded before that is replayed from the history. Called directly on a real database."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.connections.control import (
    caregiver_restore,
    caregiver_revoke,
    connection_restore,
    connection_restore_preview,
    connection_revoke,
    permissions_set,
)
from app.extensions import db
from app.models.audit import AuditEvent
from app.models.connections import PERMISSION_CODES
from app.models.notifications import InviteNotification
from tests.service_helpers import (
    ALL_ON,
    admin_group,
    audit_since,
    connection_between,
    join,
    last_id,
    outbox_since,
    permission_map,
    row_counts,
)

# Two of six turned off by the admin before the disconnect: these four come back ON.
NARROWED = {**ALL_ON, "task_config": False, "proxy_execution": False}


@pytest.fixture
def family(ctx):
    admin, _sub, group = admin_group(patients=2, caregivers=4)
    father = join(group, role="patient", gender=0, name="Bố Bình")
    mother = join(group, role="patient", gender=1, name="Mẹ Hoa")
    daughter = join(group, role="caregiver", gender=1, name="Con Cúc")
    db.session.commit()
    return {"admin": admin, "group": group, "father": father, "mother": mother,
            "daughter": daughter}


def link(family, patient="father"):
    return connection_between(family[patient], family["daughter"])


def narrowed(family, patient="father", by="admin"):
    """The connection with task_config and proxy_execution turned off, then disconnected."""
    c = link(family, patient)
    permissions_set(actor=family[by], connection_id=c.id,
                    changes={"task_config": False, "proxy_execution": False})
    connection_revoke(actor=family[by], connection_id=c.id, reason="private")
    db.session.commit()
    assert not any(permission_map(c).values())
    return c


@pytest.mark.parametrize("by", ["admin", "father"])
def test_br040_restore_brings_back_the_permissions_as_they_were(family, by):
    c = narrowed(family, by=by)
    mark, before = last_id(InviteNotification), row_counts()
    held = connection_restore(actor=family[by], connection_id=c.id)
    db.session.commit()
    assert permission_map(c) == NARROWED  # not all six: the two stay off
    assert link(family).permission_revoked is False
    assert held.restored == NARROWED
    assert list(held.restored) == list(PERMISSION_CODES)
    # Silent: the restore's audit event and nothing else; no outbox row to anyone.
    assert outbox_since(mark) == []
    after = row_counts()
    assert {k: after[k] - before[k] for k in after} == {**dict.fromkeys(after, 0), "audit": 1}
    [event] = audit_since(action="connection.restored")
    assert event.details["permissions"] == NARROWED


def test_br040_the_disconnect_keeps_the_six_in_the_history(family):
    narrowed(family)
    [event] = audit_since(action="connection.disconnected")
    assert event.details["permissions"] == NARROWED
    assert event.details["reason"] == "private"


def test_br040_a_second_disconnect_changes_nothing_and_the_first_one_counts(family):
    c = narrowed(family)
    connection_revoke(actor=family["father"], connection_id=c.id)
    assert len(audit_since(action="connection.disconnected")) == 1
    connection_restore(actor=family["father"], connection_id=c.id)
    assert permission_map(c) == NARROWED


def test_br040_restore_per_caregiver_brings_each_connection_back_as_it_was(family):
    father, mother = link(family, "father"), link(family, "mother")
    permissions_set(actor=family["admin"], connection_id=father.id,
                    changes={"task_config": False, "proxy_execution": False})
    permissions_set(actor=family["mother"], connection_id=mother.id,
                    changes={"emergency_alert": False})
    caregiver_revoke(actor=family["admin"], group=family["group"],
                     caregiver_id=family["daughter"].id)
    mark = last_id(InviteNotification)
    held = caregiver_restore(actor=family["admin"], group=family["group"],
                             caregiver_id=family["daughter"].id)
    db.session.commit()
    assert permission_map(father) == NARROWED
    assert permission_map(mother) == {**ALL_ON, "emergency_alert": False}
    assert {h.connection.id: h.restored for h in held} == {
        father.id: NARROWED, mother.id: {**ALL_ON, "emergency_alert": False}}
    assert outbox_since(mark) == []


def test_br040_the_preview_names_what_a_restore_brings_back_and_changes_nothing(family):
    c = narrowed(family)
    before = row_counts()
    held = connection_restore_preview(actor=family["father"], connection_id=c.id)
    assert held.restored == NARROWED
    db.session.commit()
    assert row_counts() == before
    assert link(family).permission_revoked is True
    assert not any(permission_map(c).values())
    live = connection_restore_preview(actor=family["admin"],
                                      connection_id=link(family, "mother").id)
    assert live.restored is None  # nothing to restore


def _forget(event: AuditEvent) -> None:
    """The event as it was written before issue 18: without the six permissions."""
    details = dict(event.details)
    details.pop("permissions")
    event.details = details
    db.session.commit()


def test_br040_a_disconnect_recorded_before_issue_18_is_replayed_from_the_history(family):
    c = link(family)
    # An earlier cycle, as the old rule did it: disconnect, then a restore to all six ON.
    connection_revoke(actor=family["admin"], connection_id=c.id)
    connection_restore(actor=family["admin"], connection_id=c.id)
    for action in ("connection.disconnected", "connection.restored"):
        _forget(audit_since(action=action)[-1])
    assert permission_map(c) == ALL_ON
    permissions_set(actor=family["admin"], connection_id=c.id, changes={"task_config": False})
    permissions_set(actor=family["father"], connection_id=c.id,
                    changes={"proxy_execution": False, "encouragement": False})
    permissions_set(actor=family["admin"], connection_id=c.id, changes={"encouragement": True})
    connection_revoke(actor=family["admin"], connection_id=c.id)
    _forget(audit_since(action="connection.disconnected")[-1])
    connection_restore(actor=family["father"], connection_id=c.id)
    db.session.commit()
    assert permission_map(c) == NARROWED


def test_br040_a_history_that_would_leave_nothing_on_restores_all_six(family):
    c = link(family)
    connection_revoke(actor=family["admin"], connection_id=c.id)
    event = audit_since(action="connection.disconnected")[-1]
    event.details = {**event.details, "permissions": dict.fromkeys(PERMISSION_CODES, False)}
    db.session.commit()
    connection_restore(actor=family["admin"], connection_id=c.id)
    assert permission_map(c) == ALL_ON  # BR-039: a live connection keeps one ON


def test_br040_restore_reads_this_connections_history_only(family):
    narrowed(family, "father")
    other = link(family, "mother")
    connection_revoke(actor=family["admin"], connection_id=other.id)
    connection_restore(actor=family["admin"], connection_id=other.id)
    assert permission_map(other) == ALL_ON
    restored = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "connection.restored")).all()
    assert [e.subject_id for e in restored] == [other.id]
