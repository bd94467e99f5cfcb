"""Withdrawing consent (issue 19): a patient ends every connection to their data in one
action, silently (BR-056) or with a notice, and only the patient's own restore brings one
back. Called directly on a real database."""

from __future__ import annotations

import pytest

from app.connections.consent import consent_withdraw
from app.connections.control import (
    caregiver_restore,
    connection_restore,
    connection_restore_preview,
    connection_revoke,
    permissions_set,
)
from app.extensions import db
from app.membership.services import group_self_add, member_remove
from app.models.connections import PERMISSION_CODES
from app.models.notifications import InviteNotification
from tests.service_helpers import (
    ALL_OFF,
    ALL_ON,
    admin_group,
    audit_since,
    connection_between,
    join,
    last_id,
    outbox_since,
    permission_map,
    refused,
    row_counts,
)

NARROWED = {**ALL_ON, "task_config": False}


@pytest.fixture
def family(ctx):
    admin, _sub, group = admin_group(patients=3, caregivers=4)
    father = join(group, role="patient", name="Bố Bình")
    mother = join(group, role="patient", name="Mẹ Hoa")
    daughter = join(group, role="caregiver", name="Con Cúc")
    son = join(group, role="caregiver", name="Con Dũng")
    db.session.commit()
    return {"admin": admin, "group": group, "father": father, "mother": mother,
            "daughter": daughter, "son": son}


def link(family, caregiver, patient="father"):
    return connection_between(family[patient], family[caregiver])


def test_silent_withdrawal_disconnects_every_caregiver_and_tells_nobody(family):
    permissions_set(actor=family["admin"], connection_id=link(family, "daughter").id,
                    changes={"task_config": False})
    db.session.commit()
    mark, before = last_id(InviteNotification), row_counts()
    held = consent_withdraw(actor=family["father"], tell=False)
    db.session.commit()
    assert {h.caregiver.id for h in held} == {family["daughter"].id, family["son"].id}
    for name in ("daughter", "son"):
        c = link(family, name)
        assert c.permission_revoked
        assert c.consent_withdrawn_at is not None
        assert permission_map(c) == ALL_OFF
    # the mother's connections are hers: untouched
    assert not link(family, "daughter", "mother").permission_revoked
    assert link(family, "daughter", "mother").consent_withdrawn_at is None
    # BR-056: no outbox row at all
    assert outbox_since(mark) == []
    after = row_counts()
    # per connection: its disconnect and its consent_withdrawn event
    assert {k: after[k] - before[k] for k in after} == {**dict.fromkeys(after, 0), "audit": 4}
    events = audit_since(action="connection.consent_withdrawn")
    assert {e.subject_id for e in events} == {link(family, n).id for n in ("daughter", "son")}
    assert all(e.details["told"] is False for e in events)
    [disconnect] = [e for e in audit_since(action="connection.disconnected")
                    if e.subject_id == link(family, "daughter").id]
    assert disconnect.details["scope"] == "consent"
    assert disconnect.details["permissions"] == NARROWED


def test_withdrawal_with_a_notice_tells_each_caregiver_once(family):
    mark = last_id(InviteNotification)
    consent_withdraw(actor=family["father"], tell=True)
    db.session.commit()
    rows = outbox_since(mark)
    in_app = [(r.notification_type, r.recipient_user_id) for r in rows
              if r.channel == "in_app"]
    assert sorted(in_app) == sorted([("CONSENT_WITHDRAWN", family["daughter"].id),
                                     ("CONSENT_WITHDRAWN", family["son"].id)])
    # the usual channel as well (SMS: the caregivers have no email)
    assert {r.channel for r in rows} == {"in_app", "sms"}
    assert {r.recipient_user_id for r in rows} == {family["daughter"].id, family["son"].id}
    assert all(r.payload["patient_name"] == "Bố Bình" for r in rows)
    assert all(e.details["told"] is True
               for e in audit_since(action="connection.consent_withdrawn"))


