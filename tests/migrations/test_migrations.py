"""Migrations: empty → head → empty, v2 data survives the upgrade, models agree.

Each test builds its own empty database of the backend under test (SQLite file or a
fresh PostgreSQL database on the test server).
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from app.extensions import db
from tests.conftest import make_app

V2 = "0001_v2_baseline"
V4 = "0002_v4_family_groups"
HEAD_TABLES = {
    "users", "relationships", "relationship_inverse_mapping", "connection_permission_types",
    "patient_reports", "connection_invites", "user_emergency_contacts",
    "connection_permissions", "invite_notifications", "caregiver_report_views",
    "family_groups", "family_group_members", "subscriptions", "activation_codes",
    "api_tokens", "audit_events", "staff_reviews", "account_claims", "phone_codes",
    "staff_factors", "staff_recovery_codes",
    "staff_signal_counts", "staff_signal_count_items",
    "email_proofs",
}


@pytest.fixture
def blank(fresh_database_url):
    """An app bound to an empty database, inside its app context."""
    application = make_app(fresh_database_url())
    with application.app_context():
        yield application
        db.session.remove()
        db.engine.dispose()


def tables() -> set[str]:
    return set(sa.inspect(db.engine).get_table_names()) - {"alembic_version"}


def scalar(sql: str, **params):
    with db.engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar()


def rows(sql: str, **params):
    with db.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql), params)]


def test_upgrade_from_empty_to_head_and_back(blank):
    upgrade()
    assert tables() == HEAD_TABLES
    assert scalar("SELECT count(*) FROM relationships") == 14
    assert scalar("SELECT count(*) FROM relationship_inverse_mapping") == 28
    assert scalar("SELECT count(*) FROM connection_permission_types") == 6
    downgrade(revision="base")
    assert tables() == set()


def test_v2_baseline_holds_only_the_seed_existing_tables(blank):
    upgrade(revision=V2)
    assert tables() == {
        "users", "relationships", "relationship_inverse_mapping", "connection_permission_types",
        "patient_reports", "connection_invites", "user_emergency_contacts",
        "connection_permissions", "invite_notifications", "caregiver_report_views",
    }
    columns = {c["name"] for c in sa.inspect(db.engine).get_columns("user_emergency_contacts")}
    assert "permission_revoked" not in columns
    assert "family_group_id" not in columns
    # The v2 baseline knows only the legacy invite types.
    with db.engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO users (id, phone, name) VALUES (1, '+84912000001', 'A')"))
    legacy_only = sa.text("INSERT INTO connection_invites (sender_id, receiver_phone, invite_type) "
                          "VALUES (1, '+84912000002', 'add_patient')")
    with db.engine.connect() as conn, pytest.raises(sa.exc.IntegrityError):
        conn.execute(legacy_only)


def test_v4_revision_is_the_seed_change(blank):
    upgrade(revision=V4)
    inspector = sa.inspect(db.engine)
    assert {"family_groups", "family_group_members"} <= set(inspector.get_table_names())
    assert [c["name"] for c in inspector.get_columns("family_groups")] == [
        "id", "admin_user_id", "subscription_id", "name", "created_at", "updated_at"]
    assert [c["name"] for c in inspector.get_columns("family_group_members")] == [
        "id", "group_id", "user_id", "role", "joined_at"]
    contacts = {c["name"]: c for c in inspector.get_columns("user_emergency_contacts")}
    assert {"permission_revoked", "family_group_id"} <= set(contacts)
    indexes = {i["name"]: i for i in inspector.get_indexes("user_emergency_contacts")}
    assert {"idx_emergency_contacts_family_group",
            "idx_emergency_contacts_permission_revoked"} <= set(indexes)
    members = {i["name"]: i for i in inspector.get_indexes("family_group_members")}
    assert members["idx_user_single_group"]["unique"]
    assert members["idx_user_single_group"]["column_names"] == ["user_id", "role"]


def _insert_v2_rows() -> None:
    statements = [
        "INSERT INTO users (id, phone, name, gender, password_hash) VALUES "
        "(1, '+84912000001', 'Nguyễn Văn Bình', 0, 'x'), "
        "(2, '+84912000002', 'Nguyễn Thị Cúc', 1, 'x'), "
        "(3, '+84912000003', 'Trần Văn Dũng', 0, NULL)",
        "INSERT INTO connection_invites (id, sender_id, receiver_phone, receiver_id, invite_type, "
        "relationship_code, status) VALUES "
        "(10, 1, '+84912000002', 2, 'patient_to_caregiver', 'con_gai', 'accepted'), "
        "(11, 2, '+84912000003', 3, 'caregiver_to_patient', NULL, 'pending'), "
        "(12, 1, '+84912000009', NULL, 'patient_to_caregiver', NULL, 'rejected')",
        "INSERT INTO user_emergency_contacts (id, user_id, linked_user_id, contact_type, "
        "relationship_code, inverse_relationship_code, invite_id) VALUES "
        "(20, 1, 2, 'caregiver', 'con_gai', 'bo', 10), "
        "(21, 1, NULL, 'emergency', NULL, NULL, NULL)",
        "INSERT INTO connection_permissions (contact_id, permission_code, is_enabled) VALUES "
        "(20, 'health_overview', TRUE), (20, 'emergency_alert', TRUE), "
        "(20, 'task_config', FALSE), (20, 'compliance_tracking', TRUE), "
        "(20, 'proxy_execution', FALSE), (20, 'encouragement', TRUE)",
        "INSERT INTO invite_notifications (invite_id, recipient, notification_type, channel, "
        "status) VALUES (10, '+84912000002', 'INVITE_CREATED', 'sms', 'delivered')",
        "INSERT INTO patient_reports (id, patient_id, period, summary) VALUES "
        "(30, 1, '2026-10', 'Huyết áp ổn định')",
        "INSERT INTO caregiver_report_views (caregiver_id, report_id, viewed_at) VALUES "
        "(2, 30, CURRENT_TIMESTAMP)",
    ]
    with db.engine.begin() as conn:
        for statement in statements:
            conn.execute(sa.text(statement))


def test_v2_database_with_rows_upgrades_to_head_without_loss(blank):
    upgrade(revision=V2)
    _insert_v2_rows()

    upgrade()

    assert rows("SELECT id, phone, name, gender, locale, is_active, is_staff, session_epoch "
                "FROM users ORDER BY id") == [
        (1, "+84912000001", "Nguyễn Văn Bình", 0, "vi", True, False, 0),
        (2, "+84912000002", "Nguyễn Thị Cúc", 1, "vi", True, False, 0),
        (3, "+84912000003", "Trần Văn Dũng", 0, "vi", True, False, 0),
    ]
    # Legacy invite types converted: patient_to_caregiver → add_caregiver and
    # caregiver_to_patient → add_patient; nothing else about the invites changes.
    assert rows("SELECT id, sender_id, receiver_id, invite_type, relationship_code, status, "
                "family_group_id FROM connection_invites ORDER BY id") == [
        (10, 1, 2, "add_caregiver", "con_gai", "accepted", None),
        (11, 2, 3, "add_patient", None, "pending", None),
        (12, 1, None, "add_caregiver", None, "rejected", None),
    ]
    assert rows("SELECT id, user_id, linked_user_id, contact_type, relationship_code, "
                "inverse_relationship_code, invite_id, permission_revoked, family_group_id "
                "FROM user_emergency_contacts ORDER BY id") == [
        (20, 1, 2, "caregiver", "con_gai", "bo", 10, False, None),
        (21, 1, None, "emergency", None, None, None, False, None),
    ]
    assert rows("SELECT permission_code, is_enabled FROM connection_permissions "
                "WHERE contact_id = 20 ORDER BY permission_code") == [
        ("compliance_tracking", True), ("emergency_alert", True), ("encouragement", True),
        ("health_overview", True), ("proxy_execution", False), ("task_config", False),
    ]
    assert rows("SELECT invite_id, recipient, notification_type, channel, status "
                "FROM invite_notifications") == [
        (10, "+84912000002", "INVITE_CREATED", "sms", "delivered")]
    assert rows("SELECT id, patient_id, summary FROM patient_reports") == [
        (30, 1, "Huyết áp ổn định")]
    assert rows("SELECT caregiver_id, report_id FROM caregiver_report_views") == [(2, 30)]
    assert scalar("SELECT count(*) FROM relationships") == 14

    # And back: the downgrade restores the legacy invite types with the rows intact.
    downgrade(revision=V2)
    assert rows("SELECT id, invite_type FROM connection_invites ORDER BY id") == [
        (10, "patient_to_caregiver"), (11, "caregiver_to_patient"), (12, "patient_to_caregiver")]
    assert scalar("SELECT count(*) FROM connection_permissions") == 6
    assert scalar("SELECT count(*) FROM users") == 3


def test_models_and_migrations_agree(blank):
    upgrade()
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = compare_metadata(context, db.metadata)
    assert differences == []


def test_a_failed_upgrade_leaves_the_database_as_it_was(blank):
    upgrade(revision=V2)
    _insert_v2_rows()
    # A self-connection breaks revision 3's chk_no_self_connection (BR-038): the upgrade
    # must fail as a whole and leave revision 2's schema and rows in place.
    upgrade(revision=V4)
    with db.engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO user_emergency_contacts (user_id, linked_user_id, "
                             "contact_type) VALUES (3, 3, 'caregiver')"))
    with pytest.raises(sa.exc.IntegrityError):
        upgrade()
    assert scalar("SELECT version_num FROM alembic_version") == V4
    columns = {c["name"] for c in sa.inspect(db.engine).get_columns("users")}
    assert "locale" not in columns
    assert scalar("SELECT count(*) FROM user_emergency_contacts") == 3


def test_phone_proof_marks_only_the_accounts_with_a_proof(blank):
    """Revision 0008 (ID-001): staff and accounts whose claim link was used count as
    proved; everyone else must prove the number, and loses what in-app notifications told
    them of invites to it. Downgrading refuses while an account has lost its number."""
    upgrade(revision="0007_legacy_import")
    with db.engine.begin() as conn:
        for user_id, staff, password in ((1, False, "x"), (2, True, "x"), (3, False, None),
                                         (4, False, None)):
            conn.execute(sa.text(
                "INSERT INTO users (id, phone, name, password_hash, is_staff) "
                "VALUES (:id, :phone, 'Tên', :password, :staff)"),
                {"id": user_id, "phone": f"+8491200000{user_id}", "password": password,
                 "staff": staff})
        conn.execute(sa.text(
            "INSERT INTO account_claims (user_id, token_hash, expires_at, used_at) VALUES "
            "(3, :a, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP), (4, :b, CURRENT_TIMESTAMP, NULL)"),
            {"a": "a" * 64, "b": "b" * 64})
        conn.execute(sa.text(
            "INSERT INTO invite_notifications (recipient, recipient_user_id, "
            "notification_type, channel, status) VALUES "
            "('1', 1, 'INVITE_CREATED', 'in_app', 'sent'), "
            "('2', 2, 'INVITE_CREATED', 'in_app', 'delivered'), "
            "('1', 1, 'MEMBER_JOINED', 'in_app', 'sent')"))
    upgrade(revision="0008_phone_proof")
    assert rows("SELECT id, phone_verified_at IS NOT NULL FROM users ORDER BY id") == [
        (1, False), (2, True), (3, True), (4, False)]
    assert rows("SELECT recipient_user_id, notification_type, status FROM invite_notifications "
                "ORDER BY id") == [(1, "INVITE_CREATED", "cancelled"),
                                   (2, "INVITE_CREATED", "delivered"),
                                   (1, "MEMBER_JOINED", "sent")]
    with db.engine.begin() as conn:
        conn.execute(sa.text("UPDATE users SET phone = NULL WHERE id = 1"))
    with pytest.raises(SystemExit):  # flask_migrate logs the RuntimeError's text and exits
        downgrade(revision="0007_legacy_import")
    assert scalar("SELECT version_num FROM alembic_version") == "0008_phone_proof"
    with db.engine.begin() as conn:
        conn.execute(sa.text("UPDATE users SET phone = '+84912000001' WHERE id = 1"))
    downgrade(revision="0007_legacy_import")
    assert "phone_codes" not in tables()
    assert scalar("SELECT count(*) FROM users") == 4


def test_own_data_downgrade_refuses_while_a_tombstone_exists(blank):
    """Revision 0009 (issue 19): the tombstone, the withdrawn consent and the confirming
    code come and go; a downgrade refuses while a deleted account's tombstone exists, since
    the older schema could not tell it from a live account."""
    upgrade(revision="0009_own_data")
    with db.engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO users (id, phone, name, password_hash) "
                             "VALUES (1, '+84912000001', 'Tên', 'x'), (2, NULL, '', NULL)"))
        conn.execute(sa.text("UPDATE users SET deleted_at = CURRENT_TIMESTAMP WHERE id = 2"))
        conn.execute(sa.text(
            "INSERT INTO phone_codes (purpose, phone, user_id, code_hash, expires_at, sent_at) "
            "VALUES ('confirm', '+84912000001', 1, 'h', CURRENT_TIMESTAMP, "
            "CURRENT_TIMESTAMP)"))
        conn.execute(sa.text(
            "INSERT INTO invite_notifications (recipient, recipient_user_id, "
            "notification_type, channel, status) VALUES "
            "('1', 1, 'CONSENT_WITHDRAWN', 'in_app', 'sent'), "
            "('1', 1, 'MEMBER_JOINED', 'in_app', 'sent')"))
    with pytest.raises(SystemExit):
        downgrade(revision="0008_phone_proof")
    assert scalar("SELECT version_num FROM alembic_version") == "0009_own_data"
    with db.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM users WHERE id = 2"))
    downgrade(revision="0008_phone_proof")
    assert scalar("SELECT count(*) FROM phone_codes") == 0
    assert rows("SELECT notification_type FROM invite_notifications") == [("MEMBER_JOINED",)]
    columns = {c["name"] for c in sa.inspect(db.engine).get_columns("users")}
    assert "deleted_at" not in columns
    with db.engine.begin() as conn, pytest.raises(sa.exc.IntegrityError):
        conn.execute(sa.text(
            "INSERT INTO phone_codes (purpose, phone, code_hash, expires_at, sent_at) "
            "VALUES ('confirm', '+84912000009', 'h', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))


def test_deletion_index_comes_and_goes(blank):
    """Revision 0010 (issue 19, deleting an account): the outbox rows of one family are
    found by index, so a deletion that scrubs a name from them does not walk the outbox."""
    upgrade()
    indexes = {i["name"] for i in sa.inspect(db.engine).get_indexes("invite_notifications")}
    assert "idx_notifications_family_group" in indexes
    downgrade(revision="0009_own_data")
    indexes = {i["name"] for i in sa.inspect(db.engine).get_indexes("invite_notifications")}
    assert "idx_notifications_family_group" not in indexes


def test_request_id_column_comes_and_goes(blank):
    """Revision 0011 (issue 20): an outbox row keeps the id of the request that queued it;
    the rows already there keep everything else, with no id."""
    upgrade(revision="0010_deletion")
    with db.engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO users (id, phone, name) VALUES (1, '+84912000001', 'Tên')"))
        conn.execute(sa.text(
            "INSERT INTO invite_notifications (recipient, recipient_user_id, family_group_id, "
            "notification_type, channel, status) VALUES ('1', 1, NULL, 'MEMBER_JOINED', "
            "'in_app', 'sent')"))
    upgrade()
    assert rows("SELECT notification_type, request_id FROM invite_notifications") == [
        ("MEMBER_JOINED", None)]
    downgrade(revision="0010_deletion")
    columns = {c["name"] for c in sa.inspect(db.engine).get_columns("invite_notifications")}
    assert "request_id" not in columns
    indexes = {i["name"] for i in sa.inspect(db.engine).get_indexes("invite_notifications")}
    assert {"idx_notifications_family_group", "idx_notifications_once"} <= indexes
    assert rows("SELECT notification_type, status FROM invite_notifications") == [
        ("MEMBER_JOINED", "sent")]


# --- upgrades while the previous release runs (docs/deployment.md, section 9) ------------

# From this revision on, every revision only adds: the release before it keeps working on
# the upgraded schema while `flask db upgrade` runs and until its processes are replaced.
FIRST_EXPAND_ONLY = "0011_request_id"


def schema() -> dict[str, dict]:
    """Per table: its columns (type, nullable, server default) and unique indexes."""
    inspector = sa.inspect(db.engine)
    found = {}
    for table in inspector.get_table_names():
        columns = {c["name"]: (str(c["type"]), c["nullable"], c.get("default") is not None)
                   for c in inspector.get_columns(table)}
        unique = {i["name"] for i in inspector.get_indexes(table) if i["unique"]}
        unique |= {u["name"] for u in inspector.get_unique_constraints(table)}
        found[table] = {"columns": columns, "unique": unique}
    return found


def expand_only_revisions() -> list[tuple[str, str]]:
    """(revision, the revision before it) for FIRST_EXPAND_ONLY and every later one."""
    from alembic.script import ScriptDirectory

    from app.extensions import migrate

    script = ScriptDirectory.from_config(migrate.get_config())
    pairs = [(r.revision, r.down_revision)
             for r in script.walk_revisions(base="base", head="heads")]
    names = [revision for revision, _before in pairs]
    assert FIRST_EXPAND_ONLY in names
    return list(reversed(pairs[:names.index(FIRST_EXPAND_ONLY) + 1]))


def expansion_problems(before: dict[str, dict], after: dict[str, dict]) -> list[str]:
    """What in `after` could break code written for `before`."""
    problems = []
    for table, was in before.items():
        now = after.get(table)
        if now is None:
            problems.append(f"table {table} dropped")
            continue
        for column, (kind, nullable, _default) in was["columns"].items():
            if column not in now["columns"]:
                problems.append(f"{table}.{column} dropped or renamed")
                continue
            new_kind, new_nullable, _ = now["columns"][column]
            if new_kind != kind:
                problems.append(f"{table}.{column} changed type {kind} → {new_kind}")
            if nullable and not new_nullable:
                problems.append(f"{table}.{column} made NOT NULL")
        for column, (_kind, nullable, default) in now["columns"].items():
            if column not in was["columns"] and not nullable and not default:
                problems.append(f"{table}.{column} added NOT NULL without a server default: "
                                "the running release's inserts would fail")
        for index in now["unique"] - was["unique"]:
            problems.append(f"{table}: unique {index} added to a table in use")
    return problems


def test_every_new_revision_keeps_the_previous_release_working(blank):
    for revision, before_revision in expand_only_revisions():
        upgrade(revision=before_revision)
        before = schema()
        upgrade(revision=revision)
        assert expansion_problems(before, schema()) == [], revision


def test_the_expansion_check_sees_what_would_break_the_running_release():
    before = {"users": {"columns": {"id": ("BIGINT", False, False), "name": ("TEXT", True, False),
                                    "email": ("TEXT", True, False)},
                        "unique": set()},
              "old": {"columns": {}, "unique": set()}}
    after = {"users": {"columns": {"id": ("BIGINT", False, False), "name": ("TEXT", False, False),
                                   "token": ("TEXT", False, False),
                                   "kind": ("TEXT", False, True)},
                       "unique": {"uq_users_name"}}}
    assert sorted(expansion_problems(before, after)) == sorted([
        "table old dropped",
        "users.name made NOT NULL",
        "users.email dropped or renamed",
        "users.token added NOT NULL without a server default: the running release's "
        "inserts would fail",
        "users: unique uq_users_name added to a table in use",
    ])
