"""Phone proof (ID-001/002): a number is an identity only once the phone has proved it

Issue 15: users.phone_verified_at says when (an SMS code, an invite link or a claim link
that reached the number); phone_codes holds the one-time SMS codes (only a keyed hash of
each) and the registrations that wait for theirs; users.phone becomes nullable, because an
account whose unproved number someone else proves loses it. The outbox gains the code's
SMS, the "this number already has an account" SMS and the in-app notice of a lost number.

Existing accounts count as proved only where the data shows a proof: staff accounts
(made by create-staff) and imported accounts whose claim link was used. Everyone else is
marked unproved and proves the number with a code before touching invites; what their
in-app notifications told them of invites is withdrawn.

Revision ID: 0008_phone_proof
Revises: 0007_legacy_import
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_phone_proof"
down_revision = "0007_legacy_import"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

OLD = ("'INVITE_CREATED', 'INVITE_ACCEPTED', 'INVITE_REJECTED', 'INVITE_CANCELLED', "
       "'MEMBER_JOINED', 'MEMBER_REMOVED', 'MEMBER_LEFT', 'PERMISSION_ENABLED', "
       "'ACCOUNT_CLAIM'")
NEW = OLD + ", 'PHONE_CODE', 'ACCOUNT_EXISTS', 'PHONE_TAKEN_OVER'"


def upgrade():
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("phone_verified_at", sa.DateTime(timezone=True)))
        batch.alter_column("phone", existing_type=sa.String(16), nullable=True)
    op.execute(
        "UPDATE users SET phone_verified_at = CURRENT_TIMESTAMP WHERE is_staff "
        "OR id IN (SELECT user_id FROM account_claims WHERE used_at IS NOT NULL)")
    # What an unproved account was told of invites to "its" number is no longer its to see.
    op.execute(
        "UPDATE invite_notifications SET status = 'cancelled' WHERE channel = 'in_app' "
        "AND notification_type = 'INVITE_CREATED' AND status <> 'cancelled' "
        "AND recipient_user_id IN (SELECT id FROM users WHERE phone_verified_at IS NULL)")
    op.create_table(
        "phone_codes",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("purpose", sa.String(10), nullable=False),
        sa.Column("phone", sa.String(16), nullable=False),
        sa.Column("user_id", BigId, sa.ForeignKey("users.id", ondelete="CASCADE")),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True)),
        sa.Column("payload", sa.JSON()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.current_timestamp()),
        sa.CheckConstraint("purpose IN ('register', 'reset', 'prove')",
                           name="chk_phone_codes_purpose"),
        sa.CheckConstraint("attempts >= 0", name="chk_phone_codes_attempts"),
    )
    op.create_index("idx_phone_codes_purpose_phone", "phone_codes", ["purpose", "phone"],
                    unique=True)
    op.create_index("ix_phone_codes_user_id", "phone_codes", ["user_id"])
    with op.batch_alter_table("invite_notifications") as batch:
        batch.drop_constraint("chk_notification_type", type_="check")
        batch.create_check_constraint("chk_notification_type", f"notification_type IN ({NEW})")


def downgrade():
    bind = op.get_bind()
    lost = bind.execute(sa.text("SELECT count(*) FROM users WHERE phone IS NULL")).scalar()
    if lost:
        raise RuntimeError(
            f"{lost} account(s) lost their number to someone who proved it (ID-001); "
            "the previous schema needs a phone on every account. Give them one first.")
    op.execute("DELETE FROM invite_notifications WHERE notification_type IN "
               "('PHONE_CODE', 'ACCOUNT_EXISTS', 'PHONE_TAKEN_OVER')")
    with op.batch_alter_table("invite_notifications") as batch:
        batch.drop_constraint("chk_notification_type", type_="check")
        batch.create_check_constraint("chk_notification_type", f"notification_type IN ({OLD})")
    op.drop_index("ix_phone_codes_user_id", table_name="phone_codes")
    op.drop_index("idx_phone_codes_purpose_phone", table_name="phone_codes")
    op.drop_table("phone_codes")
    with op.batch_alter_table("users") as batch:
        batch.alter_column("phone", existing_type=sa.String(16), nullable=False)
        batch.drop_column("phone_verified_at")
