"""Deleting an account (issue 19, item 4): the outbox rows of one family, by index

A deletion scrubs the deleted person's name from the messages that named them to the
other members of their families (MEMBER_JOINED, MEMBER_LEFT, PERMISSION_ENABLED...). Those
rows are found by family; without this index that read would walk the whole outbox.

Revision ID: 0010_deletion
Revises: 0009_own_data
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_deletion"
down_revision = "0009_own_data"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("idx_notifications_family_group", "invite_notifications",
                    ["family_group_id"],
                    sqlite_where=sa.text("family_group_id IS NOT NULL"),
                    postgresql_where=sa.text("family_group_id IS NOT NULL"))


def downgrade():
    op.drop_index("idx_notifications_family_group", table_name="invite_notifications")
