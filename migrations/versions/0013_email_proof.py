"""Proved e-mail (issue 21): an address counts only once a link sent to it came back

users.email_verified_at says when; every address already stored stays where it is and
becomes unproved (NULL): nobody ever proved it, so it no longer opens a login nor
receives notifications until its owner proves it from the settings page. email_proofs
holds the links (only the SHA-256 of each token) and the address each one proves: an
address waits there, not in users.email, until its link comes back. The outbox gains the
link's e-mail (EMAIL_PROOF) and the in-app notice of an address someone else proved
(EMAIL_TAKEN_OVER).

Additive only (docs/deployment.md, section 9): a new nullable column, a new table, a
wider check constraint. The release before it keeps working on the upgraded schema.

Revision ID: 0013_email_proof
Revises: 0012_staff_mfa
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_email_proof"
down_revision = "0012_staff_mfa"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

OLD_TYPES = ("'INVITE_CREATED', 'INVITE_ACCEPTED', 'INVITE_REJECTED', 'INVITE_CANCELLED', "
             "'MEMBER_JOINED', 'MEMBER_REMOVED', 'MEMBER_LEFT', 'PERMISSION_ENABLED', "
             "'ACCOUNT_CLAIM', 'PHONE_CODE', 'ACCOUNT_EXISTS', 'PHONE_TAKEN_OVER', "
             "'CONSENT_WITHDRAWN', 'FAMILY_HANDED_OVER'")
NEW_TYPES = OLD_TYPES + ", 'EMAIL_PROOF', 'EMAIL_TAKEN_OVER'"


def upgrade():
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("email_verified_at", sa.DateTime(timezone=True)))
    op.create_table(
        "email_proofs",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("user_id", BigId, sa.ForeignKey("users.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True)),
        sa.Column("cancelled_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.current_timestamp()),
    )
    op.create_index("idx_email_proofs_token_hash", "email_proofs", ["token_hash"],
                    unique=True)
    op.create_index("ix_email_proofs_user_id", "email_proofs", ["user_id"])
    op.create_index("ix_email_proofs_email", "email_proofs", ["email"])
    with op.batch_alter_table("invite_notifications") as batch:
        batch.drop_constraint("chk_notification_type", type_="check")
        batch.create_check_constraint("chk_notification_type",
                                      f"notification_type IN ({NEW_TYPES})")


def downgrade():
    op.execute("DELETE FROM invite_notifications WHERE notification_type IN "
               "('EMAIL_PROOF', 'EMAIL_TAKEN_OVER')")
    with op.batch_alter_table("invite_notifications") as batch:
        batch.drop_constraint("chk_notification_type", type_="check")
        batch.create_check_constraint("chk_notification_type",
                                      f"notification_type IN ({OLD_TYPES})")
    op.drop_index("ix_email_proofs_email", table_name="email_proofs")
    op.drop_index("ix_email_proofs_user_id", table_name="email_proofs")
    op.drop_index("idx_email_proofs_token_hash", table_name="email_proofs")
    op.drop_table("email_proofs")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("email_verified_at")
