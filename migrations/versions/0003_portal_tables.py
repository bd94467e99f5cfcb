"""The portal's own tables and columns

Accounts (locale, staff, suspension, session epoch), the group's status with one
active group per subscription, invite links (group, token hash) with BR-007's
idx_unique_pending now per group and phone, the outbox's delivery columns and its
idempotency index, BR-038 and one connection per (patient, caregiver), who changed a
permission, and the new tables: subscriptions, activation_codes, api_tokens,
audit_events.

Revision ID: 0003_portal_tables
Revises: 0002_v4_family_groups
Create Date: 2026-11-20
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_portal_tables"
down_revision = "0002_v4_family_groups"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)
NOW = sa.text("CURRENT_TIMESTAMP")


def _partial(condition: str) -> dict:
    return {"sqlite_where": sa.text(condition), "postgresql_where": sa.text(condition)}


def upgrade():
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("locale", sa.String(5), nullable=False,
                                   server_default=sa.text("'vi'")))
        batch.add_column(sa.Column("is_staff", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column("is_active", sa.Boolean(), nullable=False,
                                   server_default=sa.true()))
        batch.add_column(sa.Column("session_epoch", sa.Integer(), nullable=False,
                                   server_default=sa.text("0")))
        batch.add_column(sa.Column("last_login_at", Timestamp, nullable=True))
        batch.create_check_constraint("chk_users_locale", "locale IN ('vi', 'en')")

    with op.batch_alter_table("family_groups") as batch:
        batch.add_column(sa.Column("status", sa.String(20), nullable=False,
                                   server_default=sa.text("'active'")))
        batch.add_column(sa.Column("dissolved_at", Timestamp, nullable=True))
        batch.create_check_constraint("chk_group_status",
                                      "status IN ('active', 'inactive', 'dissolved')")
    op.create_index("idx_group_active_subscription", "family_groups", ["subscription_id"],
                    unique=True, **_partial("status = 'active'"))
    op.create_index("idx_family_groups_admin", "family_groups", ["admin_user_id"])

    contacts = sa.table("user_emergency_contacts", sa.column("permission_revoked", sa.Boolean))
    op.execute(contacts.update().where(contacts.c.permission_revoked.is_(None))
               .values(permission_revoked=False))
    with op.batch_alter_table("user_emergency_contacts") as batch:
        batch.alter_column("permission_revoked", existing_type=sa.Boolean(), nullable=False,
                           existing_server_default=sa.false())
        batch.create_check_constraint("chk_no_self_connection",
                                      "linked_user_id IS NULL OR linked_user_id <> user_id")
    op.create_index("uq_contact_patient_caregiver", "user_emergency_contacts",
                    ["user_id", "linked_user_id"], unique=True,
                    **_partial("linked_user_id IS NOT NULL"))

    with op.batch_alter_table("connection_permissions") as batch:
        batch.add_column(sa.Column("updated_by", BigId, nullable=True))
        batch.create_foreign_key("fk_connection_permissions_updated_by", "users",
                                 ["updated_by"], ["id"])

    op.drop_index("idx_unique_pending", table_name="connection_invites")
    with op.batch_alter_table("connection_invites") as batch:
        batch.add_column(sa.Column("family_group_id", BigId, nullable=True))
        batch.add_column(sa.Column("token_hash", sa.String(64), nullable=True))
        batch.create_foreign_key("fk_connection_invites_family_group_id",
                                 "family_groups", ["family_group_id"], ["id"])
    # BR-007: one pending invite per group and phone.
    op.create_index("idx_unique_pending", "connection_invites",
                    ["family_group_id", "receiver_phone"], unique=True,
                    **_partial("status = 'pending'"))
    op.create_index("idx_invites_token_hash", "connection_invites", ["token_hash"], unique=True)

    with op.batch_alter_table("invite_notifications") as batch:
        batch.add_column(sa.Column("recipient_user_id", BigId, nullable=True))
        batch.add_column(sa.Column("family_group_id", BigId, nullable=True))
        batch.add_column(sa.Column("next_attempt_at", Timestamp, nullable=True))
        batch.add_column(sa.Column("payload", sa.JSON(), nullable=True))
        batch.create_foreign_key("fk_invite_notifications_recipient_user_id", "users",
                                 ["recipient_user_id"], ["id"])
        batch.create_foreign_key("fk_invite_notifications_family_group_id",
                                 "family_groups", ["family_group_id"], ["id"])
    op.create_index("idx_notifications_due", "invite_notifications",
                    ["status", "next_attempt_at"], **_partial("status IN ('pending', 'failed')"))
    op.create_index("idx_notifications_recipient_user", "invite_notifications",
                    ["recipient_user_id"])
    op.create_index("idx_notifications_once", "invite_notifications",
                    ["invite_id", "notification_type", "channel", "recipient"], unique=True,
                    **_partial("status <> 'cancelled'"))

    op.create_table(
        "subscriptions",
        sa.Column("id", BigId, nullable=False),
        sa.Column("owner_user_id", BigId, nullable=False),
        sa.Column("plan", sa.String(40), nullable=False),
        sa.Column("patient_slots", sa.Integer(), nullable=False),
        sa.Column("caregiver_slots", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False, server_default=sa.text("'active'")),
        sa.Column("starts_at", Timestamp, nullable=False),
        sa.Column("expires_at", Timestamp, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False, server_default=NOW),
        sa.Column("updated_at", Timestamp, nullable=False, server_default=NOW),
        sa.CheckConstraint("status IN ('active', 'cancelled', 'expired')",
                           name="chk_subscription_status"),
        sa.CheckConstraint("patient_slots >= 0 AND caregiver_slots >= 0",
                           name="chk_subscription_slots"),
        sa.ForeignKeyConstraint(["owner_user_id"], ["users.id"],
                                name="fk_subscriptions_owner_user_id"),
        sa.PrimaryKeyConstraint("id", name="pk_subscriptions"),
    )
    op.create_index("idx_subscription_active_owner", "subscriptions", ["owner_user_id"],
                    unique=True, **_partial("status = 'active'"))

    op.create_table(
        "activation_codes",
        sa.Column("id", BigId, nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("plan", sa.String(40), nullable=False),
        sa.Column("duration_days", sa.Integer(), nullable=False),
        sa.Column("created_by", BigId, nullable=True),
        sa.Column("created_at", Timestamp, nullable=False, server_default=NOW),
        sa.Column("redeemed_by", BigId, nullable=True),
        sa.Column("redeemed_at", Timestamp, nullable=True),
        sa.Column("subscription_id", BigId, nullable=True),
        sa.CheckConstraint("duration_days > 0", name="chk_code_duration"),
        sa.CheckConstraint("(redeemed_by IS NULL) = (redeemed_at IS NULL)",
                           name="chk_code_redeemed_pair"),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"],
                                name="fk_activation_codes_created_by"),
        sa.ForeignKeyConstraint(["redeemed_by"], ["users.id"],
                                name="fk_activation_codes_redeemed_by"),
        sa.ForeignKeyConstraint(["subscription_id"], ["subscriptions.id"],
                                name="fk_activation_codes_subscription_id"),
        sa.UniqueConstraint("code_hash", name="uq_activation_codes_code_hash"),
        sa.PrimaryKeyConstraint("id", name="pk_activation_codes"),
    )

    op.create_table(
        "api_tokens",
        sa.Column("id", BigId, nullable=False),
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False, server_default=NOW),
        sa.Column("last_used_at", Timestamp, nullable=True),
        sa.Column("expires_at", Timestamp, nullable=True),
        sa.Column("revoked_at", Timestamp, nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE",
                                name="fk_api_tokens_user_id"),
        sa.UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),
        sa.PrimaryKeyConstraint("id", name="pk_api_tokens"),
    )
    op.create_index("ix_api_tokens_user_id", "api_tokens", ["user_id"])

    op.create_table(
        "audit_events",
        sa.Column("id", BigId, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False, server_default=NOW),
        sa.Column("actor_id", BigId, nullable=True),
        sa.Column("action", sa.String(60), nullable=False),
        sa.Column("subject_type", sa.String(40), nullable=True),
        sa.Column("subject_id", BigId, nullable=True),
        sa.Column("family_group_id", BigId, nullable=True),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.Column("ip", sa.String(45), nullable=True),
        sa.ForeignKeyConstraint(["actor_id"], ["users.id"], ondelete="SET NULL",
                                name="fk_audit_events_actor_id"),
        sa.ForeignKeyConstraint(["family_group_id"], ["family_groups.id"], ondelete="SET NULL",
                                name="fk_audit_events_family_group_id"),
        sa.PrimaryKeyConstraint("id", name="pk_audit_events"),
    )
    op.create_index("idx_audit_group_time", "audit_events", ["family_group_id", "created_at"])
    op.create_index("idx_audit_actor", "audit_events", ["actor_id"])
    op.create_index("idx_audit_subject", "audit_events", ["subject_type", "subject_id"])


def downgrade():
    op.drop_table("audit_events")
    op.drop_table("api_tokens")
    op.drop_table("activation_codes")
    op.drop_table("subscriptions")

    op.drop_index("idx_notifications_once", table_name="invite_notifications")
    op.drop_index("idx_notifications_recipient_user", table_name="invite_notifications")
    op.drop_index("idx_notifications_due", table_name="invite_notifications")
    with op.batch_alter_table("invite_notifications") as batch:
        batch.drop_constraint("fk_invite_notifications_family_group_id",
                              type_="foreignkey")
        batch.drop_constraint("fk_invite_notifications_recipient_user_id",
                              type_="foreignkey")
        for column in ("payload", "next_attempt_at", "family_group_id", "recipient_user_id"):
            batch.drop_column(column)

    op.drop_index("idx_invites_token_hash", table_name="connection_invites")
    op.drop_index("idx_unique_pending", table_name="connection_invites")
    with op.batch_alter_table("connection_invites") as batch:
        batch.drop_constraint("fk_connection_invites_family_group_id",
                              type_="foreignkey")
        batch.drop_column("token_hash")
        batch.drop_column("family_group_id")
    op.create_index("idx_unique_pending", "connection_invites", ["sender_id", "receiver_phone"],
                    unique=True, **_partial("status = 'pending'"))

    with op.batch_alter_table("connection_permissions") as batch:
        batch.drop_constraint("fk_connection_permissions_updated_by", type_="foreignkey")
        batch.drop_column("updated_by")

    op.drop_index("uq_contact_patient_caregiver", table_name="user_emergency_contacts")
    with op.batch_alter_table("user_emergency_contacts") as batch:
        batch.drop_constraint("chk_no_self_connection", type_="check")
        batch.alter_column("permission_revoked", existing_type=sa.Boolean(), nullable=True,
                           existing_server_default=sa.false())

    op.drop_index("idx_family_groups_admin", table_name="family_groups")
    op.drop_index("idx_group_active_subscription", table_name="family_groups")
    with op.batch_alter_table("family_groups") as batch:
        batch.drop_constraint("chk_group_status", type_="check")
        batch.drop_column("dissolved_at")
        batch.drop_column("status")

    with op.batch_alter_table("users") as batch:
        batch.drop_constraint("chk_users_locale", type_="check")
        for column in ("last_login_at", "session_epoch", "is_active", "is_staff", "locale"):
            batch.drop_column(column)