def test_the_admin_cannot_restore_only_the_patient_can(family):
    consent_withdraw(actor=family["father"], tell=False)
    c = link(family, "daughter")
    refused("consent_withdrawn", connection_restore, actor=family["admin"], connection_id=c.id)
    refused("consent_withdrawn", connection_restore_preview, actor=family["admin"],
            connection_id=c.id)
    refused("consent_withdrawn", caregiver_restore, actor=family["admin"],
            group=family["group"], caregiver_id=family["daughter"].id)
    assert link(family, "daughter").permission_revoked
    # toggling stays refused as for any disconnected connection
    refused("connection_revoked", permissions_set, actor=family["father"], connection_id=c.id,
            changes={"health_overview": True})
    held = connection_restore(actor=family["father"], connection_id=c.id)
    db.session.commit()
    c = link(family, "daughter")
    assert not c.permission_revoked
    assert c.consent_withdrawn_at is None
    assert held.restored == ALL_ON
    # the son's stays withdrawn: a restore is one connection
    assert link(family, "son").consent_withdrawn_at is not None
    # and now the admin may disconnect and restore it as any other
    connection_revoke(actor=family["admin"], connection_id=c.id)
    connection_restore(actor=family["admin"], connection_id=c.id)
    db.session.commit()
    assert not link(family, "daughter").permission_revoked


def test_per_caregiver_restore_skips_withdrawn_connections(family):
    """The daughter follows both parents; the father withdraws, the admin had disconnected
    her from both: 'restore all' brings back the mother's only."""
    for patient in ("father", "mother"):
        connection_revoke(actor=family["admin"],
                          connection_id=link(family, "daughter", patient).id)
    consent_withdraw(actor=family["father"], tell=False)
    db.session.commit()
    caregiver_restore(actor=family["admin"], group=family["group"],
                      caregiver_id=family["daughter"].id)
    db.session.commit()
    assert not link(family, "daughter", "mother").permission_revoked
    assert link(family, "daughter", "father").permission_revoked


def test_already_disconnected_connections_are_marked_too(family):
    """The admin's earlier silent disconnect is kept (no second disconnect event); its mark
    stops the admin from restoring it, and the patient's restore brings back what was on
    before the admin's disconnect."""
    c = link(family, "daughter")
    permissions_set(actor=family["admin"], connection_id=c.id, changes={"task_config": False})
    connection_revoke(actor=family["admin"], connection_id=c.id)
    db.session.commit()
    mark = audit_since()[-1].id
    consent_withdraw(actor=family["father"], tell=False)
    db.session.commit()
    assert link(family, "daughter").consent_withdrawn_at is not None
    disconnects = audit_since(mark, action="connection.disconnected")
    assert [e.subject_id for e in disconnects] == [link(family, "son").id]
    [event] = [e for e in audit_since(mark, action="connection.consent_withdrawn")
               if e.subject_id == c.id]
    assert event.details["was_disconnected"] is True
    refused("consent_withdrawn", connection_restore, actor=family["admin"], connection_id=c.id)
    held = connection_restore(actor=family["father"], connection_id=c.id)
    assert held.restored == NARROWED


def test_nothing_to_withdraw(family):
    """A patient nobody follows gets a clear 409, and nothing is written."""
    for name in ("daughter", "son"):
        member_remove(actor=family["admin"], group=family["group"],
                      user_id=family[name].id, role="caregiver")
    db.session.commit()
    refused("nothing_to_withdraw", consent_withdraw, actor=family["father"], tell=True)
    # a caregiver, who is nobody's patient, neither
    refused("nothing_to_withdraw", consent_withdraw, actor=family["daughter"], tell=False)


def test_withdrawn_twice_is_refused(family):
    consent_withdraw(actor=family["father"], tell=False)
    refused("nothing_to_withdraw", consent_withdraw, actor=family["father"], tell=True)


def test_tell_must_be_a_bool(family):
    refused("invalid", consent_withdraw, actor=family["father"], tell="yes")


def test_a_pair_meeting_again_starts_with_consent(family):
    """A removed caregiver who comes back is connected anew: the earlier connection's
    withdrawn consent does not linger on the reused row."""
    consent_withdraw(actor=family["father"], tell=False)
    member_remove(actor=family["admin"], group=family["group"], user_id=family["son"].id,
                  role="caregiver")
    db.session.commit()
    join(family["group"], family["son"], role="caregiver")
    db.session.commit()
    c = link(family, "son")
    assert not c.permission_revoked
    assert c.consent_withdrawn_at is None
    assert set(permission_map(c)) == set(PERMISSION_CODES)


def test_the_admin_who_is_the_patient_restores_their_own(family):
    admin = family["admin"]
    group_self_add(actor=admin, group=family["group"], role="patient")
    db.session.commit()
    consent_withdraw(actor=admin, tell=False)
    c = link(family, "daughter", "admin")
    assert c.consent_withdrawn_at is not None
    held = connection_restore(actor=admin, connection_id=c.id)
    assert held.part == "patient"
    assert not c.permission_revoked
    assert c.consent_withdrawn_at is None
