"""flask import-legacy (SPEC §8), through the real command, on the backend under test."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, func, insert, select, text

from app.extensions import db
from app.legacy import importer
from app.models.accounts import AccountClaim, User
from app.models.audit import AuditEvent
from app.models.billing import Subscription
from app.models.connections import PERMISSION_CODES, Connection
from app.models.groups import FamilyGroup, FamilyGroupMember
from app.models.notifications import InviteNotification
from tests.conftest import BACKEND
from tests.factories import make_group, make_member, make_subscription, make_user
from tests.legacy.helpers import (
    person,
    record,
    report,
    run_import,
    snapshot,
    summary,
    write,
)


def phone(n: int) -> str:
    """A national number as people type it, 0912 NNN NNN."""
    return f"0912{n:06d}"


def e164(n: int) -> str:
    return f"+84912{n:06d}"


def family(n: int, *, admin: int | None = None, patients=(), caregivers=(), **kw):
    """Record family_n: admin 10n (unless given), patients and caregivers by number."""
    return record(f"family_{n}", phone(admin if admin is not None else 10 * n),
                  patients=[phone(p) for p in patients],
                  caregivers=[phone(c) for c in caregivers], **kw)


def count(app, model, *where) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


def user_of(app, number: str) -> User:
    with app.app_context():
        return db.session.scalar(select(User).where(User.phone == number))


# --- input -------------------------------------------------------------------------------


@pytest.mark.parametrize("lines", [True, False], ids=["json-lines", "json-array"])
def test_both_formats_import_every_record(app, tmp_path, lines):
    path = write(tmp_path, [family(1, patients=[11], caregivers=[12, 13]),
                            family(2, patients=[21, 22], caregivers=[23])], lines=lines)
    result = run_import(app, path)
    assert result.exit_code == 0, result.output
    found = summary(result)
    assert found["records read"] == 2
    assert found["groups created"] == 2
    assert found["users created"] == 8
    assert found["memberships"] == 6
    assert found["connections"] == 2 + 2
    assert found["claim links"] == 8
    assert count(app, FamilyGroup) == 2
    assert count(app, User) == 8


def test_the_same_person_however_the_phone_is_typed(app, tmp_path):
    with app.app_context():
        make_user(phone=e164(11), name="Đã Có", email="co@example.com")
        db.session.commit()
    before = user_of(app, e164(11))
    rec = record("family_1", "0912 000 010", patients=["+84912000011"],
                 caregivers=[person("0912.000.010", gender="male", relationship="con_trai")])
    result = run_import(app, write(tmp_path, [rec]))
    assert result.exit_code == 0, result.output
    assert summary(result)["users created"] == 1  # the admin (also the caregiver)
    assert summary(result)["users matched"] == 1
    after = user_of(app, e164(11))
    assert (after.id, after.name, after.email, after.password_hash) == (
        before.id, "Đã Có", "co@example.com", before.password_hash)
    admin = user_of(app, e164(10))
    assert (admin.name, admin.password_hash, admin.locale, admin.gender) == (
        "Nguyễn Văn An", None, "vi", None)
    assert count(app, User) == 2


def test_the_group_gets_a_local_subscription_for_its_plan(app, tmp_path):
    app.config["IMPORT_PLAN_DAYS"] = 200
    try:
        run_import(app, write(tmp_path, [family(1, patients=[11], caregivers=[12],
                                                plan="family_plus")]))
    finally:
        app.config["IMPORT_PLAN_DAYS"] = 365
    admin = user_of(app, e164(10))
    with app.app_context():
        group = db.session.scalar(select(FamilyGroup))
        sub = db.session.get(Subscription, group.subscription_id)
        assert (group.admin_user_id, group.status, group.legacy_id, group.name) == (
            admin.id, "active", "family_1", "Gia đình Nguyễn")
        assert (sub.owner_user_id, sub.plan, sub.patient_slots, sub.caregiver_slots,
                sub.status) == (admin.id, "family_plus", 4, 8, "active")
        assert sub.expires_at - sub.starts_at == timedelta(days=200)
        # BR-049: the admin is a member only when listed as a patient or caregiver
        assert db.session.scalar(select(func.count()).select_from(FamilyGroupMember).where(
            FamilyGroupMember.user_id == admin.id)) == 0
        event = db.session.scalar(select(AuditEvent).where(
            AuditEvent.action == "import.group_imported"))
        assert event.family_group_id == group.id
        assert event.details["legacyId"] == "family_1"
        assert sorted(m["role"] for m in event.details["members"]) == ["caregiver", "patient"]
        assert len(event.details["created_user_ids"]) == 3


def test_connections_have_six_permissions_on_and_the_derived_inverse(app, tmp_path):
    with app.app_context():
        make_user(phone=e164(13), gender=None)  # an existing patient of unknown gender
        db.session.commit()
    rec = record("family_1", phone(10),
                 patients=[person(phone(11), gender="male"), person(phone(12), gender="female"),
                           person(phone(13), gender="male")],
                 caregivers=[person(phone(14), gender="female", relationship="con_gai")],
                 plan="family_plus")
    assert run_import(app, write(tmp_path, [rec])).exit_code == 0
    with app.app_context():
        group_id = db.session.scalar(select(FamilyGroup.id))
        rows = db.session.execute(
            select(User.phone, Connection).join(User, User.id == Connection.user_id)).all()
        inverse = {number: c.inverse_relationship_code for number, c in rows}
        assert inverse == {e164(11): "bo", e164(12): "me", e164(13): "khac"}
        for _number, connection in rows:
            assert (connection.relationship_code, connection.family_group_id,
                    connection.permission_revoked, connection.contact_type) == (
                "con_gai", group_id, False, "caregiver")
            assert sorted((p.permission_code, p.is_enabled) for p in connection.permissions) \
                == sorted((code, True) for code in PERMISSION_CODES)


def test_a_dual_role_member_holds_both_roles_and_never_follows_themselves(app, tmp_path):
    rec = record("family_1", phone(10), patients=[phone(10), phone(11)],
                 caregivers=[person(phone(10), gender="male", relationship="con_trai"),
                             person(phone(12), gender="female", relationship="con_gai")])
    result = run_import(app, write(tmp_path, [rec]))
    assert summary(result)["connections"] == 3  # 2 × 2 pairs minus the admin with themselves
    admin = user_of(app, e164(10))
    with app.app_context():
        roles = sorted(db.session.scalars(select(FamilyGroupMember.role)
                                          .where(FamilyGroupMember.user_id == admin.id)))
        assert roles == ["caregiver", "patient"]
        assert db.session.scalar(select(func.count()).select_from(Connection).where(
            Connection.user_id == Connection.linked_user_id)) == 0
    assert count(app, Connection) == 3


# --- bad records -------------------------------------------------------------------------


def test_every_bad_record_is_reported_by_position_and_the_rest_go_in(app, tmp_path):
    long_name = "A" * 101
    records = [
        family(1, patients=[11], caregivers=[12]),
        "this line is not JSON",
        ["not", "an", "object"],
        {k: v for k, v in family(4).items() if k != "legacyId"},
        dict(family(5), plan=7),
        dict(family(6), plan="gold"),
        record("family_7", "12345", patients=[phone(71)]),
        family(8, patients=[81, 82, 83]),  # the family plan has 2 patient slots
        record("family_9", phone(90), caregivers=[person(phone(91), relationship="cousin")]),
        record("family_10", phone(100), admin_name=long_name),
        record("family_11", phone(110), patients=[{"name": "X", "phone": phone(111)}]),
        dict(family(12), caregivers="nobody"),
        family(13, patients=[131], caregivers=[132]),
    ]
    result = run_import(app, write(tmp_path, records))
    assert result.exit_code == 0, result.output
    out = result.output
    expected = [
        "record 2: skipped, bad record: line 2 is not JSON",
        "record 3: skipped, bad record: the record is not a JSON object",
        "record 4: skipped, bad record: legacyId is missing or not a string",
        "record 5 (legacyId family_5): skipped, bad record: plan is missing or not a string",
        "record 6 (legacyId family_6): skipped, bad record: plan 'gold' is not a known plan",
        "record 7 (legacyId family_7): skipped, bad record: admin.phone '12345' is not a valid",
        "record 8 (legacyId family_8): skipped, bad record: patients lists 3 people; the plan "
        "has 2 slots",
        "record 9 (legacyId family_9): skipped, bad record: caregivers[0].relationship "
        "'cousin' is not a known relationship code",
        "record 10 (legacyId family_10): skipped, bad record: admin.name is longer than 100",
        "record 11 (legacyId family_11): skipped, bad record: patients[0].gender must be",
        "record 12 (legacyId family_12): skipped, bad record: caregivers is missing or not a "
        "list",
    ]
    for line in expected:
        assert line in out, out
    assert summary(result)["bad records"] == 11
    assert summary(result)["groups created"] == 2
    with app.app_context():
        assert sorted(db.session.scalars(select(FamilyGroup.legacy_id))) == [
            "family_1", "family_13"]


def test_a_nul_in_any_text_is_a_bad_record_not_a_crash(app, tmp_path):
    # PostgreSQL cannot store a NUL: before this check the whole import stopped on it.
    records = [record("family_1", phone(10), admin_name="An\x00"),
               record("family_\x002", phone(20)),
               record("family_3", phone(30), family="Nhà\x00"),
               family(4, patients=[41])]
    result = run_import(app, write(tmp_path, records))
    assert result.exit_code == 0, result.output
    assert "record 1 (legacyId family_1): skipped, bad record: admin.name contains a NUL" \
        in result.output
    assert "record 2 (legacyId family_\x002): skipped, bad record: legacyId contains a NUL" \
        in result.output
    assert "record 3 (legacyId family_3): skipped, bad record: familyName contains a NUL" \
        in result.output
    assert summary(result)["bad records"] == 3
    with app.app_context():
        assert list(db.session.scalars(select(FamilyGroup.legacy_id))) == ["family_4"]


def test_a_broken_array_stops_at_the_break_after_importing_what_came_before(app, tmp_path):
    good = json.dumps([family(1, patients=[11]), family(2, patients=[21])], ensure_ascii=False)
    path = tmp_path / "broken.json"
    path.write_text(good[:-1] + ', {"legacyId": "family_3", "adm', encoding="utf-8")
    result = run_import(app, path)
    assert result.exit_code == 1
    assert "the JSON array breaks after record 2" in result.output
    assert "The records before the break were imported." in result.output
    assert "Traceback" not in result.output
    assert count(app, FamilyGroup) == 2


@pytest.mark.parametrize("batch_size", ["1", "2", "3"])
def test_a_break_read_while_the_batch_before_is_written_stops_after_both(app, tmp_path,
                                                                          batch_size):
    """The next batch is read while the one before is being written (importer._read_ahead):
    a break found then still comes after that batch and the records before the break."""
    good = json.dumps([family(n, patients=[10 * n + 1]) for n in (1, 2, 3)],
                      ensure_ascii=False)
    path = tmp_path / "broken.json"
    path.write_text(good[:-1] + ', {"legacyId": "family_4", "adm', encoding="utf-8")
    result = run_import(app, path, "--batch-size", batch_size)
    assert result.exit_code == 1
    assert "the JSON array breaks after record 3" in result.output
    assert summary(result)["records read"] == 3
    assert summary(result)["groups created"] == 3
    assert count(app, FamilyGroup) == 3


def test_an_unreadable_file_and_the_http_provider_are_refused(app, tmp_path, monkeypatch):
    result = run_import(app, tmp_path / "missing.jsonl")
    assert result.exit_code != 0
    assert "does not exist" in result.output
    path = write(tmp_path, [family(1, patients=[11])])
    monkeypatch.setitem(app.config, "PAYMENT_PROVIDER", "http")
    result = run_import(app, path)
    assert result.exit_code == 1
    assert "PAYMENT_PROVIDER=local" in result.output
    assert count(app, FamilyGroup) == 0


def test_a_file_that_cannot_be_decoded_line_by_line_is_reported_not_crashed(app, tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(json.dumps(family(1, patients=[11])).encode() + b"\n\xff\xfe{\n")
    result = run_import(app, path)
    assert result.exit_code == 0, result.output
    assert "record 2: skipped, bad record: line 2 is not JSON" in result.output
    assert count(app, FamilyGroup) == 1


# --- conflicts (BR-057) -------------------------------------------------------------------


def test_a_member_of_another_group_in_that_role_is_reported_not_moved(app, tmp_path):
    with app.app_context():
        other = make_group()
        patient = make_user(phone=e164(11))
        make_member(other, patient, role="patient")
        db.session.commit()
        other_id, patient_id = other.id, patient.id
    result = run_import(app, write(tmp_path, [family(1, patients=[11, 12], caregivers=[13])]))
    assert result.exit_code == 0
    assert (f"record 1 (legacyId family_1): conflict: {e164(11)} is already a patient of "
            f"group {other_id}; not added as a patient here") in result.output
    assert summary(result)["conflicts"] == 1
    with app.app_context():
        groups = sorted(db.session.scalars(select(FamilyGroupMember.group_id).where(
            FamilyGroupMember.user_id == patient_id)))
        assert groups == [other_id]
    assert summary(result)["memberships"] == 2  # patient 12 and caregiver 13 went in


def test_two_records_claiming_one_patient_keep_the_first(app, tmp_path):
    result = run_import(app, write(tmp_path, [family(1, patients=[11]),
                                              family(2, patients=[11, 21])]))
    assert ("record 2 (legacyId family_2): conflict: +84912000011 is already a patient of "
            "the group imported from legacyId family_1; not added as a patient here"
            ) in result.output
    assert count(app, FamilyGroupMember) == 2


def test_an_admin_with_an_active_subscription_skips_the_whole_record(app, tmp_path):
    with app.app_context():
        make_subscription(make_user(phone=e164(10)))
        db.session.commit()
    result = run_import(app, write(tmp_path, [family(1, patients=[11]),
                                              family(2, patients=[21])]))
    assert ("record 1 (legacyId family_1): skipped, conflict: the admin +84912000010 already "
            "owns an active subscription") in result.output
    assert summary(result)["groups created"] == 1
    assert user_of(app, e164(11)) is None  # nothing of the skipped record was written


def test_a_person_listed_twice_in_a_role_is_added_once_with_a_note(app, tmp_path):
    rec = family(1, patients=[11, 11], caregivers=[12])
    result = run_import(app, write(tmp_path, [rec]))
    assert ("record 1 (legacyId family_1): note: +84912000011 is listed twice in patients; "
            "added once") in result.output
    assert summary(result)["memberships"] == 2


# --- dry run, idempotence, batches --------------------------------------------------------


def mixed_file(tmp_path):
    return write(tmp_path, [family(1, patients=[11], caregivers=[12, 13]),
                            family(2, patients=[11, 21], caregivers=[22]),
                            "oops", family(4, admin=10, patients=[41]),
                            family(5, patients=[51, 51], caregivers=[52, 12])])


def test_a_dry_run_changes_nothing_and_prints_the_real_runs_report(app, tmp_path):
    path = mixed_file(tmp_path)
    before = snapshot(app)
    dry = run_import(app, path, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "Dry run: everything was rolled back, nothing changed." in dry.output
    assert snapshot(app) == before
    real = run_import(app, path)
    assert real.exit_code == 0
    assert report(dry) == report(real)
    assert summary(real)["groups created"] == 3
    assert snapshot(app) != before


def test_a_second_run_changes_nothing_and_says_so(app, tmp_path):
    path = mixed_file(tmp_path)
    first = run_import(app, path)
    after_first = snapshot(app)
    second = run_import(app, path)
    assert second.exit_code == 0
    assert snapshot(app) == after_first
    found = summary(second)
    assert found["groups matched (already imported)"] == 3
    assert (found["groups created"], found["users created"], found["memberships"],
            found["connections"], found["claim links"]) == (0, 0, 0, 0, 0)
    assert "Nothing changed" in second.output
    assert "record 1 (legacyId family_1): matched (already imported)" in second.output
    assert summary(first)["groups created"] == 3
    # Done when: integrity-check then reports nothing (app/integrity, another helper's work).
    check = app.test_cli_runner().invoke(args=["integrity-check"])
    assert check.exit_code == 0, check.output


def test_batch_size_changes_nothing_in_the_result(app, tmp_path):
    path = mixed_file(tmp_path)
    whole = run_import(app, path, "--dry-run")
    one_by_one = run_import(app, path, "--dry-run", "--batch-size", "1")
    assert report(whole) == report(one_by_one)


def test_a_phone_registered_between_read_and_write_falls_back_to_one_by_one(
        app, tmp_path, monkeypatch):
    """The honest race: the batch has read the users table and found no +84912000021; before
    it writes, someone registers that phone and commits. On PostgreSQL that registration
    comes from a second connection. On SQLite the import's transaction holds the database's
    write lock from its first read (BEGIN IMMEDIATE), so no other connection can register
    meanwhile: the hook writes the row through the import's own connection, outside the
    batch's savepoint, which is what a committed registration looks like from the batch."""
    registered = []

    def register_meanwhile(records):
        if registered:
            return
        values = {"phone": e164(21), "name": "Người Đăng Ký", "gender": 1, "locale": "vi",
                  "password_hash": "x", "is_staff": False, "is_active": True,
                  "session_epoch": 0}
        if BACKEND == "postgresql":
            engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
            try:
                with engine.begin() as other:
                    other.execute(insert(User.__table__).values(**values))
            finally:
                engine.dispose()
        else:
            db.session.execute(insert(User.__table__).values(**values))
        registered.append(True)

    monkeypatch.setattr(importer, "between_read_and_write", register_meanwhile)
    path = write(tmp_path, [family(1, patients=[11]), family(2, patients=[21], caregivers=[22]),
                            family(3, patients=[31])])
    result = run_import(app, path)
    assert result.exit_code == 0, result.output
    assert registered
    found = summary(result)
    assert found["groups created"] == 3
    assert found["users matched"] == 1  # the new registration, found on the retry
    someone = user_of(app, e164(21))
    assert (someone.name, someone.password_hash) == ("Người Đăng Ký", "x")
    with app.app_context():
        assert db.session.scalar(select(FamilyGroupMember.role).where(
            FamilyGroupMember.user_id == someone.id)) == "patient"
        # a registered user has a password: no claim link for them
        assert db.session.scalar(select(func.count()).select_from(AccountClaim).where(
            AccountClaim.user_id == someone.id)) == 0


