"""Operator commands: demo-data and create-staff."""

from __future__ import annotations

import re

import pytest
from flask_migrate import upgrade
from sqlalchemy import func, select

from app.accounts.services import account_authenticate
from app.billing.services import code_hash
from app.extensions import db
from app.invites.services import invite_by_token
from app.models.accounts import User
from app.models.billing import ActivationCode
from app.models.connections import Connection, ConnectionPermission
from app.models.groups import FamilyGroup, FamilyGroupMember
from app.models.invites import ConnectionInvite
from app.models.reports import PatientReport
from tests.conftest import make_app


@pytest.fixture
def fresh(fresh_database_url):
    application = make_app(fresh_database_url())
    with application.app_context():
        upgrade()
        yield application
        db.session.remove()
        db.engine.dispose()


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def test_demo_data_fills_an_empty_database_with_a_family(fresh):
    result = fresh.test_cli_runner().invoke(args=["demo-data"])
    assert result.exit_code == 0, result.output
    assert "giadinh2026" in result.output
    assert "0912 345 678" in result.output

    assert count(User) == 6
    assert count(User, User.is_staff.is_(True)) == 1
    group = db.session.scalar(select(FamilyGroup))
    assert group.name == "Gia đình Nguyễn"
    assert group.status == "active"
    roles = sorted(db.session.execute(select(FamilyGroupMember.role, func.count())
                                      .group_by(FamilyGroupMember.role)).all())
    assert roles == [("caregiver", 2), ("patient", 2)]  # one caregiver place free
    # BR-045: every caregiver follows every patient, each with six permission rows.
    assert count(Connection, Connection.family_group_id == group.id) == 4
    assert count(ConnectionPermission) == 24
    assert count(ConnectionInvite, ConnectionInvite.status == "pending") == 1
    invite = db.session.scalar(select(ConnectionInvite))
    assert len(invite.token_hash) == 64
    assert invite.expires_at is not None
    # The printed link opens that invite: its token hashes to the stored hash.
    link = re.search(r"http://portal\.test/i/(\S+)", result.output)
    assert link, result.output
    assert invite_by_token(link.group(1)).id == invite.id
    code = re.search(r"family_plus, 365 days\) for a new account: (\S+)", result.output).group(1)
    assert db.session.scalar(select(ActivationCode.plan)
                             .where(ActivationCode.code_hash == code_hash(code))) == "family_plus"
    assert count(PatientReport) == 4
    # The printed credentials work.
    assert account_authenticate(login="0912345678", password="giadinh2026").name == "Nguyễn Văn An"


def test_demo_data_refuses_a_database_that_has_users(fresh):
    runner = fresh.test_cli_runner()
    assert runner.invoke(args=["demo-data"]).exit_code == 0
    again = runner.invoke(args=["demo-data"])
    assert again.exit_code == 1
    assert "already has users" in again.output
    assert count(User) == 6


def test_create_staff_creates_or_promotes(fresh):
    runner = fresh.test_cli_runner()
    named = runner.invoke(args=["create-staff", "0912 000 111", "--name", "Hỗ trợ",
                                "--password", "hotro-2026"])
    assert named.exit_code == 1  # made of the name (ID-003)
    result = runner.invoke(args=["create-staff", "0912 000 111", "--name", "Hỗ trợ",
                                 "--password", "bàn làm việc 2026"])
    assert result.exit_code == 0, result.output
    staff = db.session.scalar(select(User).where(User.phone == "+84912000111"))
    assert staff.is_staff
    assert staff.name == "Hỗ trợ"
    assert staff.phone_proved  # create-staff vouches for the number (ID-001)

    bad = runner.invoke(args=["create-staff", "12345", "--password", "hotro-2026"])
    assert bad.exit_code == 1
    assert "10" in bad.output
    assert count(User) == 1


