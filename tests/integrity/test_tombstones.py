"""The integrity check knows deleted accounts (issue 19, item 4): a real deletion leaves
no violation anywhere (the other checks do not flag a tombstone), and a tombstone broken
by hand (a membership, a live connection, a pending invite, a personal field, a live
token, a family it still administers) is reported and, where safe, repaired."""

from __future__ import annotations

from sqlalchemy import update

from app.accounts.services import api_token_create
from app.extensions import db
from app.models.accounts import ApiToken, User
from app.models.connections import Connection
from app.models.groups import FamilyGroupMember
from app.models.invites import ConnectionInvite
from app.privacy.deletion import account_delete
from tests.factories import PASSWORD, make_user
from tests.integrity import check, repair_events, repaired, reported
from tests.service_helpers import admin_group, connection_between, invite, join


def deleted_member() -> dict:
    """A family whose caregiver deleted their account, the patient still there."""
    _admin, _sub, group = admin_group()
    patient = join(group, role="patient")
    caregiver = join(group, role="caregiver")
    account_delete(actor=caregiver, password=PASSWORD)
    return {"group": group.id, "patient": patient.id, "caregiver": caregiver.id,
            "connection": connection_between(patient, caregiver).id}


def test_a_real_deletion_leaves_no_violation(app, run):
    run(deleted_member)
    result = check(app)
    assert result.exit_code == 0, result.output


def test_a_tombstone_broken_by_hand_is_reported_and_repaired(app, run):
    ids = run(deleted_member)

    def break_it():
        tomb = db.session.get(User, ids["caregiver"])
        db.session.add(FamilyGroupMember(group_id=ids["group"], user_id=tomb.id,
                                         role="caregiver"))
        db.session.execute(update(Connection).where(Connection.id == ids["connection"])
                           .values(permission_revoked=False))
        _a, _s, other = admin_group()
        pending = invite(other, make_user(), role="caregiver").invite
        pending.receiver_id = tomb.id
        tomb.name, tomb.is_active = "Còn Tên", True
        api_token_create(user=tomb, name="left over")
        return pending.id

    invite_id = run(break_it)
    result = check(app)
    assert result.exit_code == 1
    for code in ("tombstone.membership", "tombstone.connection", "tombstone.invite",
                 "tombstone.erased"):
        assert f"[{code}]" in result.output, result.output
    repaired(app)
    with app.app_context():
        tomb = db.session.get(User, ids["caregiver"])
        assert (tomb.name, tomb.is_active) == ("", False)
        assert db.session.get(ConnectionInvite, invite_id).status == "cancelled"
        assert all(t.revoked_at is not None for t in db.session.query(ApiToken)
                   .filter_by(user_id=tomb.id))
    assert repair_events(app, "tombstone.erased")


def test_a_tombstone_administering_a_live_family_is_reported_not_repaired(app, run):
    def orphan():
        admin, _sub, group = admin_group()
        admin.deleted_at, admin.is_active, admin.name = admin.created_at, False, ""
        admin.phone = admin.password_hash = admin.gender = admin.phone_verified_at = None
        return group.id, admin.id

    group_id, admin_id = run(orphan)
    reported(app, {"tombstone.admin": [f"family {group_id}, user {admin_id}"]},
             repairable=False)