def test_claim_links_go_to_the_outbox_for_created_users_only(app, tmp_path):
    with app.app_context():
        existing = make_user(phone=e164(11))
        db.session.commit()
        existing_id = existing.id
    run_import(app, write(tmp_path, [family(1, patients=[11], caregivers=[12])]))
    with app.app_context():
        rows = db.session.scalars(select(InviteNotification)).all()
        assert sorted(r.recipient for r in rows) == [e164(10), e164(12)]
        assert all((r.notification_type, r.channel, r.status, r.invite_id) ==
                   ("ACCOUNT_CLAIM", "sms", "pending", None) for r in rows)
        assert all(set(r.payload) == {"sealed_token", "name"} for r in rows)
        claims = db.session.scalars(select(AccountClaim)).all()
        assert len(claims) == 2
        assert existing_id not in {c.user_id for c in claims}
        assert {c.user_id for c in claims} == {r.recipient_user_id for r in rows}
        assert db.session.execute(text("SELECT count(*) FROM account_claims WHERE "
                                       "used_at IS NULL")).scalar() == 2


def test_a_pair_connected_before_reuses_its_connection_row(app, tmp_path):
    from tests.factories import make_connection

    with app.app_context():
        patient, caregiver = make_user(phone=e164(11)), make_user(phone=e164(12))
        old = make_connection(patient, caregiver, enabled=False)
        old.permission_revoked = True
        db.session.commit()
        old_id = old.id
    result = run_import(app, write(tmp_path, [family(1, patients=[11], caregivers=[12])]))
    assert summary(result)["connections"] == 1
    with app.app_context():
        (connection,) = db.session.scalars(select(Connection)).all()
        group_id = db.session.scalar(select(FamilyGroup.id))
        assert (connection.id, connection.permission_revoked, connection.family_group_id,
                connection.relationship_code) == (old_id, False, group_id, "con_gai")
        assert sorted((p.permission_code, p.is_enabled) for p in connection.permissions) \
            == sorted((code, True) for code in PERMISSION_CODES)
