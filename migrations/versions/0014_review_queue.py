"""The review queue's count (issue 21, item 5): the queue page reads the latest count

At 1,000,000 users the six risk signals' aggregates take about 150 ms of SQL on every
load of the queue (bench/README.md). `flask staff-queue-count` (run by the outbox worker
every RISK_RECOUNT_SECONDS) now counts them and keeps the flagged items here; the page
reads them and says how old they are. Two new tables, nothing else changed.

Revision ID: 0014_review_queue
Revises: 0013_email_proof
Create Date: 2026-12-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0014_review_queue"
down_revision = "0013_email_proof"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    op.create_table(
        "staff_signal_counts",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("counted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("settings", sa.String(500), nullable=False),
        sa.Column("took_ms", sa.Integer(), nullable=False),
    )
    op.create_table(
        "staff_signal_count_items",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("count_id", BigId,
                  sa.ForeignKey("staff_signal_counts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("signal", sa.String(40), nullable=False),
        sa.Column("subject_key", sa.String(254), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
    )
    op.create_index("idx_signal_count_items_count", "staff_signal_count_items",
                    ["count_id", "signal", "position"])


def downgrade():
    op.drop_index("idx_signal_count_items_count", table_name="staff_signal_count_items")
    op.drop_table("staff_signal_count_items")
    op.drop_table("staff_signal_counts")
