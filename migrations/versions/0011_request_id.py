"""Structured logs (issue 20, item 3): the outbox row keeps the request id that queued it

The outbox worker runs a message's log lines (sent, retrying, failed) under the id of the
request that queued it, so one request can be followed from the page to the line that
sent its SMS. Rows queued outside a request (commands, the importer) have none.

Revision ID: 0011_request_id
Revises: 0010_deletion
Create Date: 2026-12-14
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_request_id"
down_revision = "0010_deletion"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("invite_notifications") as batch:
        batch.add_column(sa.Column("request_id", sa.String(length=128), nullable=True))


def downgrade():
    with op.batch_alter_table("invite_notifications") as batch:
        batch.drop_column("request_id")