def test_create_staff_on_an_existing_account_asks_for_no_password(fresh):
    runner = fresh.test_cli_runner()
    made = runner.invoke(args=["create-staff", "0912 000 222", "--password",
                               "bàn làm việc 2026"])
    assert made.exit_code == 0, made.output
    member = db.session.scalar(select(User).where(User.phone == "+84912000222"))
    member.is_staff = False
    db.session.commit()
    # No --password and no input: a prompt would fail on the empty input (Aborted!).
    promoted = runner.invoke(args=["create-staff", "0912 000 222"], input="")
    assert promoted.exit_code == 0, promoted.output
    assert "Password" not in promoted.output
    assert "Staff account ready" in promoted.output
    db.session.expire_all()
    staff = db.session.scalar(select(User).where(User.phone == "+84912000222"))
    assert staff.is_staff
    # The account keeps its own password.
    assert account_authenticate(login="0912000222", password="bàn làm việc 2026") == staff


def test_create_staff_asks_a_new_accounts_password_when_not_given(fresh):
    runner = fresh.test_cli_runner()
    refused = runner.invoke(args=["create-staff", "0912 000 333"], input="")
    assert refused.exit_code != 0
    assert count(User) == 0
    made = runner.invoke(args=["create-staff", "0912 000 333"],
                         input="bàn làm việc 2026\nbàn làm việc 2026\n")
    assert made.exit_code == 0, made.output
    assert "Password for the new account" in made.output
    staff = db.session.scalar(select(User).where(User.phone == "+84912000333"))
    assert staff.is_staff
    assert account_authenticate(login="0912000333", password="bàn làm việc 2026") == staff


def test_codes_issue_prints_codes_and_stores_only_their_hashes(fresh):
    runner = fresh.test_cli_runner()
    result = runner.invoke(args=["codes", "issue", "--plan", "family", "--days", "365",
                                 "--count", "3"])
    assert result.exit_code == 0, result.output
    codes = result.output.split()
    assert len(codes) == 3
    assert len(set(codes)) == 3
    rows = db.session.scalars(select(ActivationCode)).all()
    assert sorted(r.code_hash for r in rows) == sorted(code_hash(c) for c in codes)
    assert {(r.plan, r.duration_days, r.redeemed_by) for r in rows} == {("family", 365, None)}
    stored = " ".join(str(v) for r in rows for v in vars(r).values())
    assert not any(c in stored or c.replace("-", "") in stored for c in codes)


def test_codes_issue_refuses_an_unknown_plan_and_writes_nothing(fresh):
    result = fresh.test_cli_runner().invoke(args=["codes", "issue", "--plan", "gold",
                                                  "--days", "30"])
    assert result.exit_code == 1
    assert "gold" in result.output
    assert count(ActivationCode) == 0


def test_demo_data_gives_staff_a_failed_sms_and_a_flagged_connection(fresh):
    from app.models.notifications import InviteNotification
    from app.staff.signals import flags

    assert fresh.test_cli_runner().invoke(args=["demo-data"]).exit_code == 0
    failed = db.session.scalars(select(InviteNotification).where(
        InviteNotification.status == "failed")).all()
    assert [(row.channel, row.recipient) for row in failed] == [("sms", "+84944555666")]
    hoa, dung = (db.session.scalar(select(User).where(User.name == name))
                 for name in ("Trần Thị Hoa", "Lê Văn Dũng"))
    connection = db.session.scalar(select(Connection).where(
        Connection.user_id == hoa.id, Connection.linked_user_id == dung.id))
    with fresh.test_request_context():
        cycles = flags("disconnect_cycles")
    assert [(flag.key, flag.level) for flag in cycles] == [(str(connection.id), 3)]
    # It ends restored: six permissions ON, the family as it was.
    assert connection.permission_revoked is False
    assert count(ConnectionPermission, ConnectionPermission.contact_id == connection.id,
                 ConnectionPermission.is_enabled.is_(True)) == 6
