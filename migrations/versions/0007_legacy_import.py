"""Legacy import: a group remembers the legacy record it came from; imported users claim
their accounts through a one-time link sent to their phone

Issue 6 (SPEC §8): `flask import-legacy` is idempotent by the record's legacyId, held
unique on family_groups.legacy_id. Imported users have no password; account_claims holds
the SHA-256 of each claim link's token (the invite-link machinery, SPEC §4), and the
outbox gains the ACCOUNT_CLAIM message that carries the link.

Revision ID: 0007_legacy_import
Revises: 0006_staff_review
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_legacy_import"
down_revision = "0006_staff_review"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

OLD = ("'INVITE_CREATED', 'INVITE_ACCEPTED', 'INVITE_REJECTED', 'INVITE_CANCELLED', "
       "'MEMBER_JOINED', 'MEMBER_REMOVED', 'MEMBER_LEFT', 'PERMISSION_ENABLED'")
NEW = OLD + ", 'ACCOUNT_CLAIM'"


def upgrade():
    with op.batch_alter_table("family_groups") as batch:
        batch.add_column(sa.Column("legacy_id", sa.String(100)))
    op.create_index("idx_family_groups_legacy_id", "family_groups", ["legacy_id"], unique=True)
    op.create_table(
        "account_claims",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("user_id", BigId, sa.ForeignKey("users.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.current_timestamp()),
    )
    op.create_index("idx_account_claims_token_hash", "account_claims", ["token_hash"],
                    unique=True)
    op.create_index("ix_account_claims_user_id", "account_claims", ["user_id"])
    with op.batch_alter_table("invite_notifications") as batch:
        batch.drop_constraint("chk_notification_type", type_="check")
        batch.create_check_constraint("chk_notification_type", f"notification_type IN ({NEW})")


def downgrade():
    op.execute("DELETE FROM invite_notifications WHERE notification_type = 'ACCOUNT_CLAIM'")
    with op.batch_alter_table("invite_notifications") as batch:
        batch.drop_constraint("chk_notification_type", type_="check")
        batch.create_check_constraint("chk_notification_type", f"notification_type IN ({OLD})")
    op.drop_index("ix_account_claims_user_id", table_name="account_claims")
    op.drop_index("idx_account_claims_token_hash", table_name="account_claims")
    op.drop_table("account_claims")
    op.drop_index("idx_family_groups_legacy_id", table_name="family_groups")
    with op.batch_alter_table("family_groups") as batch:
        batch.drop_column("legacy_id")
