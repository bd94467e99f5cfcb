"""Staff review: the review queue's table and the indexes the staff pages read through

Issue 5: staff_reviews records who reviewed a flagged pattern, at what level, with a
note. The indexes serve the staff group list (status, id: keyset pages) and the risk
signals, which read recent rows of the audit trail, invites, connections and outbox,
and two lookups that read whole tables at scale: a family's invites, an owner's
subscriptions (measured with bench/staff_bench.py at 200,000 families).

Revision ID: 0006_staff_review
Revises: 0005_permission_enabled_notice
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_staff_review"
down_revision = "0005_permission_enabled_notice"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

INDEXES = (
    ("idx_family_groups_status_id", "family_groups", ["status", "id"]),
    ("idx_audit_action_time", "audit_events", ["action", "created_at"]),
    ("idx_invites_created", "connection_invites", ["created_at"]),
    ("idx_invites_expires", "connection_invites", ["expires_at"]),
    ("idx_invites_family_group", "connection_invites", ["family_group_id"]),
    ("idx_subscriptions_owner", "subscriptions", ["owner_user_id"]),
    ("idx_emergency_contacts_created", "user_emergency_contacts", ["created_at"]),
    ("idx_notifications_recipient", "invite_notifications", ["recipient"]),
)


def upgrade():
    op.create_table(
        "staff_reviews",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("signal", sa.String(40), nullable=False),
        sa.Column("subject_key", sa.String(254), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("reviewed_by", BigId, sa.ForeignKey("users.id", ondelete="SET NULL")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.current_timestamp()),
    )
    op.create_index("idx_staff_reviews_item", "staff_reviews",
                    ["signal", "subject_key", "created_at"])
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade():
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
    op.drop_index("idx_staff_reviews_item", table_name="staff_reviews")
    op.drop_table("staff_reviews")
